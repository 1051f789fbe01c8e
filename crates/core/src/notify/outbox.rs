//! The outbox: side effects that can fail (e-mails) are written as rows in the same
//! transaction as their cause, so a crash loses no notification. An outbox row names an
//! event only; who hears of it is decided when the row is fanned out into mails
//! (`fanout.rs`), so the upload's transaction stays a few writes and a recipient who was
//! deactivated in the meantime is not written to.

use serde::{Deserialize, Serialize};

use crate::App;
use crate::db::{Batch, Tx};
use crate::error::{Error, Result};
use crate::settings::Notify;
use crate::spaces::SpaceAccess;
use crate::spaces::nodes::Node;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// `pending` until fanned out into mails, then `done`.
    pub status: String,
    pub created_at: i64,
}

/// The kinds of event, as stored in `outbox.kind`.
pub const NEW_DOCUMENT: &str = "new_document";
pub const UPLOAD_INFECTED: &str = "upload_infected";
pub const SCANNER_UNAVAILABLE: &str = "scanner_unavailable";
pub const SECOND_FACTOR_RESET: &str = "second_factor_reset";
pub const ACCESS_LINK: &str = "access_link";

/// An event about one account, for its holder (payload of account notices).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountEvent {
    pub account_id: i64,
}

/// A new (or newly replaced) document in a folder whose policy tells someone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentEvent {
    pub member_id: i64,
    pub space_id: i64,
    pub folder_id: i64,
    pub node_id: i64,
    pub name: String,
    /// Who is told: the member's side or the authority's.
    pub notify: Notify,
    /// Never told of their own upload.
    pub uploader_id: Option<i64>,
}

const INSERT_OUTBOX: &str = "INSERT INTO outbox (kind, recipients, payload, status, attempts, next_attempt_at, lease_until, last_error, created_at) VALUES (?, '', ?, 'pending', 0, ?, NULL, NULL, ?)";

fn payload_of(payload: &impl Serialize) -> Result<String> {
    serde_json::to_string(payload).map_err(|e| Error::Internal(e.to_string()))
}

impl App {
    /// Writes a `new_document` event in the transaction of the upload, if the folder's
    /// policy tells anybody.
    /// It joins the upload's other statements in `batch`.
    pub(crate) fn enqueue_new_document(
        &self,
        batch: &mut Batch,
        access: &SpaceAccess,
        folder: &Node,
        node_id: i64,
        name: &str,
    ) -> Result<()> {
        let notify = self.settings.template.policy(&folder.policy_key).notify;
        if notify == Notify::None {
            return Ok(());
        }
        let event = DocumentEvent {
            member_id: access.member().id,
            space_id: access.space_id(),
            folder_id: folder.id,
            node_id,
            name: name.to_string(),
            notify,
            uploader_id: access.actor().account_id(),
        };
        let now = self.now();
        batch
            .push(INSERT_OUTBOX)
            .bind(NEW_DOCUMENT)
            .bind(payload_of(&event)?)
            .bind(now)
            .bind(now);
        Ok(())
    }

    /// An event for the admins (an infected upload, a scanner outage), written in the
    /// transaction of its cause.
    pub(crate) async fn notify_admins(
        &self,
        tx: &mut Tx,
        kind: &'static str,
        payload: &impl Serialize,
    ) -> Result<()> {
        self.insert_outbox(tx, kind, payload).await
    }

    /// An event for the holder of an account (a change to their sign-in), written in
    /// the transaction of its cause.
    pub(crate) async fn notify_account(
        &self,
        tx: &mut Tx,
        kind: &'static str,
        account_id: i64,
    ) -> Result<()> {
        self.insert_outbox(tx, kind, &AccountEvent { account_id })
            .await
    }

    /// One pending outbox row, in the transaction of its cause.
    async fn insert_outbox(
        &self,
        tx: &mut Tx,
        kind: &'static str,
        payload: &impl Serialize,
    ) -> Result<()> {
        let now = self.now();
        self.db
            .q(INSERT_OUTBOX)
            .bind(kind)
            .bind(payload_of(payload)?)
            .bind(now)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Outbox rows, newest first (tests, diagnosis).
    pub async fn outbox_recent(&self, limit: i64) -> Result<Vec<OutboxRow>> {
        Ok(self
            .db
            .qa::<OutboxRow>(
                "SELECT id, kind, payload, status, created_at FROM outbox ORDER BY id DESC LIMIT ?",
            )
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?)
    }
}
