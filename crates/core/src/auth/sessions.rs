//! Web sessions, stored in the database so they survive restarts and any node can serve
//! any request. The cookie carries a random token; only its SHA-256 is stored.

use sha2::{Digest, Sha256};

use crate::App;
use crate::audit::AuditEvent;
use crate::auth::accounts::Account;
use crate::auth::actor::Actor;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::ids;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub token_hash: String,
    pub account_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub revoked: i64,
    /// Password checked, second factor still to come: not signed in yet.
    pub second_factor_pending: i64,
}

/// A live session as its holder (or an admin) sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionInfo {
    pub public_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Filled in by the listing: the session the list is shown in.
    #[sqlx(default)]
    pub current: bool,
    /// Only for marking the current session; never leaves the core.
    #[sqlx(rename = "token_hash")]
    token_hash: String,
}

/// Where a log-in came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
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
    /// A new session with a new token: whatever token the browser had before is not
    /// reused (no session fixation).
    pub async fn create_session(
        &self,
        account_id: i64,
        origin: Origin,
        second_factor_pending: bool,
    ) -> Result<NewSession> {
        let token = ids::token(32);
        let csrf_token = ids::token(32);
        let now = self.now();
        let agent = origin.user_agent.map(|a| {
            a.chars()
                .filter(|c| !c.is_control())
                .take(255)
                .collect::<String>()
        });
        self.db
            .q("INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, last_seen_at, revoked, public_id, ip, user_agent, second_factor_pending) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)")
            .bind(token_hash(&token))
            .bind(account_id)
            .bind(csrf_token.clone())
            .bind(now)
            .bind(now)
            .bind(ids::token(12))
            .bind(origin.ip.map(|i| i.chars().take(64).collect::<String>()))
            .bind(agent)
            .bind(crate::db::flag(second_factor_pending))
            .execute(self.db.pool())
            .await?;
        Ok(NewSession { token, csrf_token })
    }

    /// After the second factor: the waiting session ends and a new one, signed in,
    /// takes its place (a new token once the sign-in is complete).
    pub async fn complete_second_factor(
        &self,
        pending_token: &str,
        account_id: i64,
        origin: Origin,
    ) -> Result<NewSession> {
        let n = self
            .db
            .q("UPDATE sessions SET revoked = 1 WHERE token_hash = ? AND account_id = ? AND second_factor_pending = 1 AND revoked = 0")
            .bind(token_hash(pending_token))
            .bind(account_id)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if n != 1 {
            return Err(Error::AuthFailed);
        }
        self.create_session(account_id, origin, false).await
    }

    /// The live sessions of an account, newest activity first; `current` marks the one
    /// whose token is given. Shown to the holder, or to an admin.
    pub async fn sessions_of(
        &self,
        actor: &Actor,
        account_id: i64,
        current_token: Option<&str>,
    ) -> Result<Vec<SessionInfo>> {
        if actor.account_id() != Some(account_id)
            && crate::spaces::permissions::administer(
                actor,
                crate::spaces::permissions::AdminAct::Accounts,
            )
            .is_err()
        {
            return Err(Error::NotFound);
        }
        let now = self.now();
        let cfg = &self.settings.sessions;
        let idle_ms = i64::from(cfg.idle_timeout_minutes) * 60_000;
        let absolute_ms = i64::from(cfg.absolute_timeout_hours) * 3_600_000;
        let current = current_token.map(token_hash);
        let mut list = self
            .db
            .qa::<SessionInfo>("SELECT public_id, created_at, last_seen_at, ip, user_agent, token_hash FROM sessions WHERE account_id = ? AND revoked = 0 AND second_factor_pending = 0 AND public_id IS NOT NULL AND last_seen_at >= ? AND created_at >= ? ORDER BY last_seen_at DESC")
            .bind(account_id)
            .bind(now - idle_ms)
            .bind(now - absolute_ms)
            .fetch_all(self.db.pool())
            .await?;
        for s in &mut list {
            s.current = current.as_deref() == Some(s.token_hash.as_str());
        }
        Ok(list)
    }

    /// Ends one session of an account (its holder, or an admin), or all of them
    /// (`public_id` None) but the one given as `keep_token`.
    pub async fn end_sessions(
        &self,
        actor: &Actor,
        account_id: i64,
        public_id: Option<&str>,
        keep_token: Option<&str>,
        ip: Option<String>,
    ) -> Result<u64> {
        if actor.account_id() != Some(account_id)
            && crate::spaces::permissions::administer(
                actor,
                crate::spaces::permissions::AdminAct::Accounts,
            )
            .is_err()
        {
            return Err(Error::NotFound);
        }
        let mut tx = self.db.begin_write().await?;
        let n = match public_id {
            Some(id) => self
                .db
                .q("UPDATE sessions SET revoked = 1 WHERE account_id = ? AND public_id = ? AND revoked = 0")
                .bind(account_id)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            None => self
                .db
                .q("UPDATE sessions SET revoked = 1 WHERE account_id = ? AND revoked = 0 AND token_hash <> ?")
                .bind(account_id)
                .bind(keep_token.map(token_hash).unwrap_or_default())
                .execute(&mut *tx)
                .await?
                .rows_affected(),
        };
        if public_id.is_some() && n == 0 {
            return Err(Error::NotFound);
        }
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "session.end", format!("account:{account_id}"))
                .detail(match public_id {
                    Some(_) => "one session".to_string(),
                    None => format!("all other sessions ({n})"),
                })
                .ip(ip),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The live session and its account, or None if unknown, revoked, idle too long,
    /// too old, or the account (or its member) has been deactivated.
    pub async fn resolve_session(&self, token: &str) -> Result<Option<(Session, Account)>> {
        let session = self
            .db
            .qa::<Session>("SELECT token_hash, account_id, csrf_token, created_at, last_seen_at, revoked, second_factor_pending FROM sessions WHERE token_hash = ?")
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
        let Some(account) = self.account_row(session.account_id).await? else {
            return Ok(None);
        };
        if !account.is_active() {
            return Ok(None);
        }
        if let Some(m) = account.member_id
            && !self.member_row(m).await?.is_some_and(|m| m.is_active())
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
