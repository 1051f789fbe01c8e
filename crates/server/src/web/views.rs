//! Page models for the askama templates in `templates/`. Every page carries a `Ctx`
//! with the language, the signed-in user and the CSRF token for its forms.

use amtsbote_core::auth::accounts::Account;
use amtsbote_core::members::{Member, MemberListing};
use amtsbote_core::spaces::nodes::{Delivery, Node};
use askama::Template;

use super::i18n::Lang;

#[derive(Debug, Clone)]
pub struct NavUser {
    pub name: String,
    pub is_staff: bool,
    pub is_admin: bool,
}

#[derive(Debug, Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub title: String,
    pub authority_name: String,
    pub authority_display: String,
    pub contact: String,
    pub user: Option<NavUser>,
    pub csrf: String,
    /// Shown to admins while uploads are not scanned for viruses.
    /// Warnings about virus scanning (admins only).
    pub admin_banners: Vec<String>,
    pub path: String,
    pub notice: Option<String>,
}

impl Ctx {
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }
    pub fn ta(&self, key: &str, name: &'static str, value: &str) -> String {
        self.lang.ta(key, &[(name, value.to_string())])
    }
    pub fn date(&self, ms: &i64) -> String {
        self.lang.datetime(*ms)
    }
    pub fn date_opt(&self, ms: &Option<i64>) -> String {
        ms.map(|m| self.lang.datetime(m))
            .unwrap_or_else(|| self.lang.t("last-used-never"))
    }
    pub fn size(&self, b: &i64) -> String {
        self.lang.size(*b)
    }
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_admin)
    }
    pub fn other_lang(&self) -> &'static str {
        self.lang.other().code()
    }
    pub fn other_lang_name(&self) -> String {
        self.lang.t("lang-switch")
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Ctx,
    pub login: String,
    /// Where to go after log-in (a local path), e.g. the folder a mail linked to.
    pub next: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub c: Ctx,
    pub forced: bool,
    /// Where to go once the password is set (a local path from the log-in).
    pub next: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub c: Ctx,
    pub deliveries: Vec<DeliveryRow>,
}

pub struct DeliveryRow {
    pub d: Delivery,
    pub is_new: bool,
}

#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersPage {
    pub c: Ctx,
    pub q: String,
    pub members: Vec<MemberListing>,
}

pub struct Crumb {
    pub id: i64,
    pub name: String,
}

pub struct Row {
    pub node: Node,
    pub can_delete: bool,
    pub can_rename: bool,
}

pub struct UploadResult {
    pub name: String,
    pub ok: bool,
    pub message: String,
}

#[derive(Template)]
#[template(path = "folder.html")]
pub struct FolderPage {
    pub c: Ctx,
    pub space_id: i64,
    pub space_label: String,
    pub folder_id: i64,
    pub crumbs: Vec<Crumb>,
    pub rows: Vec<Row>,
    pub can_upload: bool,
    pub can_mkdir: bool,
    pub results: Vec<UploadResult>,
    pub error: Option<String>,
    pub max_upload: String,
}

#[derive(Template)]
#[template(path = "member_form.html")]
pub struct MemberFormPage {
    pub c: Ctx,
    pub member: Option<Member>,
    pub number: String,
    pub name: String,
    pub address: String,
    pub emails: String,
    pub authority_emails: String,
    /// New member only: the users typed in.
    pub new_users: String,
    pub active: bool,
    pub error: Option<String>,
    pub users: Vec<Account>,
    pub clerks: Vec<Account>,
    pub staff: Vec<Account>,
    pub space_id: Option<i64>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
pub struct AccountsPage {
    pub c: Ctx,
    pub accounts: Vec<AccountRow>,
}

pub struct AccountRow {
    pub a: Account,
    pub member_label: String,
}

#[derive(Template)]
#[template(path = "account_form.html")]
pub struct AccountFormPage {
    pub c: Ctx,
    pub account: Option<Account>,
    pub login: String,
    pub display_name: String,
    pub email: String,
    /// "admin", "clerk" or "member"
    pub kind: String,
    pub member_number: String,
    pub active: bool,
    pub members: Vec<MemberListing>,
    /// The account's live sessions (edit form only), without buttons for single ones.
    pub session_rows: Vec<SessionRow>,
    pub session_actions: bool,
    pub session_none_key: &'static str,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "one_time_password.html")]
pub struct OneTimePasswordPage {
    pub c: Ctx,
    pub login: String,
    pub password: String,
    pub account_id: i64,
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
pub struct ConfirmDeletePage {
    pub c: Ctx,
    pub space_id: i64,
    pub node_id: i64,
    pub parent_id: i64,
    pub name: String,
}

#[derive(Template)]
#[template(path = "app_passwords.html")]
pub struct AppPasswordsPage {
    pub c: Ctx,
    pub login: String,
    pub dav_url: String,
    pub list: Vec<amtsbote_core::auth::app_passwords::AppPassword>,
    /// (label, token) right after creation: the only time the token is shown.
    pub new_token: Option<(String, String)>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub c: Ctx,
    pub message: String,
    pub status: u16,
    /// "Vorgangsnummer …" for a failure of ours.
    pub incident: Option<String>,
}

#[derive(Template)]
#[template(path = "quarantine.html")]
pub struct QuarantinePage {
    pub c: Ctx,
    pub rows: Vec<QuarantineRow>,
    /// Whether infected uploads are kept now (`scan.on_infected = "quarantine"`).
    pub keeping: bool,
    pub days: String,
}

pub struct QuarantineRow {
    pub q: amtsbote_core::scan::quarantine::Quarantined,
    pub member: String,
    pub at: String,
    pub expires: String,
    pub size: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    pub c: Ctx,
    pub email: String,
    /// What the account receives, one sentence each.
    pub items: Vec<String>,
    /// When mails go out (the window).
    pub timing: String,
    pub may_choose_digest: bool,
    pub digest: bool,
    pub digest_hour: String,
    pub mail_lang: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "mail_queue.html")]
pub struct MailQueuePage {
    pub c: Ctx,
    /// Whether `mail.host` is set (otherwise mails wait).
    pub configured: bool,
    pub pending_count: String,
    pub sent_count: String,
    pub dead_count: String,
    pub dead: Vec<MailQueueRow>,
    pub pending: Vec<MailQueueRow>,
}

pub struct MailQueueRow {
    pub m: amtsbote_core::notify::deliver::MailRow,
    pub kind: String,
    pub member: String,
    pub created: String,
    pub next: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "locks.html")]
pub struct LocksPage {
    pub c: Ctx,
    pub rows: Vec<LockRow>,
    pub lock_after: String,
    pub minutes: String,
}

#[derive(Template)]
#[template(path = "audit_log.html")]
pub struct AuditPage {
    pub c: Ctx,
    pub lines: Vec<AuditLine>,
    pub errors: Vec<String>,
    pub person: String,
    pub document: String,
    pub from: String,
    pub to: String,
    pub members: Vec<Choice>,
    pub kinds: Vec<Choice>,
    pub more_href: Option<String>,
    pub older_page: bool,
    pub filtered: bool,
    pub sealed: Option<String>,
    pub retention: String,
    pub pruned: Option<String>,
}

pub struct AuditLine {
    pub time: String,
    pub person: String,
    pub person_kind: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub member: String,
    pub outcome: String,
    pub failed: bool,
    pub ip: String,
    pub request: String,
}

/// One option of a select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct LockRow {
    pub subject: String,
    pub kind: String,
    pub name: String,
    pub until: String,
    pub failures: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub c: Ctx,
    pub session_rows: Vec<SessionRow>,
    pub session_actions: bool,
    pub session_none_key: &'static str,
}

pub struct SessionRow {
    pub id: String,
    pub current: bool,
    pub since: String,
    pub last_seen: String,
    pub ip: String,
    pub browser: String,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    pub c: Ctx,
    pub next: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    pub c: Ctx,
    pub enabled: bool,
    pub required: bool,
    /// The secret of an enrolment under way, in groups of four for typing.
    pub secret: Option<String>,
    /// Recovery codes, shown this once.
    pub codes: Option<Vec<String>>,
    pub codes_left: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "activation.html")]
pub struct ActivationPage {
    pub c: Ctx,
    pub rows: Vec<ActivationRow>,
    /// Whether `letters.return_address` is set (letters can be printed).
    pub configured: bool,
}

pub struct ActivationRow {
    pub account: Account,
    pub member: String,
    pub since: String,
    pub expires: String,
    pub expired: bool,
}
