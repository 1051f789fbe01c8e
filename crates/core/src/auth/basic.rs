//! HTTP Basic authentication for WebDAV and the OCS endpoints: an app password, or the
//! account password itself (only while the account has no second factor — there is none
//! yet — and only once its one-time password has been replaced).
//!
//! Sync clients send credentials with every request, several per second. Argon2id on
//! each would cost 20–50 ms of CPU and 19 MiB apiece, so a successful account-password
//! check is remembered for a few minutes: in process memory only, keyed by account,
//! holding a keyed SHA-256 of the password (the key is random per process, so the cache
//! reveals nothing even in a memory dump) together with the password hash it was checked
//! against. A password change, reset or deactivation therefore takes effect at once;
//! a cached entry is never used after it expires. App passwords need no cache: they are
//! checked with one SHA-256.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::App;
use crate::audit::AuditEvent;
use crate::auth::accounts::Account;
use crate::auth::app_passwords::lookup_of;
use crate::auth::password;
use crate::clock::Millis;
use crate::error::{Error, Result};

/// How long a successful account-password check is remembered.
pub const CACHE_TTL_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone)]
struct Entry {
    digest: [u8; 32],
    password_hash: String,
    expires_at: Millis,
}

/// Remembered account-password checks (see the module documentation).
#[derive(Debug, Default)]
pub struct BasicCache {
    entries: Mutex<HashMap<i64, Entry>>,
}

fn digest(account_id: i64, secret: &str) -> [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut k);
        k
    });
    let mut h = Sha256::new();
    h.update(key);
    h.update(account_id.to_be_bytes());
    h.update(secret.as_bytes());
    h.finalize().into()
}

impl BasicCache {
    fn hit(&self, account: &Account, secret: &str, now: Millis) -> bool {
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries.get(&account.id).is_some_and(|e| {
            e.expires_at > now
                && e.password_hash == account.password_hash
                && e.digest == digest(account.id, secret)
        })
    }

    /// Forgets an account's remembered password check (its rules changed).
    pub(crate) fn forget(&self, account_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&account_id);
        }
    }

    fn remember(&self, account: &Account, secret: &str, now: Millis) {
        if let Ok(mut entries) = self.entries.lock() {
            // Expired entries go whenever a new one comes, so the map stays small.
            entries.retain(|_, e| e.expires_at > now);
            entries.insert(
                account.id,
                Entry {
                    digest: digest(account.id, secret),
                    password_hash: account.password_hash.clone(),
                    expires_at: now + CACHE_TTL_MS,
                },
            );
        }
    }
}

impl App {
    /// Checks Basic credentials. Every failure is audited (without the secret) and
    /// answers the same, whatever the reason, after the same work: one Argon2id check
    /// for anything shaped like an account password, one app-password lookup for
    /// anything shaped like an app password. So neither the answer nor its time tells an
    /// unknown login from a deactivated account or a wrong password.
    ///
    /// The throttle decides first, for every account-password attempt, remembered or
    /// not: a locked or waiting login is refused before the cache is looked at, so the
    /// cache never lets anyone test passwords faster than the lock allows. Only app
    /// passwords (115 random bits, never the account password) pass without it.
    pub async fn authenticate_basic(
        &self,
        login: &str,
        secret: &str,
        ip: Option<String>,
    ) -> Result<Account> {
        let now = self.now();
        let app_password = lookup_of(secret).is_some();
        let earlier_failures = if app_password {
            false
        } else {
            match self.attempt_allowed(login, ip.as_deref()).await {
                Ok(failures) => failures,
                Err(e) => {
                    self.audit_failed_login(login, "login.basic", "throttled", ip)
                        .await?;
                    return Err(e);
                }
            }
        };
        let found = self.account_row_by_login(login).await?;
        let cached = !app_password
            && found
                .as_ref()
                .is_some_and(|a| self.basic_cache.hit(a, secret, now));
        // The one check of the secret, done whatever else is wrong with the attempt.
        let secret_ok = if app_password {
            self.check_app_password(found.as_ref(), secret).await?
        } else if cached {
            true
        } else {
            let hash = found
                .as_ref()
                .map_or(password::dummy_hash(), |a| a.password_hash.as_str());
            self.verify_password(secret, hash).await?
        };
        let outcome = match &found {
            None => Err("unknown login"),
            Some(a) if !a.is_active() => Err("account inactive"),
            Some(a) if !self.member_active(a).await? => Err("member inactive"),
            Some(_) if app_password && !secret_ok => Err("wrong app password"),
            Some(_) if app_password => Ok(()),
            // With a second factor the password alone opens nothing, also not here (an
            // app password is made in the browser, after both factors).
            Some(a) if self.second_factor_enabled(a.id).await? => {
                Err("second factor active: app password required")
            }
            Some(_) if !secret_ok => Err("wrong password"),
            Some(a) if a.must_change_password() => {
                Err("one-time password must be changed in the browser first")
            }
            Some(a) => {
                if !cached {
                    self.basic_cache.remember(a, secret, now);
                }
                Ok(())
            }
        };
        match (outcome, found) {
            (Ok(()), Some(account)) => {
                // A sign-in with the password (checked now, or remembered from a check
                // at most CACHE_TTL_MS ago, which was audited then) starts the login's
                // count again; it is audited when checked, and when it ends a run of
                // failures, so that the log shows who got in after them.
                if !app_password && (!cached || earlier_failures) {
                    if earlier_failures {
                        self.attempt_succeeded(login).await?;
                    }
                    let actor = account
                        .actor()
                        .ok_or(Error::Internal("inconsistent account".into()))?;
                    let mut ev = AuditEvent::new(
                        &actor,
                        "login.basic",
                        format!("account:{}", account.login),
                    )
                    .ip(ip);
                    if cached {
                        ev = ev.detail("remembered password check after failed attempts");
                    }
                    if let Some(m) = account.member_id {
                        ev = ev.member(m);
                    }
                    self.audit(self.db.pool(), ev).await?;
                }
                Ok(account)
            }
            (Err(reason), _) => {
                self.attempt_failed(login, ip.as_deref()).await?;
                self.audit_failed_login(login, "login.basic", reason, ip)
                    .await?;
                Err(Error::AuthFailed)
            }
            (Ok(()), None) => Err(Error::AuthFailed),
        }
    }

    async fn member_active(&self, account: &Account) -> Result<bool> {
        match account.member_id {
            Some(m) => Ok(self.member_row(m).await?.is_some_and(|m| m.is_active())),
            None => Ok(true),
        }
    }
}
