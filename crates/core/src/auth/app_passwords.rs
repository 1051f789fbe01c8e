//! App passwords: one per device or program (sync client, rclone), created and revoked
//! by the account holder, shown once. They are what WebDAV clients should use, so the
//! account password never has to be stored in a client.
//!
//! A token looks like `ab3k9-Qm7tR-x2PwZ-hN4cV-8kLsE`: the first group is a public
//! lookup key, the other twenty characters (about 115 bits) are the secret. Only the
//! SHA-256 of the whole token is stored; with that much entropy a slow hash would add
//! nothing but cost on every sync request.

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::App;
use crate::audit::AuditEvent;
use crate::auth::accounts::Account;
use crate::error::{Error, Result};
use crate::ids;

const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppPassword {
    pub id: i64,
    pub account_id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn random_group(rng: &mut impl Rng) -> String {
    (0..5)
        .map(|_| {
            char::from(
                ALPHABET
                    .get(rng.gen_range(0..ALPHABET.len()))
                    .copied()
                    .unwrap_or(b'x'),
            )
        })
        .collect()
}

fn new_token() -> (String, String) {
    let mut rng = rand::rngs::OsRng;
    let groups: Vec<String> = (0..5).map(|_| random_group(&mut rng)).collect();
    let lookup = groups.first().cloned().unwrap_or_default();
    (lookup, groups.join("-"))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The lookup key of something that looks like an app password, else None.
pub fn lookup_of(candidate: &str) -> Option<&str> {
    let groups: Vec<&str> = candidate.split('-').collect();
    let well_formed = groups.len() == 5
        && groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|b| ALPHABET.contains(&b)));
    if well_formed {
        groups.first().copied()
    } else {
        None
    }
}

fn validate_label(raw: &str) -> Result<String> {
    let label = raw.trim();
    if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(Error::Invalid("app password label"));
    }
    Ok(label.to_string())
}

impl App {
    /// Creates an app password for the account; the token is returned once.
    pub async fn create_app_password(
        &self,
        account: &Account,
        label: &str,
    ) -> Result<(AppPassword, String)> {
        let label = validate_label(label)?;
        let actor = account
            .actor()
            .ok_or(Error::Internal("inconsistent account".into()))?;
        let (lookup, token) = new_token();
        let id = ids::new_id();
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("INSERT INTO app_passwords (id, account_id, label, lookup, secret_hash, created_at, last_used_at, revoked) VALUES (?, ?, ?, ?, ?, ?, NULL, 0)")
            .bind(id)
            .bind(account.id)
            .bind(label.clone())
            .bind(lookup)
            .bind(token_hash(&token))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(
                &actor,
                "app_password.create",
                format!("app_password:{id} label:{label}"),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok((
            AppPassword {
                id,
                account_id: account.id,
                label,
                created_at: now,
                last_used_at: None,
            },
            token,
        ))
    }

    /// The account's app passwords that are still valid, newest first.
    pub async fn app_passwords(&self, account_id: i64) -> Result<Vec<AppPassword>> {
        Ok(self
            .db
            .qa::<AppPassword>("SELECT id, account_id, label, created_at, last_used_at FROM app_passwords WHERE account_id = ? AND revoked = 0 ORDER BY created_at DESC, id")
            .bind(account_id)
            .fetch_all(self.db.pool())
            .await?)
    }

    /// Revokes one of the account's own app passwords; another account's is not found.
    pub async fn revoke_app_password(&self, account: &Account, id: i64) -> Result<()> {
        let actor = account
            .actor()
            .ok_or(Error::Internal("inconsistent account".into()))?;
        let mut tx = self.db.begin_write().await?;
        let done = self
            .db
            .q("UPDATE app_passwords SET revoked = 1 WHERE id = ? AND account_id = ? AND revoked = 0")
            .bind(id)
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(Error::NotFound);
        }
        self.audit(
            &mut *tx,
            AuditEvent::new(&actor, "app_password.revoke", format!("app_password:{id}")),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks an app password of the account; on success records its last use.
    /// Checks an app password of `account`; without an account, the same lookup is made
    /// for nobody, so that an unknown login costs what a known one does.
    pub(crate) async fn check_app_password(
        &self,
        account: Option<&Account>,
        token: &str,
    ) -> Result<bool> {
        let Some(lookup) = lookup_of(token) else {
            return Ok(false);
        };
        let row: Option<(i64, String, Option<i64>)> = self
            .db
            .qa::<(i64, String, Option<i64>)>("SELECT id, secret_hash, last_used_at FROM app_passwords WHERE account_id = ? AND lookup = ? AND revoked = 0")
            .bind(account.map_or(-1, |a| a.id))
            .bind(lookup.to_string())
            .fetch_optional(self.db.pool())
            .await?;
        let Some((id, stored, last_used)) = row else {
            return Ok(false);
        };
        let given = token_hash(token);
        let equal = given.len() == stored.len()
            && given
                .bytes()
                .zip(stored.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if equal {
            let now = self.now();
            // Sync clients send several requests a second: record the use once a minute.
            if last_used.is_none_or(|t| now - t > 60_000) {
                self.db
                    .q("UPDATE app_passwords SET last_used_at = ? WHERE id = ?")
                    .bind(now)
                    .bind(id)
                    .execute(self.db.pool())
                    .await?;
            }
        }
        Ok(equal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_and_distinct() {
        let (lookup, token) = new_token();
        assert_eq!(token.len(), 29);
        assert_eq!(lookup_of(&token), Some(lookup.as_str()));
        assert_ne!(new_token().1, token);
        assert_eq!(lookup_of("not-an-app-password"), None);
        assert_eq!(lookup_of("Ein langes Passwort mit Leerzeichen"), None);
        assert_eq!(lookup_of("aaaaa-bbbbb-ccccc-ddddd-eeeee-fffff"), None);
    }
}
