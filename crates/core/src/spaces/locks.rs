//! WebDAV write locks, kept in the database so that every node of a cluster sees the same
//! locks. A lock is on a path inside one space (RFC 4918 locks names, not nodes); paths are
//! compared segment by segment without regard to case, like the tree compares names.
//! Which locks conflict is the WebDAV engine's rule, passed in; this module makes the
//! check and the insert one atomic step.

use crate::App;
use crate::auth::actor::Actor;
use crate::db::flag;
use crate::error::{Error, Result};
use crate::spaces::SpaceAccess;
use crate::spaces::names::name_key;
use crate::spaces::nodes::lock_space;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLock {
    /// `opaquelocktoken:<uuid>`.
    pub token: String,
    pub space_id: i64,
    /// Path segments below the space root, as the locking client wrote them.
    pub path: Vec<String>,
    pub deep: bool,
    pub exclusive: bool,
    pub owner: Option<String>,
    pub principal: String,
    pub timeout_ms: Option<i64>,
    pub expires_at: Option<i64>,
}

impl StoredLock {
    /// The path in the form locks are compared in.
    pub fn path_key(&self) -> Vec<String> {
        self.path.iter().map(|s| name_key(s)).collect()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    token: String,
    space_id: i64,
    path: String,
    deep: i64,
    exclusive: i64,
    owner: Option<String>,
    principal: String,
    timeout_ms: Option<i64>,
    expires_at: Option<i64>,
}

impl From<Row> for StoredLock {
    fn from(r: Row) -> Self {
        StoredLock {
            token: r.token,
            space_id: r.space_id,
            path: split(&r.path),
            deep: r.deep != 0,
            exclusive: r.exclusive != 0,
            owner: r.owner,
            principal: r.principal,
            timeout_ms: r.timeout_ms,
            expires_at: r.expires_at,
        }
    }
}

/// Segments are NFC names without `/` (the tree guarantees it), so `/` can join them.
fn join(segments: &[String]) -> String {
    segments.join("/")
}

fn split(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `SELECT <the columns of a lock> FROM dav_locks <rest>`.
macro_rules! select_locks {
    ($rest:literal) => {
        concat!(
            "SELECT token, space_id, path, deep, exclusive, owner, principal, timeout_ms, expires_at FROM dav_locks ",
            $rest
        )
    };
}

impl App {
    /// The unexpired locks of a space.
    pub async fn locks_in_space(&self, access: &SpaceAccess) -> Result<Vec<StoredLock>> {
        let now = self.now();
        let rows = self
            .db
            .qa::<Row>(select_locks!(
                "WHERE space_id = ? AND (expires_at IS NULL OR expires_at > ?)"
            ))
            .bind(access.space_id())
            .bind(now)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows.into_iter().map(StoredLock::from).collect())
    }

    /// Stores `lock` unless an unexpired lock of the space `conflicts` with it (then
    /// [`Error::Locked`]), in one transaction under the space's row lock, so two nodes
    /// can never both grant conflicting locks.
    pub async fn create_lock(
        &self,
        access: &SpaceAccess,
        lock: StoredLock,
        conflicts: impl Fn(&StoredLock) -> bool,
    ) -> Result<()> {
        if lock.space_id != access.space_id() || lock.token.len() > 100 {
            return Err(Error::Invalid("lock"));
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        lock_space(self, &mut tx, access.space_id()).await?;
        // Lapsed locks are removed here rather than by a job: this is where they would
        // otherwise get in the way.
        self.db
            .q("DELETE FROM dav_locks WHERE space_id = ? AND expires_at IS NOT NULL AND expires_at <= ?")
            .bind(access.space_id())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let existing = self
            .db
            .qa::<Row>(select_locks!("WHERE space_id = ?"))
            .bind(access.space_id())
            .fetch_all(&mut *tx)
            .await?;
        if existing
            .into_iter()
            .map(StoredLock::from)
            .any(|l| conflicts(&l))
        {
            return Err(Error::Locked);
        }
        self.db
            .q("INSERT INTO dav_locks (token, space_id, path, path_key, deep, exclusive, owner, principal, timeout_ms, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(lock.token.clone())
            .bind(lock.space_id)
            .bind(join(&lock.path))
            .bind(join(&lock.path_key()))
            .bind(flag(lock.deep))
            .bind(flag(lock.exclusive))
            .bind(lock.owner.clone())
            .bind(lock.principal.clone())
            .bind(lock.timeout_ms)
            .bind(lock.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The unexpired lock `token`, if it lies in a space the actor may enter.
    pub async fn lock_by_token(&self, actor: &Actor, token: &str) -> Result<Option<StoredLock>> {
        let now = self.now();
        let Some(row) = self
            .db
            .qa::<Row>(select_locks!(
                "WHERE token = ? AND (expires_at IS NULL OR expires_at > ?)"
            ))
            .bind(token.to_string())
            .bind(now)
            .fetch_optional(self.db.pool())
            .await?
        else {
            return Ok(None);
        };
        let Some(space) = self.space_row(row.space_id).await? else {
            return Ok(None);
        };
        if !self.sees_member(actor, space.member_id).await? {
            return Ok(None);
        }
        Ok(Some(row.into()))
    }

    /// Gives the lock `token` a new timeout; `None` when there is no such lock the actor
    /// may see.
    pub async fn refresh_lock(
        &self,
        actor: &Actor,
        token: &str,
        timeout_ms: Option<i64>,
        expires_at: Option<i64>,
    ) -> Result<Option<StoredLock>> {
        let Some(mut lock) = self.lock_by_token(actor, token).await? else {
            return Ok(None);
        };
        self.db
            .q("UPDATE dav_locks SET timeout_ms = ?, expires_at = ? WHERE token = ?")
            .bind(timeout_ms)
            .bind(expires_at)
            .bind(token.to_string())
            .execute(self.db.pool())
            .await?;
        lock.timeout_ms = timeout_ms;
        lock.expires_at = expires_at;
        Ok(Some(lock))
    }

    /// Removes the lock `token` (the engine has checked the request may); false when
    /// there is no such lock the actor may see.
    pub async fn remove_lock(&self, actor: &Actor, token: &str) -> Result<bool> {
        if self.lock_by_token(actor, token).await?.is_none() {
            return Ok(false);
        }
        let done = self
            .db
            .q("DELETE FROM dav_locks WHERE token = ?")
            .bind(token.to_string())
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes lapsed locks everywhere (cleanup job); returns how many.
    pub async fn purge_expired_locks(&self) -> Result<u64> {
        let done = self
            .db
            .q("DELETE FROM dav_locks WHERE expires_at IS NOT NULL AND expires_at <= ?")
            .bind(self.now())
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
