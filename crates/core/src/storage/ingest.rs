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
use crate::db::{Tx, is_unique_violation};
use crate::error::{Error, Result};
use crate::ids;
use crate::scan::health::Outcome as ScanOutcome;
use crate::scan::{ScanError, Verdict};
use crate::settings::{OnInfected, OnUnavailable};
use crate::spaces::SpaceAccess;
use crate::spaces::names::NodeName;
use crate::spaces::nodes::{Node, folder_and_child, lock_space, touch_ancestors_in};
use crate::spaces::permissions::{Action, decide};
use crate::storage::blob::StagedBlob;
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

/// Payload of an `upload_infected` event for the admins.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InfectedNotice {
    pub member_id: i64,
    pub member_number: String,
    pub member_name: String,
    pub folder: String,
    pub file_name: String,
    pub uploaded_by: String,
    pub signature: String,
    pub quarantine_id: Option<i64>,
}

/// What an upload's transaction records: the checked bytes under their blob id, and
/// what the client asked for.
#[derive(Debug, Clone)]
struct NewContent {
    name: NodeName,
    content_type: String,
    blob_id: String,
    size: i64,
    digests: FileDigests,
    mtime: i64,
    overwrite: bool,
    precondition: Precondition,
    scanned: bool,
}

#[derive(Debug, Clone)]
pub struct Ingested {
    pub node: Node,
    pub replaced: bool,
    pub scanned: bool,
}

/// What the space can still take, as it stood when it was opened (moments ago, for
/// this request): enough to refuse an upload that cannot fit before its bytes are read.
/// The transaction that counts the bytes decides on the current figure.
fn quota_left(space: &crate::spaces::Space, settings: &crate::Settings) -> u64 {
    let quota = space.effective_quota(settings);
    if quota <= 0 {
        return u64::MAX;
    }
    u64::try_from(quota - space.used_bytes).unwrap_or(0)
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
        // Early refusals, before a byte is read.
        let (folder, existing) = folder_and_child(
            self,
            self.db.pool(),
            access.space_id(),
            up.folder_id,
            &name.key(),
        )
        .await?;
        self.can(&actor, Action::Upload, &folder, member_id).await?;
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
        let quota_left = quota_left(access.space(), &self.settings);
        if up.declared_size.is_some_and(|s| s > quota_left) {
            return Err(Error::QuotaExceeded);
        }

        // A file the scanner cannot take whole is refused before a byte is stored.
        let scan_limit = self.scanner.stream_limit();
        if let (Some(limit), Some(declared)) = (scan_limit, up.declared_size)
            && declared > limit
        {
            self.scanner.health().count(ScanOutcome::TooLarge);
            return Err(Error::TooLargeToScan { limit });
        }

        let mut staged = self.blobs.stage().await?;
        let mut scan = match self.scanner.begin().await {
            Ok(session) => Some(session),
            Err(e) => {
                self.scan_failed(e, &name)?;
                None
            }
        };
        let mut digests = Digests::new();
        let mut size: u64 = 0;
        let mut body = std::pin::pin!(body);
        // A client that stops sending would hold its scan slot (and a clamd thread) for
        // good: while scanning, a pause longer than the scanner's timeout ends the upload.
        let idle = std::time::Duration::from_secs(self.settings.scan.timeout_seconds.max(1));
        loop {
            let next = if scan.is_some() && scan_limit.is_some() {
                match tokio::time::timeout(idle, body.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        return Err(Error::UploadAborted(format!(
                            "no data for {} s",
                            idle.as_secs()
                        )));
                    }
                }
            } else {
                body.next().await
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| Error::UploadAborted(e.to_string()))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(Error::TooLarge { limit: max });
            }
            if size > quota_left {
                return Err(Error::QuotaExceeded);
            }
            digests.update(&chunk).await;
            if let Some(session) = scan.as_mut()
                && let Err(e) = session.feed(&chunk).await
            {
                scan = None;
                self.scan_failed(e, &name)?;
            }
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
        let verdict = match scan {
            Some(session) => session.finish().await,
            // Only where `scan_failed` let the upload go on without its scan.
            None => Verdict::NotScanned,
        };
        let scanned = match verdict {
            Verdict::Clean => true,
            Verdict::NotScanned => false,
            Verdict::Infected(signature) => {
                return Err(self
                    .infected(access, &folder, &name, staged, signature, size, &digests)
                    .await);
            }
            Verdict::Error(e) => {
                self.scan_failed(e, &name)?;
                false
            }
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
        let content = NewContent {
            name: name.clone(),
            content_type,
            blob_id: blob_id.clone(),
            size,
            digests,
            mtime,
            overwrite: up.overwrite,
            precondition: up.precondition.clone(),
            scanned,
        };
        let committed = loop {
            attempt += 1;
            let result = self.commit_upload(access, folder.id, &content).await;
            match result {
                Err(Error::Db(e)) if attempt < 4 && crate::db::is_write_conflict(&e) => {
                    tracing::info!(attempt, error = %e, "write conflict; retrying the upload's commit");
                    crate::clock::pause(std::time::Duration::from_millis(20 * attempt)).await;
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

    /// The one decision on a scan without verdict: a file too long for the scanner is
    /// always refused; an outage refuses (fail-closed) unless the operator chose
    /// `scan.on_unavailable = "allow"`, which lets the file through unscanned, loudly.
    fn scan_failed(&self, e: ScanError, name: &NodeName) -> Result<()> {
        let reason = match e {
            ScanError::LimitExceeded(limit) => return Err(Error::TooLargeToScan { limit }),
            // Load is no outage: "allow" must not let uploads through unscanned because
            // someone keeps every scan slot busy.
            ScanError::Busy(_) => return Err(Error::ScannerBusy),
            ScanError::Unavailable(reason) => reason,
        };
        match self.settings.scan.on_unavailable {
            OnUnavailable::Reject => Err(Error::ScannerUnavailable(reason)),
            OnUnavailable::Allow => {
                tracing::error!(file = %name, reason, "UNSCANNED upload let through (scan.on_unavailable = \"allow\")");
                Ok(())
            }
        }
    }

    /// An infected upload: its bytes are discarded (or quarantined), the attempt is
    /// audited and the admins are told, in one transaction. Returns the error the
    /// uploader sees, naming the file and the finding.
    #[allow(clippy::too_many_arguments)]
    async fn infected(
        &self,
        access: &SpaceAccess,
        folder: &Node,
        name: &NodeName,
        staged: Box<dyn StagedBlob>,
        signature: String,
        size: u64,
        digests: &FileDigests,
    ) -> Error {
        let refused = Error::Infected {
            name: name.to_string(),
            signature: signature.clone(),
        };
        tracing::warn!(file = %name, member = access.member().id, signature, "infected upload refused");
        let quarantine = self.settings.scan.on_infected == OnInfected::Quarantine;
        let kept = if quarantine {
            match staged.commit().await {
                Ok(blob_id) => Some(blob_id),
                Err(e) => {
                    tracing::error!(error = %e, "quarantining failed; the bytes are discarded");
                    None
                }
            }
        } else {
            // Dropping the staged blob removes its bytes.
            drop(staged);
            None
        };
        let recorded = self
            .record_infected(
                access,
                folder,
                name,
                &signature,
                size,
                digests,
                kept.as_deref(),
            )
            .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "recording an infected upload failed");
            if let Some(blob) = kept {
                let _ = self.blobs.delete(&blob).await;
            }
        }
        refused
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_infected(
        &self,
        access: &SpaceAccess,
        folder: &Node,
        name: &NodeName,
        signature: &str,
        size: u64,
        digests: &FileDigests,
        quarantined_blob: Option<&str>,
    ) -> Result<()> {
        let member = access.member();
        let folder_label = if folder.is_root() {
            String::new()
        } else {
            folder.name.clone()
        };
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let quarantine_id = match quarantined_blob {
            Some(blob) => {
                let id = ids::new_id();
                let days = i64::from(self.settings.scan.quarantine_days);
                self.db
                    .q("INSERT INTO quarantine (id, blob_id, member_id, name, folder, size, sha256, signature, uploaded_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                    .bind(id)
                    .bind(blob.to_string())
                    .bind(member.id)
                    .bind(name.to_string())
                    .bind(folder_label.clone())
                    .bind(i64::try_from(size).unwrap_or(i64::MAX))
                    .bind(digests.sha256.clone())
                    .bind(signature.to_string())
                    .bind(access.actor().label())
                    .bind(now)
                    .bind(now + days * 86_400_000)
                    .execute(&mut *tx)
                    .await?;
                Some(id)
            }
            None => None,
        };
        self.audit(
            &mut *tx,
            AuditEvent::new(access.actor(), "upload.infected", format!("name:{name}"))
                .member(member.id)
                .outcome(Outcome::Denied)
                .detail(format!(
                    "signature={signature} size={size} sha256={} {}",
                    digests.sha256,
                    match quarantine_id {
                        Some(id) => format!("quarantine={id}"),
                        None => "discarded".into(),
                    }
                )),
        )
        .await?;
        self.notify_admins(
            &mut tx,
            "upload_infected",
            &InfectedNotice {
                member_id: member.id,
                member_number: member.number.clone(),
                member_name: member.name.clone(),
                folder: folder_label,
                file_name: name.to_string(),
                uploaded_by: access.actor().label(),
                signature: signature.to_string(),
                quarantine_id,
            },
        )
        .await?;
        tx.commit().await?;
        self.event_written();
        Ok(())
    }

    async fn commit_upload(
        &self,
        access: &SpaceAccess,
        folder_id: i64,
        content: &NewContent,
    ) -> Result<(Node, bool)> {
        // The rows are written by the database's writer (which may commit them together
        // with other uploads' rows), so the work owns what it uses.
        let app = self.clone();
        let access = access.clone();
        let content = content.clone();
        let written = self
            .db
            .write(move |tx| {
                Box::pin(async move { app.upload_rows(tx, &access, folder_id, content).await })
            })
            .await?;
        self.event_written();
        Ok(written)
    }

    /// The rows of an upload, inside the caller's write transaction.
    async fn upload_rows(
        &self,
        tx: &mut Tx,
        access: &SpaceAccess,
        folder_id: i64,
        content: NewContent,
    ) -> Result<(Node, bool)> {
        let NewContent {
            name,
            content_type,
            blob_id,
            size,
            digests,
            mtime,
            overwrite,
            precondition,
            scanned,
        } = content;
        let actor = access.actor();
        let space_id = access.space_id();
        let member_id = access.member().id;
        let now = self.now();
        // First the space row, as every change to a tree does (the lock order that keeps
        // concurrent changes from deadlocking), and in the same statement the quota:
        // the bytes are counted only if they fit. The default quota goes in as a value,
        // so the rule is the one of `Space::effective_quota`.
        let default_quota =
            i64::try_from(self.settings.limits.space_quota_bytes).unwrap_or(i64::MAX);
        let fits = self
            .db
            .q("UPDATE spaces SET used_bytes = used_bytes + ? WHERE id = ? AND (CASE WHEN quota_bytes > 0 THEN quota_bytes ELSE ? END <= 0 OR used_bytes + ? <= CASE WHEN quota_bytes > 0 THEN quota_bytes ELSE ? END)")
            .bind(size)
            .bind(space_id)
            .bind(default_quota)
            .bind(size)
            .bind(default_quota)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1;
        if !fits {
            // Nothing was counted; the space row is locked for the checks below, which
            // decide what the uploader is told.
            lock_space(self, tx, space_id).await?;
        }
        // The folder may have been deleted while the bytes streamed in, and another
        // upload may have won the race for the name.
        let (folder, existing) =
            folder_and_child(self, &mut **tx, space_id, folder_id, &name.key()).await?;
        precondition.check(existing.as_ref())?;
        if !fits {
            return Err(Error::QuotaExceeded);
        }
        let mut batch = self.db.batch();
        let etag = ids::etag();
        let (node, replaced) = match existing {
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
                batch
                    .push("INSERT INTO node_versions (id, node_id, space_id, blob_id, size, sha256, content_type, created_at, created_by_name, replaced_at, replaced_by_name, sha1, md5) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
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
                    .bind(old.md5.clone());
                batch
                    .push("UPDATE nodes SET size = ?, sha256 = ?, sha1 = ?, md5 = ?, mtime = ?, content_type = ?, blob_id = ?, etag = ?, modified_at = ?, modified_by = ?, modified_by_name = ? WHERE space_id = ? AND id = ?")
                    .bind(size)
                    .bind(digests.sha256.clone())
                    .bind(digests.sha1.clone())
                    .bind(digests.md5.clone())
                    .bind(mtime)
                    .bind(content_type.clone())
                    .bind(blob_id.to_string())
                    .bind(etag.clone())
                    .bind(now)
                    .bind(actor.account_id())
                    .bind(actor.label())
                    .bind(space_id)
                    .bind(old.id);
                let node = Node {
                    size,
                    sha256: Some(digests.sha256.clone()),
                    sha1: Some(digests.sha1.clone()),
                    md5: digests.md5.clone(),
                    mtime: Some(mtime),
                    content_type: Some(content_type),
                    blob_id: Some(blob_id.to_string()),
                    etag,
                    modified_at: now,
                    modified_by: actor.account_id(),
                    modified_by_name: actor.label(),
                    ..old
                };
                (node, true)
            }
            None => {
                let node = Node {
                    id: ids::new_id(),
                    space_id,
                    parent_id: Some(folder.id),
                    name: name.as_str().to_string(),
                    kind: "file".into(),
                    policy_key: folder.policy_key.clone(),
                    structural: 0,
                    origin: actor.side().as_str().to_string(),
                    size,
                    sha256: Some(digests.sha256.clone()),
                    content_type: Some(content_type),
                    blob_id: Some(blob_id.to_string()),
                    etag,
                    created_at: now,
                    created_by: actor.account_id(),
                    created_by_name: actor.label(),
                    modified_at: now,
                    modified_by: actor.account_id(),
                    modified_by_name: actor.label(),
                    sha1: Some(digests.sha1.clone()),
                    mtime: Some(mtime),
                    md5: digests.md5.clone(),
                };
                batch
                    .push("INSERT INTO nodes (id, space_id, parent_id, name, name_key, kind, policy_key, structural, origin, size, sha256, content_type, blob_id, etag, created_at, created_by, created_by_name, modified_at, modified_by, modified_by_name, sha1, mtime, md5) VALUES (?, ?, ?, ?, ?, 'file', ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                    .bind(node.id)
                    .bind(space_id)
                    .bind(folder.id)
                    .bind(node.name.clone())
                    .bind(name.key())
                    .bind(node.policy_key.clone())
                    .bind(node.origin.clone())
                    .bind(size)
                    .bind(node.sha256.clone())
                    .bind(node.content_type.clone())
                    .bind(node.blob_id.clone())
                    .bind(node.etag.clone())
                    .bind(now)
                    .bind(node.created_by)
                    .bind(node.created_by_name.clone())
                    .bind(now)
                    .bind(node.modified_by)
                    .bind(node.modified_by_name.clone())
                    .bind(node.sha1.clone())
                    .bind(mtime)
                    .bind(node.md5.clone());
                (node, false)
            }
        };
        touch_ancestors_in(&mut batch, space_id, folder.id);
        self.enqueue_new_document(&mut batch, access, &folder, node.id, name.as_str())?;
        self.audit_in(
            &mut batch,
            AuditEvent::new(
                actor,
                if replaced { "upload.replace" } else { "upload" },
                format!("node:{} name:{name}", node.id),
            )
            .member(member_id)
            .detail(format!(
                "size={size} sha256={} scanned={scanned}",
                digests.sha256
            )),
        );
        match batch.execute(tx).await {
            Err(Error::Db(e)) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
            other => other?,
        }
        Ok((node, replaced))
    }
}
