//! Dead properties (WebDAV PROPPATCH): small XML values a client stores on a file or
//! folder and gets back verbatim, plus the client-set modification time. They belong to
//! the node, so they follow it on move and rename and vanish with it (foreign key).

use std::collections::HashMap;

use crate::App;
use crate::error::{Error, Result};
use crate::spaces::SpaceAccess;
use crate::spaces::nodes::{Node, load_in, lock_space, touch_ancestors};
use crate::spaces::permissions::{Action, decide};

/// Longest value accepted, in bytes; what clients store (Office, Finder, litmus) is tiny.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most properties one node may carry.
pub const MAX_PER_NODE: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadProperty {
    pub ns: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropChange {
    Set(DeadProperty),
    Remove { ns: String, name: String },
}

#[derive(sqlx::FromRow)]
struct Row {
    node_id: i64,
    space_id: i64,
    ns: String,
    name: String,
    value: String,
}

impl App {
    /// The dead properties of `node` (which the caller obtained through the permission
    /// function for this `access`).
    pub async fn dead_props(&self, access: &SpaceAccess, node: &Node) -> Result<Vec<DeadProperty>> {
        if node.space_id != access.space_id() {
            return Err(Error::NotFound);
        }
        Ok(self
            .db
            .qa::<DeadProperty>(
                "SELECT ns, name, value FROM dav_props WHERE node_id = ? ORDER BY ns, name",
            )
            .bind(node.id)
            .fetch_all(self.db.pool())
            .await?)
    }

    /// The dead properties of all children of `folder`, by node id, in one query.
    pub async fn dead_props_of_children(
        &self,
        access: &SpaceAccess,
        folder: &Node,
    ) -> Result<HashMap<i64, Vec<DeadProperty>>> {
        if folder.space_id != access.space_id() {
            return Err(Error::NotFound);
        }
        let rows = self
            .db
            .qa::<Row>(
                // By parent alone (the sibling index); the space is checked per row.
                "SELECT p.node_id, n.space_id, p.ns, p.name, p.value FROM dav_props p JOIN nodes n ON n.id = p.node_id WHERE n.parent_id = ? ORDER BY p.node_id, p.ns, p.name",
            )
            .bind(folder.id)
            .fetch_all(self.db.pool())
            .await?;
        let mut out: HashMap<i64, Vec<DeadProperty>> = HashMap::new();
        for r in rows.into_iter().filter(|r| r.space_id == access.space_id()) {
            out.entry(r.node_id).or_default().push(DeadProperty {
                ns: r.ns,
                name: r.name,
                value: r.value,
            });
        }
        Ok(out)
    }

    /// Applies property changes and an optional new modification time (epoch ms) to a node,
    /// all or nothing. Changing a node's properties needs what renaming it needs: it must
    /// be the actor's own side's item in a folder the actor may write, never a template
    /// folder.
    pub async fn patch_props(
        &self,
        access: &SpaceAccess,
        node_id: i64,
        mtime: Option<i64>,
        changes: Vec<PropChange>,
    ) -> Result<()> {
        for c in &changes {
            if let PropChange::Set(p) = c
                && (p.value.len() > MAX_VALUE_BYTES || p.ns.len() > 255 || p.name.len() > 255)
            {
                return Err(Error::Invalid("property"));
            }
        }
        let node = self.node(access, node_id).await?;
        self.can(access.actor(), Action::Rename, &node, access.member().id)
            .await?;
        let mut tx = self.db.begin_write().await?;
        lock_space(self, &mut tx, access.space_id()).await?;
        let node = load_in(self, &mut tx, access.space_id(), node.id).await?;
        decide(
            access.actor().side(),
            Action::Rename,
            &node,
            self.settings.template.policy(&node.policy_key),
        )?;
        for change in changes {
            let (ns, name) = match &change {
                PropChange::Set(p) => (p.ns.clone(), p.name.clone()),
                PropChange::Remove { ns, name } => (ns.clone(), name.clone()),
            };
            self.db
                .q("DELETE FROM dav_props WHERE node_id = ? AND ns = ? AND name = ?")
                .bind(node.id)
                .bind(ns.clone())
                .bind(name.clone())
                .execute(&mut *tx)
                .await?;
            if let PropChange::Set(p) = change {
                self.db
                    .q("INSERT INTO dav_props (node_id, ns, name, value) VALUES (?, ?, ?, ?)")
                    .bind(node.id)
                    .bind(ns)
                    .bind(name)
                    .bind(p.value)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let count = self
            .db
            .qs::<i64>("SELECT COUNT(*) FROM dav_props WHERE node_id = ?")
            .bind(node.id)
            .fetch_one(&mut *tx)
            .await?;
        if count > MAX_PER_NODE {
            return Err(Error::Invalid("property"));
        }
        if let Some(mtime) = mtime {
            // A new modification time is a change the sync clients must notice.
            self.db
                .q("UPDATE nodes SET mtime = ?, etag = ? WHERE space_id = ? AND id = ?")
                .bind(mtime)
                .bind(crate::ids::etag())
                .bind(access.space_id())
                .bind(node.id)
                .execute(&mut *tx)
                .await?;
            if let Some(parent) = node.parent_id {
                touch_ancestors(self, &mut tx, access.space_id(), parent).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives `to` the dead properties of `from` (after a COPY); both must be nodes of the
    /// space the actor just wrote to.
    pub async fn copy_dead_props(&self, access: &SpaceAccess, from: i64, to: i64) -> Result<()> {
        let source = self.node(access, from).await?;
        let target = self.node(access, to).await?;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("DELETE FROM dav_props WHERE node_id = ?")
            .bind(target.id)
            .execute(&mut *tx)
            .await?;
        self.db
            .q("INSERT INTO dav_props (node_id, ns, name, value) SELECT ?, ns, name, value FROM dav_props WHERE node_id = ?")
            .bind(target.id)
            .bind(source.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
