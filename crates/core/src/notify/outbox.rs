//! The outbox: side effects that can fail (e-mails) are written as rows in the same
//! transaction as their cause, so a crash loses no notification. Delivery (the mail
//! worker with leases and retries) works these rows off.

use serde::Serialize;

use crate::App;
use crate::db::Tx;
use crate::error::Result;
use crate::settings::Notify;
use crate::spaces::SpaceAccess;
use crate::spaces::nodes::Node;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub recipients: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: i64,
}

impl OutboxRow {
    pub fn recipient_list(&self) -> Vec<&str> {
        self.recipients.lines().filter(|l| !l.is_empty()).collect()
    }
}

/// Payload of a `new_document` event.
#[derive(Debug, Clone, Serialize)]
pub struct NewDocument {
    pub member_id: i64,
    pub member_number: String,
    pub member_name: String,
    pub folder: String,
    pub file_name: String,
    pub node_id: i64,
    pub uploaded_by: String,
    pub link: String,
}

/// A `new_document` event prepared before the upload's transaction: who is told is
/// resolved first, so that the transaction itself only writes (a transaction that
/// waits for a second pool connection can starve the pool under load).
#[derive(Debug, Clone)]
pub struct PendingNotice {
    recipients: Vec<String>,
    payload: NewDocument,
}

impl App {
    /// Who must hear of a new file in `folder`, per the folder's policy; None if nobody.
    pub(crate) async fn prepare_new_document(
        &self,
        access: &SpaceAccess,
        folder: &Node,
        file_name: &str,
    ) -> Result<Option<PendingNotice>> {
        let policy = self.settings.template.policy(&folder.policy_key);
        let member = access.member();
        let mut recipients: Vec<String> = match policy.notify {
            Notify::None => return Ok(None),
            Notify::Member => self
                .member_users(member.id)
                .await?
                .into_iter()
                .filter(|a| a.is_active())
                .map(|a| a.email)
                .collect(),
            Notify::Authority => {
                let assigned: Vec<String> = self
                    .assigned_clerks(member.id)
                    .await?
                    .into_iter()
                    .filter(|a| a.is_active())
                    .map(|a| a.email)
                    .collect();
                if assigned.is_empty() && self.settings.access.clerks_see_all {
                    // Nobody assigned: every active staff account hears of it, so that
                    // no delivery goes unnoticed.
                    self.db
                        .qs::<String>("SELECT email FROM accounts WHERE kind = 'staff' AND active = 1 ORDER BY login_key")
                        .fetch_all(self.db.pool())
                        .await?
                } else if assigned.is_empty() {
                    // Clerks see only their members: the admins, who see all, are told,
                    // not clerks who must not learn of this member.
                    self.admin_emails(self.db.pool()).await?
                } else {
                    assigned
                }
            }
        };
        recipients.sort();
        recipients.dedup();
        let folder_label = if folder.is_root() {
            String::new()
        } else {
            folder.name.clone()
        };
        let base = self
            .settings
            .authority
            .public_base_url
            .trim_end_matches('/');
        let payload = NewDocument {
            member_id: member.id,
            member_number: member.number.clone(),
            member_name: member.name.clone(),
            folder: folder_label,
            file_name: file_name.to_string(),
            node_id: 0,
            uploaded_by: access.actor().label(),
            link: format!("{base}/spaces/{}/folders/{}", access.space_id(), folder.id),
        };
        Ok(Some(PendingNotice {
            recipients,
            payload,
        }))
    }

    /// Writes the prepared event in the transaction of its cause.
    pub(crate) async fn enqueue_new_document(
        &self,
        tx: &mut Tx,
        notice: Option<PendingNotice>,
        node_id: i64,
    ) -> Result<()> {
        let Some(mut notice) = notice else {
            return Ok(());
        };
        notice.payload.node_id = node_id;
        self.insert_outbox(tx, "new_document", &notice.recipients, &notice.payload)
            .await
    }

    /// An event for every active admin (an infected upload, a scanner outage), written
    /// in the transaction of its cause.
    pub(crate) async fn notify_admins(
        &self,
        tx: &mut Tx,
        kind: &'static str,
        payload: &impl Serialize,
    ) -> Result<()> {
        let recipients = self.admin_emails(&mut **tx).await?;
        self.insert_outbox(tx, kind, &recipients, payload).await
    }

    /// The addresses of the active admins.
    async fn admin_emails<'e, E>(&self, exec: E) -> Result<Vec<String>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        Ok(self
            .db
            .qs::<String>("SELECT email FROM accounts WHERE kind = 'staff' AND role = 'admin' AND active = 1 ORDER BY login_key")
            .fetch_all(exec)
            .await?)
    }

    /// One pending outbox row, in the transaction of its cause.
    async fn insert_outbox(
        &self,
        tx: &mut Tx,
        kind: &'static str,
        recipients: &[String],
        payload: &impl Serialize,
    ) -> Result<()> {
        let now = self.now();
        self.db
            .q("INSERT INTO outbox (kind, recipients, payload, status, attempts, next_attempt_at, lease_until, last_error, created_at) VALUES (?, ?, ?, 'pending', 0, ?, NULL, NULL, ?)")
            .bind(kind)
            .bind(recipients.join("\n"))
            .bind(serde_json::to_string(payload).map_err(|e| crate::Error::Internal(e.to_string()))?)
            .bind(now)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Outbox rows, newest first (admin view, tests).
    pub async fn outbox_recent(&self, limit: i64) -> Result<Vec<OutboxRow>> {
        Ok(self
            .db
            .qa::<OutboxRow>("SELECT id, kind, recipients, payload, status, attempts, created_at FROM outbox ORDER BY id DESC LIMIT ?")
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?)
    }
}
