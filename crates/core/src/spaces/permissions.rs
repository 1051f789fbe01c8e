//! The permission function. Every door (web UI, WebDAV, share links, CLI) asks
//! [`App::can`] before it touches a node, and [`administer`] before an admin act;
//! nothing else decides access.

use crate::App;
use crate::auth::actor::{Actor, StaffRole};
use crate::error::{Error, Result};
use crate::settings::{FolderPolicy, Side};
use crate::spaces::nodes::Node;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List a folder or download a file.
    Read,
    /// Upload a new file into a folder.
    Upload,
    /// Create a sub-folder in a folder.
    Mkdir,
    /// Replace a file's content.
    Overwrite,
    Rename,
    Delete,
}

/// The acts of the authority's service staff: accounts, members, access letters, the
/// mail queue, the quarantine, sign-in locks and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAct {
    Accounts,
    Members,
    Letters,
    MailQueue,
    Quarantine,
    Locks,
    Audit,
}

/// May `actor` perform the admin act? Admins and the operator's command line may; for
/// everyone else the act is refused like a page that does not exist.
pub fn administer(actor: &Actor, act: AdminAct) -> Result<()> {
    let allowed = match act {
        AdminAct::Accounts
        | AdminAct::Members
        | AdminAct::Letters
        | AdminAct::MailQueue
        | AdminAct::Quarantine
        | AdminAct::Locks
        | AdminAct::Audit => actor.is_admin(),
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::Forbidden("admin only"))
    }
}

/// The decision on a node of a space the actor may enter. Pure, so it can be tested
/// exhaustively.
pub fn decide(side: Side, action: Action, node: &Node, policy: &FolderPolicy) -> Result<()> {
    let readable = policy.read.contains(&side);
    let writable = policy.write.contains(&side);
    let own = node.origin == side.as_str();
    let allowed = match action {
        Action::Read => readable,
        Action::Upload | Action::Mkdir => node.is_folder() && writable,
        // Nobody alters what the other side provided: overwrite and rename are limited
        // to items that came from the actor's own side.
        Action::Overwrite => node.is_file() && writable && own,
        Action::Rename => !node.is_structural() && writable && own,
        Action::Delete => {
            !node.is_structural()
                && policy.delete.contains(&side)
                && !(side == Side::Member && node.origin == Side::Authority.as_str())
        }
    };
    if !readable {
        // What a side may not even read, it must not learn exists.
        return Err(Error::NotFound);
    }
    if allowed {
        Ok(())
    } else {
        Err(Error::Forbidden("policy"))
    }
}

impl App {
    /// May `actor` perform `action` on `node` (in the space of member `member_id`)?
    pub async fn can(
        &self,
        actor: &Actor,
        action: Action,
        node: &Node,
        member_id: i64,
    ) -> Result<()> {
        if !self.sees_member(actor, member_id).await? {
            return Err(Error::NotFound);
        }
        let policy = self.settings.template.policy(&node.policy_key);
        decide(actor.side(), action, node, policy)
    }

    /// Whether the actor may enter the space of this member at all.
    pub async fn sees_member(&self, actor: &Actor, member_id: i64) -> Result<bool> {
        Ok(self
            .seen_members(actor, &[member_id])
            .await?
            .contains(&member_id))
    }

    /// Which of `member_ids` the actor may enter: the one rule for member visibility, for
    /// a whole listing at the cost of at most one query.
    pub async fn seen_members(
        &self,
        actor: &Actor,
        member_ids: &[i64],
    ) -> Result<std::collections::HashSet<i64>> {
        if let Actor::MemberUser { member_id: own, .. } = actor {
            return Ok(member_ids.iter().copied().filter(|m| m == own).collect());
        }
        Ok(match self.limited_to_assigned(actor) {
            None => member_ids.iter().copied().collect(),
            Some(clerk) => {
                let assigned = self.assigned_member_ids(clerk).await?;
                member_ids
                    .iter()
                    .copied()
                    .filter(|m| assigned.contains(m))
                    .collect()
            }
        })
    }

    /// The staff half of the visibility rule: `Some(account)` when the actor is a clerk
    /// who sees only the members assigned to them (`members::looked_after!`), `None`
    /// when the actor sees every member. Member users are limited by their own member,
    /// which [`App::seen_members`] decides.
    pub(crate) fn limited_to_assigned(&self, actor: &Actor) -> Option<i64> {
        match actor {
            Actor::Staff {
                role: StaffRole::Clerk,
                id,
                ..
            } if !self.settings.access.clerks_see_all => Some(*id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::TemplateSettings;

    fn node(kind: &str, origin: Side, structural: bool, policy_key: &str) -> Node {
        Node {
            id: 1,
            space_id: 1,
            parent_id: Some(0),
            name: "x".into(),
            kind: kind.into(),
            policy_key: policy_key.into(),
            structural: i64::from(structural),
            origin: origin.as_str().into(),
            size: 0,
            sha256: None,
            content_type: None,
            blob_id: None,
            etag: "e".into(),
            created_at: 0,
            created_by: None,
            created_by_name: String::new(),
            modified_at: 0,
            modified_by: None,
            modified_by_name: String::new(),
            sha1: None,
            md5: None,
            mtime: None,
        }
    }

    #[test]
    fn default_template_rules() {
        use Action::*;
        use Side::*;
        let t = TemplateSettings::default();
        let root = t.policy("");
        let an = t.policy("an_kvbbg");
        // Root: the authority writes, the member reads.
        assert!(
            decide(
                Authority,
                Upload,
                &node("folder", Authority, true, ""),
                root
            )
            .is_ok()
        );
        assert!(decide(Member, Upload, &node("folder", Authority, true, ""), root).is_err());
        assert!(decide(Member, Mkdir, &node("folder", Authority, true, ""), root).is_err());
        assert!(decide(Member, Read, &node("file", Authority, false, ""), root).is_ok());
        assert!(decide(Member, Delete, &node("file", Authority, false, ""), root).is_err());
        assert!(decide(Member, Overwrite, &node("file", Authority, false, ""), root).is_err());
        assert!(decide(Member, Rename, &node("file", Authority, false, ""), root).is_err());
        // an_KVBbg: the member writes; the authority may not alter a delivery.
        let delivery = node("file", Member, false, "an_kvbbg");
        assert!(
            decide(
                Member,
                Upload,
                &node("folder", Authority, true, "an_kvbbg"),
                an
            )
            .is_ok()
        );
        assert!(decide(Member, Overwrite, &delivery, an).is_ok());
        assert!(decide(Authority, Overwrite, &delivery, an).is_err());
        assert!(decide(Authority, Rename, &delivery, an).is_err());
        assert!(
            decide(
                Authority,
                Upload,
                &node("folder", Authority, true, "an_kvbbg"),
                an
            )
            .is_err()
        );
        assert!(decide(Authority, Read, &delivery, an).is_ok());
        // Template folders themselves are never renamed or deleted.
        assert!(
            decide(
                Member,
                Delete,
                &node("folder", Authority, true, "an_kvbbg"),
                an
            )
            .is_err()
        );
        assert!(
            decide(
                Authority,
                Rename,
                &node("folder", Authority, true, ""),
                root
            )
            .is_err()
        );
    }

    #[test]
    fn a_member_never_deletes_authority_items_even_if_configured() {
        let permissive = FolderPolicy {
            write: vec![Side::Member, Side::Authority],
            read: vec![Side::Member, Side::Authority],
            delete: vec![Side::Member, Side::Authority],
            notify: crate::settings::Notify::None,
        };
        let doc = node("file", Side::Authority, false, "x");
        assert!(decide(Side::Member, Action::Delete, &doc, &permissive).is_err());
        assert!(decide(Side::Member, Action::Overwrite, &doc, &permissive).is_err());
        assert!(decide(Side::Authority, Action::Delete, &doc, &permissive).is_ok());
    }

    #[test]
    fn a_folder_gone_from_the_template_is_authority_only() {
        let t = TemplateSettings::default();
        let orphan = t.policy("intern");
        let doc = node("file", Side::Authority, false, "intern");
        assert!(matches!(
            decide(Side::Member, Action::Read, &doc, orphan),
            Err(Error::NotFound)
        ));
        assert!(decide(Side::Authority, Action::Read, &doc, orphan).is_ok());
        assert!(
            decide(
                Side::Authority,
                Action::Upload,
                &node("folder", Side::Authority, false, "intern"),
                orphan
            )
            .is_err()
        );
        assert_eq!(orphan.notify, crate::settings::Notify::None);
    }

    #[test]
    fn unreadable_is_not_found() {
        let hidden = FolderPolicy {
            write: vec![Side::Authority],
            read: vec![Side::Authority],
            delete: vec![Side::Authority],
            notify: crate::settings::Notify::None,
        };
        let doc = node("file", Side::Authority, false, "x");
        assert!(matches!(
            decide(Side::Member, Action::Read, &doc, &hidden),
            Err(Error::NotFound)
        ));
    }
}
