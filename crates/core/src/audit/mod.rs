//! The audit trail: every log-in, upload, download, delete and admin act. Rows are only
//! ever inserted (triggers refuse UPDATE and DELETE); [`chain`] links them into a
//! tamper-evident chain with signed checkpoints ([`seal`]), [`export`] writes them out
//! and verifies an export offline; [`prune`] removes whole epochs past their retention.

pub mod chain;
pub mod export;
pub mod prune;
pub mod seal;
pub mod search;

use sqlx::Executor;

use crate::App;
use crate::auth::actor::Actor;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Who did it, as recorded (an anonymous attempt records the login name it tried).
#[derive(Debug, Clone)]
pub struct AuditActor {
    pub kind: &'static str,
    pub id: Option<i64>,
    pub label: String,
}

impl From<&Actor> for AuditActor {
    fn from(a: &Actor) -> Self {
        Self {
            kind: a.kind(),
            id: a.account_id(),
            label: a.label(),
        }
    }
}

impl AuditActor {
    /// The server itself (a scanner outage it noticed, a cleanup it ran).
    pub fn system() -> Self {
        Self {
            kind: "system",
            id: None,
            label: "system".into(),
        }
    }

    pub fn anonymous(attempted_login: &str) -> Self {
        let label: String = attempted_login
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect();
        Self {
            kind: "anonymous",
            id: None,
            label,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor: AuditActor,
    pub action: &'static str,
    pub target: String,
    pub member_id: Option<i64>,
    pub outcome: Outcome,
    pub detail: String,
    pub source_ip: Option<String>,
}

impl AuditEvent {
    pub fn new(
        actor: impl Into<AuditActor>,
        action: &'static str,
        target: impl Into<String>,
    ) -> Self {
        Self {
            actor: actor.into(),
            action,
            target: target.into(),
            member_id: None,
            outcome: Outcome::Success,
            detail: String::new(),
            source_ip: None,
        }
    }
    pub fn member(mut self, id: i64) -> Self {
        self.member_id = Some(id);
        self
    }
    pub fn outcome(mut self, o: Outcome) -> Self {
        self.outcome = o;
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = d.into();
        self
    }
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.source_ip = ip;
        self
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_label: String,
    pub action: String,
    pub target: String,
    pub member_id: Option<i64>,
    pub outcome: String,
    pub detail: String,
    pub source_ip: Option<String>,
    /// The request it came from (None: the server acting by itself).
    pub request_id: Option<String>,
}

/// The columns of an [`AuditRow`], in its order.
pub const AUDIT_COLUMNS: &str = "id, at, actor_kind, actor_id, actor_label, action, target, member_id, outcome, detail, source_ip, request_id";

const INSERT_AUDIT: &str = "INSERT INTO audit_log (at, actor_kind, actor_id, actor_label, action, target, member_id, outcome, detail, source_ip, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The request being served: its id and the client's address.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub id: String,
    pub ip: Option<String>,
}

tokio::task_local! {
    /// The request being served, set by the doors around each request, so that every
    /// entry a use case writes names its request and client without passing them down.
    pub static REQUEST: RequestContext;
}

/// The request this task serves, if it serves one.
pub(crate) fn current_request() -> Option<RequestContext> {
    REQUEST.try_with(Clone::clone).ok()
}

impl App {
    /// Records an event through `exec` (a transaction, so it commits with its cause, or
    /// the pool for events that stand alone such as a failed log-in).
    pub async fn audit<'e, E>(&self, exec: E, ev: AuditEvent) -> Result<()>
    where
        E: Executor<'e, Database = sqlx::Any>,
    {
        let request = current_request();
        self.db
            .q(INSERT_AUDIT)
            .bind(self.now())
            .bind(ev.actor.kind)
            .bind(ev.actor.id)
            .bind(ev.actor.label)
            .bind(ev.action)
            .bind(ev.target)
            .bind(ev.member_id)
            .bind(ev.outcome.as_str())
            .bind(ev.detail)
            .bind(
                ev.source_ip
                    .or_else(|| request.as_ref().and_then(|r| r.ip.clone())),
            )
            .bind(request.map(|r| r.id))
            .execute(exec)
            .await?;
        Ok(())
    }

    /// Adds the event to `batch`, so that it is written with the other statements of its
    /// cause in one trip (see [`crate::db::Batch`]).
    pub(crate) fn audit_in(&self, batch: &mut crate::db::Batch, ev: AuditEvent) {
        let request = current_request();
        batch
            .push(INSERT_AUDIT)
            .bind(self.now())
            .bind(ev.actor.kind)
            .bind(ev.actor.id)
            .bind(ev.actor.label)
            .bind(ev.action)
            .bind(ev.target)
            .bind(ev.member_id)
            .bind(ev.outcome.as_str())
            .bind(ev.detail)
            .bind(
                ev.source_ip
                    .or_else(|| request.as_ref().and_then(|r| r.ip.clone())),
            )
            .bind(request.map(|r| r.id));
    }

    /// Newest audit entries first (admin view, tests).
    pub async fn audit_recent(&self, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = self
            .db
            .qa::<AuditRow>(sql_recent())
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows)
    }
}

fn sql_recent() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY id DESC LIMIT ?"))
}
