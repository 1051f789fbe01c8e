//! Member spaces: the folder tree of one member, created from the folder template.

pub mod copy;
pub mod download;
pub mod locks;
pub mod names;
pub mod nodes;
pub mod permissions;
pub mod props;
pub mod tree;

use crate::App;
use crate::auth::actor::Actor;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::ids;
use crate::members::Member;
use crate::spaces::names::NodeName;
use crate::spaces::nodes::Node;

/// `SELECT <the columns of Space> FROM spaces <rest>`: one column list for every query
/// that decodes a [`Space`].
macro_rules! select_spaces {
    ($rest:literal) => {
        concat!(
            "SELECT id, member_id, root_id, used_bytes, quota_bytes, created_at FROM spaces ",
            $rest
        )
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Space {
    pub id: i64,
    pub member_id: i64,
    pub root_id: i64,
    pub used_bytes: i64,
    pub quota_bytes: i64,
    pub created_at: i64,
}

impl Space {
    /// The quota in bytes that applies (0 = unlimited): the space's own, if it has one,
    /// else the configured default.
    pub fn effective_quota(&self, settings: &crate::Settings) -> i64 {
        if self.quota_bytes > 0 {
            self.quota_bytes
        } else {
            i64::try_from(settings.limits.space_quota_bytes).unwrap_or(i64::MAX)
        }
    }
}

/// Proof that an actor may enter a space. Only [`App::open_space`] makes one, after the
/// permission check; every node query then takes its space id from here, never from
/// the request.
#[derive(Debug, Clone)]
pub struct SpaceAccess {
    space: Space,
    member: Member,
    actor: Actor,
    /// The root folder as read when the space was opened (a door that walks a path
    /// starts here instead of reading it again).
    root: Node,
}

impl SpaceAccess {
    pub fn space(&self) -> &Space {
        &self.space
    }
    pub fn member(&self) -> &Member {
        &self.member
    }
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    pub fn space_id(&self) -> i64 {
        self.space.id
    }
    pub fn root_id(&self) -> i64 {
        self.space.root_id
    }
    pub fn root(&self) -> &Node {
        &self.root
    }
}

impl App {
    /// Creates the space of a new member with its root and the template folders.
    pub(crate) async fn create_space_in(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        member_id: i64,
    ) -> Result<Space> {
        let space_id = ids::new_id();
        let root_id = ids::new_id();
        let now = self.now();
        // 0: the space follows `limits.space_quota_bytes`, also when that changes later.
        let quota = 0;
        self.db
            .q("INSERT INTO spaces (id, member_id, root_id, used_bytes, quota_bytes, created_at) VALUES (?, ?, ?, 0, ?, ?)")
            .bind(space_id)
            .bind(member_id)
            .bind(root_id)
            .bind(quota)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        let by = actor.label();
        insert_folder(
            self,
            tx,
            space_id,
            None,
            root_id,
            "",
            "",
            true,
            &by,
            actor.account_id(),
            now,
        )
        .await?;
        for folder in &self.settings.template.folders {
            let name = NodeName::parse(&folder.name)?;
            let key = name.key();
            insert_folder(
                self,
                tx,
                space_id,
                Some(root_id),
                ids::new_id(),
                name.as_str(),
                &key,
                true,
                &by,
                actor.account_id(),
                now,
            )
            .await?;
        }
        Ok(Space {
            id: space_id,
            member_id,
            root_id,
            used_bytes: 0,
            quota_bytes: quota,
            created_at: now,
        })
    }

    pub(crate) async fn space_row(&self, space_id: i64) -> Result<Option<Space>> {
        Ok(self
            .db
            .qa::<Space>(select_spaces!("WHERE id = ?"))
            .bind(space_id)
            .fetch_optional(self.db.pool())
            .await?)
    }

    pub(crate) async fn space_row_of_member(&self, member_id: i64) -> Result<Option<Space>> {
        Ok(self
            .db
            .qa::<Space>(select_spaces!("WHERE member_id = ?"))
            .bind(member_id)
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Opens a space for an actor. A space the actor may not see is reported as not
    /// found, exactly like one that does not exist.
    pub async fn open_space(&self, actor: &Actor, space_id: i64) -> Result<SpaceAccess> {
        let space = self.space_row(space_id).await?.ok_or(Error::NotFound)?;
        self.open(actor, space).await
    }

    async fn open(&self, actor: &Actor, space: Space) -> Result<SpaceAccess> {
        let root = self.node_unchecked(space.id, space.root_id).await?;
        self.can(actor, permissions::Action::Read, &root, space.member_id)
            .await?;
        let member = self
            .member_row(space.member_id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(SpaceAccess {
            space,
            member,
            actor: actor.clone(),
            root,
        })
    }

    /// Every member the actor may enter, with the root folder of its space (for the
    /// staff's WebDAV top level), in a fixed number of queries.
    pub async fn visible_space_roots(
        &self,
        actor: &Actor,
    ) -> Result<Vec<(crate::members::MemberListing, Node)>> {
        let members = self.visible_members(actor, "").await?;
        let mut roots: std::collections::HashMap<i64, Node> = self
            .db
            .qa::<Node>(nodes::select_nodes!("WHERE parent_id IS NULL"))
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        Ok(members
            .into_iter()
            .filter_map(|m| roots.remove(&m.root_id).map(|r| (m, r)))
            .collect())
    }

    /// A member user's own space.
    pub async fn own_space(&self, actor: &Actor) -> Result<SpaceAccess> {
        let Actor::MemberUser { member_id, .. } = actor else {
            return Err(Error::NotFound);
        };
        let space = self
            .space_row_of_member(*member_id)
            .await?
            .ok_or(Error::NotFound)?;
        self.open(actor, space).await
    }

    pub(crate) async fn node_unchecked(&self, space_id: i64, node_id: i64) -> Result<Node> {
        nodes::load(self, space_id, node_id)
            .await?
            .ok_or(Error::NotFound)
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_folder(
    app: &App,
    tx: &mut Tx,
    space_id: i64,
    parent: Option<i64>,
    id: i64,
    name: &str,
    policy_key: &str,
    structural: bool,
    by: &str,
    by_id: Option<i64>,
    now: i64,
) -> Result<()> {
    app.db
        .q("INSERT INTO nodes (id, space_id, parent_id, name, name_key, kind, policy_key, structural, origin, size, sha256, content_type, blob_id, etag, created_at, created_by, created_by_name, modified_at, modified_by, modified_by_name) VALUES (?, ?, ?, ?, ?, 'folder', ?, ?, 'authority', 0, NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, ?)")
        .bind(id)
        .bind(space_id)
        .bind(parent)
        .bind(name.to_string())
        .bind(names::name_key(name))
        .bind(policy_key.to_string())
        .bind(crate::db::flag(structural))
        .bind(ids::etag())
        .bind(now)
        .bind(by_id)
        .bind(by.to_string())
        .bind(now)
        .bind(by_id)
        .bind(by.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
