//! What a principal sees over WebDAV, and where a path lands.
//!
//! A member user sees the own space as the root. Staff see one folder per member they may
//! enter, named "NUMBER NAME", and the member's space below it; the top level itself is
//! read-only. Every lookup goes through the core's permission function: a node the
//! principal may not read is `None`, exactly like a missing one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amtsbote_core::spaces::SpaceAccess;
use amtsbote_core::spaces::locks::StoredLock;
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
    pub actor: Actor,
    /// Lookups already made in this request (created fresh for each request).
    pub memo: Arc<RequestMemo>,
}

/// What one request has already looked up. The engine asks about the same paths several
/// times per request (the target, its parent, the locks above it); each answer costs
/// database round trips, and a small upload would otherwise spend most of its time on
/// them. Valid until the request changes something: every write clears it, so nothing
/// stale is rendered after a change.
#[derive(Debug, Default)]
pub struct RequestMemo {
    spaces: Mutex<HashMap<String, Option<(SpaceAccess, DavPath)>>>,
    nodes: Mutex<HashMap<String, Node>>,
    /// The locks of a space, by space id (a write checks the target and its parent).
    locks: Mutex<HashMap<i64, Vec<StoredLock>>>,
}

/// Clears the memo when dropped, i.e. when the change it was taken for is over.
pub struct Changing<'a>(&'a RequestMemo);

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.0.forget();
    }
}

impl RequestMemo {
    /// Forgets everything when the returned guard is dropped, after the change. Before
    /// it, this request has changed nothing, so what it looked up still holds as much as
    /// it ever did (the core re-checks inside its transaction anyway).
    pub fn changing(&self) -> Changing<'_> {
        Changing(self)
    }

    pub fn forget(&self) {
        if let Ok(mut s) = self.spaces.lock() {
            s.clear();
        }
        if let Ok(mut n) = self.nodes.lock() {
            n.clear();
        }
        if let Ok(mut l) = self.locks.lock() {
            l.clear();
        }
    }
}

/// The locks of the space, read once per request.
pub async fn locks_of(
    app: &App,
    user: &DavUser,
    access: &SpaceAccess,
) -> DavResult<Vec<StoredLock>> {
    let known = user
        .memo
        .locks
        .lock()
        .ok()
        .and_then(|m| m.get(&access.space_id()).cloned());
    if let Some(locks) = known {
        return Ok(locks);
    }
    let locks = app.locks_in_space(access).await.map_err(to_dav)?;
    if let Ok(mut m) = user.memo.locks.lock() {
        m.insert(access.space_id(), locks.clone());
    }
    Ok(locks)
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
    // Members have one space; for staff the first segment names it.
    let key = match &user.actor {
        Actor::MemberUser { .. } => String::new(),
        _ => match segments.first() {
            Some(first) => name_key(first),
            None => return Ok(None),
        },
    };
    let known = user
        .memo
        .spaces
        .lock()
        .ok()
        .and_then(|m| m.get(&key).cloned());
    let found = match known {
        Some(found) => found,
        None => {
            let found = open_space_of(app, user, segments.first()).await?;
            if let Ok(mut m) = user.memo.spaces.lock() {
                m.insert(key, found.clone());
            }
            found
        }
    };
    Ok(found.map(|(access, base)| {
        let skip = base.segments().count();
        (access, base, segments[skip..].to_vec())
    }))
}

/// The space behind a member user's root, or behind a staff member folder's name.
async fn open_space_of(
    app: &App,
    user: &DavUser,
    first: Option<&String>,
) -> DavResult<Option<(SpaceAccess, DavPath)>> {
    match &user.actor {
        Actor::MemberUser { .. } => match app.own_space(&user.actor).await {
            Ok(access) => Ok(Some((access, DavPath::root()))),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(to_dav(e)),
        },
        _ => {
            let Some(first) = first else {
                return Ok(None);
            };
            let number = first.split(' ').next().unwrap_or_default();
            let member = match app.member_numbered(&user.actor, number).await {
                Ok(m) => m,
                Err(Error::NotFound) => return Ok(None),
                Err(e) => return Err(to_dav(e)),
            };
            if name_key(&member_folder(&member.number, &member.name)) != name_key(first) {
                return Ok(None);
            }
            let space = match app.space_of_member(&user.actor, member.id).await {
                Ok(s) => s,
                Err(Error::NotFound) => return Ok(None),
                Err(e) => return Err(to_dav(e)),
            };
            match app.open_space(&user.actor, space.id).await {
                Ok(access) => {
                    let base = DavPath::from_segments([member_folder(
                        &access.member().number,
                        &access.member().name,
                    )])?;
                    Ok(Some((access, base)))
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
    // Continue from the deepest folder on the way that this request already knows.
    let known = user.memo.nodes.lock().ok().and_then(|m| {
        (0..=rest.len()).rev().find_map(|n| {
            m.get(&node_key(access.space_id(), &rest[..n]))
                .map(|node| (n, node.clone()))
        })
    });
    let remember = |depth: usize, node: &Node| {
        if let Ok(mut m) = user.memo.nodes.lock() {
            m.insert(node_key(access.space_id(), &rest[..depth]), node.clone());
        }
    };
    // One step at a time, so that the parent and the ancestors asked about next (the
    // engine always asks about them) are known too.
    let walked = async {
        let (from, mut node) = match known {
            Some(found) => found,
            None => {
                // Read and checked when the space was opened, in this request.
                let root = access.root().clone();
                remember(0, &root);
                (0, root)
            }
        };
        for (depth, segment) in rest.iter().enumerate().skip(from) {
            node = app
                .resolve_below(&access, node, &[segment.as_str()])
                .await?;
            remember(depth + 1, &node);
        }
        Ok::<_, Error>(node)
    }
    .await;
    match walked {
        Ok(node) => Ok(Some(Located::Node(Box::new(InSpace {
            access,
            node,
            base,
        })))),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(to_dav(e)),
    }
}

/// Memo key of a path below a space root: names compared as the tree compares them.
fn node_key(space_id: i64, rest: &[String]) -> String {
    let mut key = space_id.to_string();
    for seg in rest {
        key.push('/');
        key.push_str(&name_key(seg));
    }
    key
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
