//! Accounts: staff (admin, clerk) and member users. Log-in names are unique without
//! regard to case (app-side lowercase key). Passwords are Argon2id hashes.

use crate::App;
use crate::audit::{AuditActor, AuditEvent, Outcome};
use crate::auth::actor::{Actor, StaffRole};
use crate::auth::password;
use crate::db::{flag, is_unique_violation};
use crate::error::{Error, Result};
use crate::ids;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub kind: String,
    pub role: Option<String>,
    pub member_id: Option<i64>,
    pub password_hash: String,
    pub must_change_password: i64,
    pub active: i64,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub deliveries_seen_at: i64,
    /// Until when the pending one-time password (activation code) signs in.
    pub activation_expires_at: Option<i64>,
}

/// `SELECT <the columns of Account> FROM accounts <rest>`: one column list for every
/// query that decodes an [`Account`].
macro_rules! select_accounts {
    ($($rest:tt)+) => {
        concat!(
            "SELECT id, login, display_name, email, kind, role, member_id, password_hash, must_change_password, active, created_at, last_login_at, deliveries_seen_at, activation_expires_at FROM accounts ",
            $($rest)+
        )
    };
}
pub(crate) use select_accounts;

impl Account {
    pub fn is_active(&self) -> bool {
        self.active != 0
    }
    pub fn must_change_password(&self) -> bool {
        self.must_change_password != 0
    }
    pub fn is_staff(&self) -> bool {
        self.kind == "staff"
    }
    pub fn role(&self) -> Option<StaffRole> {
        self.role.as_deref().and_then(StaffRole::parse)
    }
    /// The actor this account acts as, if the account is consistent.
    pub fn actor(&self) -> Option<Actor> {
        match (self.kind.as_str(), self.role(), self.member_id) {
            ("staff", Some(role), _) => Some(Actor::Staff {
                id: self.id,
                role,
                name: self.display_name.clone(),
            }),
            ("member", _, Some(member_id)) => Some(Actor::MemberUser {
                id: self.id,
                member_id,
                name: self.display_name.clone(),
            }),
            _ => None,
        }
    }
}

/// What kind of account to create.
#[derive(Debug, Clone, Copy)]
pub enum AccountKind {
    Staff(StaffRole),
    MemberUser { member_id: i64 },
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub kind: AccountKind,
}

/// Changes an admin can make to an account.
#[derive(Debug, Clone)]
pub struct AccountUpdate {
    pub display_name: String,
    pub email: String,
    pub role: Option<StaffRole>,
    pub active: bool,
}

pub fn validate_login(raw: &str) -> Result<String> {
    let login = raw.trim();
    let ok_chars = login
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if login.is_empty() || login.chars().count() > 64 || !ok_chars {
        return Err(Error::Invalid("login"));
    }
    Ok(login.to_string())
}

pub fn validate_email(raw: &str) -> Result<String> {
    let email = raw.trim();
    let mut parts = email.split('@');
    let (local, domain) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let ok = parts.next().is_none()
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 320
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
    if !ok {
        return Err(Error::Invalid("email"));
    }
    Ok(email.to_string())
}

pub fn validate_display_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid("display_name"));
    }
    Ok(name.to_string())
}

/// The reads of accounts that the doors may make: one's own, or any for the service
/// staff who keep them; any other is reported as not found.
impl App {
    pub async fn account(&self, actor: &Actor, id: i64) -> Result<Account> {
        account_gate(actor, self.account_row(id).await?)
    }

    pub async fn account_by_login(&self, actor: &Actor, login: &str) -> Result<Account> {
        account_gate(actor, self.account_row_by_login(login).await?)
    }
}

/// One's own account, or any for the service staff who keep them; any other is not found.
fn account_gate(actor: &Actor, account: Option<Account>) -> Result<Account> {
    let account = account.ok_or(Error::NotFound)?;
    let own = actor.account_id() == Some(account.id);
    if own
        || crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Accounts,
        )
        .is_ok()
    {
        Ok(account)
    } else {
        Err(Error::NotFound)
    }
}

impl App {
    pub(crate) async fn account_row(&self, id: i64) -> Result<Option<Account>> {
        let sql = select_accounts!("WHERE id = ?");
        Ok(self
            .db
            .qa::<Account>(sql)
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?)
    }

    pub(crate) async fn account_row_by_login(&self, login: &str) -> Result<Option<Account>> {
        let sql = select_accounts!("WHERE login_key = ?");
        Ok(self
            .db
            .qa::<Account>(sql)
            .bind(login.trim().to_lowercase())
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Staff accounts (admins see all; used for lists and assignment forms).
    pub async fn list_accounts(&self, actor: &Actor) -> Result<Vec<Account>> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Accounts,
        )?;
        let sql = select_accounts!("ORDER BY kind DESC, login_key");
        Ok(self.db.qa::<Account>(sql).fetch_all(self.db.pool()).await?)
    }

    pub(crate) async fn member_user_rows(&self, member_id: i64) -> Result<Vec<Account>> {
        let sql = select_accounts!("WHERE member_id = ? ORDER BY login_key");
        Ok(self
            .db
            .qa::<Account>(sql)
            .bind(member_id)
            .fetch_all(self.db.pool())
            .await?)
    }

    /// Creates an account with a one-time password, which is returned once and must be
    /// changed at first log-in. Admins (and the CLI) only.
    pub async fn create_account(
        &self,
        actor: &Actor,
        new: NewAccount,
    ) -> Result<(Account, String)> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Accounts,
        )?;
        let login = validate_login(&new.login)?;
        let email = validate_email(&new.email)?;
        let display_name = validate_display_name(&new.display_name)?;
        let (kind, role, member_id) = match new.kind {
            AccountKind::Staff(role) => ("staff", Some(role.as_str()), None),
            AccountKind::MemberUser { member_id } => {
                self.member_row(member_id).await?.ok_or(Error::NotFound)?;
                ("member", None, Some(member_id))
            }
        };
        let otp = password::one_time_password();
        let hash = hash_blocking(otp.clone()).await?;
        let id = ids::new_id();
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let inserted = self
            .db
            .q("INSERT INTO accounts (id, login, login_key, display_name, email, kind, role, member_id, password_hash, must_change_password, active, created_at, last_login_at, deliveries_seen_at, activation_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, NULL, ?, ?)")
            .bind(id)
            .bind(login.clone())
            .bind(login.to_lowercase())
            .bind(display_name)
            .bind(email)
            .bind(kind)
            .bind(role)
            .bind(member_id)
            .bind(hash)
            .bind(now)
            .bind(now)
            .bind(self.activation_expiry())
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
            other => other?,
        };
        let mut ev = AuditEvent::new(actor, "account.create", format!("account:{login}"))
            .detail(format!("kind={kind} role={}", role.unwrap_or("-")));
        if let Some(m) = member_id {
            ev = ev.member(m);
        }
        self.audit(&mut *tx, ev).await?;
        tx.commit().await?;
        let account = self.account_row(id).await?.ok_or(Error::NotFound)?;
        Ok((account, otp))
    }

    pub async fn update_account(&self, actor: &Actor, id: i64, upd: AccountUpdate) -> Result<()> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Accounts,
        )?;
        let account = self.account_row(id).await?.ok_or(Error::NotFound)?;
        let email = validate_email(&upd.email)?;
        let display_name = validate_display_name(&upd.display_name)?;
        let role = if account.is_staff() {
            upd.role.or(account.role()).map(StaffRole::as_str)
        } else {
            None
        };
        if Some(id) == actor.account_id() && (!upd.active || role != Some("admin")) {
            // An admin locking themselves out leaves nobody to undo it.
            return Err(Error::Invalid("self-demotion"));
        }
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE accounts SET display_name = ?, email = ?, role = ?, active = ? WHERE id = ?")
            .bind(display_name)
            .bind(email)
            .bind(role)
            .bind(flag(upd.active))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if !upd.active {
            self.revoke_sessions_in(&mut tx, id).await?;
        }
        let mut ev = AuditEvent::new(
            actor,
            "account.update",
            format!("account:{}", account.login),
        )
        .detail(format!(
            "active={} role={}",
            upd.active,
            role.unwrap_or("-")
        ));
        if let Some(m) = account.member_id {
            ev = ev.member(m);
        }
        self.audit(&mut *tx, ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks a log-in. Wrong login, wrong password and inactive account all give the
    /// same error and take about the same time; every attempt is audited.
    pub async fn authenticate(&self, login: &str, pw: &str, ip: Option<String>) -> Result<Account> {
        if let Err(e) = self.attempt_allowed(login, ip.as_deref()).await {
            self.audit_failed_login(login, "login", "throttled", ip)
                .await?;
            return Err(e);
        }
        let found = self.account_row_by_login(login).await?;
        let hash = found
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| password::dummy_hash().to_string());
        let ok = self.verify_password(pw, &hash).await?;
        let member_active = match found.as_ref().and_then(|a| a.member_id) {
            Some(m) => self.member_row(m).await?.is_some_and(|m| m.is_active()),
            None => true,
        };
        match found {
            Some(account)
                if ok
                    && account.must_change_password()
                    && account
                        .activation_expires_at
                        .is_some_and(|until| until < self.now()) =>
            {
                // The right code, but too late: say so (it tells nothing a guesser
                // could use, as only the right code gets here), and whom to call.
                self.audit_failed_login(login, "login", "activation code expired", ip)
                    .await?;
                Err(Error::ActivationExpired)
            }
            Some(account) if ok && account.is_active() && member_active => {
                self.attempt_succeeded(login).await?;
                self.rehash_if_outdated(&account, pw).await;
                let now = self.now();
                self.db
                    .q("UPDATE accounts SET last_login_at = ? WHERE id = ?")
                    .bind(now)
                    .bind(account.id)
                    .execute(self.db.pool())
                    .await?;
                let actor = account
                    .actor()
                    .ok_or(Error::Internal("inconsistent account".into()))?;
                let mut ev =
                    AuditEvent::new(&actor, "login", format!("account:{}", account.login)).ip(ip);
                if let Some(m) = account.member_id {
                    ev = ev.member(m);
                }
                self.audit(self.db.pool(), ev).await?;
                Ok(account)
            }
            other => {
                let reason = match &other {
                    None => "unknown login",
                    Some(_) if !ok => "wrong password",
                    Some(_) => "account or member inactive",
                };
                self.attempt_failed(login, ip.as_deref()).await?;
                self.audit_failed_login(login, "login", reason, ip).await?;
                Err(Error::AuthFailed)
            }
        }
    }

    /// A failed or refused sign-in, recorded under the login name that was tried.
    pub(crate) async fn audit_failed_login(
        &self,
        login: &str,
        action: &'static str,
        reason: &str,
        ip: Option<String>,
    ) -> Result<()> {
        let who = AuditActor::anonymous(login);
        let target = format!("account:{}", who.label);
        let ev = AuditEvent::new(who, action, target)
            .outcome(Outcome::Failure)
            .detail(reason)
            .ip(ip);
        self.audit(self.db.pool(), ev).await
    }

    /// Until when a one-time password issued now signs in.
    pub(crate) fn activation_expiry(&self) -> i64 {
        self.now() + i64::from(self.settings.letters.activation_days.max(1)) * 86_400_000
    }

    /// The password rules, with the authority's names among the guessable words.
    pub fn check_password_rules(&self, new: &str, login: &str) -> Result<()> {
        let a = &self.settings.authority;
        password::check_rules(new, login, &[&a.name, &a.display_name])
    }

    /// Makes the hash again when it was made with other parameters than today's; the
    /// log-in does not fail if this does.
    async fn rehash_if_outdated(&self, account: &Account, pw: &str) {
        if !password::needs_rehash(&account.password_hash) {
            return;
        }
        let result = async {
            let hash = hash_blocking(pw.to_string()).await?;
            self.db
                .q("UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?")
                .bind(hash)
                .bind(account.id)
                .bind(account.password_hash.clone())
                .execute(self.db.pool())
                .await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(account = account.id, error = %e, "password hash not renewed");
        }
    }

    /// The account holder changes their own password (clears the must-change flag).
    /// The session `keep_session` (the one the change is made from) stays signed in.
    pub async fn change_password(
        &self,
        account_id: i64,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<()> {
        let account = self.account_row(account_id).await?.ok_or(Error::NotFound)?;
        if !self
            .verify_password(current, &account.password_hash)
            .await?
        {
            return Err(Error::AuthFailed);
        }
        self.check_password_rules(new, &account.login)?;
        if current == new {
            return Err(Error::WeakPassword("err-password-unchanged"));
        }
        let hash = hash_blocking(new.to_string()).await?;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE accounts SET password_hash = ?, must_change_password = 0, activation_expires_at = NULL WHERE id = ?")
            .bind(hash)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        // Whoever else holds a session (perhaps the reason for the change) is signed out.
        self.revoke_other_sessions_in(&mut tx, account_id, keep_session)
            .await?;
        let actor = account
            .actor()
            .ok_or(Error::Internal("inconsistent account".into()))?;
        self.audit(
            &mut *tx,
            AuditEvent::new(
                &actor,
                "password.change",
                format!("account:{}", account.login),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a password chosen by an operator (no forced change), e.g. for automation.
    pub async fn set_password(&self, actor: &Actor, login: &str, new: &str) -> Result<()> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Accounts,
        )?;
        let account = self
            .account_row_by_login(login)
            .await?
            .ok_or(Error::NotFound)?;
        self.check_password_rules(new, &account.login)?;
        let hash = hash_blocking(new.to_string()).await?;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE accounts SET password_hash = ?, must_change_password = 0, activation_expires_at = NULL WHERE id = ?")
            .bind(hash)
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        self.revoke_sessions_in(&mut tx, account.id).await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "password.set", format!("account:{}", account.login)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Issues a new one-time password and ends all sessions of the account.
    pub async fn reset_password(&self, actor: &Actor, account_id: i64) -> Result<String> {
        self.issue_one_time_password(actor, account_id, "password.reset", None)
            .await
    }

    /// A new one-time password (activation code) for an account: the old one and all
    /// sessions end, and it signs in for `letters.activation_days`. Admins only.
    /// `then` runs in the same transaction (the link mail of a letter).
    pub(crate) async fn issue_one_time_password(
        &self,
        actor: &Actor,
        account_id: i64,
        action: &'static str,
        then: Option<&'static str>,
    ) -> Result<String> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Accounts,
        )?;
        let account = self.account_row(account_id).await?.ok_or(Error::NotFound)?;
        let otp = password::one_time_password();
        let hash = hash_blocking(otp.clone()).await?;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE accounts SET password_hash = ?, must_change_password = 1, activation_expires_at = ? WHERE id = ?")
            .bind(hash)
            .bind(self.activation_expiry())
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        self.revoke_sessions_in(&mut tx, account.id).await?;
        let mut ev = AuditEvent::new(actor, action, format!("account:{}", account.login));
        if let Some(m) = account.member_id {
            ev = ev.member(m);
        }
        self.audit(&mut *tx, ev).await?;
        if let Some(kind) = then {
            self.notify_account(&mut tx, kind, account.id).await?;
        }
        tx.commit().await?;
        self.basic_cache.forget(account.id);
        Ok(otp)
    }

    pub async fn count_accounts(&self) -> Result<i64> {
        Ok(self
            .db
            .qs::<i64>("SELECT COUNT(*) FROM accounts")
            .fetch_one(self.db.pool())
            .await?)
    }

    /// Remembers when a staff member last looked at the deliveries list; returns the
    /// previous value so the page can mark what is new since then.
    pub async fn mark_deliveries_seen(&self, account_id: i64) -> Result<i64> {
        let prev: i64 = self
            .db
            .qs::<i64>("SELECT deliveries_seen_at FROM accounts WHERE id = ?")
            .bind(account_id)
            .fetch_one(self.db.pool())
            .await?;
        self.db
            .q("UPDATE accounts SET deliveries_seen_at = ? WHERE id = ?")
            .bind(self.now())
            .bind(account_id)
            .execute(self.db.pool())
            .await?;
        Ok(prev)
    }
}

/// Each Argon2id run takes 19 MiB and a core for a moment. Without a bound, a flood of
/// log-in attempts (no account needed) would run hundreds at once and exhaust memory;
/// with it, attempts queue and memory stays at permits × 19 MiB.
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2);
        tokio::sync::Semaphore::new(cores.max(2))
    })
}

impl App {
    /// Argon2id verification off the async threads, within the concurrency bound.
    pub(crate) async fn verify_password(&self, pw: &str, hash: &str) -> Result<bool> {
        self.password_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        verify_blocking(pw.to_string(), hash.to_string()).await
    }
}

async fn hash_blocking(pw: String) -> Result<String> {
    let _permit = argon2_permits()
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

async fn verify_blocking(pw: String, hash: String) -> Result<bool> {
    let _permit = argon2_permits()
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}
