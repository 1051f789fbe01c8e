//! What a principal sees over WebDAV, and where a path lands.
//!
//! A member user sees the own space as the root. Staff see one folder per member they may
//! enter, named "NUMBER NAME", and the member's space below it; the top level itself is
//! read-only. Every lookup goes through the core's permission function: a node the
//! principal may not read is `None`, exactly like a missing one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amtsbote_core::spaces::SpaceAccess;
use amtsbote_core::spaces::names::name_key;
use amtsbote_core::spaces::nodes::Node;
use amtsbote_core::spaces::permissions::{Action, decide};
use amtsbote_core::{Actor, App, Error, Side};
use amtsbote_dav::{Checksums, DavPath, DavResult, Entry, Quota};
use sha2::{Digest, Sha256};

use super::errors::to_dav;

/// The authenticated principal of a WebDAV request.
#[derive(Debug, Clone)]
pub struct DavUser {
    pub account_id: i64,
    pub login: String,
    pub actor: Actor,
}

/// Where a path lands.
pub enum Located {
    /// The staff's top level: one folder per member.
    StaffRoot,
    /// A node of a space.
    Node(Box<InSpace>),
}

pub struct InSpace {
    pub access: SpaceAccess,
    pub node: Node,
    /// The path of the space root in this principal's view (`/` for members,
    /// `/NUMBER NAME` for staff).
    pub base: DavPath,
}

impl InSpace {
    pub fn is_space_root(&self) -> bool {
        self.node.is_root()
    }
}

/// The stable folder name of a member on the staff's top level. Characters a path segment
/// cannot hold are replaced, so the name always resolves back to the member.
pub fn member_folder(number: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' => '-',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    let folder = if clean.is_empty() {
        number.to_string()
    } else {
        format!("{number} {clean}")
    };
    // Segment limit of the engine (255 bytes), cut at a character boundary.
    let mut end = folder.len().min(255);
    while !folder.is_char_boundary(end) {
        end -= 1;
    }
    folder[..end].to_string()
}

/// Opens the space a path lies in: the space, the base path of its root, and the
/// remaining segments below the root. `None` for the staff's top level itself and for
/// anything the principal may not enter.
pub async fn space_of(
    app: &App,
    user: &DavUser,
    path: &DavPath,
) -> DavResult<Option<(SpaceAccess, DavPath, Vec<String>)>> {
    let segments: Vec<String> = path.segments().map(str::to_string).collect();
    match &user.actor {
        Actor::MemberUser { .. } => match app.own_space(&user.actor).await {
            Ok(access) => Ok(Some((access, DavPath::root(), segments))),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(to_dav(e)),
        },
        _ => {
            let Some(first) = segments.first() else {
                return Ok(None);
            };
            let number = first.split(' ').next().unwrap_or_default();
            let Some(member) = app.member_by_number(number).await.map_err(to_dav)? else {
                return Ok(None);
            };
            if name_key(&member_folder(&member.number, &member.name)) != name_key(first) {
                return Ok(None);
            }
            let Some(space) = app.space_of_member(member.id).await.map_err(to_dav)? else {
                return Ok(None);
            };
            match app.open_space(&user.actor, space.id).await {
                Ok(access) => {
                    let base = DavPath::from_segments([member_folder(
                        &access.member().number,
                        &access.member().name,
                    )])?;
                    Ok(Some((access, base, segments[1..].to_vec())))
                }
                Err(Error::NotFound) => Ok(None),
                Err(e) => Err(to_dav(e)),
            }
        }
    }
}

/// Where `path` lands for `user`, or `None` if nowhere the principal may see.
pub async fn locate(app: &App, user: &DavUser, path: &DavPath) -> DavResult<Option<Located>> {
    if path.is_root() && user.actor.is_staff() {
        return Ok(Some(Located::StaffRoot));
    }
    let Some((access, base, rest)) = space_of(app, user, path).await? else {
        return Ok(None);
    };
    let parts: Vec<&str> = rest.iter().map(String::as_str).collect();
    match app.resolve_path(&access, &parts).await {
        Ok(node) => Ok(Some(Located::Node(Box::new(InSpace {
            access,
            node,
            base,
        })))),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(to_dav(e)),
    }
}

pub fn time_of(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// ownCloud permission letters from the folder policy: what the client may even try.
pub fn permission_letters(app: &App, side: Side, node: &Node) -> String {
    let policy = app.settings.template.policy(&node.policy_key);
    let may = |action| decide(side, action, node, policy).is_ok();
    let mut out = String::new();
    if may(Action::Delete) {
        out.push('D');
    }
    if may(Action::Rename) {
        out.push_str("NV");
    }
    if node.is_file() {
        if may(Action::Overwrite) {
            out.push('W');
        }
    } else {
        if may(Action::Upload) {
            out.push('C');
        }
        if may(Action::Mkdir) {
            out.push('K');
        }
    }
    out
}

/// `oc:id`: the file id padded, plus an instance suffix, like ownCloud's.
pub fn oc_id(file_id: i64) -> String {
    format!("{file_id:020}amtsbote")
}

/// The entry of a node at `path` (without dead properties, quota or tree size; the
/// backend adds those when asked).
pub fn entry_of(app: &App, side: Side, node: &Node, path: DavPath) -> Entry {
    Entry {
        path,
        is_collection: node.is_folder(),
        size: u64::try_from(node.size).unwrap_or(0),
        etag: node.etag.clone(),
        file_id: node.id.to_string(),
        oc_id: oc_id(node.id),
        permissions: permission_letters(app, side, node),
        mtime: time_of(node.mtime.unwrap_or(node.modified_at)),
        created: Some(time_of(node.created_at)),
        content_type: node.content_type.clone().filter(|_| node.is_file()),
        checksums: Checksums {
            sha1: node.sha1.clone(),
            md5: node.md5.clone(),
            sha256: node.sha256.clone(),
        },
        quota: None,
        dead_props: Vec::new(),
    }
}

/// Quota of a space as the clients read it.
pub fn quota_of(app: &App, access: &SpaceAccess) -> Quota {
    let space = access.space();
    let limit = space.effective_quota(&app.settings);
    let used = u64::try_from(space.used_bytes).unwrap_or(0);
    Quota {
        used,
        available: (limit > 0).then(|| u64::try_from(limit - space.used_bytes).unwrap_or(0)),
    }
}

/// The staff's top level: its children, and its own entry whose ETag changes whenever
/// anything in any visible space changes (or the set of visible members does).
pub async fn staff_root(app: &App, user: &DavUser) -> DavResult<(Entry, Vec<Entry>)> {
    let roots = app.visible_space_roots(&user.actor).await.map_err(to_dav)?;
    let side = user.actor.side();
    let mut hash = Sha256::new();
    let mut newest = 0;
    let mut children = Vec::with_capacity(roots.len());
    for (member, root) in roots {
        let name = member_folder(&member.number, &member.name);
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(root.etag.as_bytes());
        hash.update([0]);
        newest = newest.max(root.modified_at);
        children.push(entry_of(app, side, &root, DavPath::from_segments([name])?));
    }
    let entry = Entry {
        path: DavPath::root(),
        is_collection: true,
        size: 0,
        etag: hex::encode(&hash.finalize()[..12]),
        // Node ids start at 1,000,000; 1 is free for this virtual folder.
        file_id: "1".into(),
        oc_id: oc_id(1),
        permissions: String::new(),
        mtime: time_of(newest),
        created: None,
        content_type: None,
        checksums: Checksums::default(),
        quota: None,
        dead_props: Vec::new(),
    };
    Ok((entry, children))
}
