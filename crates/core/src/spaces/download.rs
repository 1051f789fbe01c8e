//! Ranged reads of a file, for doors that serve `Range` requests (WebDAV, resumable
//! downloads of the sync clients).

use crate::App;
use crate::audit::AuditEvent;
use crate::error::{Error, Result};
use crate::spaces::SpaceAccess;
use crate::spaces::nodes::Node;
use crate::storage::blob::BlobReader;

impl App {
    /// Opens `len` bytes (to the end when None) of a file from byte `start` on.
    ///
    /// Access is decided by the permission function (`Read`, through [`App::node`]); a
    /// folder is not found, like anything that cannot be downloaded. `start` may equal
    /// the size (an empty read); beyond it the range is invalid. A `len` that reaches past
    /// the end is cut at the end, so the bytes read are `min(len, size - start)`.
    ///
    /// Asking for the whole file is audited as a `download`, exactly like
    /// [`App::open_download`]; any smaller part as `download.range` with the range in the
    /// detail, so the audit log tells a complete copy leaving the server from a client
    /// resuming or previewing one.
    pub async fn open_download_range(
        &self,
        access: &SpaceAccess,
        node_id: i64,
        start: u64,
        len: Option<u64>,
    ) -> Result<(Node, BlobReader)> {
        let node = self.node(access, node_id).await?;
        let Some(blob) = node.blob_id.clone().filter(|_| node.is_file()) else {
            return Err(Error::NotFound);
        };
        // The database's size is the truth about the file; the blob store is only asked
        // for a range already known to lie within it.
        let size = u64::try_from(node.size).map_err(|_| Error::Internal("negative size".into()))?;
        if start > size {
            return Err(Error::Invalid("range"));
        }
        let rest = size - start;
        let len = len.map_or(rest, |l| l.min(rest));
        let reader = self.blobs.open_range(&blob, start, Some(len)).await?;
        let whole = start == 0 && len == size;
        let target = format!("node:{} name:{}", node.id, node.name);
        let sha256 = node.sha256.clone().unwrap_or_default();
        let event = if whole {
            AuditEvent::new(access.actor(), "download", target)
                .detail(format!("size={size} sha256={sha256}"))
        } else {
            // Offset and length rather than HTTP's inclusive `a-b`, which cannot express
            // an empty range.
            AuditEvent::new(access.actor(), "download.range", target).detail(format!(
                "offset={start} length={len} size={size} sha256={sha256}"
            ))
        };
        self.audit(self.db.pool(), event.member(access.member().id))
            .await?;
        Ok((node, reader))
    }
}
