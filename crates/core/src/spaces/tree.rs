//! Tree operations the WebDAV door needs beyond the web UI's (nodes.rs): resolving a
//! path, moving a node (rename and/or reparent, keeping its id) and deleting a folder
//! with everything below it.

use crate::App;
use crate::audit::AuditEvent;
use crate::db::{Tx, is_unique_violation, is_write_conflict};
use crate::error::{Error, Result};
use crate::ids;
use crate::spaces::SpaceAccess;
use crate::spaces::names::{NodeName, name_key};
use crate::spaces::nodes::{
    self, Node, child_by_key, load_in, lock_space, select_nodes, touch_ancestors,
};
use crate::spaces::permissions::{Action, decide};

/// More nested folders than this means a broken tree (a cycle), not a real one.
const MAX_DEPTH: usize = 1000;

/// How often a transaction refused for a concurrent one (Galera certification,
/// PostgreSQL serialisation, a deadlock victim) is run again before giving up.
const ATTEMPTS: u64 = 4;

/// The action that creates a node of `node`'s kind in a folder: moving a node somewhere
/// needs what creating it there would need.
fn create_action(node: &Node) -> Action {
    if node.is_folder() {
        Action::Mkdir
    } else {
        Action::Upload
    }
}

impl App {
    /// The node at `components` below the space root (empty = the root), names compared
    /// without regard to case. Every node on the way must be readable by the actor; one
    /// that is not is reported as not found, exactly like a missing one.
    pub async fn resolve_path(&self, access: &SpaceAccess, components: &[&str]) -> Result<Node> {
        // `node` checks the whole permission (including whether the actor still sees
        // the member); below the root only the node-level rule can differ.
        let root = self.node(access, access.root_id()).await?;
        self.resolve_below(access, root, components).await
    }

    /// Like [`App::resolve_path`], from `start` on, a node of this space the caller got
    /// through the permission function in the same request (so a door can continue a
    /// walk it has already made part of).
    pub async fn resolve_below(
        &self,
        access: &SpaceAccess,
        start: Node,
        components: &[&str],
    ) -> Result<Node> {
        if start.space_id != access.space_id() {
            return Err(Error::NotFound);
        }
        let mut node = start;
        let side = access.actor().side();
        for component in components {
            if !node.is_folder() {
                return Err(Error::NotFound);
            }
            let child = self
                .db
                .qa::<Node>(select_nodes!(
                    "WHERE space_id = ? AND parent_id = ? AND name_key = ?"
                ))
                .bind(access.space_id())
                .bind(node.id)
                .bind(name_key(component))
                .fetch_optional(self.db.pool())
                .await?
                .ok_or(Error::NotFound)?;
            decide(
                side,
                Action::Read,
                &child,
                self.settings.template.policy(&child.policy_key),
            )?;
            node = child;
        }
        Ok(node)
    }

    /// The bytes of all files below `folder` that the actor may read (`oc:size`).
    pub async fn tree_size(&self, access: &SpaceAccess, folder: &Node) -> Result<u64> {
        if folder.space_id != access.space_id() || !folder.is_folder() {
            return Err(Error::NotFound);
        }
        #[derive(sqlx::FromRow)]
        struct Sized {
            size: i64,
            policy_key: String,
        }
        // Sizes are added up here, not with SUM (NUMERIC on PostgreSQL, which `Any`
        // cannot decode); a policy key decides readability for the whole area below it.
        let rows = self
            .db
            .qa::<Sized>("WITH RECURSIVE sub (id) AS (SELECT id FROM nodes WHERE space_id = ? AND id = ? UNION ALL SELECT n.id FROM nodes n JOIN sub ON n.parent_id = sub.id) SELECT n.size, n.policy_key FROM nodes n JOIN sub ON n.id = sub.id WHERE n.kind = 'file'")
            .bind(access.space_id())
            .bind(folder.id)
            .fetch_all(self.db.pool())
            .await?;
        let side = access.actor().side();
        Ok(rows
            .into_iter()
            .filter(|r| {
                self.settings
                    .template
                    .policy(&r.policy_key)
                    .read
                    .contains(&side)
            })
            .map(|r| u64::try_from(r.size).unwrap_or(0))
            .sum())
    }

    /// Whether `node` may be moved (`moving`) or copied into the folder `dest` of the same
    /// space, by the rules [`App::move_node`] and [`App::copy_node`] apply — for a door
    /// that must know before it does anything irreversible (WebDAV deletes an existing
    /// destination first). Readability comes first: what the actor may not read stays
    /// "not found".
    pub async fn may_place(
        &self,
        access: &SpaceAccess,
        node: &Node,
        dest: &Node,
        moving: bool,
    ) -> Result<()> {
        let actor = access.actor();
        let member_id = access.member().id;
        if node.space_id != access.space_id() || dest.space_id != access.space_id() {
            return Err(Error::NotFound);
        }
        self.can(actor, Action::Read, node, member_id).await?;
        if moving {
            if node.is_root() || node.is_structural() {
                return Err(Error::Forbidden("template folder"));
            }
            self.can(actor, Action::Rename, node, member_id).await?;
        }
        self.can(actor, Action::Read, dest, member_id).await?;
        if !dest.is_folder() {
            return Err(Error::Invalid("destination is not a folder"));
        }
        self.can(actor, create_action(node), dest, member_id)
            .await?;
        if moving && node.is_folder() && node.policy_key != dest.policy_key {
            return Err(Error::Forbidden("policy area"));
        }
        Ok(())
    }

    /// Moves a node within its space to `new_parent_id` under `new_name` (a rename, a
    /// reparent or both), keeping its id so that sync clients keep their file ids.
    ///
    /// The actor needs `Rename` on the node and, on the destination folder, what
    /// creating the node there would need (`Upload` for a file, `Mkdir` for a folder).
    /// Template folders and the root stay where they are; a folder never moves into
    /// its own subtree nor into another policy area (its content would silently change
    /// rules). A file takes the destination's policy. An existing file of the same name
    /// is replaced only with `replace` and only if the actor may delete it; it is then
    /// deleted like [`App::delete_node`] does (versions and quota included). Returns the
    /// moved node and whether something was replaced.
    pub async fn move_node(
        &self,
        access: &SpaceAccess,
        node_id: i64,
        new_parent_id: i64,
        new_name: &str,
        replace: bool,
    ) -> Result<(Node, bool)> {
        let name = NodeName::parse(new_name)?;
        let node = self.node_unchecked(access.space_id(), node_id).await?;
        let dest = self
            .node_unchecked(access.space_id(), new_parent_id)
            .await?;
        self.may_place(access, &node, &dest, true).await?;
        let mut attempt = 0;
        let (replaced, blobs) = loop {
            attempt += 1;
            match self
                .move_in_tx(access, node.id, dest.id, &name, replace)
                .await
            {
                Err(Error::Db(e)) if attempt < ATTEMPTS && is_write_conflict(&e) => {
                    tracing::info!(attempt, error = %e, "write conflict; retrying the move");
                    crate::clock::pause(std::time::Duration::from_millis(20 * attempt)).await;
                }
                other => break other?,
            }
        };
        nodes::remove_blobs(self, blobs).await;
        let moved = self.node_unchecked(access.space_id(), node.id).await?;
        Ok((moved, replaced))
    }

    /// The transaction of [`App::move_node`]: everything it changes is re-read after
    /// the space lock, since a concurrent request may have moved, replaced or deleted
    /// it meanwhile. Returns whether a file was replaced and the blobs to remove.
    async fn move_in_tx(
        &self,
        access: &SpaceAccess,
        node_id: i64,
        dest_id: i64,
        name: &NodeName,
        replace: bool,
    ) -> Result<(bool, Vec<String>)> {
        let space_id = access.space_id();
        let actor = access.actor();
        let side = actor.side();
        let policy = |n: &Node| self.settings.template.policy(&n.policy_key);
        let mut tx = self.db.begin_write().await?;
        lock_space(self, &mut tx, space_id).await?;
        let node = load_in(self, &mut tx, space_id, node_id).await?;
        let dest = load_in(self, &mut tx, space_id, dest_id).await?;
        // The actor's access to the space was checked before; inside the transaction
        // only the node-level rules are re-applied (no pool reads while it is open).
        if node.is_structural() {
            return Err(Error::Forbidden("template folder"));
        }
        let old_parent = node.parent_id.ok_or(Error::Forbidden("root"))?;
        decide(side, Action::Rename, &node, policy(&node))?;
        if !dest.is_folder() {
            return Err(Error::Invalid("destination is not a folder"));
        }
        decide(side, create_action(&node), &dest, policy(&dest))?;
        if node.is_folder() {
            if node.policy_key != dest.policy_key {
                return Err(Error::Forbidden("policy area"));
            }
            if is_within(self, &mut tx, space_id, dest.id, node.id).await? {
                return Err(Error::Invalid("folder moved into itself"));
            }
        }
        if old_parent == dest.id && node.name == name.as_str() {
            // Nothing changes; a new ETag would only make clients download again.
            return Ok((false, Vec::new()));
        }
        let mut replaced = false;
        let mut blobs = Vec::new();
        if let Some(other) = child_by_key(self, &mut tx, space_id, dest.id, &name.key()).await?
            && other.id != node.id
        {
            // A folder in the way is never replaced here: that would be a recursive
            // delete, which the door asks for explicitly (`delete_tree`).
            if !replace || !other.is_file() {
                return Err(Error::AlreadyExists);
            }
            decide(side, Action::Delete, &other, policy(&other))
                .map_err(|_| Error::Forbidden("replace"))?;
            let removed = nodes::remove_rows(self, &mut tx, access, &other).await?;
            nodes::free_quota(self, &mut tx, space_id, removed.freed).await?;
            replaced = true;
            blobs = removed.blobs;
        }
        // A folder keeps its key (checked above); a file takes the destination's, so the
        // rules of where it now lies apply to it.
        let updated = self
            .db
            .q("UPDATE nodes SET parent_id = ?, name = ?, name_key = ?, policy_key = ?, etag = ?, modified_at = ?, modified_by = ?, modified_by_name = ? WHERE space_id = ? AND id = ?")
            .bind(dest.id)
            .bind(name.as_str().to_string())
            .bind(name.key())
            .bind(dest.policy_key.clone())
            .bind(ids::etag())
            .bind(self.now())
            .bind(actor.account_id())
            .bind(actor.label())
            .bind(space_id)
            .bind(node.id)
            .execute(&mut *tx)
            .await;
        match updated {
            Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
            other => other?,
        };
        // Both the folder it left and the one it entered changed, up to the root.
        touch_ancestors(self, &mut tx, space_id, old_parent).await?;
        if dest.id != old_parent {
            touch_ancestors(self, &mut tx, space_id, dest.id).await?;
        }
        self.audit(
            &mut *tx,
            AuditEvent::new(
                actor,
                "node.move",
                format!("node:{} name:{} -> {}", node.id, node.name, name),
            )
            .member(access.member().id)
            .detail(format!(
                "kind={} from:{}/{} to:{}/{} replaced={replaced}",
                node.kind, old_parent, node.name, dest.id, name
            )),
        )
        .await?;
        tx.commit().await?;
        Ok((replaced, blobs))
    }

    /// Deletes a node with everything below it (WebDAV DELETE on a collection). Only if
    /// the actor may delete every node of the subtree; otherwise nothing is deleted.
    /// The rows go in one transaction that frees exactly the bytes it removed (files
    /// and their kept versions); the blobs are removed after commit, and a failure
    /// there only leaves orphans for the cleanup job.
    pub async fn delete_tree(&self, access: &SpaceAccess, node_id: i64) -> Result<()> {
        let node = self.node_unchecked(access.space_id(), node_id).await?;
        self.can(access.actor(), Action::Delete, &node, access.member().id)
            .await?;
        if node.is_root() {
            return Err(Error::Forbidden("root"));
        }
        let mut attempt = 0;
        let blobs = loop {
            attempt += 1;
            match self.delete_tree_in_tx(access, node.id).await {
                Err(Error::Db(e)) if attempt < ATTEMPTS && is_write_conflict(&e) => {
                    tracing::info!(attempt, error = %e, "write conflict; retrying the delete");
                    crate::clock::pause(std::time::Duration::from_millis(20 * attempt)).await;
                }
                other => break other?,
            }
        };
        nodes::remove_blobs(self, blobs).await;
        Ok(())
    }

    /// The transaction of [`App::delete_tree`]; returns the blobs to remove.
    async fn delete_tree_in_tx(&self, access: &SpaceAccess, node_id: i64) -> Result<Vec<String>> {
        let space_id = access.space_id();
        let side = access.actor().side();
        let policy = |n: &Node| self.settings.template.policy(&n.policy_key);
        let mut tx = self.db.begin_write().await?;
        lock_space(self, &mut tx, space_id).await?;
        // A concurrent delete may have won: then this one finds nothing (NotFound) and
        // frees nothing.
        let top = load_in(self, &mut tx, space_id, node_id).await?;
        let parent_id = top.parent_id.ok_or(Error::Forbidden("root"))?;
        decide(side, Action::Delete, &top, policy(&top))?;
        // The subtree as this transaction sees it, breadth first, so every node comes
        // after its parent. Level by level in Rust rather than a recursive CTE, which
        // the three databases spell and plan differently.
        let mut subtree = vec![top];
        let mut next = 0;
        while next < subtree.len() {
            if subtree[next].is_folder() {
                // By parent alone (the sibling index); the space is checked per row.
                let children: Vec<Node> = self
                    .db
                    .qa::<Node>(select_nodes!("WHERE parent_id = ?"))
                    .bind(subtree[next].id)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .filter(|c| c.space_id == space_id)
                    .collect();
                for child in &children {
                    // All or nothing: one node the actor may not delete (or not even
                    // see) refuses the whole delete before anything is removed.
                    decide(side, Action::Delete, child, policy(child))
                        .map_err(|_| Error::Forbidden("subtree"))?;
                }
                subtree.extend(children);
            }
            next += 1;
            if next > 1_000_000 {
                return Err(Error::Internal("subtree too large".into()));
            }
        }
        // Children before their parents: the foreign key on parent_id is checked row
        // by row on MySQL.
        let mut freed = 0;
        let mut blobs = Vec::new();
        for node in subtree.iter().rev() {
            let removed = nodes::remove_rows(self, &mut tx, access, node).await?;
            freed += removed.freed;
            blobs.extend(removed.blobs);
        }
        nodes::free_quota(self, &mut tx, space_id, freed).await?;
        touch_ancestors(self, &mut tx, space_id, parent_id).await?;
        tx.commit().await?;
        Ok(blobs)
    }
}

/// Whether `folder_id` is `ancestor_id` or lies below it (walking up inside the
/// transaction, which sees the tree as it will be changed).
async fn is_within(
    app: &App,
    tx: &mut Tx,
    space_id: i64,
    folder_id: i64,
    ancestor_id: i64,
) -> Result<bool> {
    let mut current = Some(folder_id);
    let mut depth = 0;
    while let Some(id) = current {
        if id == ancestor_id {
            return Ok(true);
        }
        current = app
            .db
            .qs::<Option<i64>>("SELECT parent_id FROM nodes WHERE space_id = ? AND id = ?")
            .bind(space_id)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .flatten();
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(Error::Internal("folder cycle".into()));
        }
    }
    Ok(false)
}
