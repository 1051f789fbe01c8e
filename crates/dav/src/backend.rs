//! The contract between the engine and whoever stores the files.
//!
//! The engine does protocol work (parsing, preconditions, lock checks, rendering); the backend
//! answers questions about one principal's view of the tree and performs changes. Every method
//! takes the principal so the backend can ask its permission function each time; a backend
//! must treat a node the principal may not see exactly like a missing one (`Ok(None)` / 404), so
//! that nothing can be guessed from the difference.

use std::future::Future;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::Stream;

use crate::error::DavResult;
use crate::path::DavPath;

/// A request or response body: a stream of byte chunks. Boxed once per request, which is
/// negligible next to the I/O it carries and keeps the trait free of body type parameters.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// What the engine needs beyond the always-present live data, so the backend can skip work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// Fill [`Entry::dead_props`] (PROPFIND allprop/propname or a named non-live property).
    pub dead_props: bool,
    /// Fill [`Entry::quota`] for collections (quota properties were asked for).
    pub quota: bool,
    /// Fill [`Entry::size`] of collections with the recursive size (`oc:size`).
    pub tree_size: bool,
}

/// Checksums of a file's content, as lowercase hex. The engine renders what is present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksums {
    pub sha1: Option<String>,
    pub md5: Option<String>,
    pub sha256: Option<String>,
}

/// Quota of a collection in bytes; `available: None` means unlimited (the property is then
/// reported as not found, as RFC 4331 allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub used: u64,
    pub available: Option<u64>,
}

/// One node as a principal sees it: everything PROPFIND, GET and the ownCloud headers render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: DavPath,
    pub is_collection: bool,
    /// Content length for files; for collections the recursive size when [`Want::tree_size`]
    /// was set (rendered as `oc:size`), else anything.
    pub size: u64,
    /// Entity tag without quotes and without `"` characters; must change on every change of a
    /// file, and for a collection whenever anything below it changes.
    pub etag: String,
    /// Numeric file id, stable across rename and overwrite (`oc:fileid`).
    pub file_id: String,
    /// Globally unique id (`oc:id`, `OC-FileId`), e.g. `00000123ocabc12345`.
    pub oc_id: String,
    /// ownCloud permission letters, e.g. `RGDNVW` for files, `RGDNVCK` for folders.
    pub permissions: String,
    pub mtime: SystemTime,
    /// Creation time, if the backend keeps one.
    pub created: Option<SystemTime>,
    /// MIME type of files; `None` renders as `application/octet-stream`.
    pub content_type: Option<String>,
    pub checksums: Checksums,
    /// Only for collections, and only when [`Want::quota`] was set.
    pub quota: Option<Quota>,
    /// Only when [`Want::dead_props`] was set.
    pub dead_props: Vec<DeadProp>,
}

/// A property name: namespace URI (may be empty) and local name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropName {
    pub ns: String,
    pub name: String,
}

impl PropName {
    pub fn new(ns: impl Into<String>, name: impl Into<String>) -> Self {
        PropName {
            ns: ns.into(),
            name: name.into(),
        }
    }
}

/// A dead property: stored and returned verbatim. `value` is an XML fragment (text and elements)
/// that is self-contained: every element in it declares its own namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadProp {
    pub name: PropName,
    pub value: String,
}

/// One PROPPATCH instruction, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropOp {
    Set(DeadProp),
    Remove(PropName),
}

/// A PROPPATCH to apply atomically: either all of it or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropPatch {
    /// New modification time (`DAV:lastmodified`/`getlastmodified`, as rclone sends it).
    pub mtime: Option<SystemTime>,
    pub ops: Vec<PropOp>,
}

/// A client-declared checksum of the whole content, e.g. from `OC-Checksum: SHA1:abc…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedChecksum {
    /// Upper-case algorithm name as sent: `SHA1`, `MD5`, `SHA256`, `ADLER32`, …
    pub algorithm: String,
    /// Lower-case hex.
    pub value: String,
}

/// What must hold about the target of a write, checked by the backend atomically with the write
/// (the engine checks it before, too, but only the backend can close the race).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Create or replace.
    Any,
    /// The target must not exist (`If-None-Match: *`).
    New,
    /// The target must exist (`If-Match: *`).
    Existing,
    /// The target must exist with this ETag (unquoted).
    Etag(String),
}

/// Everything the client told us about an upload besides the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// `X-OC-Mtime`.
    pub mtime: Option<SystemTime>,
    /// `OC-Checksum`; the backend must verify it (it hashes anyway) and refuse a mismatch with
    /// 400 "Die berechnete Prüfsumme …" leaving nothing stored.
    pub checksum: Option<ClaimedChecksum>,
    /// The length the client announced (`Content-Length`, else `OC-Total-Length`). The engine
    /// already fails the body stream when the count differs; this is for quota checks up front.
    pub expected_len: Option<u64>,
    pub content_type: Option<String>,
    pub expect: Expect,
}

/// Result of a successful write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// True when the target did not exist before (201), false when replaced (204).
    pub created: bool,
    /// The entry as it is now.
    pub entry: Entry,
}

/// Options for COPY and MOVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOptions {
    /// The destination exists and the client allowed overwriting it: replace it (for a
    /// collection, the old destination tree is removed first, RFC 4918 §9.8.4).
    pub replace: bool,
    /// COPY only: copy members too (`Depth: infinity`), else only the collection itself.
    pub recursive: bool,
    /// `X-OC-Mtime` sent with rclone's server-side copy/move.
    pub mtime: Option<SystemTime>,
}

/// Scope of a write lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    Exclusive,
    Shared,
}

/// A lock as stored by the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveLock {
    /// `opaquelocktoken:<uuid>`.
    pub token: String,
    /// The resource the lock was taken on.
    pub root: DavPath,
    pub scope: LockScope,
    /// `Depth: infinity` (the lock covers everything below `root`).
    pub deep: bool,
    /// The client's `<owner>` contents as an XML fragment.
    pub owner: Option<String>,
    /// [`DavBackend::principal_key`] of the principal that took the lock; only it may use the token.
    pub principal: String,
    /// Timeout granted, `None` for infinite.
    pub timeout: Option<Duration>,
    /// When the lock lapses, `None` for never. Expired locks must be ignored (and may be purged).
    pub expires_at: Option<SystemTime>,
}

impl ActiveLock {
    /// True when this lock applies to `path`: it is the lock root, or a descendant of a deep lock.
    pub fn covers(&self, path: &DavPath) -> bool {
        self.root == *path || (self.deep && path.is_descendant_of(&self.root))
    }

    /// True when a new lock `other` may not coexist with this one (RFC 4918 §6.1): they overlap
    /// and at least one is exclusive. A backend's `lock_create` must use exactly this rule.
    pub fn conflicts_with(&self, other: &ActiveLock) -> bool {
        let overlap = self.covers(&other.root) || other.covers(&self.root);
        overlap && (self.scope == LockScope::Exclusive || other.scope == LockScope::Exclusive)
    }

    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// One stored chunk of an upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkInfo {
    pub name: String,
    pub size: u64,
    pub mtime: SystemTime,
}

/// Storage and permission decisions behind the WebDAV engine.
///
/// Generic, not object-safe: the methods return `impl Future + Send` (native async in traits),
/// so each call is a plain static call without a boxed future, no `async-trait` macro is needed,
/// and implementors just write `async fn`. A host has exactly one backend type, so
/// `router::<B>()` being generic costs nothing. If a `dyn` backend is ever needed, a small
/// boxing adapter can implement this trait for `Arc<dyn ErasedBackend>`.
///
/// All paths are relative to the mount the request arrived on; the backend decides what the
/// principal sees there. Errors carry the status and German message the client will show.
pub trait DavBackend: Send + Sync + 'static {
    /// The authenticated principal the host puts into the request extensions.
    type Principal: Clone + Send + Sync + 'static;

    /// The current time; the core passes its injected clock through here (lock expiry).
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// A stable key identifying the principal, stored with locks it takes.
    fn principal_key(&self, principal: &Self::Principal) -> String;

    /// The entry at `path`, or `None` if it does not exist or the principal may not see it.
    fn resolve(
        &self,
        principal: &Self::Principal,
        path: &DavPath,
        want: Want,
    ) -> impl Future<Output = DavResult<Option<Entry>>> + Send;

    /// All children of the collection `path`, with everything `want` asks for, in one go.
    fn list(
        &self,
        principal: &Self::Principal,
        path: &DavPath,
        want: Want,
    ) -> impl Future<Output = DavResult<Vec<Entry>>> + Send;

    /// The content of a file (the engine resolved `entry` just before), optionally a byte range
    /// `start..end` that the engine has checked against `entry.size`.
    fn read(
        &self,
        principal: &Self::Principal,
        entry: &Entry,
        range: Option<Range<u64>>,
    ) -> impl Future<Output = DavResult<ByteStream>> + Send;

    /// Creates or replaces the file at `path` (its parent exists and is a collection) with the
    /// streamed body. Nothing may become visible unless the stream ends without error (the engine
    /// ends it with an error when the length is wrong). A replaced file keeps its file id.
    fn write(
        &self,
        principal: &Self::Principal,
        path: &DavPath,
        body: ByteStream,
        opts: WriteOptions,
    ) -> impl Future<Output = DavResult<WriteOutcome>> + Send;

    /// Creates the collection `path` (it does not exist; its parent does).
    fn mkcol(
        &self,
        principal: &Self::Principal,
        path: &DavPath,
    ) -> impl Future<Output = DavResult<Entry>> + Send;

    /// Deletes `path` and everything below it.
    fn delete(
        &self,
        principal: &Self::Principal,
        path: &DavPath,
    ) -> impl Future<Output = DavResult<()>> + Send;

    /// Copies `from` to `to` (the parent of `to` exists; `to` exists only if `opts.replace`).
    /// Copies get new file ids. Dead properties are copied too.
    fn copy(
        &self,
        principal: &Self::Principal,
        from: &DavPath,
        to: &DavPath,
        opts: TransferOptions,
    ) -> impl Future<Output = DavResult<Entry>> + Send;

    /// Moves `from` to `to` (same preconditions as copy). File ids and dead properties move along.
    fn r#move(
        &self,
        principal: &Self::Principal,
        from: &DavPath,
        to: &DavPath,
        opts: TransferOptions,
    ) -> impl Future<Output = DavResult<Entry>> + Send;

    /// Applies a PROPPATCH atomically.
    fn proppatch(
        &self,
        principal: &Self::Principal,
        path: &DavPath,
        patch: PropPatch,
    ) -> impl Future<Output = DavResult<()>> + Send;

    /// Unexpired locks rooted at `path` or at any ancestor of it, plus, when `descendants`, locks
    /// rooted anywhere below `path`. One call per request, whatever the listing size.
    fn lock_list(
        &self,
        principal: &Self::Principal,
        path: &DavPath,
        descendants: bool,
    ) -> impl Future<Output = DavResult<Vec<ActiveLock>>> + Send;

    /// Stores a new lock unless an unexpired lock [conflicts](ActiveLock::conflicts_with) with
    /// it, in which case it answers 423 — checked atomically with the insert.
    fn lock_create(
        &self,
        principal: &Self::Principal,
        lock: ActiveLock,
    ) -> impl Future<Output = DavResult<()>> + Send;

    /// Extends the lock `token`; `None` when no such unexpired lock exists.
    fn lock_refresh(
        &self,
        principal: &Self::Principal,
        token: &str,
        timeout: Option<Duration>,
        expires_at: Option<SystemTime>,
    ) -> impl Future<Output = DavResult<Option<ActiveLock>>> + Send;

    /// Removes the lock `token`; false when there was none.
    fn lock_remove(
        &self,
        principal: &Self::Principal,
        token: &str,
    ) -> impl Future<Output = DavResult<bool>> + Send;

    /// Creates the chunk-upload session `session` (chunking NG MKCOL; also used for v1 chunks
    /// with a synthetic id). Returns false when it already existed.
    fn upload_create(
        &self,
        principal: &Self::Principal,
        session: &str,
        total_len: Option<u64>,
    ) -> impl Future<Output = DavResult<bool>> + Send;

    /// The chunks of a session, or `None` when there is no such session.
    fn upload_chunks(
        &self,
        principal: &Self::Principal,
        session: &str,
    ) -> impl Future<Output = DavResult<Option<Vec<ChunkInfo>>>> + Send;

    /// Stores (or replaces) one chunk, streamed. Chunks are staging data: not scanned yet, never
    /// visible in the file tree.
    fn upload_put_chunk(
        &self,
        principal: &Self::Principal,
        session: &str,
        chunk: &str,
        body: ByteStream,
        expected_len: Option<u64>,
    ) -> impl Future<Output = DavResult<()>> + Send;

    /// Removes one chunk; false when it did not exist.
    fn upload_delete_chunk(
        &self,
        principal: &Self::Principal,
        session: &str,
        chunk: &str,
    ) -> impl Future<Output = DavResult<bool>> + Send;

    /// Removes a whole session; false when it did not exist.
    fn upload_delete(
        &self,
        principal: &Self::Principal,
        session: &str,
    ) -> impl Future<Output = DavResult<bool>> + Send;

    /// Concatenates `chunks` (already sorted by the engine, sizes checked against the announced
    /// total) into the file `dest` through the same pipeline as [`write`](Self::write), then
    /// removes the session. A replaced file keeps its file id.
    fn upload_assemble(
        &self,
        principal: &Self::Principal,
        session: &str,
        chunks: &[String],
        dest: &DavPath,
        opts: WriteOptions,
    ) -> impl Future<Output = DavResult<WriteOutcome>> + Send;
}
