//! Web sessions, stored in the database so they survive restarts and any node can serve
//! any request. The cookie carries a random token; only its SHA-256 is stored.

use sha2::{Digest, Sha256};

use crate::App;
use crate::audit::AuditEvent;
use crate::auth::accounts::Account;
use crate::db::Tx;
use crate::error::Result;
use crate::ids;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub token_hash: String,
    pub account_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub revoked: i64,
}

/// A newly created session: the token goes into the cookie and nowhere else.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Sessions are touched at most this often, to spare the database a write per request.
const TOUCH_INTERVAL_MS: i64 = 60_000;

impl App {
    pub async fn create_session(&self, account_id: i64) -> Result<NewSession> {
        let token = ids::token(32);
        let csrf_token = ids::token(32);
        let now = self.now();
        self.db
            .q("INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, last_seen_at, revoked) VALUES (?, ?, ?, ?, ?, 0)")
            .bind(token_hash(&token))
            .bind(account_id)
            .bind(csrf_token.clone())
            .bind(now)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(NewSession { token, csrf_token })
    }

    /// The live session and its account, or None if unknown, revoked, idle too long,
    /// too old, or the account (or its member) has been deactivated.
    pub async fn resolve_session(&self, token: &str) -> Result<Option<(Session, Account)>> {
        let session = self
            .db
            .qa::<Session>("SELECT token_hash, account_id, csrf_token, created_at, last_seen_at, revoked FROM sessions WHERE token_hash = ?")
            .bind(token_hash(token))
            .fetch_optional(self.db.pool())
            .await?;
        let Some(session) = session else {
            return Ok(None);
        };
        let now = self.now();
        let cfg = &self.settings.sessions;
        let idle_ms = i64::from(cfg.idle_timeout_minutes) * 60_000;
        let absolute_ms = i64::from(cfg.absolute_timeout_hours) * 3_600_000;
        if session.revoked != 0
            || now - session.last_seen_at > idle_ms
            || now - session.created_at > absolute_ms
        {
            return Ok(None);
        }
        let Some(account) = self.account_by_id(session.account_id).await? else {
            return Ok(None);
        };
        if !account.is_active() {
            return Ok(None);
        }
        if let Some(m) = account.member_id
            && !self.member_by_id(m).await?.is_some_and(|m| m.is_active())
        {
            return Ok(None);
        }
        if now - session.last_seen_at > TOUCH_INTERVAL_MS {
            self.db
                .q("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
                .bind(now)
                .bind(session.token_hash.clone())
                .execute(self.db.pool())
                .await?;
        }
        Ok(Some((session, account)))
    }

    pub async fn end_session(
        &self,
        token: &str,
        account: &Account,
        ip: Option<String>,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE sessions SET revoked = 1 WHERE token_hash = ?")
            .bind(token_hash(token))
            .execute(&mut *tx)
            .await?;
        if let Some(actor) = account.actor() {
            self.audit(
                &mut *tx,
                AuditEvent::new(&actor, "logout", format!("account:{}", account.login)).ip(ip),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn revoke_other_sessions_in(
        &self,
        tx: &mut Tx,
        account_id: i64,
        keep_token: Option<&str>,
    ) -> Result<()> {
        self.db
            .q("UPDATE sessions SET revoked = 1 WHERE account_id = ? AND token_hash <> ?")
            .bind(account_id)
            .bind(keep_token.map(token_hash).unwrap_or_default())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(crate) async fn revoke_sessions_in(&self, tx: &mut Tx, account_id: i64) -> Result<()> {
        self.db
            .q("UPDATE sessions SET revoked = 1 WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
