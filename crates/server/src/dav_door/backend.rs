//! The core behind the WebDAV engine: every call goes through the same permission
//! function, tree operations and ingest pipeline as the web door.

use std::ops::Range;
use std::time::{Duration, SystemTime};

use amtsbote_core::spaces::SpaceAccess;
use amtsbote_core::spaces::locks::StoredLock;
use amtsbote_core::spaces::names::name_key;
use amtsbote_core::spaces::nodes::Node;
use amtsbote_core::spaces::permissions::Action;
use amtsbote_core::spaces::props::{DeadProperty, PropChange};
use amtsbote_core::storage::digests::ClaimedChecksum as CoreChecksum;
use amtsbote_core::storage::ingest::{Precondition, Upload};
use amtsbote_core::{App, Error};
use amtsbote_dav::{
    ActiveLock, ByteStream, ChunkInfo, DavBackend, DavError, DavPath, DavResult, DeadProp, Entry,
    Expect, LockScope, PropName, PropOp, PropPatch, TransferOptions, Want, WriteOptions,
    WriteOutcome,
};
use futures_util::StreamExt;
use tokio_util::io::ReaderStream;

use super::errors::{forbidden, to_dav};
use super::view::{
    DavUser, InSpace, Located, entry_of, locate, locks_of, member_folder, ms_of, quota_of,
    space_of, staff_root, time_of,
};

pub struct CoreBackend {
    app: App,
}

impl CoreBackend {
    pub fn new(app: App) -> Self {
        CoreBackend { app }
    }

    async fn node_at(&self, user: &DavUser, path: &DavPath) -> DavResult<InSpace> {
        match locate(&self.app, user, path).await? {
            Some(Located::Node(n)) => Ok(*n),
            Some(Located::StaffRoot) => Err(forbidden("err-dav-staff-root")),
            None => Err(to_dav(Error::NotFound)),
        }
    }

    /// The folder a new item at `path` goes into.
    async fn parent_folder(&self, user: &DavUser, path: &DavPath) -> DavResult<InSpace> {
        let parent = path
            .parent()
            .ok_or_else(|| forbidden("err-dav-staff-root"))?;
        let at = self.node_at(user, &parent).await?;
        if !at.node.is_folder() {
            return Err(DavError::conflict(
                crate::web::i18n::Lang::De.t("err-not-found"),
            ));
        }
        Ok(at)
    }

    async fn entry(&self, at: &InSpace, path: DavPath, want: Want) -> DavResult<Entry> {
        let side = at.access.actor().side();
        let mut e = entry_of(&self.app, side, &at.node, path);
        if at.node.is_folder() {
            if want.quota {
                e.quota = Some(quota_of(&self.app, &at.access));
            }
            if want.tree_size {
                e.size = self
                    .app
                    .tree_size(&at.access, &at.node)
                    .await
                    .map_err(to_dav)?;
            }
        }
        if want.dead_props {
            e.dead_props = self
                .app
                .dead_props(&at.access, &at.node)
                .await
                .map_err(to_dav)?
                .into_iter()
                .map(dead_prop)
                .collect();
        }
        Ok(e)
    }

    /// The entry of `node` freshly read, for answers after a change.
    async fn fresh_entry(
        &self,
        access: &SpaceAccess,
        node_id: i64,
        path: DavPath,
    ) -> DavResult<Entry> {
        let node = self.app.node(access, node_id).await.map_err(to_dav)?;
        Ok(entry_of(&self.app, access.actor().side(), &node, path))
    }

    fn upload(&self, folder: &Node, path: &DavPath, opts: &WriteOptions) -> Upload {
        let precondition = match &opts.expect {
            Expect::Existing => Precondition::Exists,
            Expect::Etag(tag) => Precondition::Etag(tag.clone()),
            Expect::Any | Expect::New => Precondition::None,
        };
        Upload {
            folder_id: folder.id,
            name: path.name().to_string(),
            // Many clients send no type or a generic one; the name tells more.
            content_type: opts
                .content_type
                .clone()
                .filter(|t| !t.is_empty() && t != "application/octet-stream")
                .or_else(|| {
                    mime_guess::from_path(path.name())
                        .first_raw()
                        .map(str::to_string)
                }),
            overwrite: opts.expect != Expect::New,
            declared_size: opts.expected_len,
            mtime: opts.mtime.map(ms_of),
            // An algorithm the core cannot compute (ADLER32) is not verified; the clients
            // use SHA1, which the capabilities announce.
            checksum: opts
                .checksum
                .as_ref()
                .and_then(|c| CoreChecksum::parse(&format!("{}:{}", c.algorithm, c.value))),
            precondition,
        }
    }

    fn written(
        &self,
        at: &InSpace,
        path: &DavPath,
        expect: &Expect,
        r: amtsbote_core::Result<amtsbote_core::storage::ingest::Ingested>,
    ) -> DavResult<WriteOutcome> {
        match r {
            Ok(done) => Ok(WriteOutcome {
                created: !done.replaced,
                entry: entry_of(
                    &self.app,
                    at.access.actor().side(),
                    &done.node,
                    path.clone(),
                ),
            }),
            // `If-None-Match: *` lost against a concurrent create.
            Err(Error::AlreadyExists) if *expect == Expect::New => {
                Err(to_dav(Error::PreconditionFailed))
            }
            Err(e) => Err(to_dav(e)),
        }
    }

    /// Source and destination folder of a COPY or MOVE, which must lie in one space. With
    /// `replace`, an existing destination that the core cannot simply overwrite (a folder,
    /// or a file replaced by a folder) is deleted first, under the Delete rule (RFC 4918
    /// §9.8.4); a file onto a file is left to the core, which keeps the old content as a
    /// version.
    async fn transfer_ends(
        &self,
        user: &DavUser,
        from: &DavPath,
        to: &DavPath,
        replace: bool,
        is_move: bool,
    ) -> DavResult<(InSpace, InSpace)> {
        let source = self.node_at(user, from).await?;
        if source.is_space_root() {
            return Err(forbidden("err-forbidden"));
        }
        let dest = self.parent_folder(user, to).await?;
        if dest.access.space_id() != source.access.space_id() {
            // Documents never travel between members' spaces by WebDAV.
            return Err(forbidden("err-forbidden"));
        }
        if replace
            && let Some(Located::Node(old)) = locate(&self.app, user, to).await?
            && old.node.id != source.node.id
            && !(old.node.is_file() && source.node.is_file())
        {
            // The core decides on the transfer only after the old destination is gone:
            // ask its rules first, so that a refused transfer deletes nothing.
            self.app
                .may_place(&source.access, &source.node, &dest.node, is_move)
                .await
                .map_err(to_dav)?;
            self.app
                .delete_tree(&dest.access, old.node.id)
                .await
                .map_err(to_dav)?;
        }
        Ok((source, dest))
    }

    /// The lock as the engine sees it: its root in this principal's view.
    fn active_lock(&self, base: &DavPath, l: StoredLock) -> DavResult<ActiveLock> {
        let mut root = base.clone();
        for seg in &l.path {
            root = root.join(seg)?;
        }
        Ok(ActiveLock {
            token: l.token,
            root,
            scope: if l.exclusive {
                LockScope::Exclusive
            } else {
                LockScope::Shared
            },
            deep: l.deep,
            owner: l.owner,
            principal: l.principal,
            timeout: l
                .timeout_ms
                .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
            expires_at: l.expires_at.map(time_of),
        })
    }

    /// The base path of a space in this principal's view, for a lock found by token.
    async fn base_of_space(&self, user: &DavUser, space_id: i64) -> DavResult<DavPath> {
        if !user.actor.is_staff() {
            return Ok(DavPath::root());
        }
        let access = self
            .app
            .open_space(&user.actor, space_id)
            .await
            .map_err(to_dav)?;
        let member = access.member();
        DavPath::from_segments([member_folder(&member.number, &member.name)])
    }
}

fn dead_prop(p: DeadProperty) -> DeadProp {
    DeadProp {
        name: PropName::new(p.ns, p.name),
        value: p.value,
    }
}

/// Segments of `path` below `base`, compared without regard to case.
fn below(base: &DavPath, path: &DavPath) -> Option<Vec<String>> {
    let b: Vec<&str> = base.segments().collect();
    let p: Vec<&str> = path.segments().collect();
    if p.len() < b.len() || b.iter().zip(&p).any(|(x, y)| name_key(x) != name_key(y)) {
        return None;
    }
    Some(p[b.len()..].iter().map(|s| s.to_string()).collect())
}

fn keys(segments: &[String]) -> Vec<String> {
    segments.iter().map(|s| name_key(s)).collect()
}

impl DavBackend for CoreBackend {
    type Principal = DavUser;

    fn now(&self) -> SystemTime {
        time_of(self.app.now())
    }

    fn principal_key(&self, principal: &DavUser) -> String {
        principal.account_id.to_string()
    }

    async fn resolve(
        &self,
        user: &DavUser,
        path: &DavPath,
        want: Want,
    ) -> DavResult<Option<Entry>> {
        match locate(&self.app, user, path).await? {
            None => Ok(None),
            Some(Located::StaffRoot) => Ok(Some(staff_root(&self.app, user).await?.0)),
            Some(Located::Node(at)) => Ok(Some(self.entry(&at, path.clone(), want).await?)),
        }
    }

    async fn list(&self, user: &DavUser, path: &DavPath, want: Want) -> DavResult<Vec<Entry>> {
        let at = match locate(&self.app, user, path).await? {
            None => return Err(to_dav(Error::NotFound)),
            Some(Located::StaffRoot) => return Ok(staff_root(&self.app, user).await?.1),
            Some(Located::Node(at)) => at,
        };
        let (folder, children) = self
            .app
            .list_folder_properties(&at.access, at.node.id)
            .await
            .map_err(to_dav)?;
        let mut props = if want.dead_props {
            self.app
                .dead_props_of_children(&at.access, &folder)
                .await
                .map_err(to_dav)?
        } else {
            Default::default()
        };
        let side = at.access.actor().side();
        let quota = want.quota.then(|| quota_of(&self.app, &at.access));
        let mut out = Vec::with_capacity(children.len());
        for child in children {
            let mut e = entry_of(&self.app, side, &child, path.join(&child.name)?);
            if child.is_folder() {
                e.quota = quota;
                if want.tree_size {
                    e.size = self
                        .app
                        .tree_size(&at.access, &child)
                        .await
                        .map_err(to_dav)?;
                }
            }
            if let Some(p) = props.remove(&child.id) {
                e.dead_props = p.into_iter().map(dead_prop).collect();
            }
            out.push(e);
        }
        Ok(out)
    }

    async fn read(
        &self,
        user: &DavUser,
        entry: &Entry,
        range: Option<Range<u64>>,
    ) -> DavResult<ByteStream> {
        let at = self.node_at(user, &entry.path).await?;
        let (start, len) = match range {
            Some(r) => (r.start, Some(r.end - r.start)),
            None => (0, None),
        };
        let (_, reader) = self
            .app
            .open_download_range(&at.access, at.node.id, start, len)
            .await
            .map_err(to_dav)?;
        Ok(ReaderStream::with_capacity(reader, 256 * 1024).boxed())
    }

    async fn write(
        &self,
        user: &DavUser,
        path: &DavPath,
        body: ByteStream,
        opts: WriteOptions,
    ) -> DavResult<WriteOutcome> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let at = self.parent_folder(user, path).await?;
        let up = self.upload(&at.node, path, &opts);
        let r = self.app.ingest(&at.access, up, body).await;
        self.written(&at, path, &opts.expect, r)
    }

    async fn mkcol(&self, user: &DavUser, path: &DavPath) -> DavResult<Entry> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let at = self.parent_folder(user, path).await?;
        let node = self
            .app
            .create_folder(&at.access, at.node.id, path.name())
            .await
            .map_err(to_dav)?;
        Ok(entry_of(
            &self.app,
            at.access.actor().side(),
            &node,
            path.clone(),
        ))
    }

    async fn delete(&self, user: &DavUser, path: &DavPath) -> DavResult<()> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let at = self.node_at(user, path).await?;
        if at.is_space_root() {
            return Err(forbidden("err-forbidden"));
        }
        self.app
            .delete_tree(&at.access, at.node.id)
            .await
            .map_err(to_dav)
    }

    async fn copy(
        &self,
        user: &DavUser,
        from: &DavPath,
        to: &DavPath,
        opts: TransferOptions,
    ) -> DavResult<Entry> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let (source, dest) = self
            .transfer_ends(user, from, to, opts.replace, false)
            .await?;
        let access = &source.access;
        let node = if source.node.is_folder() && !opts.recursive {
            self.app
                .create_folder(access, dest.node.id, to.name())
                .await
                .map_err(to_dav)?
        } else {
            self.app
                .copy_node(
                    access,
                    source.node.id,
                    dest.node.id,
                    to.name(),
                    opts.replace,
                )
                .await
                .map_err(to_dav)?
        };
        self.app
            .copy_dead_props(access, source.node.id, node.id)
            .await
            .map_err(to_dav)?;
        self.fresh_entry(access, node.id, to.clone()).await
    }

    async fn r#move(
        &self,
        user: &DavUser,
        from: &DavPath,
        to: &DavPath,
        opts: TransferOptions,
    ) -> DavResult<Entry> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let (source, dest) = self
            .transfer_ends(user, from, to, opts.replace, true)
            .await?;
        let access = &source.access;
        let (node, _) = self
            .app
            .move_node(
                access,
                source.node.id,
                dest.node.id,
                to.name(),
                opts.replace,
            )
            .await
            .map_err(to_dav)?;
        if let Some(mtime) = opts.mtime
            && let Err(e) = self
                .app
                .patch_props(access, node.id, Some(ms_of(mtime)), Vec::new())
                .await
        {
            // The move itself is done; a refused time stamp must not undo it.
            tracing::info!(error = %e, "X-OC-Mtime on MOVE not applied");
        }
        self.fresh_entry(access, node.id, to.clone()).await
    }

    async fn proppatch(&self, user: &DavUser, path: &DavPath, patch: PropPatch) -> DavResult<()> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let at = self.node_at(user, path).await?;
        let changes = patch
            .ops
            .into_iter()
            .map(|op| match op {
                PropOp::Set(p) => PropChange::Set(DeadProperty {
                    ns: p.name.ns,
                    name: p.name.name,
                    value: p.value,
                }),
                PropOp::Remove(n) => PropChange::Remove {
                    ns: n.ns,
                    name: n.name,
                },
            })
            .collect();
        self.app
            .patch_props(&at.access, at.node.id, patch.mtime.map(ms_of), changes)
            .await
            .map_err(to_dav)
    }

    async fn lock_list(
        &self,
        user: &DavUser,
        path: &DavPath,
        descendants: bool,
    ) -> DavResult<Vec<ActiveLock>> {
        let Some((access, base, rest)) = space_of(&self.app, user, path).await? else {
            return Ok(Vec::new());
        };
        let here = keys(&rest);
        let locks = locks_of(&self.app, user, &access).await?;
        let mut out = Vec::new();
        for l in locks {
            let root = l.path_key();
            let above = here.starts_with(&root);
            let under = descendants && root.starts_with(&here);
            if above || under {
                out.push(self.active_lock(&base, l)?);
            }
        }
        Ok(out)
    }

    async fn lock_create(&self, user: &DavUser, lock: ActiveLock) -> DavResult<()> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let at = self.node_at(user, &lock.root).await?;
        // A lock keeps others from writing: only who may change the item may take one.
        let action = if at.node.is_file() {
            Action::Overwrite
        } else {
            Action::Upload
        };
        self.app
            .can(at.access.actor(), action, &at.node, at.access.member().id)
            .await
            .map_err(to_dav)?;
        let path = below(&at.base, &lock.root).ok_or_else(|| to_dav(Error::NotFound))?;
        let new_key = keys(&path);
        let stored = StoredLock {
            token: lock.token.clone(),
            space_id: at.access.space_id(),
            path,
            deep: lock.deep,
            exclusive: lock.scope == LockScope::Exclusive,
            owner: lock.owner.clone(),
            principal: lock.principal.clone(),
            timeout_ms: lock
                .timeout
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            expires_at: lock.expires_at.map(ms_of),
        };
        // The engine's conflict rule, applied to the case-folded paths.
        let as_keys = |key: &[String], deep: bool, exclusive: bool| -> Option<ActiveLock> {
            Some(ActiveLock {
                token: String::new(),
                root: DavPath::from_segments(key).ok()?,
                scope: if exclusive {
                    LockScope::Exclusive
                } else {
                    LockScope::Shared
                },
                deep,
                owner: None,
                principal: String::new(),
                timeout: None,
                expires_at: None,
            })
        };
        let wanted = as_keys(&new_key, stored.deep, stored.exclusive)
            .ok_or_else(|| to_dav(Error::NotFound))?;
        self.app
            .create_lock(&at.access, stored, |other| {
                as_keys(&other.path_key(), other.deep, other.exclusive)
                    .is_none_or(|o| o.conflicts_with(&wanted))
            })
            .await
            .map_err(to_dav)
    }

    async fn lock_refresh(
        &self,
        user: &DavUser,
        token: &str,
        timeout: Option<Duration>,
        expires_at: Option<SystemTime>,
    ) -> DavResult<Option<ActiveLock>> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let refreshed = self
            .app
            .refresh_lock(
                &user.actor,
                token,
                timeout.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                expires_at.map(ms_of),
            )
            .await
            .map_err(to_dav)?;
        match refreshed {
            None => Ok(None),
            Some(l) => {
                let base = self.base_of_space(user, l.space_id).await?;
                Ok(Some(self.active_lock(&base, l)?))
            }
        }
    }

    async fn lock_remove(&self, user: &DavUser, token: &str) -> DavResult<bool> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        self.app
            .remove_lock(&user.actor, token)
            .await
            .map_err(to_dav)
    }

    async fn upload_create(
        &self,
        user: &DavUser,
        session: &str,
        total_len: Option<u64>,
    ) -> DavResult<bool> {
        self.app
            .create_upload_session(user.account_id, session, total_len)
            .await
            .map_err(to_dav)
    }

    async fn upload_chunks(
        &self,
        user: &DavUser,
        session: &str,
    ) -> DavResult<Option<Vec<ChunkInfo>>> {
        Ok(self
            .app
            .upload_chunks(user.account_id, session)
            .await
            .map_err(to_dav)?
            .map(|chunks| {
                chunks
                    .into_iter()
                    .map(|c| ChunkInfo {
                        name: c.name,
                        size: u64::try_from(c.size).unwrap_or(0),
                        mtime: time_of(c.created_at),
                    })
                    .collect()
            }))
    }

    async fn upload_put_chunk(
        &self,
        user: &DavUser,
        session: &str,
        chunk: &str,
        body: ByteStream,
        expected_len: Option<u64>,
    ) -> DavResult<()> {
        self.app
            .put_upload_chunk(user.account_id, session, chunk, body, expected_len)
            .await
            .map_err(to_dav)
    }

    async fn upload_delete_chunk(
        &self,
        user: &DavUser,
        session: &str,
        chunk: &str,
    ) -> DavResult<bool> {
        self.app
            .delete_upload_chunk(user.account_id, session, chunk)
            .await
            .map_err(to_dav)
    }

    async fn upload_delete(&self, user: &DavUser, session: &str) -> DavResult<bool> {
        self.app
            .delete_upload_session(user.account_id, session)
            .await
            .map_err(to_dav)
    }

    async fn upload_assemble(
        &self,
        user: &DavUser,
        session: &str,
        chunks: &[String],
        dest: &DavPath,
        opts: WriteOptions,
    ) -> DavResult<WriteOutcome> {
        // This request changes something: what was looked up before, or is looked up
        // during the change, is stale once it is done.
        let _stale = user.memo.changing();
        let at = self.parent_folder(user, dest).await?;
        let up = self.upload(&at.node, dest, &opts);
        let r = self
            .app
            .assemble_upload(&at.access, session, chunks, up)
            .await;
        self.written(&at, dest, &opts.expect, r)
    }
}
