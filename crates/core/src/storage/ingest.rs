//! The ingest pipeline: the one way bytes become a visible file, for every door.
//!
//! stream → staging blob (hashing, size and quota limits, virus scan on the fly)
//! → clean verdict → blob committed under a fresh id → one DB transaction: node row,
//! kept version, quota, ETags up to the root, outbox event, audit → visible.
//! Anything that fails before the transaction commits leaves nothing visible; the
//! staged bytes are removed at once, a committed-but-unreferenced blob by cleanup.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::App;
use crate::audit::{AuditEvent, Outcome};
use crate::db::is_unique_violation;
use crate::error::{Error, Result};
use crate::ids;
use crate::scan::Verdict;
use crate::spaces::SpaceAccess;
use crate::spaces::names::NodeName;
use crate::spaces::nodes::{
    Node, child_by_key, load_in, lock_space, select_nodes, touch_ancestors,
};
use crate::spaces::permissions::{Action, decide};
use crate::storage::digests::{ClaimedChecksum, Digests, FileDigests};

#[derive(Debug, Clone)]
pub struct Upload {
    pub folder_id: i64,
    pub name: String,
    pub content_type: Option<String>,
    /// Replace an existing file of the same name (keeping the old content as a version).
    /// Without it, an existing name is a conflict.
    pub overwrite: bool,
    /// Size announced by the client, if any: lets oversize uploads fail before any byte
    /// is stored.
    pub declared_size: Option<u64>,
    /// The file's modification time as the client knows it (epoch ms), e.g. from
    /// `X-OC-Mtime`; the server's own time when absent.
    pub mtime: Option<i64>,
    /// A checksum the client sent; the upload is refused if the bytes do not match.
    pub checksum: Option<ClaimedChecksum>,
    /// What must hold about the file being replaced (WebDAV `If-Match`), checked again
    /// inside the committing transaction so that no concurrent change slips through.
    pub precondition: Precondition,
}

/// A condition on the existing file of the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    #[default]
    None,
    /// A file of that name must exist (`If-Match: *`).
    Exists,
    /// A file of that name must exist with this ETag.
    Etag(String),
}

impl Precondition {
    fn check(&self, existing: Option<&Node>) -> Result<()> {
        let holds = match (self, existing) {
            (Precondition::None, _) => true,
            (Precondition::Exists, e) => e.is_some_and(Node::is_file),
            (Precondition::Etag(tag), e) => e.is_some_and(|n| n.is_file() && n.etag == *tag),
        };
        if holds {
            Ok(())
        } else {
            Err(Error::PreconditionFailed)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ingested {
    pub node: Node,
    pub replaced: bool,
    pub scanned: bool,
}

impl App {
    /// Streams an upload into a space. See the module documentation for the steps.
    pub async fn ingest<S, E>(&self, access: &SpaceAccess, up: Upload, body: S) -> Result<Ingested>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let name = NodeName::parse(&up.name)?;
        let actor = access.actor().clone();
        let member_id = access.member().id;
        let folder = self.node_unchecked(access.space_id(), up.folder_id).await?;
        self.can(&actor, Action::Upload, &folder, member_id).await?;
        // Early refusals, before a byte is read.
        let existing = self
            .db
            .qa::<Node>(select_nodes!(
                "WHERE space_id = ? AND parent_id = ? AND name_key = ?"
            ))
            .bind(access.space_id())
            .bind(folder.id)
            .bind(name.key())
            .fetch_optional(self.db.pool())
            .await?;
        up.precondition.check(existing.as_ref())?;
        if let Some(e) = &existing {
            if !e.is_file() || !up.overwrite {
                return Err(Error::AlreadyExists);
            }
            self.can(&actor, Action::Overwrite, e, member_id).await?;
        }
        let max = self.settings.limits.max_upload_bytes;
        if up.declared_size.is_some_and(|s| s > max) {
            return Err(Error::TooLarge { limit: max });
        }
        let quota_left = self.quota_left(access.space_id()).await?;
        if up.declared_size.is_some_and(|s| s > quota_left) {
            return Err(Error::QuotaExceeded);
        }

        let mut staged = self.blobs.stage().await?;
        let mut scan = self
            .scanner
            .begin()
            .await
            .map_err(Error::ScannerUnavailable)?;
        let mut digests = Digests::new();
        let mut size: u64 = 0;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::UploadAborted(e.to_string()))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(Error::TooLarge { limit: max });
            }
            if size > quota_left {
                return Err(Error::QuotaExceeded);
            }
            digests.update(&chunk).await;
            scan.feed(&chunk).await.map_err(Error::ScannerUnavailable)?;
            staged.write(&chunk).await?;
        }
        if up.declared_size.is_some_and(|d| d != size) {
            return Err(Error::UploadAborted(format!(
                "expected {} bytes, got {size}",
                up.declared_size.unwrap_or(0)
            )));
        }
        let digests = digests.finish().await;
        if let Some(claim) = &up.checksum
            && !digests.matches(claim)
        {
            // The bytes are not what the client meant to send: nothing is kept.
            return Err(Error::ChecksumMismatch);
        }
        let scanned = match scan.finish().await {
            Verdict::Clean => true,
            Verdict::NotScanned => false,
            Verdict::Infected(signature) => {
                drop(staged);
                self.audit(
                    self.db.pool(),
                    AuditEvent::new(&actor, "upload.infected", format!("name:{name}"))
                        .member(member_id)
                        .outcome(Outcome::Denied)
                        .detail(signature.clone()),
                )
                .await?;
                return Err(Error::Infected { signature });
            }
            Verdict::Failed(reason) => return Err(Error::ScannerUnavailable(reason)),
        };
        let mtime = up.mtime.unwrap_or_else(|| self.now());
        let blob_id = staged.commit().await?;
        let size = i64::try_from(size).map_err(|_| Error::TooLarge { limit: max })?;
        let content_type = up
            .content_type
            .filter(|c| !c.is_empty() && c.len() < 200 && !c.chars().any(char::is_control))
            .unwrap_or_else(|| "application/octet-stream".into());

        // The bytes are safe under their blob id; a write conflict the database reports
        // at commit (Galera, PostgreSQL serialisation, a deadlock victim) is retried a
        // few times rather than throwing the upload away.
        let mut attempt = 0;
        let committed = loop {
            attempt += 1;
            let result = self
                .commit_upload(
                    access,
                    &folder,
                    &name,
                    content_type.clone(),
                    &blob_id,
                    size,
                    &digests,
                    mtime,
                    up.overwrite,
                    &up.precondition,
                    scanned,
                )
                .await;
            match result {
                Err(Error::Db(e)) if attempt < 4 && crate::db::is_write_conflict(&e) => {
                    tracing::info!(attempt, error = %e, "write conflict; retrying the upload's commit");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                }
                other => break other,
            }
        };
        match committed {
            Ok((node, replaced)) => Ok(Ingested {
                node,
                replaced,
                scanned,
            }),
            Err(e) => {
                if let Err(del) = self.blobs.delete(&blob_id).await {
                    tracing::warn!(blob = %blob_id, error = %del, "orphan blob left for cleanup");
                }
                Err(e)
            }
        }
    }

    async fn quota_left(&self, space_id: i64) -> Result<u64> {
        let space = self.space_by_id(space_id).await?.ok_or(Error::NotFound)?;
        let quota = space.effective_quota(&self.settings);
        if quota <= 0 {
            return Ok(u64::MAX);
        }
        Ok(u64::try_from(quota - space.used_bytes).unwrap_or(0))
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit_upload(
        &self,
        access: &SpaceAccess,
        folder: &Node,
        name: &NodeName,
        content_type: String,
        blob_id: &str,
        size: i64,
        digests: &FileDigests,
        mtime: i64,
        overwrite: bool,
        precondition: &Precondition,
        scanned: bool,
    ) -> Result<(Node, bool)> {
        let actor = access.actor();
        let space_id = access.space_id();
        let member_id = access.member().id;
        let notice = self
            .prepare_new_document(access, folder, name.as_str())
            .await?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        lock_space(self, &mut tx, space_id).await?;
        // The folder may have been deleted while the bytes streamed in.
        let folder = &load_in(self, &mut tx, space_id, folder.id).await?;
        // Re-check inside the transaction: another upload may have won the race.
        let existing = child_by_key(self, &mut tx, space_id, folder.id, &name.key()).await?;
        precondition.check(existing.as_ref())?;
        let space = self
            .db
            .qa::<crate::spaces::Space>(crate::spaces::select_spaces!("WHERE id = ?"))
            .bind(space_id)
            .fetch_one(&mut *tx)
            .await?;
        let quota = space.effective_quota(&self.settings);
        if quota > 0 && space.used_bytes + size > quota {
            return Err(Error::QuotaExceeded);
        }
        let (node_id, replaced) = match existing {
            Some(old) => {
                if !old.is_file() || !overwrite {
                    return Err(Error::AlreadyExists);
                }
                // The actor's access to the space was checked before; inside the
                // transaction only the node-level rule is re-applied (no pool reads here).
                decide(
                    actor.side(),
                    Action::Overwrite,
                    &old,
                    self.settings.template.policy(&old.policy_key),
                )?;
                // The replaced content is kept as a version: nothing delivered is lost.
                self.db
                    .q("INSERT INTO node_versions (id, node_id, space_id, blob_id, size, sha256, content_type, created_at, created_by_name, replaced_at, replaced_by_name, sha1, md5) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                    .bind(ids::new_id())
                    .bind(old.id)
                    .bind(space_id)
                    .bind(old.blob_id.clone().unwrap_or_default())
                    .bind(old.size)
                    .bind(old.sha256.clone().unwrap_or_default())
                    .bind(old.content_type.clone())
                    .bind(old.modified_at)
                    .bind(old.modified_by_name.clone())
                    .bind(now)
                    .bind(actor.label())
                    .bind(old.sha1.clone())
                    .bind(old.md5.clone())
                    .execute(&mut *tx)
                    .await?;
                self.db
                    .q("UPDATE nodes SET size = ?, sha256 = ?, sha1 = ?, md5 = ?, mtime = ?, content_type = ?, blob_id = ?, etag = ?, modified_at = ?, modified_by = ?, modified_by_name = ? WHERE space_id = ? AND id = ?")
                    .bind(size)
                    .bind(digests.sha256.clone())
                    .bind(digests.sha1.clone())
                    .bind(digests.md5.clone())
                    .bind(mtime)
                    .bind(content_type)
                    .bind(blob_id.to_string())
                    .bind(ids::etag())
                    .bind(now)
                    .bind(actor.account_id())
                    .bind(actor.label())
                    .bind(space_id)
                    .bind(old.id)
                    .execute(&mut *tx)
                    .await?;
                (old.id, true)
            }
            None => {
                let id = ids::new_id();
                let inserted = self
                    .db
                    .q("INSERT INTO nodes (id, space_id, parent_id, name, name_key, kind, policy_key, structural, origin, size, sha256, content_type, blob_id, etag, created_at, created_by, created_by_name, modified_at, modified_by, modified_by_name, sha1, mtime, md5) VALUES (?, ?, ?, ?, ?, 'file', ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                    .bind(id)
                    .bind(space_id)
                    .bind(folder.id)
                    .bind(name.as_str().to_string())
                    .bind(name.key())
                    .bind(folder.policy_key.clone())
                    .bind(actor.side().as_str())
                    .bind(size)
                    .bind(digests.sha256.clone())
                    .bind(content_type)
                    .bind(blob_id.to_string())
                    .bind(ids::etag())
                    .bind(now)
                    .bind(actor.account_id())
                    .bind(actor.label())
                    .bind(now)
                    .bind(actor.account_id())
                    .bind(actor.label())
                    .bind(digests.sha1.clone())
                    .bind(mtime)
                    .bind(digests.md5.clone())
                    .execute(&mut *tx)
                    .await;
                match inserted {
                    Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
                    other => other?,
                };
                (id, false)
            }
        };
        self.db
            .q("UPDATE spaces SET used_bytes = used_bytes + ? WHERE id = ?")
            .bind(size)
            .bind(space_id)
            .execute(&mut *tx)
            .await?;
        touch_ancestors(self, &mut tx, space_id, folder.id).await?;
        self.enqueue_new_document(&mut tx, notice, node_id).await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(
                actor,
                if replaced { "upload.replace" } else { "upload" },
                format!("node:{node_id} name:{name}"),
            )
            .member(member_id)
            .detail(format!(
                "size={size} sha256={} scanned={scanned}",
                digests.sha256
            )),
        )
        .await?;
        tx.commit().await?;
        let node = self.node_unchecked(space_id, node_id).await?;
        Ok((node, replaced))
    }
}
