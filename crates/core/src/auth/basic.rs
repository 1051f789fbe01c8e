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
    /// answers the same, whatever the reason.
    pub async fn authenticate_basic(
        &self,
        login: &str,
        secret: &str,
        ip: Option<String>,
    ) -> Result<Account> {
        let now = self.now();
        let found = self.account_by_login(login).await?;
        // A client whose password was checked a moment ago is not held up by someone
        // else's failures under its name, and app passwords (115 random bits, never
        // the account password) cannot be guessed: neither pays for the check on each
        // request. Everyone else waits out delays and locks.
        let app_password = lookup_of(secret).is_some();
        let cached = !app_password
            && found
                .as_ref()
                .is_some_and(|a| self.basic_cache.hit(a, secret, now));
        if !cached
            && !app_password
            && let Err(e) = self.attempt_allowed(login, ip.as_deref()).await
        {
            self.audit_failed_login(login, "login.basic", "throttled", ip)
                .await?;
            return Err(e);
        }
        let outcome = match &found {
            None => {
                // Same cost as a real check, so that probing for logins learns nothing.
                let _ = self.verify_password(secret, password::dummy_hash()).await?;
                Err("unknown login")
            }
            Some(a) if !a.is_active() => Err("account inactive"),
            Some(a) if !self.member_active(a).await? => Err("member inactive"),
            Some(a) if lookup_of(secret).is_some() => {
                if self.check_app_password(a, secret).await? {
                    Ok(false)
                } else {
                    Err("wrong app password")
                }
            }
            Some(_) if cached => Ok(false),
            // With a second factor the password alone opens nothing, also not here (an
            // app password is made in the browser, after both factors). Checked before
            // the password, so this door tells nothing about it.
            Some(a) if self.second_factor_enabled(a.id).await? => {
                Err("second factor active: app password required")
            }
            Some(a) => {
                let ok = self.verify_password(secret, &a.password_hash).await?;
                if !ok {
                    Err("wrong password")
                } else if a.must_change_password() {
                    Err("one-time password must be changed in the browser first")
                } else {
                    self.basic_cache.remember(a, secret, now);
                    Ok(true)
                }
            }
        };
        match (outcome, found) {
            (Ok(fresh), Some(account)) => {
                if fresh {
                    self.attempt_succeeded(login).await?;
                    let actor = account
                        .actor()
                        .ok_or(Error::Internal("inconsistent account".into()))?;
                    let mut ev = AuditEvent::new(
                        &actor,
                        "login.basic",
                        format!("account:{}", account.login),
                    )
                    .ip(ip);
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
            (Ok(_), None) => Err(Error::AuthFailed),
        }
    }

    async fn member_active(&self, account: &Account) -> Result<bool> {
        match account.member_id {
            Some(m) => Ok(self.member_by_id(m).await?.is_some_and(|m| m.is_active())),
            None => Ok(true),
        }
    }
}
