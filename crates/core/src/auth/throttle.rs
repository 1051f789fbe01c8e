//! Brute-force protection for every way of signing in. Failures are counted per login
//! name — whether an account of that name exists or not, so that no answer tells — and
//! per client address. After `lockout.delay_after` failures each further attempt must
//! wait (1 s, doubling up to `max_delay_seconds`); after `lock_after` the name is locked
//! for `lock_minutes`, an address after `ip_lock_after`. While a subject waits or is
//! locked, attempts are refused before any password is checked. Locks expire, are
//! audited, and admins can lift them. The counts live in the database, so every node of
//! a cluster sees them.

use crate::App;
use crate::audit::{AuditActor, AuditEvent, Outcome};
use crate::auth::actor::Actor;
use crate::clock::Millis;
use crate::db::is_unique_violation;
use crate::error::{Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailureRow {
    pub subject: String,
    pub failures: i64,
    pub last_failure_at: i64,
    pub locked_until: Option<i64>,
}

/// A locked login name or client address, for the admins.
#[derive(Debug, Clone)]
pub struct Locked {
    /// `login:<name>` or `ip:<address>`.
    pub subject: String,
    pub failures: i64,
    pub locked_until: i64,
}

impl Locked {
    pub fn is_login(&self) -> bool {
        self.subject.starts_with("login:")
    }
    /// The login name or address without its prefix.
    pub fn name(&self) -> &str {
        self.subject
            .split_once(':')
            .map(|(_, n)| n)
            .unwrap_or(&self.subject)
    }
}

fn login_subject(login: &str) -> String {
    let key: String = login.trim().to_lowercase().chars().take(300).collect();
    format!("login:{key}")
}

fn ip_subject(ip: &str) -> String {
    format!("ip:{}", ip.chars().take(64).collect::<String>())
}

/// Thresholds for one kind of subject.
#[derive(Debug, Clone, Copy)]
struct Rule {
    delay_after: i64,
    lock_after: i64,
}

impl App {
    fn lock_ms(&self) -> Millis {
        i64::try_from(self.settings.lockout.lock_minutes.saturating_mul(60_000))
            .unwrap_or(i64::MAX / 4)
    }

    fn rule(&self, subject: &str) -> Rule {
        let l = &self.settings.lockout;
        if subject.starts_with("ip:") {
            let lock = i64::from(l.ip_lock_after.max(1));
            Rule {
                delay_after: (lock / 2).max(1),
                lock_after: lock,
            }
        } else {
            Rule {
                delay_after: i64::from(l.delay_after.max(1)),
                lock_after: i64::from(l.lock_after.max(1)),
            }
        }
    }

    /// How long the subject must still wait (0: it may try now).
    fn wait_ms(&self, row: &FailureRow, now: Millis) -> Millis {
        if let Some(until) = row.locked_until
            && until > now
        {
            return until - now;
        }
        if now - row.last_failure_at > self.lock_ms() {
            return 0;
        }
        let rule = self.rule(&row.subject);
        if row.failures < rule.delay_after {
            return 0;
        }
        let max = i64::try_from(self.settings.lockout.max_delay_seconds.saturating_mul(1000))
            .unwrap_or(i64::MAX / 4);
        let exp = u32::try_from((row.failures - rule.delay_after).clamp(0, 30)).unwrap_or(30);
        let delay = 1000_i64.saturating_mul(1_i64 << exp).min(max);
        (row.last_failure_at + delay - now).max(0)
    }

    /// Before credentials are checked: refused while the login name or the address
    /// must wait or is locked. The same answer whether the account exists or not.
    /// Otherwise tells whether failures of this login name are on record (so that a
    /// success knows there is a count to end). One query for both subjects: this runs
    /// before every request of a sync client that signs in with its password.
    pub(crate) async fn attempt_allowed(&self, login: &str, ip: Option<&str>) -> Result<bool> {
        let now = self.now();
        let login_key = login_subject(login);
        let ip_key = ip.map(ip_subject).unwrap_or_else(|| login_key.clone());
        let rows = self
            .db
            .qa::<FailureRow>("SELECT subject, failures, last_failure_at, locked_until FROM auth_failures WHERE subject IN (?, ?)")
            .bind(login_key.clone())
            .bind(ip_key)
            .fetch_all(self.db.pool())
            .await?;
        let wait = rows
            .iter()
            .map(|row| self.wait_ms(row, now))
            .max()
            .unwrap_or(0);
        if wait > 0 {
            let secs = u64::try_from((wait + 999) / 1000).unwrap_or(1).max(1);
            return Err(Error::TooManyAttempts { retry_after: secs });
        }
        Ok(rows
            .iter()
            .any(|r| r.subject == login_key && r.failures > 0))
    }

    /// After a failed attempt: counted for the login name and the address; a count
    /// that reaches its threshold locks the subject (audited).
    pub(crate) async fn attempt_failed(&self, login: &str, ip: Option<&str>) -> Result<()> {
        for subject in std::iter::once(login_subject(login)).chain(ip.map(ip_subject)) {
            // Two nodes counting the first failure at once: one insert loses, and
            // counts again as an update.
            match self.count_failure(&subject, ip).await {
                Err(Error::Db(e)) if is_unique_violation(&e) => {
                    self.count_failure(&subject, ip).await?
                }
                other => other?,
            }
        }
        Ok(())
    }

    async fn count_failure(&self, subject: &str, ip: Option<&str>) -> Result<()> {
        let now = self.now();
        let lock_ms = self.lock_ms();
        let rule = self.rule(subject);
        let mut tx = self.db.begin_write().await?;
        let row = self
            .db
            .qa::<FailureRow>("SELECT subject, failures, last_failure_at, locked_until FROM auth_failures WHERE subject = ?")
            .bind(subject.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let (failures, was_locked) = match &row {
            // A lock that ran out, or a quiet spell as long as a lock: start again.
            Some(r) if r.locked_until.is_some_and(|u| u <= now) => (1, false),
            Some(r) if now - r.last_failure_at > lock_ms => (1, false),
            Some(r) => (r.failures + 1, r.locked_until.is_some_and(|u| u > now)),
            None => (1, false),
        };
        let lock_now = !was_locked && failures >= rule.lock_after;
        let locked_until = if lock_now {
            Some(now + lock_ms)
        } else {
            row.as_ref()
                .and_then(|r| r.locked_until)
                .filter(|u| *u > now)
        };
        if row.is_some() {
            self.db
                .q("UPDATE auth_failures SET failures = ?, last_failure_at = ?, locked_until = ? WHERE subject = ?")
                .bind(failures)
                .bind(now)
                .bind(locked_until)
                .bind(subject.to_string())
                .execute(&mut *tx)
                .await?;
        } else {
            self.db
                .q("INSERT INTO auth_failures (subject, failures, last_failure_at, locked_until) VALUES (?, ?, ?, ?)")
                .bind(subject.to_string())
                .bind(failures)
                .bind(now)
                .bind(locked_until)
                .execute(&mut *tx)
                .await?;
        }
        if lock_now {
            tracing::warn!(subject, failures, "sign-in locked after repeated failures");
            self.audit(
                &mut *tx,
                AuditEvent::new(AuditActor::system(), "auth.lock", subject.to_string())
                    .outcome(Outcome::Denied)
                    .detail(format!(
                        "failures={failures} minutes={}",
                        self.settings.lockout.lock_minutes
                    ))
                    .ip(ip.map(str::to_string)),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// After a successful sign-in the login name's count starts again (the address's
    /// does not: one success must not hide many failures from the same place).
    pub(crate) async fn attempt_succeeded(&self, login: &str) -> Result<()> {
        self.db
            .q("DELETE FROM auth_failures WHERE subject = ?")
            .bind(login_subject(login))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Admin: the login names and addresses locked now.
    pub async fn locked_subjects(&self, actor: &Actor) -> Result<Vec<Locked>> {
        crate::spaces::permissions::administer(actor, crate::spaces::permissions::AdminAct::Locks)?;
        let rows = self
            .db
            .qa::<FailureRow>("SELECT subject, failures, last_failure_at, locked_until FROM auth_failures WHERE locked_until > ? ORDER BY subject")
            .bind(self.now())
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Locked {
                subject: r.subject,
                failures: r.failures,
                locked_until: r.locked_until.unwrap_or_default(),
            })
            .collect())
    }

    /// Admin: lifts a lock (and the delays) of a login name or address.
    pub async fn unlock(&self, actor: &Actor, subject: &str, ip: Option<String>) -> Result<()> {
        crate::spaces::permissions::administer(actor, crate::spaces::permissions::AdminAct::Locks)?;
        let mut tx = self.db.begin_write().await?;
        let n = self
            .db
            .q("DELETE FROM auth_failures WHERE subject = ? AND locked_until > ?")
            .bind(subject.to_string())
            .bind(self.now())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "auth.unlock", subject.to_string()).ip(ip),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Admin (CLI): lifts the lock of a login name.
    pub async fn unlock_login(&self, actor: &Actor, login: &str) -> Result<()> {
        self.unlock(actor, &login_subject(login), None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_prefixed_and_bounded() {
        assert_eq!(login_subject(" User.A "), "login:user.a");
        assert_eq!(login_subject(&"x".repeat(1000)).len(), 306);
        assert_eq!(ip_subject("127.0.0.1"), "ip:127.0.0.1");
        let l = Locked {
            subject: "login:user.a".into(),
            failures: 10,
            locked_until: 1,
        };
        assert!(l.is_login());
        assert_eq!(l.name(), "user.a");
    }
}
