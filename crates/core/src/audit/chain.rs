//! The hash chain over the audit log (security-compliance.md §6).
//!
//! Rows of `audit_log` are written by the use cases, in the transaction of their cause,
//! and never changed. A chainer then links them, in the order it finds them committed,
//! into `audit_chain`: a gap-free `seq`, the previous link's hash and
//!
//! ```text
//! hash = SHA-256("amtsbote-audit-v1\0" ‖ seq as 8 bytes big-endian ‖ prev_hash (32 bytes)
//!                ‖ canonical JSON of the row)
//! ```
//!
//! where the canonical JSON has the row's columns as keys in byte order, UTF-8, no
//! spaces, integers and strings only. The first link's `prev_hash` is 32 zero bytes.
//! Linking later keeps the cost off the uploads (no chain head to lock in every
//! transaction) and lets any number of nodes write at once: every node runs the
//! chainer, and a link is taken by the primary key on `seq` and the unique key on the
//! entry, so two chainers can never make two chains — the loser's transaction fails and
//! it starts again from the new head.
//!
//! After `audit.checkpoint_entries` new links, or `audit.checkpoint_minutes` with new
//! links, the chainer closes the epoch with a signed checkpoint ([`super::seal`]) that
//! names the size and the last hash, stores it (`audit_checkpoints`) and hands it to the
//! external sinks (the log, and `audit.checkpoint_file`).

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AuditRow;
use super::seal::{Checkpoint, seal_hash};
use crate::App;
use crate::db::is_unique_violation;
use crate::error::{Error, Result};

/// The hash before the first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How far back (by the entries' own time) the chainer looks for rows committed late.
const LATE_MS: i64 = 10 * 60_000;

/// Links per transaction.
const BATCH: i64 = 500;

/// The canonical encoding of an entry (what its hash covers).
pub fn canonical(row: &AuditRow) -> String {
    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
    m.insert("id", row.id.into());
    m.insert("at", row.at.into());
    m.insert("actor_kind", row.actor_kind.clone().into());
    m.insert("actor_id", row.actor_id.into());
    m.insert("actor_label", row.actor_label.clone().into());
    m.insert("action", row.action.clone().into());
    m.insert("target", row.target.clone().into());
    m.insert("member_id", row.member_id.into());
    m.insert("outcome", row.outcome.clone().into());
    m.insert("detail", row.detail.clone().into());
    m.insert("source_ip", row.source_ip.clone().into());
    // Only when set: entries from before the column keep the encoding they were hashed in.
    if let Some(r) = &row.request_id {
        m.insert("request_id", r.clone().into());
    }
    serde_json::to_string(&m).unwrap_or_default()
}

/// The hash of link `seq` over `canonical` after `prev` (hex in, hex out).
pub fn link_hash(seq: i64, prev: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"amtsbote-audit-v1\0");
    h.update(seq.to_be_bytes());
    h.update(hex::decode(prev).unwrap_or_else(|_| vec![0xff; 32]));
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Head {
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CheckpointRow {
    pub epoch: i64,
    pub size: i64,
    pub at: i64,
    pub note: String,
}

const ROW_COLUMNS: &str = "a.id, a.at, a.actor_kind, a.actor_id, a.actor_label, a.action, a.target, a.member_id, a.outcome, a.detail, a.source_ip, a.request_id";

impl App {
    /// Links every committed, unlinked entry and closes an epoch when one is due.
    /// Returns how many entries were linked. Safe to run on every node at once.
    pub async fn chain_audit(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            match self.chain_batch(false).await {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(Error::Db(e)) if is_unique_violation(&e) => {
                    // Another node linked the same entries first: go on from its head.
                    tracing::debug!("audit chain: another node linked first");
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        self.seal_if_due(false).await?;
        Ok(total)
    }

    /// Like [`App::chain_audit`], but looks at the whole log for unlinked entries (not
    /// only the minutes around the last link): at start, and before an export, which
    /// also closes the epoch (`seal_now`) so that everything exported is sealed.
    pub async fn chain_audit_fully(&self, seal_now: bool) -> Result<usize> {
        let mut total = 0;
        loop {
            match self.chain_batch(true).await {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(Error::Db(e)) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        self.seal_if_due(seal_now).await?;
        Ok(total)
    }

    async fn chain_batch(&self, everything: bool) -> Result<usize> {
        // Where to look: around the last link (rows commit moments after their time).
        let since = if everything {
            i64::MIN
        } else {
            let last_at: Option<i64> = self
                .db
                .qs::<i64>("SELECT a.at FROM audit_chain c JOIN audit_log a ON a.id = c.entry_id ORDER BY c.seq DESC LIMIT 1")
                .fetch_optional(self.db.pool())
                .await?;
            last_at.map_or(i64::MIN, |t| t - LATE_MS)
        };
        // Most ticks find nothing to link: ask with a read first, so that an idle node
        // does not take the write lock (on SQLite, the one writer) every second.
        let pending: Option<i64> = self
            .db
            .qs::<i64>(sql_any_unlinked())
            .bind(since)
            .fetch_optional(self.db.pool())
            .await?;
        if pending.is_none() {
            return Ok(0);
        }
        let mut tx = self.db.begin_write().await?;
        let head = self
            .db
            .qa::<Head>("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let rows: Vec<AuditRow> = self
            .db
            .qa::<AuditRow>(sql_unlinked())
            .bind(since)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let epoch = self.open_epoch(&mut tx).await?;
        let (mut seq, mut prev) = match head {
            Some(h) => (h.seq + 1, h.hash),
            None => (0, GENESIS.to_string()),
        };
        let n = rows.len();
        for row in rows {
            let hash = link_hash(seq, &prev, &canonical(&row));
            self.db
                .q("INSERT INTO audit_chain (seq, entry_id, epoch, prev_hash, hash) VALUES (?, ?, ?, ?, ?)")
                .bind(seq)
                .bind(row.id)
                .bind(epoch)
                .bind(prev.clone())
                .bind(hash.clone())
                .execute(&mut *tx)
                .await?;
            prev = hash;
            seq += 1;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// The epoch new links belong to: the one after the last checkpoint.
    async fn open_epoch(&self, tx: &mut crate::db::Tx) -> Result<i64> {
        let last: Option<i64> = self
            .db
            .qs::<i64>("SELECT epoch FROM audit_checkpoints ORDER BY epoch DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
        Ok(last.map_or(0, |e| e + 1))
    }

    pub(crate) async fn last_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        Ok(self
            .db
            .qa::<CheckpointRow>(
                "SELECT epoch, size, at, note FROM audit_checkpoints ORDER BY epoch DESC LIMIT 1",
            )
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Closes the open epoch with a signed checkpoint when it is due (or, with `now`,
    /// whenever it holds a link). Without a signing key nothing is sealed.
    async fn seal_if_due(&self, now: bool) -> Result<()> {
        let Some(signer) = self.audit_signer.clone() else {
            return Ok(());
        };
        let Some(head) = self
            .db
            .qa::<Head>("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
            .fetch_optional(self.db.pool())
            .await?
        else {
            return Ok(());
        };
        let last = self.last_checkpoint().await?;
        let sealed = last.as_ref().map_or(0, |c| c.size);
        let open = head.seq + 1 - sealed;
        if open <= 0 {
            return Ok(());
        }
        let a = &self.settings.audit;
        let since = self.now() - last.as_ref().map_or(i64::MIN / 2, |c| c.at);
        let due = now
            || u64::try_from(open).unwrap_or(0) >= a.checkpoint_entries.max(1)
            || since
                >= i64::try_from(a.checkpoint_minutes.saturating_mul(60_000)).unwrap_or(i64::MAX);
        if !due {
            return Ok(());
        }
        let cp = Checkpoint {
            origin: signer.name().to_string(),
            size: head.seq + 1,
            root: head.hash.clone(),
            epoch: last.as_ref().map_or(0, |c| c.epoch + 1),
            first: sealed,
            prev_seal: last
                .as_ref()
                .map_or_else(|| "none".to_string(), |c| seal_hash(&c.note)),
        };
        let note = signer.sign(&cp.body());
        let inserted = self
            .db
            .q("INSERT INTO audit_checkpoints (epoch, first_seq, size, root, at, note) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(cp.epoch)
            .bind(cp.first)
            .bind(cp.size)
            .bind(cp.root.clone())
            .bind(self.now())
            .bind(note.clone())
            .execute(self.db.pool())
            .await;
        match inserted {
            Ok(_) => {}
            // Another node sealed this epoch at the same moment.
            Err(e) if is_unique_violation(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(target: "amtsbote::audit", epoch = cp.epoch, size = cp.size, checkpoint = %note, "audit checkpoint");
        if let Some(path) = &a.checkpoint_file {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| {
                    f.write_all(note.as_bytes())?;
                    f.write_all(b"\n")?;
                    f.sync_all()
                });
            if let Err(e) = written {
                tracing::error!(file = %path.display(), error = %e, "audit checkpoint not written to audit.checkpoint_file (it is in the database and the log)");
            }
        }
        Ok(())
    }
}

/// Whether an entry from `since` on (by its time) is still unlinked.
fn sql_any_unlinked() -> &'static str {
    "SELECT a.id FROM audit_log a WHERE a.at >= ? AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = a.id) LIMIT 1"
}

/// Unlinked entries from `since` on (by their time), oldest id first.
fn sql_unlinked() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT {ROW_COLUMNS} FROM audit_log a WHERE a.at >= ? AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = a.id) ORDER BY a.id LIMIT ?"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            id: 7,
            at: 1_795_694_400_000,
            actor_kind: "member".into(),
            actor_id: Some(3),
            actor_label: "Frau Müller \"Personal\"".into(),
            action: "upload".into(),
            target: "node:12".into(),
            member_id: Some(1),
            outcome: "success".into(),
            detail: "size=4096".into(),
            source_ip: None,
            request_id: None,
        }
    }

    #[test]
    fn canonical_is_sorted_and_stable() {
        let c = canonical(&row());
        assert!(c.starts_with(r#"{"action":"upload","actor_id":3,"actor_kind":"member","actor_label":"Frau Müller \"Personal\"","at":1795694400000,"detail":"size=4096","id":7,"#), "{c}");
        assert_eq!(c, canonical(&row()));
    }

    #[test]
    fn a_link_depends_on_everything() {
        let base = link_hash(0, GENESIS, &canonical(&row()));
        assert_eq!(base.len(), 64);
        assert_ne!(base, link_hash(1, GENESIS, &canonical(&row())), "seq");
        assert_ne!(
            base,
            link_hash(0, &"11".repeat(32), &canonical(&row())),
            "prev"
        );
        let mut other = row();
        other.detail.push(' ');
        assert_ne!(base, link_hash(0, GENESIS, &canonical(&other)), "content");
    }
}
