//! Configuration: built-in defaults, then the TOML file given by `--config`, then
//! environment variables `AMTSBOTE_<SECTION>__<KEY>`, then `*_file` keys for secrets.
//! Unknown keys are an error at start, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use amtsbote_core::settings::{
    AccessSettings, AuditSettings, AuthoritySettings, LetterSettings, LimitSettings,
    LockoutSettings, MailSettings, NotifySettings, ScanSettings, SecondFactorSettings,
    SessionSettings, Settings, TemplateSettings,
};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub database: DatabaseSection,
    pub tls: TlsSection,
    pub metrics: MetricsSection,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: SocketAddr,
    /// Holds the SQLite database (by default) and the blobs.
    pub data_dir: PathBuf,
    /// Send cookies with `Secure` even without TLS here (set when a TLS-terminating
    /// reverse proxy is in front). With `tls.cert` set they are always secure.
    pub secure_cookies: bool,
    /// A client must send a request's headers within this time, and a kept-alive
    /// connection is closed after this long without a new request.
    pub header_timeout_seconds: u64,
    /// A request body that sends nothing for this long is ended (outside a virus scan,
    /// which has `scan.timeout_seconds`).
    pub body_timeout_seconds: u64,
    /// Open connections per client address at most (0: no limit, e.g. behind a
    /// reverse proxy, which is then the only address).
    pub max_connections_per_address: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            secure_cookies: false,
            header_timeout_seconds: 20,
            body_timeout_seconds: 60,
            max_connections_per_address: 128,
        }
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `sqlite://…`, `postgres://…` or `mysql://…`. Empty: SQLite in the data dir.
    pub url: String,
    /// A file whose content is the URL (for secrets kept out of the config file).
    pub url_file: Option<PathBuf>,
}

impl std::fmt::Debug for DatabaseSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("DatabaseSection")
            .field("url", &redact_url(&self.url))
            .field("url_file", &self.url_file)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `bsi` (BSI TR-02102-2) or `compat` (adds ChaCha20, X25519, TLS 1.2 without EMS).
    pub profile: crate::tls::TlsProfile,
    /// `"1.2"` or `"1.3"`.
    pub min_version: crate::tls::MinVersion,
    /// Admins see a banner this many days before the certificate expires.
    pub expiry_warning_days: u64,
}

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            profile: crate::tls::TlsProfile::Bsi,
            min_version: crate::tls::MinVersion::Tls12,
            expiry_warning_days: 30,
        }
    }
}

/// Where the monitoring reads `/metrics` and the details of `/readyz`; the public port
/// answers them only with the bearer token.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// A second listener for the monitoring only (e.g. `127.0.0.1:9464`): `/metrics`,
    /// `/readyz` with details, `/healthz`. None: no such listener.
    pub listen: Option<SocketAddr>,
    /// A file holding a bearer token; with it, the public port answers `/metrics` and
    /// the details of `/readyz` to `Authorization: Bearer <token>`.
    pub token_file: Option<PathBuf>,
}

/// Hides the password of a database URL (user info and a `password=` parameter).
pub fn redact_url(url: &str) -> String {
    let redacted = redact_userinfo(url);
    match redacted.split_once('?') {
        Some((base, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{base}?{}", params.join("&"))
        }
        None => redacted,
    }
}

fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Config {
    pub fn load(file: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("configuration file {} does not exist", file.display());
            }
            fig = fig.merge(Toml::file_exact(file));
        }
        // Only AMTSBOTE_<SECTION>__<KEY>: other AMTSBOTE_* variables (AMTSBOTE_LOG,
        // AMTSBOTE_CONFIG, test settings) are not configuration keys.
        fig = fig.merge(
            Env::prefixed("AMTSBOTE_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        if let Some(dir) = data_dir {
            cfg.server.data_dir = dir.to_path_buf();
        }
        if let Some(path) = &cfg.database.url_file {
            cfg.database.url = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("database.url_file {}: {e}", path.display()))?
                .trim()
                .to_string();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The monitoring bearer token from `metrics.token_file` (trimmed), if one is set.
    pub fn metrics_token(&self) -> anyhow::Result<Option<String>> {
        let Some(path) = &self.metrics.token_file else {
            return Ok(None);
        };
        let token = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("metrics.token_file {}: {e}", path.display()))?
            .trim()
            .to_string();
        if token.len() < 32 {
            anyhow::bail!(
                "metrics.token_file {}: the token must have at least 32 characters",
                path.display()
            );
        }
        Ok(Some(token))
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            anyhow::bail!("tls.cert and tls.key must be set together");
        }
        if !self.database.url.is_empty()
            && amtsbote_core::db::Backend::from_url(&self.database.url).is_none()
        {
            anyhow::bail!("database.url must start with sqlite://, postgres:// or mysql://");
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.template.folders {
            amtsbote_core::spaces::names::NodeName::parse(&f.name)
                .map_err(|e| anyhow::anyhow!("template folder {:?}: {e}", f.name))?;
            if !seen.insert(f.name.to_lowercase()) {
                anyhow::bail!("template folder {:?} is listed twice", f.name);
            }
        }
        self.metrics_token()?;
        if self.server.header_timeout_seconds == 0 || self.server.body_timeout_seconds == 0 {
            anyhow::bail!(
                "server.header_timeout_seconds and body_timeout_seconds must be at least 1"
            );
        }
        if self.limits.max_upload_bytes == 0 {
            anyhow::bail!("limits.max_upload_bytes must be greater than 0");
        }
        if self.sessions.idle_timeout_minutes == 0 || self.sessions.absolute_timeout_hours == 0 {
            anyhow::bail!("session timeouts must be greater than 0");
        }
        let l = &self.lockout;
        if l.delay_after == 0 || l.lock_after == 0 || l.ip_lock_after == 0 || l.lock_minutes == 0 {
            anyhow::bail!("lockout thresholds and lock_minutes must be greater than 0");
        }
        if l.delay_after > l.lock_after {
            anyhow::bail!("lockout.delay_after must not be greater than lockout.lock_after");
        }
        for a in &self.notify.authority_addresses {
            amtsbote_core::auth::accounts::validate_email(a).map_err(|_| {
                anyhow::anyhow!("notify.authority_addresses: {a:?} is not an e-mail address")
            })?;
        }
        if self.notify.max_attempts == 0 {
            anyhow::bail!("notify.max_attempts must be at least 1");
        }
        if self.letters.activation_days == 0 {
            anyhow::bail!("letters.activation_days must be at least 1");
        }
        if self.notify.retry_seconds == 0 {
            anyhow::bail!("notify.retry_seconds must be at least 1");
        }
        if self.notify.digest_hour > 23 {
            anyhow::bail!("notify.digest_hour must be between 0 and 23");
        }
        amtsbote_core::notify::templates::Texts::load(&self.notify)
            .map_err(|e| anyhow::anyhow!("notify templates: {e}"))?;
        if !self.mail.host.trim().is_empty() {
            // Addresses and the password file are checked now, not at the first mail.
            let _ = rustls::crypto::ring::default_provider().install_default();
            amtsbote_core::notify::mail::Mailer::from_settings(&self.mail)?;
        }
        Ok(())
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("amtsbote.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            authority: self.authority.clone(),
            access: self.access.clone(),
            limits: self.limits.clone(),
            sessions: self.sessions.clone(),
            lockout: self.lockout.clone(),
            second_factor: self.second_factor.clone(),
            letters: self.letters.clone(),
            scan: self.scan.clone(),
            mail: self.mail.clone(),
            notify: self.notify.clone(),
            template: self.template.clone(),
            audit: self.audit.clone(),
        }
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.cert.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            redact_url("mysql://h/db?user=u&password=secret&ssl-mode=required"),
            "mysql://h/db?user=u&password=***&ssl-mode=required"
        );
    }

    #[test]
    fn example_config_is_valid_and_matches_the_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.toml");
        let cfg = Config::load(Some(&path), None).expect("example.toml loads");
        let defaults = Config::default();
        // The example documents the defaults; if they drift apart, one of them is wrong.
        assert_eq!(
            serde_json::to_value(&cfg).expect("json"),
            serde_json::to_value(&defaults).expect("json")
        );
    }

    #[test]
    fn database_url_can_come_from_a_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let secret = dir.path().join("db-url");
        std::fs::write(&secret, "postgres://app:geheim@db.example/amtsbote\n").expect("write");
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            format!(
                "[database]\nurl_file = {:?}\n",
                secret.display().to_string()
            ),
        )
        .expect("write");
        let cfg = Config::load(Some(&f), None).expect("ok");
        assert_eq!(
            cfg.database_url(),
            "postgres://app:geheim@db.example/amtsbote"
        );
        assert!(
            !format!("{cfg:?}").contains("geheim"),
            "Debug never shows the password"
        );
        std::fs::remove_file(&secret).expect("rm");
        assert!(
            Config::load(Some(&f), None).is_err(),
            "a missing secret file is an error"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[server]\nlisten = \"127.0.0.1:9\"\nlistn = 1\n").expect("write");
        let err = Config::load(Some(&f), None).expect_err("must fail");
        assert!(err.to_string().contains("listn"), "{err}");
        std::fs::write(
            &f,
            "[authority]\nname = \"X\"\n[access]\nclerks_see_all = false\n",
        )
        .expect("write");
        let cfg = Config::load(Some(&f), None).expect("ok");
        assert_eq!(cfg.authority.name, "X");
        assert!(!cfg.access.clerks_see_all);
        assert_eq!(cfg.template.folders.len(), 3);
    }
}
