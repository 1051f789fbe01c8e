//! The second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30 s, one step of clock skew,
//! which is what every authenticator app speaks) and ten one-time recovery codes.
//! Enrolment shows a secret, and takes effect only once a first code from it is
//! entered. A code is never accepted twice (the last used time step is kept), wrong
//! codes count as failed sign-ins (brute-force protection), and time comes from the
//! injected clock.

use sha2::{Digest, Sha256};

use crate::App;
use crate::audit::AuditEvent;
use crate::auth::accounts::Account;
use crate::auth::actor::Actor;
use crate::error::{Error, Result};
use crate::ids;
use crate::settings::SecondFactorRequired;

const STEP_SECONDS: i64 = 30;
const DIGITS: usize = 6;
const RECOVERY_CODES: usize = 10;

/// What the holder needs to set up an authenticator app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// Base32, as apps take it when typed in.
    pub secret: String,
    /// `otpauth://totp/…`, for the QR code.
    pub url: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct SecretRow {
    secret: String,
    confirmed_at: Option<i64>,
    last_step: i64,
}

fn totp(secret_b32: &str) -> Result<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|_| Error::Internal("stored TOTP secret unreadable".into()))?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        DIGITS,
        1,
        u64::try_from(STEP_SECONDS).unwrap_or(30),
        bytes,
    )
    .map_err(|e| Error::Internal(format!("totp: {e}")))
}

/// The time step a code belongs to, if it is valid now (one step of skew either way)
/// and later than `after`.
fn matching_step(secret_b32: &str, code: &str, now_ms: i64, after: i64) -> Result<Option<i64>> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let t = totp(secret_b32)?;
    let now_step = now_ms / 1000 / STEP_SECONDS;
    let mut found = None;
    for step in [now_step - 1, now_step, now_step + 1] {
        let at = u64::try_from(step * STEP_SECONDS).unwrap_or(0);
        let expected = t.generate(at);
        // Every candidate is compared, so the time taken does not tell which matched.
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) && step > after {
            found = Some(step);
        }
    }
    Ok(found)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Recovery codes: 16 characters without look-alikes in four groups (80 bits), so a
/// plain SHA-256 at rest is enough.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
    }
    out
}

fn recovery_hash(account_id: i64, code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut h = Sha256::new();
    h.update(account_id.to_be_bytes());
    h.update(normal.as_bytes());
    hex::encode(h.finalize())
}

fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes);
    totp_rs::Secret::Raw(bytes.to_vec())
        .to_encoded()
        .to_string()
}

impl App {
    /// Whether the account signs in with a second factor.
    pub async fn second_factor_enabled(&self, account_id: i64) -> Result<bool> {
        Ok(self
            .db
            .qs::<i64>("SELECT COUNT(*) FROM totp_secrets WHERE account_id = ? AND confirmed_at IS NOT NULL")
            .bind(account_id)
            .fetch_one(self.db.pool())
            .await?
            > 0)
    }

    /// Whether the configuration requires a second factor of this account.
    pub fn second_factor_required(&self, account: &Account) -> bool {
        let admin = account.role.as_deref() == Some("admin");
        match self.settings.second_factor.required {
            SecondFactorRequired::None => false,
            SecondFactorRequired::Admins => admin,
            SecondFactorRequired::Staff => account.is_staff(),
            SecondFactorRequired::Everyone => true,
        }
    }

    async fn secret_row(&self, account_id: i64) -> Result<Option<SecretRow>> {
        Ok(self
            .db
            .qa::<SecretRow>(
                "SELECT secret, confirmed_at, last_step FROM totp_secrets WHERE account_id = ?",
            )
            .bind(account_id)
            .fetch_optional(self.db.pool())
            .await?)
    }

    fn enrolment(&self, account: &Account, secret: String) -> Enrolment {
        let issuer = format!(
            "{} {}",
            self.settings.authority.name, self.settings.authority.display_name
        );
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let url = format!(
            "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            enc(&issuer),
            enc(&account.login),
            enc(&issuer)
        );
        Enrolment { secret, url }
    }

    /// Starts (or starts again) setting up TOTP: a new secret that counts only once a
    /// code from it is confirmed. An active second factor is not replaced this way.
    pub async fn start_totp(&self, account: &Account) -> Result<Enrolment> {
        if self.second_factor_enabled(account.id).await? {
            return Err(Error::AlreadyExists);
        }
        let secret = new_secret();
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("DELETE FROM totp_secrets WHERE account_id = ?")
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        self.db
            .q("INSERT INTO totp_secrets (account_id, secret, confirmed_at, last_step, created_at) VALUES (?, ?, NULL, 0, ?)")
            .bind(account.id)
            .bind(secret.clone())
            .bind(self.now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(self.enrolment(account, secret))
    }

    /// The enrolment under way, if any (for showing its QR code again).
    pub async fn pending_totp(&self, account: &Account) -> Result<Option<Enrolment>> {
        Ok(self
            .secret_row(account.id)
            .await?
            .filter(|r| r.confirmed_at.is_none())
            .map(|r| self.enrolment(account, r.secret)))
    }

    /// Confirms the enrolment with a code from the app; returns the recovery codes,
    /// shown this once.
    pub async fn confirm_totp(
        &self,
        account: &Account,
        code: &str,
        ip: Option<String>,
    ) -> Result<Vec<String>> {
        let row = self
            .secret_row(account.id)
            .await?
            .filter(|r| r.confirmed_at.is_none())
            .ok_or(Error::NotFound)?;
        let Some(step) = matching_step(&row.secret, code, self.now(), row.last_step)? else {
            return Err(Error::Invalid("second factor code"));
        };
        let actor = account
            .actor()
            .ok_or(Error::Internal("inconsistent account".into()))?;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE totp_secrets SET confirmed_at = ?, last_step = ? WHERE account_id = ? AND confirmed_at IS NULL")
            .bind(self.now())
            .bind(step)
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        let codes = self.replace_recovery_codes(&mut tx, account.id).await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(
                &actor,
                "second_factor.enable",
                format!("account:{}", account.login),
            )
            .ip(ip),
        )
        .await?;
        tx.commit().await?;
        // The account password no longer opens WebDAV from now on (app passwords do).
        self.basic_cache.forget(account.id);
        Ok(codes)
    }

    async fn replace_recovery_codes(
        &self,
        tx: &mut crate::db::Tx,
        account_id: i64,
    ) -> Result<Vec<String>> {
        self.db
            .q("DELETE FROM recovery_codes WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let code = recovery_code();
            self.db
                .q("INSERT INTO recovery_codes (id, account_id, code_hash, used_at, created_at) VALUES (?, ?, ?, NULL, ?)")
                .bind(ids::new_id())
                .bind(account_id)
                .bind(recovery_hash(account_id, &code))
                .bind(self.now())
                .execute(&mut **tx)
                .await?;
            codes.push(code);
        }
        Ok(codes)
    }

    /// New recovery codes (the old ones stop working), after a current code.
    pub async fn renew_recovery_codes(
        &self,
        account: &Account,
        code: &str,
        ip: Option<String>,
    ) -> Result<Vec<String>> {
        self.check_second_factor(account, code, ip.clone()).await?;
        let actor = account
            .actor()
            .ok_or(Error::Internal("inconsistent account".into()))?;
        let mut tx = self.db.begin_write().await?;
        let codes = self.replace_recovery_codes(&mut tx, account.id).await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(
                &actor,
                "second_factor.recovery_codes",
                format!("account:{}", account.login),
            )
            .ip(ip),
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Checks a TOTP code or a recovery code of an account with an active second
    /// factor. A wrong code counts as a failed sign-in of the login name; a used TOTP
    /// step or recovery code never works again.
    pub async fn check_second_factor(
        &self,
        account: &Account,
        code: &str,
        ip: Option<String>,
    ) -> Result<()> {
        self.attempt_allowed(&account.login, ip.as_deref()).await?;
        let row = self
            .secret_row(account.id)
            .await?
            .filter(|r| r.confirmed_at.is_some())
            .ok_or(Error::AuthFailed)?;
        let mut how = None;
        if let Some(step) = matching_step(&row.secret, code, self.now(), row.last_step)? {
            // Only the first request with this step wins, also across nodes.
            let n = self
                .db
                .q("UPDATE totp_secrets SET last_step = ? WHERE account_id = ? AND last_step < ?")
                .bind(step)
                .bind(account.id)
                .bind(step)
                .execute(self.db.pool())
                .await?
                .rows_affected();
            if n == 1 {
                how = Some("totp");
            }
        } else if code.chars().filter(char::is_ascii_alphanumeric).count() == 16 {
            let n = self
                .db
                .q("UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND code_hash = ? AND used_at IS NULL")
                .bind(self.now())
                .bind(account.id)
                .bind(recovery_hash(account.id, code))
                .execute(self.db.pool())
                .await?
                .rows_affected();
            if n == 1 {
                how = Some("recovery code");
            }
        }
        match how {
            Some(how) => {
                self.attempt_succeeded(&account.login).await?;
                if let Some(actor) = account.actor() {
                    self.audit(
                        self.db.pool(),
                        AuditEvent::new(
                            &actor,
                            "login.second_factor",
                            format!("account:{}", account.login),
                        )
                        .detail(how)
                        .ip(ip),
                    )
                    .await?;
                }
                Ok(())
            }
            None => {
                self.attempt_failed(&account.login, ip.as_deref()).await?;
                self.audit_failed_login(&account.login, "login.second_factor", "wrong code", ip)
                    .await?;
                Err(Error::AuthFailed)
            }
        }
    }

    /// Recovery codes not yet used.
    pub async fn recovery_codes_left(&self, account_id: i64) -> Result<i64> {
        Ok(self
            .db
            .qs::<i64>(
                "SELECT COUNT(*) FROM recovery_codes WHERE account_id = ? AND used_at IS NULL",
            )
            .bind(account_id)
            .fetch_one(self.db.pool())
            .await?)
    }

    /// The holder switches the second factor off (with the password), unless the
    /// configuration requires one.
    pub async fn disable_totp(
        &self,
        account: &Account,
        password: &str,
        ip: Option<String>,
    ) -> Result<()> {
        if self.second_factor_required(account) {
            return Err(Error::Forbidden("second factor required"));
        }
        if !self
            .verify_password(password, &account.password_hash)
            .await?
        {
            return Err(Error::AuthFailed);
        }
        let actor = account
            .actor()
            .ok_or(Error::Internal("inconsistent account".into()))?;
        self.remove_second_factor(
            account.id,
            AuditEvent::new(
                &actor,
                "second_factor.disable",
                format!("account:{}", account.login),
            )
            .ip(ip),
            false,
        )
        .await
    }

    /// Admin: removes an account's second factor (lost phone); the account holder is
    /// told by e-mail, and signs in next time with the password alone (and must set
    /// up a new one where it is required).
    pub async fn reset_second_factor(
        &self,
        admin: &Actor,
        account_id: i64,
        ip: Option<String>,
    ) -> Result<()> {
        crate::spaces::permissions::administer(
            admin,
            crate::spaces::permissions::AdminAct::Accounts,
        )?;
        let account = self.account_row(account_id).await?.ok_or(Error::NotFound)?;
        if self.secret_row(account_id).await?.is_none() {
            return Err(Error::NotFound);
        }
        self.remove_second_factor(
            account_id,
            AuditEvent::new(
                admin,
                "second_factor.reset",
                format!("account:{}", account.login),
            )
            .ip(ip),
            true,
        )
        .await
    }

    async fn remove_second_factor(
        &self,
        account_id: i64,
        event: AuditEvent,
        tell_holder: bool,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("DELETE FROM totp_secrets WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        self.db
            .q("DELETE FROM recovery_codes WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        self.audit(&mut *tx, event).await?;
        if tell_holder {
            self.notify_account(
                &mut tx,
                crate::notify::outbox::SECOND_FACTOR_RESET,
                account_id,
            )
            .await?;
        }
        tx.commit().await?;
        if tell_holder {
            self.wake_notifier();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_once_and_within_one_step_of_skew() {
        // RFC 6238 appendix B, SHA-1, truncated to 6 digits: 59 s -> 287082.
        let secret = totp_rs::Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        assert_eq!(
            matching_step(&secret, "287082", 59_000, 0).expect("ok"),
            Some(1)
        );
        assert_eq!(
            matching_step(&secret, "287 082", 59_000, 0).expect("ok"),
            Some(1),
            "spaces as apps show them"
        );
        assert_eq!(
            matching_step(&secret, "287082", 59_000, 1).expect("ok"),
            None,
            "a used step does not count again"
        );
        assert_eq!(
            matching_step(&secret, "287082", 89_000, 0).expect("ok"),
            Some(1),
            "one step late is accepted"
        );
        assert_eq!(
            matching_step(&secret, "287082", 120_000, 0).expect("ok"),
            None
        );
        assert_eq!(
            matching_step(&secret, "28708", 59_000, 0).expect("ok"),
            None
        );
        assert_eq!(
            matching_step(&secret, "abcdef", 59_000, 0).expect("ok"),
            None
        );
    }

    #[test]
    fn recovery_codes_are_long_distinct_and_hashed_per_account() {
        let a = recovery_code();
        assert_eq!(a.len(), 19);
        assert_ne!(a, recovery_code());
        assert_eq!(
            recovery_hash(1, &a),
            recovery_hash(1, &a.to_uppercase().replace('-', " "))
        );
        assert_ne!(recovery_hash(1, &a), recovery_hash(2, &a));
        assert_eq!(new_secret().len(), 32);
    }
}
