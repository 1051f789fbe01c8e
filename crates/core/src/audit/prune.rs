//! Pruning of the audit log by age (security-compliance.md §6.2, item 5): whole epochs
//! only, oldest first, each after an `audit.pruned` entry that names its range, count
//! and last hash. The seals stay forever (they hold no personal data), so the first
//! entry kept still follows a signed value and an export stays verifiable.
//!
//! The database holds the same line (migration 0013): rows of `audit_log` and
//! `audit_chain` can be deleted only below the horizon recorded in `audit_prunes`, and a
//! horizon can be recorded only at the end of a sealed epoch and after its entry.

use super::{AuditActor, AuditEvent};
use crate::App;
use crate::auth::actor::Actor;
use crate::error::Result;

/// One epoch removed from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedEpoch {
    pub epoch: i64,
    /// The range of `seq` it held, `first..below`.
    pub first: i64,
    pub below: i64,
    pub entries: i64,
    /// The hash of its last entry (the root of its seal).
    pub last_hash: String,
}

#[derive(Debug, sqlx::FromRow)]
struct SealRow {
    epoch: i64,
    size: i64,
    root: String,
    at: i64,
}

impl PrunedEpoch {
    /// The detail of the `audit.pruned` entry, which the verifier reads back.
    pub fn detail(&self, retention_days: u64) -> String {
        format!(
            "epoch={} seq={}-{} entries={} last_hash={} rule=audit.retention_days:{retention_days}",
            self.epoch,
            self.first,
            self.below - 1,
            self.entries,
            self.last_hash
        )
    }

    /// Reads the range back from an `audit.pruned` entry's detail: `(first, below,
    /// last_hash)`.
    pub fn range_of(detail: &str) -> Option<(i64, i64, String)> {
        let field = |k: &str| {
            detail
                .split(' ')
                .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
        };
        let (first, last) = field("seq")?.split_once('-')?;
        Some((
            first.parse().ok()?,
            last.parse::<i64>().ok()? + 1,
            field("last_hash")?.to_string(),
        ))
    }
}

impl App {
    /// Removes the sealed epochs whose seal is older than `audit.retention_days`, oldest
    /// first, and returns them. `actor` None is the server's own daily run; the command
    /// line passes its actor, which must be allowed the audit act. Safe on every node at
    /// once: a node that loses the race for an epoch finds it gone and goes on.
    pub async fn prune_audit(&self, actor: Option<&Actor>) -> Result<Vec<PrunedEpoch>> {
        if let Some(a) = actor {
            crate::spaces::permissions::administer(a, crate::spaces::permissions::AdminAct::Audit)?;
        }
        let days = self.settings.audit.retention_days;
        if days == 0 {
            return Ok(Vec::new());
        }
        let cutoff = self
            .now()
            .saturating_sub(i64::try_from(days.saturating_mul(86_400_000)).unwrap_or(i64::MAX));
        let by = actor.map_or_else(AuditActor::system, AuditActor::from);
        let mut done = Vec::new();
        loop {
            match self.prune_oldest_epoch(cutoff, &by, days).await {
                Ok(Some(p)) => {
                    tracing::info!(target: "amtsbote::audit", epoch = p.epoch, entries = p.entries, "audit epoch pruned");
                    done.push(p);
                }
                Ok(None) => break,
                Err(e) if lost_race(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    async fn prune_oldest_epoch(
        &self,
        cutoff: i64,
        by: &AuditActor,
        days: u64,
    ) -> Result<Option<PrunedEpoch>> {
        let mut tx = self.db.begin_write().await?;
        let horizon: i64 = self
            .db
            .qs::<i64>("SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes")
            .fetch_one(&mut *tx)
            .await?;
        let seal = self
            .db
            .qa::<SealRow>("SELECT epoch, size, root, at FROM audit_checkpoints WHERE size > ? ORDER BY epoch LIMIT 1")
            .bind(horizon)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(seal) = seal.filter(|s| s.at < cutoff) else {
            tx.rollback().await?;
            return Ok(None);
        };
        let entries: i64 = self
            .db
            .qs::<i64>("SELECT COUNT(*) FROM audit_chain WHERE seq >= ? AND seq < ?")
            .bind(horizon)
            .bind(seal.size)
            .fetch_one(&mut *tx)
            .await?;
        let pruned = PrunedEpoch {
            epoch: seal.epoch,
            first: horizon,
            below: seal.size,
            entries,
            last_hash: seal.root,
        };
        let target = format!("audit:epoch:{}", pruned.epoch);
        self.audit(
            &mut *tx,
            AuditEvent::new(by.clone(), "audit.pruned", target.clone()).detail(pruned.detail(days)),
        )
        .await?;
        let entry_id: i64 = self
            .db
            .qs::<i64>("SELECT MAX(id) FROM audit_log WHERE action = 'audit.pruned' AND target = ?")
            .bind(target)
            .fetch_one(&mut *tx)
            .await?;
        self.db
            .q("INSERT INTO audit_prunes (epoch, below_seq, entries, last_hash, at, entry_id) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(pruned.epoch)
            .bind(pruned.below)
            .bind(pruned.entries)
            .bind(pruned.last_hash.clone())
            .bind(self.now())
            .bind(entry_id)
            .execute(&mut *tx)
            .await?;
        // The entries first: the guard on the chain lets a link go only once its entry is.
        self.db
            .q("DELETE FROM audit_log WHERE id IN (SELECT entry_id FROM audit_chain WHERE seq < ?)")
            .bind(pruned.below)
            .execute(&mut *tx)
            .await?;
        self.db
            .q("DELETE FROM audit_chain WHERE seq < ?")
            .bind(pruned.below)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(pruned))
    }
}

/// Whether a failed prune lost to another node (the epoch is recorded already).
fn lost_race(e: &crate::error::Error) -> bool {
    matches!(e, crate::error::Error::Db(d) if crate::db::is_unique_violation(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_reads_back() {
        let p = PrunedEpoch {
            epoch: 3,
            first: 1000,
            below: 2000,
            entries: 1000,
            last_hash: "ab".repeat(32),
        };
        let d = p.detail(365);
        assert_eq!(
            PrunedEpoch::range_of(&d),
            Some((1000, 2000, "ab".repeat(32)))
        );
        assert!(d.contains("entries=1000") && d.contains("rule=audit.retention_days:365"));
        assert_eq!(PrunedEpoch::range_of("seq=x-3 last_hash=a"), None);
        assert_eq!(PrunedEpoch::range_of(""), None);
    }
}
