//! Quarantined uploads (`scan.on_infected = "quarantine"`): infected files kept for
//! inspection, readable by admins only, removed once `scan.quarantine_days` have passed.

use crate::App;
use crate::audit::AuditEvent;
use crate::auth::actor::Actor;
use crate::error::{Error, Result};
use crate::storage::blob::BlobReader;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Quarantined {
    pub id: i64,
    pub blob_id: String,
    pub member_id: i64,
    pub name: String,
    pub folder: String,
    pub size: i64,
    pub sha256: String,
    pub signature: String,
    pub uploaded_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

macro_rules! select_quarantine {
    ($rest:literal) => {
        concat!(
            "SELECT id, blob_id, member_id, name, folder, size, sha256, signature, uploaded_by, created_at, expires_at FROM quarantine ",
            $rest
        )
    };
}

impl App {
    /// All quarantined files, newest first (admins only).
    pub async fn quarantine_list(&self, actor: &Actor) -> Result<Vec<Quarantined>> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Quarantine,
        )?;
        Ok(self
            .db
            .qa::<Quarantined>(select_quarantine!("ORDER BY created_at DESC, id DESC"))
            .fetch_all(self.db.pool())
            .await?)
    }

    /// The bytes of a quarantined file, for an admin who inspects it (audited).
    pub async fn quarantine_open(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(Quarantined, BlobReader)> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Quarantine,
        )?;
        let q = self
            .db
            .qa::<Quarantined>(select_quarantine!("WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or(Error::NotFound)?;
        let reader = self.blobs.open(&q.blob_id).await?;
        self.audit(
            self.db.pool(),
            AuditEvent::new(actor, "quarantine.download", format!("quarantine:{id}"))
                .member(q.member_id)
                .detail(q.signature.clone()),
        )
        .await?;
        Ok((q, reader))
    }

    /// Removes quarantined files whose time is up; returns how many. Rows go first, so
    /// a crash in between leaves only unreferenced blobs for the orphan sweep.
    pub async fn purge_quarantine(&self) -> Result<usize> {
        let due = self
            .db
            .qa::<Quarantined>(select_quarantine!("WHERE expires_at <= ?"))
            .bind(self.now())
            .fetch_all(self.db.pool())
            .await?;
        for q in &due {
            self.db
                .q("DELETE FROM quarantine WHERE id = ?")
                .bind(q.id)
                .execute(self.db.pool())
                .await?;
            if let Err(e) = self.blobs.delete(&q.blob_id).await {
                tracing::warn!(blob = %q.blob_id, error = %e, "quarantined blob left for cleanup");
            }
        }
        Ok(due.len())
    }
}
