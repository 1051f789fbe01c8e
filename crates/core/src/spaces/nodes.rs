//! The node tree of a space: folders and files, names unique per folder without regard
//! to case, ETags that change up to the root whenever something below changes.

use crate::App;
use crate::audit::AuditEvent;
use crate::db::{Batch, Tx, is_unique_violation};
use crate::error::{Error, Result};
use crate::ids;
use crate::spaces::SpaceAccess;
use crate::spaces::names::NodeName;
use crate::spaces::permissions::Action;
use crate::storage::blob::BlobReader;

/// `SELECT <the columns of Node> FROM nodes <rest>`: one column list for every query
/// that decodes a [`Node`].
macro_rules! select_nodes {
    ($rest:literal) => {
        concat!(
            "SELECT id, space_id, parent_id, name, kind, policy_key, structural, origin, size, sha256, content_type, blob_id, etag, created_at, created_by, created_by_name, modified_at, modified_by, modified_by_name, sha1, mtime, md5 FROM nodes ",
            $rest
        )
    };
}
// Shared with the sibling modules (tree.rs) so that there is still one column list.
pub(crate) use select_nodes;

/// The columns of a [`Node`] that a listing of properties needs: not who created or
/// changed it, nor where its bytes are (those fields come back as their defaults). Each
/// column is a value copied out of SQLite per row; for 10,000 files that is most of the
/// time a WebDAV PROPFIND takes.
macro_rules! select_listing {
    ($rest:literal) => {
        concat!(
            "SELECT id, space_id, parent_id, name, kind, policy_key, structural, origin, size, sha256, content_type, etag, created_at, modified_at, sha1, mtime, md5 FROM nodes ",
            $rest
        )
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Node {
    pub id: i64,
    pub space_id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub kind: String,
    pub policy_key: String,
    pub structural: i64,
    pub origin: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub content_type: Option<String>,
    #[sqlx(default)]
    pub blob_id: Option<String>,
    pub etag: String,
    pub created_at: i64,
    #[sqlx(default)]
    pub created_by: Option<i64>,
    #[sqlx(default)]
    pub created_by_name: String,
    pub modified_at: i64,
    #[sqlx(default)]
    pub modified_by: Option<i64>,
    #[sqlx(default)]
    pub modified_by_name: String,
    /// SHA-1 of the content (what the sync clients compare).
    pub sha1: Option<String>,
    /// Modification time as the client set it (epoch ms); None for folders and files
    /// from before it was recorded.
    pub mtime: Option<i64>,
    /// MD5 of the content (rclone's owncloud profile compares it); None for files from
    /// before it was recorded.
    pub md5: Option<String>,
}

impl Node {
    pub fn is_folder(&self) -> bool {
        self.kind == "folder"
    }
    pub fn is_file(&self) -> bool {
        self.kind == "file"
    }
    pub fn is_structural(&self) -> bool {
        self.structural != 0
    }
    pub fn is_root(&self) -> bool {
        self.parent_id.is_none()
    }
}

/// A recent member delivery, for the staff start page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub node_id: i64,
    pub name: String,
    pub size: i64,
    pub created_at: i64,
    pub created_by_name: String,
    pub parent_id: Option<i64>,
    pub space_id: i64,
    pub member_id: i64,
    pub member_number: String,
    pub member_name: String,
}

pub(crate) async fn load(app: &App, space_id: i64, node_id: i64) -> Result<Option<Node>> {
    Ok(app
        .db
        .qa::<Node>(select_nodes!("WHERE space_id = ? AND id = ?"))
        .bind(space_id)
        .bind(node_id)
        .fetch_optional(app.db.pool())
        .await?)
}

pub(crate) async fn child_by_key(
    app: &App,
    tx: &mut Tx,
    space_id: i64,
    parent_id: i64,
    key: &str,
) -> Result<Option<Node>> {
    Ok(app
        .db
        .qa::<Node>(select_nodes!(
            "WHERE space_id = ? AND parent_id = ? AND name_key = ?"
        ))
        .bind(space_id)
        .bind(parent_id)
        .bind(key.to_string())
        .fetch_optional(&mut **tx)
        .await?)
}

/// A folder and its child with the name key `key`, if any, in one query: the two
/// things every upload checks, before the bytes and again inside its transaction. The
/// space is checked on the rows rather than in the query, so that the planner takes the
/// primary key and the sibling index instead of scanning the space.
pub(crate) async fn folder_and_child<'e, E>(
    app: &App,
    exec: E,
    space_id: i64,
    folder_id: i64,
    key: &str,
) -> Result<(Node, Option<Node>)>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = app
        .db
        .qa::<Node>(select_nodes!(
            "WHERE id = ? OR (parent_id = ? AND name_key = ?)"
        ))
        .bind(folder_id)
        .bind(folder_id)
        .bind(key.to_string())
        .fetch_all(exec)
        .await?;
    let mut folder = None;
    let mut child = None;
    for n in rows.into_iter().filter(|n| n.space_id == space_id) {
        if n.id == folder_id {
            folder = Some(n);
        } else {
            child = Some(n);
        }
    }
    Ok((folder.ok_or(Error::NotFound)?, child))
}

/// Takes the space's row lock first thing in every transaction that changes the space's
/// tree. Concurrent changes in one space then queue up instead of deadlocking (InnoDB
/// takes shared locks on parent rows for the foreign key and later needs exclusive ones
/// for the ETags); SQLite's `BEGIN IMMEDIATE` already serialises writers.
pub(crate) async fn lock_space(app: &App, tx: &mut Tx, space_id: i64) -> Result<()> {
    app.db
        .q("UPDATE spaces SET used_bytes = used_bytes WHERE id = ?")
        .bind(space_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A node as the transaction sees it (after `lock_space`): the only safe basis for a
/// change, since a concurrent request may have changed or removed it meanwhile.
pub(crate) async fn load_in(app: &App, tx: &mut Tx, space_id: i64, node_id: i64) -> Result<Node> {
    app.db
        .qa::<Node>(select_nodes!("WHERE space_id = ? AND id = ?"))
        .bind(space_id)
        .bind(node_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)
}

/// Gives every folder from `folder_id` up to the root a new ETag, so sync clients see
/// that something below changed.
pub(crate) async fn touch_ancestors(
    app: &App,
    tx: &mut Tx,
    space_id: i64,
    folder_id: i64,
) -> Result<()> {
    // One statement for the whole chain, inside the write transaction that holds the
    // space's lock: every statement there delays the next writer. The folders share the
    // new value; an ETag only has to differ from the resource's previous one. The depth
    // bound stops a broken tree (a cycle) from recursing forever; the derived table lets
    // MySQL update the table the subquery reads. The space is fixed by the chain's start
    // (parents are always in their children's space); a `space_id` test on the outer
    // UPDATE made SQLite scan the whole space instead of the few ids.
    app.db
        .q(TOUCH_ANCESTORS)
        .bind(ids::etag())
        .bind(space_id)
        .bind(folder_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// [`touch_ancestors`] as one statement of a [`Batch`].
pub(crate) fn touch_ancestors_in(batch: &mut Batch, space_id: i64, folder_id: i64) {
    batch
        .push(TOUCH_ANCESTORS)
        .bind(ids::etag())
        .bind(space_id)
        .bind(folder_id);
}

const TOUCH_ANCESTORS: &str = "UPDATE nodes SET etag = ? WHERE id IN (SELECT id FROM (WITH RECURSIVE chain (id, depth) AS (SELECT id, 0 FROM nodes WHERE space_id = ? AND id = ? UNION ALL SELECT n.parent_id, chain.depth + 1 FROM nodes n JOIN chain ON n.id = chain.id WHERE n.parent_id IS NOT NULL AND chain.depth < 1000) SELECT id FROM chain) AS ancestors)";

/// What removing a node's rows frees: its bytes (content and kept versions) and the
/// blobs to remove once the transaction has committed.
pub(crate) struct Removed {
    pub freed: i64,
    pub blobs: Vec<String>,
}

/// Deletes one node's rows (its kept versions, then the node itself) and audits the
/// deletion, inside the caller's transaction. The caller holds the space lock, has
/// re-read `node` with [`load_in`], checked the permission and that no children are
/// left, and then adjusts the quota ([`free_quota`]), the ETags and, after commit,
/// removes the blobs ([`remove_blobs`]). Shared by every way of deleting a node
/// (single delete, recursive delete, replacing on move) so they free exactly alike.
pub(crate) async fn remove_rows(
    app: &App,
    tx: &mut Tx,
    access: &SpaceAccess,
    node: &Node,
) -> Result<Removed> {
    let versions: Vec<(String, i64)> = app
        .db
        .qa::<(String, i64)>(
            "SELECT blob_id, size FROM node_versions WHERE space_id = ? AND node_id = ?",
        )
        .bind(access.space_id())
        .bind(node.id)
        .fetch_all(&mut **tx)
        .await?;
    let freed = node.size + versions.iter().map(|(_, s)| *s).sum::<i64>();
    app.db
        .q("DELETE FROM node_versions WHERE space_id = ? AND node_id = ?")
        .bind(access.space_id())
        .bind(node.id)
        .execute(&mut **tx)
        .await?;
    let deleted = app
        .db
        .q("DELETE FROM nodes WHERE space_id = ? AND id = ?")
        .bind(access.space_id())
        .bind(node.id)
        .execute(&mut **tx)
        .await?;
    if deleted.rows_affected() != 1 {
        return Err(Error::NotFound);
    }
    app.audit(
        &mut **tx,
        AuditEvent::new(
            access.actor(),
            "node.delete",
            format!("node:{} name:{}", node.id, node.name),
        )
        .member(access.member().id)
        .detail(format!("kind={} size={}", node.kind, node.size)),
    )
    .await?;
    let blobs = node
        .blob_id
        .clone()
        .into_iter()
        .chain(versions.into_iter().map(|(b, _)| b))
        .collect();
    Ok(Removed { freed, blobs })
}

/// Gives `bytes` back to the space's quota (inside the transaction that removed them).
pub(crate) async fn free_quota(app: &App, tx: &mut Tx, space_id: i64, bytes: i64) -> Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    app.db
        .q("UPDATE spaces SET used_bytes = used_bytes - ? WHERE id = ?")
        .bind(bytes)
        .bind(space_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes blobs whose rows are committed as gone. A failure only leaves an
/// unreferenced blob, which the cleanup job removes later.
pub(crate) async fn remove_blobs(app: &App, blobs: Vec<String>) {
    for blob in blobs {
        if let Err(e) = app.blobs.delete(&blob).await {
            tracing::warn!(blob = %blob, error = %e, "blob removal failed; cleanup will retry");
        }
    }
}

impl App {
    /// A node of the space, if the actor may read it.
    pub async fn node(&self, access: &SpaceAccess, node_id: i64) -> Result<Node> {
        let node = self.node_unchecked(access.space_id(), node_id).await?;
        self.can(access.actor(), Action::Read, &node, access.member().id)
            .await?;
        Ok(node)
    }

    /// The readable children of a folder: folders first, then files, by name.
    pub async fn list_folder(
        &self,
        access: &SpaceAccess,
        folder_id: i64,
    ) -> Result<(Node, Vec<Node>)> {
        self.children_by(
            access,
            folder_id,
            select_nodes!("WHERE parent_id = ? ORDER BY kind DESC, name_key"),
        )
        .await
    }

    /// Like [`App::list_folder`], for listings of properties (WebDAV PROPFIND): the
    /// children lack `blob_id` and the created/modified-by fields.
    pub async fn list_folder_properties(
        &self,
        access: &SpaceAccess,
        folder_id: i64,
    ) -> Result<(Node, Vec<Node>)> {
        self.children_by(
            access,
            folder_id,
            select_listing!("WHERE parent_id = ? ORDER BY kind DESC, name_key"),
        )
        .await
    }

    async fn children_by(
        &self,
        access: &SpaceAccess,
        folder_id: i64,
        query: &'static str,
    ) -> Result<(Node, Vec<Node>)> {
        let folder = self.node(access, folder_id).await?;
        if !folder.is_folder() {
            return Err(Error::NotFound);
        }
        // By parent alone, so that every database reads just this folder's rows through
        // the sibling index (with `space_id` in the WHERE, SQLite chose the space index
        // and scanned the whole space); the space is checked on each row instead.
        let children = self
            .db
            .qa::<Node>(query)
            .bind(folder.id)
            .fetch_all(self.db.pool())
            .await?;
        // Whether the actor sees the member was decided for the folder just now; per
        // child only the node-level rule can differ (one query for 10,000 files, not 10,000).
        let visible = children
            .into_iter()
            .filter(|child| child.space_id == access.space_id())
            .filter(|child| self.permits(access, Action::Read, child))
            .collect();
        Ok((folder, visible))
    }

    /// The path from the root to the node (inclusive), for breadcrumbs.
    pub async fn ancestry(&self, access: &SpaceAccess, node_id: i64) -> Result<Vec<Node>> {
        let mut out = Vec::new();
        let mut current = Some(node_id);
        while let Some(id) = current {
            let n = self.node_unchecked(access.space_id(), id).await?;
            current = n.parent_id;
            out.push(n);
            if out.len() > 1000 {
                return Err(Error::Internal("folder cycle".into()));
            }
        }
        out.reverse();
        Ok(out)
    }

    /// The node-level rule alone, for a node of a space the actor was just let into (by
    /// [`App::open_space`] or [`App::node`] in the same request): no database query, so
    /// listings can decide per entry. Anything that changes data uses [`App::can`].
    pub fn permits(&self, access: &SpaceAccess, action: Action, node: &Node) -> bool {
        node.space_id == access.space_id()
            && crate::spaces::permissions::decide(
                access.actor().side(),
                action,
                node,
                self.settings.template.policy(&node.policy_key),
            )
            .is_ok()
    }

    /// Whether the actor may do `action` on the node (for showing or hiding controls).
    pub async fn allows(&self, access: &SpaceAccess, action: Action, node: &Node) -> bool {
        self.can(access.actor(), action, node, access.member().id)
            .await
            .is_ok()
    }

    pub async fn create_folder(
        &self,
        access: &SpaceAccess,
        parent_id: i64,
        raw_name: &str,
    ) -> Result<Node> {
        let name = NodeName::parse(raw_name)?;
        let parent = self.node_unchecked(access.space_id(), parent_id).await?;
        self.can(access.actor(), Action::Mkdir, &parent, access.member().id)
            .await?;
        let actor = access.actor();
        let id = ids::new_id();
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        lock_space(self, &mut tx, access.space_id()).await?;
        let parent = load_in(self, &mut tx, access.space_id(), parent.id).await?;
        if child_by_key(self, &mut tx, access.space_id(), parent.id, &name.key())
            .await?
            .is_some()
        {
            return Err(Error::AlreadyExists);
        }
        let inserted = self
            .db
            .q("INSERT INTO nodes (id, space_id, parent_id, name, name_key, kind, policy_key, structural, origin, size, sha256, content_type, blob_id, etag, created_at, created_by, created_by_name, modified_at, modified_by, modified_by_name) VALUES (?, ?, ?, ?, ?, 'folder', ?, 0, ?, 0, NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(access.space_id())
            .bind(parent.id)
            .bind(name.as_str().to_string())
            .bind(name.key())
            .bind(parent.policy_key.clone())
            .bind(actor.side().as_str())
            .bind(ids::etag())
            .bind(now)
            .bind(actor.account_id())
            .bind(actor.label())
            .bind(now)
            .bind(actor.account_id())
            .bind(actor.label())
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
            other => other?,
        };
        touch_ancestors(self, &mut tx, access.space_id(), parent.id).await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "folder.create", format!("node:{id} name:{name}"))
                .member(access.member().id),
        )
        .await?;
        tx.commit().await?;
        self.node_unchecked(access.space_id(), id).await
    }

    pub async fn rename_node(
        &self,
        access: &SpaceAccess,
        node_id: i64,
        raw_name: &str,
    ) -> Result<Node> {
        let name = NodeName::parse(raw_name)?;
        let node = self.node_unchecked(access.space_id(), node_id).await?;
        self.can(access.actor(), Action::Rename, &node, access.member().id)
            .await?;
        let mut tx = self.db.begin_write().await?;
        lock_space(self, &mut tx, access.space_id()).await?;
        let node = load_in(self, &mut tx, access.space_id(), node.id).await?;
        let parent_id = node.parent_id.ok_or(Error::Forbidden("root"))?;
        if let Some(other) =
            child_by_key(self, &mut tx, access.space_id(), parent_id, &name.key()).await?
            && other.id != node.id
        {
            return Err(Error::AlreadyExists);
        }
        let actor = access.actor();
        let updated = self
            .db
            .q("UPDATE nodes SET name = ?, name_key = ?, etag = ?, modified_at = ?, modified_by = ?, modified_by_name = ? WHERE space_id = ? AND id = ?")
            .bind(name.as_str().to_string())
            .bind(name.key())
            .bind(ids::etag())
            .bind(self.now())
            .bind(actor.account_id())
            .bind(actor.label())
            .bind(access.space_id())
            .bind(node.id)
            .execute(&mut *tx)
            .await;
        match updated {
            Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
            other => other?,
        };
        touch_ancestors(self, &mut tx, access.space_id(), parent_id).await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(
                actor,
                "node.rename",
                format!("node:{} name:{} -> {}", node.id, node.name, name),
            )
            .member(access.member().id),
        )
        .await?;
        tx.commit().await?;
        self.node_unchecked(access.space_id(), node.id).await
    }

    /// Deletes a file (with its kept versions) or an empty folder. The blobs are removed
    /// after the rows; a crash in between leaves only unreferenced blobs, which the
    /// cleanup job removes.
    pub async fn delete_node(&self, access: &SpaceAccess, node_id: i64) -> Result<()> {
        let node = self.node_unchecked(access.space_id(), node_id).await?;
        self.can(access.actor(), Action::Delete, &node, access.member().id)
            .await?;
        let parent_id = node.parent_id.ok_or(Error::Forbidden("root"))?;
        let mut tx = self.db.begin_write().await?;
        lock_space(self, &mut tx, access.space_id()).await?;
        // A concurrent delete may have won: what is freed is what this transaction sees.
        let node = load_in(self, &mut tx, access.space_id(), node.id).await?;
        let children: i64 = self
            .db
            // The node was just loaded from this space; its children are in it too.
            .qs::<i64>("SELECT COUNT(*) FROM nodes WHERE parent_id = ?")
            .bind(node.id)
            .fetch_one(&mut *tx)
            .await?;
        if children > 0 {
            return Err(Error::FolderNotEmpty);
        }
        let removed = remove_rows(self, &mut tx, access, &node).await?;
        free_quota(self, &mut tx, access.space_id(), removed.freed).await?;
        touch_ancestors(self, &mut tx, access.space_id(), parent_id).await?;
        tx.commit().await?;
        remove_blobs(self, removed.blobs).await;
        Ok(())
    }

    /// Opens a file for download and records the download.
    pub async fn open_download(
        &self,
        access: &SpaceAccess,
        node_id: i64,
    ) -> Result<(Node, BlobReader)> {
        let node = self.node(access, node_id).await?;
        let Some(blob) = node.blob_id.clone().filter(|_| node.is_file()) else {
            return Err(Error::NotFound);
        };
        let reader = self.blobs.open(&blob).await?;
        self.audit(
            self.db.pool(),
            AuditEvent::new(
                access.actor(),
                "download",
                format!("node:{} name:{}", node.id, node.name),
            )
            .member(access.member().id)
            .detail(format!(
                "size={} sha256={}",
                node.size,
                node.sha256.clone().unwrap_or_default()
            )),
        )
        .await?;
        Ok((node, reader))
    }

    /// The newest member deliveries across the members the actor may see.
    pub async fn recent_deliveries(
        &self,
        actor: &crate::Actor,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        if !actor.is_staff() {
            return Err(Error::Forbidden("staff only"));
        }
        let rows = match self.limited_to_assigned(actor) {
            None => self
                .db
                .qa::<Delivery>("SELECT n.id AS node_id, n.name, n.size, n.created_at, n.created_by_name, n.parent_id, n.space_id, m.id AS member_id, m.number AS member_number, m.name AS member_name FROM nodes n JOIN spaces s ON s.id = n.space_id JOIN members m ON m.id = s.member_id WHERE n.kind = 'file' AND n.origin = 'member' ORDER BY n.created_at DESC LIMIT ?")
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?,
            Some(clerk) => self
                .db
                .qa::<Delivery>(concat!("SELECT n.id AS node_id, n.name, n.size, n.created_at, n.created_by_name, n.parent_id, n.space_id, m.id AS member_id, m.number AS member_number, m.name AS member_name FROM nodes n JOIN spaces s ON s.id = n.space_id JOIN members m ON m.id = s.member_id WHERE n.kind = 'file' AND n.origin = 'member' AND m.id IN (SELECT la.member_id FROM ", crate::members::looked_after!(), " la WHERE la.account_id = ?) ORDER BY n.created_at DESC LIMIT ?"))
                .bind(clerk)
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?,
        };
        // The permission function has the last word, whatever the query found.
        let ids: Vec<i64> = rows.iter().map(|d| d.member_id).collect();
        let seen = self.seen_members(actor, &ids).await?;
        Ok(rows
            .into_iter()
            .filter(|d| seen.contains(&d.member_id))
            .collect())
    }
}
