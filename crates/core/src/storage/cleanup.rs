//! Removes what crashes and failed uploads leave behind: staging files and blobs that no
//! row points to. Blobs are committed before their row, so only blobs older than a grace
//! period are considered, to never race an upload that is about to commit.

use std::collections::HashSet;

use crate::App;
use crate::error::Result;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanupReport {
    pub staging_removed: usize,
    pub blobs_removed: usize,
    pub uploads_removed: usize,
    pub locks_removed: u64,
    pub quarantine_removed: usize,
    pub notifications_removed: u64,
}

impl App {
    /// Removes staging files and unreferenced blobs older than `grace_ms`. The grace
    /// period must cover the longest upload still in progress (its staging file) and
    /// the moment between a blob's commit and its row's commit; one hour is safe.
    /// Abandoned chunked uploads (`limits.abandoned_upload_hours`), lapsed WebDAV
    /// locks and expired quarantined files go first.
    pub async fn cleanup_storage(&self, grace_ms: u64) -> Result<CleanupReport> {
        let idle = self
            .settings
            .limits
            .abandoned_upload_hours
            .saturating_mul(3_600_000);
        let uploads_removed = self.purge_abandoned_uploads(idle).await?;
        let locks_removed = self.purge_expired_locks().await?;
        let quarantine_removed = self.purge_quarantine().await?;
        let notifications_removed = self.purge_old_notifications().await?;
        let staging_removed = self.blobs.purge_staging(grace_ms).await?;
        // Blobs are listed before the references are read: a blob committed after the
        // listing is not considered at all, one committed before is either old enough
        // to be an orphan or its row is visible by the time the references are read.
        let candidates: Vec<String> = self
            .blobs
            .list()
            .await?
            .into_iter()
            .filter(|(_, age)| *age >= grace_ms)
            .map(|(id, _)| id)
            .collect();
        let mut referenced: HashSet<String> = self
            .db
            .qs::<String>("SELECT blob_id FROM nodes WHERE blob_id IS NOT NULL")
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .collect();
        referenced.extend(
            self.db
                .qs::<String>("SELECT blob_id FROM node_versions")
                .fetch_all(self.db.pool())
                .await?,
        );
        // Chunks of unfinished uploads are kept until their session is assembled or
        // abandoned (`purge_abandoned_uploads`).
        referenced.extend(
            self.db
                .qs::<String>("SELECT blob_id FROM dav_upload_chunks")
                .fetch_all(self.db.pool())
                .await?,
        );
        referenced.extend(
            self.db
                .qs::<String>("SELECT blob_id FROM quarantine")
                .fetch_all(self.db.pool())
                .await?,
        );
        let mut blobs_removed = 0;
        for id in candidates {
            if !referenced.contains(&id) {
                self.blobs.delete(&id).await?;
                blobs_removed += 1;
            }
        }
        Ok(CleanupReport {
            staging_removed,
            blobs_removed,
            uploads_removed,
            locks_removed,
            quarantine_removed,
            notifications_removed,
        })
    }
}
