//! Settings the domain needs. The server loads them (defaults, TOML, environment) and
//! hands them to `App`; every section rejects unknown keys so typos fail at start.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub authority: AuthoritySettings,
    pub access: AccessSettings,
    pub limits: LimitSettings,
    pub sessions: SessionSettings,
    pub lockout: LockoutSettings,
    pub second_factor: SecondFactorSettings,
    pub letters: LetterSettings,
    pub scan: ScanSettings,
    pub mail: MailSettings,
    pub notify: NotifySettings,
    pub template: TemplateSettings,
    pub audit: AuditSettings,
}

/// The tamper-evident audit log (`crate::audit::chain`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// A signed checkpoint after this many new entries …
    pub checkpoint_entries: u64,
    /// … or after this many minutes with new entries, whichever comes first.
    pub checkpoint_minutes: u64,
    /// The Ed25519 signing key (PKCS#8). None: `<data_dir>/audit-signing-key`, made at
    /// the first start.
    pub signing_key_file: Option<std::path::PathBuf>,
    /// Every checkpoint is appended to this file (put it on another mount or a
    /// write-once store); it also goes to the log (`amtsbote::audit`). None: log only.
    pub checkpoint_file: Option<std::path::PathBuf>,
    /// Entries are kept this many days, then removed by whole epochs (their seals stay).
    /// 0: kept for ever.
    pub retention_days: u64,
    /// false: entries are recorded but not linked, sealed or pruned. Only for measuring
    /// what the chain costs (bench/davbench.sh); the server warns at every start.
    pub chain: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_entries: 1000,
            checkpoint_minutes: 60,
            signing_key_file: None,
            checkpoint_file: None,
            retention_days: 365,
            chain: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthoritySettings {
    /// Short name, used in folder names and mail subjects.
    pub name: String,
    /// Name shown in the page header.
    pub display_name: String,
    /// The full name as it stands in a sentence of the notification mails
    /// ("die %Behörde% hat für Sie neue Dokumente hinterlegt").
    pub full_name: String,
    /// Public base URL of this installation; links in e-mails start with it.
    pub public_base_url: String,
    /// Contact line shown in the footer of every page.
    pub contact: String,
}

impl Default for AuthoritySettings {
    fn default() -> Self {
        Self {
            name: "KVBbg".into(),
            display_name: "Beamtenversorgung".into(),
            full_name: "Beamtenversorgung des Kommunalen Versorgungsverbandes Brandenburg (KVBbg)"
                .into(),
            public_base_url: "http://127.0.0.1:8080".into(),
            contact: "Bei Fragen wenden Sie sich bitte an Ihre Ansprechpersonen in der Beamtenversorgung.".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSettings {
    /// true: every clerk sees every member. false: only members assigned to the clerk
    /// directly or through one of the clerk's teams.
    pub clerks_see_all: bool,
}

impl Default for AccessSettings {
    fn default() -> Self {
        Self {
            clerks_see_all: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Largest single file in bytes.
    pub max_upload_bytes: u64,
    /// Storage quota per member space in bytes (current files and kept versions);
    /// 0 means unlimited.
    pub space_quota_bytes: u64,
    /// A chunked upload (WebDAV) that received nothing for this many hours is removed
    /// with its chunks.
    pub abandoned_upload_hours: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 10 * 1024 * 1024 * 1024,
            space_quota_bytes: 0,
            abandoned_upload_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// A web session ends after this many minutes without a request.
    pub idle_timeout_minutes: u32,
    /// A web session ends this many hours after log-in, however active.
    pub absolute_timeout_hours: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: 30,
            absolute_timeout_hours: 12,
        }
    }
}

/// Credential letters by post.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LetterSettings {
    /// Days an activation code (one-time password) signs in.
    pub activation_days: u32,
    /// The letterhead: the first line large, the others small (address, telephone).
    pub letterhead: Vec<String>,
    /// The one line above the recipient in the envelope window, e.g.
    /// "KVBbg · Postfach 60 10 52 · 14410 Potsdam". Required for printing.
    pub return_address: String,
    /// Closing lines under "Mit freundlichen Grüßen".
    pub signature: Vec<String>,
}

impl Default for LetterSettings {
    fn default() -> Self {
        Self {
            activation_days: 30,
            letterhead: vec![
                "Kommunaler Versorgungsverband Brandenburg".into(),
                "Beamtenversorgung".into(),
            ],
            return_address: String::new(),
            signature: vec!["Ihre Beamtenversorgung".into()],
        }
    }
}

/// Who must sign in with a second factor (TOTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecondFactorRequired {
    /// Nobody must; everyone may.
    None,
    Admins,
    /// Admins and clerks.
    Staff,
    Everyone,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecondFactorSettings {
    pub required: SecondFactorRequired,
}

impl Default for SecondFactorSettings {
    fn default() -> Self {
        Self {
            required: SecondFactorRequired::None,
        }
    }
}

/// Brute-force protection for every way of signing in (web log-in, WebDAV Basic).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutSettings {
    /// Failed attempts for one login name before each further attempt must wait: 1 s,
    /// then doubling up to `max_delay_seconds`.
    pub delay_after: u32,
    pub max_delay_seconds: u64,
    /// Failed attempts for one login name that lock it for `lock_minutes`.
    pub lock_after: u32,
    /// Failed attempts from one client address (any login names) that lock the
    /// address for `lock_minutes`; higher, as offices share one address.
    pub ip_lock_after: u32,
    pub lock_minutes: u64,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        Self {
            delay_after: 3,
            max_delay_seconds: 60,
            lock_after: 10,
            ip_lock_after: 50,
            lock_minutes: 15,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanMode {
    /// ClamAV's daemon over INSTREAM (the default).
    Clamd,
    /// No virus scanning. Development and demonstration only; admins see a warning.
    Off,
}

/// What happens to an upload when the scanner cannot give a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Refuse the upload (503, try again later): fail-closed, the default.
    Reject,
    /// Store it unscanned, logged loudly, under a warning banner for admins.
    Allow,
}

/// What happens to the bytes of an infected upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInfected {
    Discard,
    /// Keep them, readable by admins only, for `quarantine_days`.
    Quarantine,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanSettings {
    pub mode: ScanMode,
    /// `unix:///run/clamav/clamd.ctl` (Debian's socket) or `tcp://host:port`.
    pub clamd: String,
    pub on_unavailable: OnUnavailable,
    pub on_infected: OnInfected,
    pub quarantine_days: u32,
    /// For connecting (at most 5 s), for each write while the bytes stream, for clamd's
    /// verdict after the last byte, for waiting for a free scan slot, and for a pause of
    /// the uploading client while scanning.
    pub timeout_seconds: u64,
    /// Scans at the same time (keep at or below clamd's `MaxThreads`).
    pub max_concurrent: usize,
    /// clamd's `StreamMaxLength` in bytes. Unset: read from `clamd_config` at start-up,
    /// else clamd's default of 25 MiB.
    pub stream_max_bytes: Option<u64>,
    /// The clamd configuration to read `StreamMaxLength` from (when clamd runs here).
    pub clamd_config: std::path::PathBuf,
}

impl Default for ScanSettings {
    fn default() -> Self {
        Self {
            mode: ScanMode::Clamd,
            clamd: "unix:///run/clamav/clamd.ctl".into(),
            on_unavailable: OnUnavailable::Reject,
            on_infected: OnInfected::Discard,
            quarantine_days: 30,
            timeout_seconds: 60,
            max_concurrent: 4,
            stream_max_bytes: None,
            clamd_config: "/etc/clamav/clamd.conf".into(),
        }
    }
}

/// How the connection to the mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// Plain SMTP: only for a relay on the same machine (loopback).
    None,
    /// SMTP, then STARTTLS before anything else is said (the usual port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// The mail server; empty: no mail is sent (notifications wait in the outbox).
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    /// For SMTP AUTH; empty: no authentication.
    pub user: String,
    /// A file holding the password (kept out of the configuration).
    pub password_file: Option<std::path::PathBuf>,
    /// Sender address, e.g. `"Beamtenversorgung <austausch@kvbbg.example>"`.
    pub from: String,
    pub reply_to: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is never in these settings, only the path to its file.
        f.debug_struct("MailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password_file", &self.password_file)
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .finish()
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: MailSecurity::Starttls,
            user: String::new(),
            password_file: None,
            from: "amtsbote <noreply@example.invalid>".into(),
            reply_to: String::new(),
        }
    }
}

/// A language of the notification mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailLang {
    De,
    En,
}

impl MailLang {
    pub fn code(self) -> &'static str {
        match self {
            MailLang::De => "de",
            MailLang::En => "en",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "de" => Some(MailLang::De),
            "en" => Some(MailLang::En),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// The debounce window: the first new document opens it, and one mail per recipient
    /// and space goes out when it ends. 0 sends at once.
    pub window_seconds: u64,
    /// Functional mailboxes of the authority (e.g. `beamtenversorgung@…`) that hear of
    /// every member delivery, besides the clerks assigned to the member.
    pub authority_addresses: Vec<String>,
    /// Put the names of the new files into the mails. Off by default (data
    /// minimisation): the mail says how many documents there are.
    pub list_file_names: bool,
    /// Tries before a mail is dead-lettered (shown to admins, who can retry it).
    pub max_attempts: u32,
    /// Wait before the second try; it doubles with every further try (at most 6 hours).
    pub retry_seconds: u64,
    /// Hour of the day (Europe/Berlin) at which staff who chose the daily digest get it.
    pub digest_hour: u8,
    /// Language of mails to addresses without an account (member contact addresses,
    /// functional mailboxes). Accounts choose theirs on the notifications page.
    pub language: MailLang,
    /// The closing line of the German and the English mails.
    pub signature: String,
    pub signature_en: String,
    /// A folder with operator templates that replace the built-in texts:
    /// `<template>.<lang>.txt` (first line `Subject: …`, a blank line, the body) and
    /// optionally `<template>.<lang>.html`. Checked at start.
    pub template_dir: Option<std::path::PathBuf>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            window_seconds: 300,
            authority_addresses: Vec::new(),
            list_file_names: false,
            max_attempts: 10,
            retry_seconds: 60,
            digest_hour: 7,
            language: MailLang::De,
            signature: "Ihre Beamtenversorgung".into(),
            signature_en: "Your Beamtenversorgung".into(),
            template_dir: None,
        }
    }
}

/// Which side of the exchange an account or a document belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Authority,
    Member,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Authority => "authority",
            Side::Member => "member",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authority" => Some(Side::Authority),
            "member" => Some(Side::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    None,
    Authority,
    Member,
}

/// Folders whose template entry is gone: the authority may read and clean them up.
static ORPHANED_FOLDER: std::sync::LazyLock<FolderPolicy> =
    std::sync::LazyLock::new(|| FolderPolicy {
        write: Vec::new(),
        read: vec![Side::Authority],
        delete: vec![Side::Authority],
        notify: Notify::None,
    });

/// Rules for one template folder and everything below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderPolicy {
    /// Sides that may upload, create sub-folders, overwrite and rename (their own side's
    /// items only: nobody alters what the other side provided).
    pub write: Vec<Side>,
    /// Sides that may list and download.
    pub read: Vec<Side>,
    /// Sides that may delete. A member never deletes what the authority provided,
    /// whatever this list says.
    pub delete: Vec<Side>,
    /// Who is told about new files.
    pub notify: Notify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFolder {
    pub name: String,
    #[serde(flatten)]
    pub policy: FolderPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateSettings {
    pub root: FolderPolicy,
    pub folders: Vec<TemplateFolder>,
}

impl Default for TemplateSettings {
    fn default() -> Self {
        use Side::{Authority, Member};
        let authority_outbox = FolderPolicy {
            write: vec![Authority],
            read: vec![Authority, Member],
            delete: vec![Authority],
            notify: Notify::None,
        };
        Self {
            root: FolderPolicy {
                write: vec![Authority],
                read: vec![Authority, Member],
                delete: vec![Authority],
                notify: Notify::Member,
            },
            folders: vec![
                TemplateFolder {
                    name: "an_KVBbg".into(),
                    policy: FolderPolicy {
                        write: vec![Member],
                        read: vec![Authority, Member],
                        delete: vec![Member, Authority],
                        notify: Notify::Authority,
                    },
                },
                TemplateFolder {
                    name: "KVBBG-SB-Posteingang".into(),
                    policy: authority_outbox.clone(),
                },
                TemplateFolder {
                    name: "Postausgang".into(),
                    policy: authority_outbox,
                },
            ],
        }
    }
}

impl TemplateSettings {
    /// The policy for a node's `policy_key` ("" is the space root).
    pub fn policy(&self, key: &str) -> &FolderPolicy {
        if key.is_empty() {
            return &self.root;
        }
        self.folders
            .iter()
            .find(|f| crate::spaces::names::name_key(&f.name) == key)
            .map(|f| &f.policy)
            // A folder removed from (or renamed in) the template since its space was
            // made: only the authority may see or touch it until it is configured
            // again, so nothing becomes visible to members by accident.
            .unwrap_or(&ORPHANED_FOLDER)
    }
}
