//! Copying files and folder trees within one space (WebDAV `COPY`).
//!
//! A copy is new content from the copying actor's side, not a clone of the source row:
//! every copied file goes through the ingest pipeline like any upload, so it is scanned,
//! size- and quota-checked, hashed, stored under a fresh blob id, notified and audited,
//! and the destination's rules (Upload, Mkdir, Overwrite) are decided there. Sharing one
//! blob between two rows would make deleting one of them a hazard for the other.

use std::future::Future;
use std::pin::Pin;

use tokio_util::io::ReaderStream;

use crate::App;
use crate::audit::AuditEvent;
use crate::error::{Error, Result};
use crate::spaces::SpaceAccess;
use crate::spaces::names::{NodeName, name_key};
use crate::spaces::nodes::Node;
use crate::storage::ingest::Upload;

/// Deeper than any real tree; stops a runaway recursion should the tree change under a
/// running copy (a concurrent move could in theory put the target inside the source).
const MAX_DEPTH: usize = 256;

impl App {
    /// Copies a file or a folder tree to `dest_name` in folder `dest_parent_id` of the
    /// same space and returns the new node.
    ///
    /// Reading the source needs `Read`; writing is decided per item by the pipeline
    /// (`Upload` into the destination folder, `Overwrite` of an existing file when
    /// `replace`) and by [`App::create_folder`] (`Mkdir`). `replace` only ever replaces a
    /// file by a file, keeping the old content as a version; a folder copy onto an
    /// existing name is `AlreadyExists` (a door that wants WebDAV's delete-then-copy
    /// deletes first, under the Delete rule). Copying a folder into itself or its own
    /// subtree, or anything onto itself, is refused.
    ///
    /// A folder is copied depth-first with its readable children (what the actor cannot
    /// read it does not copy, and does not learn of). The first error stops the copy and
    /// is returned: what was created up to then stays — as in any WebDAV server, a copy
    /// is not atomic — and each created item is audited like any upload or folder
    /// creation.
    pub async fn copy_node(
        &self,
        access: &SpaceAccess,
        node_id: i64,
        dest_parent_id: i64,
        dest_name: &str,
        replace: bool,
    ) -> Result<Node> {
        let name = NodeName::parse(dest_name)?;
        let source = self.node(access, node_id).await?;
        // The destination must be a folder the actor can see; one it cannot see is not
        // found, before anything else could tell it exists.
        let dest = self.node(access, dest_parent_id).await?;
        if !dest.is_folder() {
            return Err(Error::NotFound);
        }
        if source.parent_id == Some(dest.id) && name_key(&source.name) == name.key() {
            return Err(Error::Forbidden("copy onto itself"));
        }
        if source.is_folder()
            && self
                .ancestry(access, dest.id)
                .await?
                .iter()
                .any(|n| n.id == source.id)
        {
            // Otherwise the copy would keep finding its own new children to copy.
            return Err(Error::Forbidden("copy into itself"));
        }
        let copy = self
            .copy_tree(access, source.clone(), dest.id, name.as_str(), replace, 0)
            .await?;
        // The items are audited one by one as they are created; this entry ties the
        // new tree to its source.
        self.audit(
            self.db.pool(),
            AuditEvent::new(
                access.actor(),
                "node.copy",
                format!("node:{} name:{}", source.id, source.name),
            )
            .member(access.member().id)
            .detail(format!(
                "to node:{} parent:{} name:{} kind={}",
                copy.id, dest.id, copy.name, copy.kind
            )),
        )
        .await?;
        Ok(copy)
    }

    /// One step of the depth-first copy; boxed because it recurses.
    fn copy_tree<'a>(
        &'a self,
        access: &'a SpaceAccess,
        source: Node,
        dest_parent_id: i64,
        dest_name: &'a str,
        replace: bool,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Node>> + Send + 'a>> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err(Error::Internal("copy too deep".into()));
            }
            if source.is_file() {
                return self
                    .copy_file(access, &source, dest_parent_id, dest_name, replace)
                    .await;
            }
            let folder = self
                .create_folder(access, dest_parent_id, dest_name)
                .await?;
            // `list_folder` re-checks Read on the source and returns only what the
            // actor may read.
            let (_, children) = self.list_folder(access, source.id).await?;
            for child in children {
                let name = child.name.clone();
                // Into a folder just created, so nothing can be replaced below it.
                self.copy_tree(access, child, folder.id, &name, false, depth + 1)
                    .await?;
            }
            Ok(folder)
        })
    }

    async fn copy_file(
        &self,
        access: &SpaceAccess,
        source: &Node,
        dest_parent_id: i64,
        dest_name: &str,
        replace: bool,
    ) -> Result<Node> {
        // Re-read through the permission function: the node may have changed since the
        // folder was listed.
        let source = self.node(access, source.id).await?;
        let Some(blob) = source.blob_id.clone().filter(|_| source.is_file()) else {
            return Err(Error::NotFound);
        };
        let size =
            u64::try_from(source.size).map_err(|_| Error::Internal("negative size".into()))?;
        let reader = self.blobs.open(&blob).await?;
        let ingested = self
            .ingest(
                access,
                Upload {
                    folder_id: dest_parent_id,
                    name: dest_name.to_string(),
                    content_type: source.content_type.clone(),
                    overwrite: replace,
                    // The known size lets an over-quota copy fail before a byte is
                    // written, and a short blob fail instead of becoming a short copy.
                    declared_size: Some(size),
                    mtime: source.mtime,
                    checksum: None,
                    precondition: Default::default(),
                },
                ReaderStream::new(reader),
            )
            .await?;
        Ok(ingested.node)
    }
}
