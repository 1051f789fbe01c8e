//! An in-memory [`DavBackend`]: the whole tree, dead properties, locks and upload sessions in one
//! mutex-protected map. It exists for the engine's own tests, for fuzzing and for running litmus
//! without a database, and doubles as an executable description of what the trait expects
//! (ETag propagation to the root, file ids kept on overwrite and move, atomic lock conflicts).
//! It buffers file contents in memory by nature; it is not meant for production.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::backend::{
    ActiveLock, ByteStream, Checksums, ChunkInfo, DavBackend, DeadProp, Entry, Expect, PropName,
    PropOp, PropPatch, Quota, TransferOptions, Want, WriteOptions, WriteOutcome,
};
use crate::error::{DavError, DavResult};
use crate::path::DavPath;

/// The principal type of the memory backend: just a user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryPrincipal(pub String);

#[derive(Debug, Clone)]
struct Node {
    is_collection: bool,
    data: Bytes,
    mtime: SystemTime,
    created: SystemTime,
    file_id: u64,
    etag: String,
    content_type: Option<String>,
    checksums: Checksums,
    dead: BTreeMap<PropName, String>,
}

#[derive(Debug, Default)]
struct Upload {
    chunks: BTreeMap<String, (Bytes, SystemTime)>,
}

#[derive(Debug, Default)]
struct State {
    nodes: BTreeMap<DavPath, Node>,
    next_id: u64,
    etag_seq: u64,
    locks: Vec<ActiveLock>,
    uploads: HashMap<(String, String), Upload>,
    /// Paths below which writes are refused with 403, to exercise policy errors in tests.
    read_only: Vec<DavPath>,
}

type Clock = Box<dyn Fn() -> SystemTime + Send + Sync>;

/// See the module documentation.
pub struct MemoryBackend {
    state: Mutex<State>,
    clock: Clock,
    /// Total bytes allowed; `None` is unlimited.
    quota: Option<u64>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

fn forbidden() -> DavError {
    DavError::forbidden("Sie haben keine Berechtigung, hier etwas zu ändern.")
}

fn gone() -> DavError {
    DavError::not_found("Die Datei oder der Ordner wurde nicht gefunden.")
}

/// Sessions are per principal, so two users may pick the same upload id.
fn upload_key(p: &MemoryPrincipal, session: &str) -> (String, String) {
    (p.0.clone(), session.to_owned())
}

impl MemoryBackend {
    pub fn new() -> Self {
        let backend = MemoryBackend {
            state: Mutex::new(State::default()),
            clock: Box::new(SystemTime::now),
            quota: None,
        };
        {
            let mut st = backend.lock_state();
            let now = (backend.clock)();
            let root = st.new_node(true, Bytes::new(), now, None);
            st.nodes.insert(DavPath::root(), root);
        }
        backend
    }

    /// Uses `clock` instead of the system time (lock expiry tests).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Limits the total stored bytes; writes beyond it fail with 507.
    pub fn with_quota(mut self, bytes: u64) -> Self {
        self.quota = Some(bytes);
        self
    }

    /// Makes `path` and everything below it read-only (403 with a German message).
    pub fn set_read_only(&self, path: DavPath) {
        self.lock_state().read_only.push(path);
    }

    /// Number of upload sessions still open (for clean-up tests).
    pub fn open_uploads(&self) -> usize {
        self.lock_state().uploads.len()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // for a test backend; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// The state with lapsed locks purged first: an expired lock must not be listed, conflict
    /// with a new one or be refreshed.
    fn lock_state_unexpired(&self) -> MutexGuard<'_, State> {
        let now = self.now();
        let mut st = self.lock_state();
        st.locks.retain(|l| !l.is_expired(now));
        st
    }
}

impl State {
    fn new_node(
        &mut self,
        is_collection: bool,
        data: Bytes,
        now: SystemTime,
        ct: Option<String>,
    ) -> Node {
        self.next_id += 1;
        self.etag_seq += 1;
        let checksums = if is_collection {
            Checksums::default()
        } else {
            checksums(&data)
        };
        Node {
            is_collection,
            data,
            mtime: now,
            created: now,
            file_id: self.next_id,
            etag: format!("{:x}", self.etag_seq),
            content_type: ct,
            checksums,
            dead: BTreeMap::new(),
        }
    }

    /// New ETags for `path` (if it exists) and every ancestor: clients only descend into folders
    /// whose ETag changed (client-protocol §2.4).
    fn touch(&mut self, path: &DavPath) {
        let mut cur = Some(path.clone());
        while let Some(p) = cur {
            self.etag_seq += 1;
            let tag = format!("{:x}", self.etag_seq);
            if let Some(n) = self.nodes.get_mut(&p) {
                n.etag = tag;
            }
            cur = p.parent();
        }
    }

    fn is_read_only(&self, path: &DavPath) -> bool {
        self.read_only.iter().any(|r| path.starts_with(r))
    }

    fn subtree(&self, path: &DavPath) -> Vec<DavPath> {
        // A plain scan: byte order puts "/a b" between "/a" and "/a/x", so a range cannot stop
        // early; the memory backend does not need to be fast.
        self.nodes
            .keys()
            .filter(|k| k.starts_with(path))
            .cloned()
            .collect()
    }

    fn tree_size(&self, path: &DavPath) -> u64 {
        self.nodes
            .iter()
            .filter(|(k, n)| !n.is_collection && k.starts_with(path))
            .map(|(_, n)| n.data.len() as u64)
            .sum()
    }

    fn require_parent(&self, path: &DavPath) -> DavResult<()> {
        let parent_is_collection = path
            .parent()
            .and_then(|p| self.nodes.get(&p))
            .is_some_and(|n| n.is_collection);
        if parent_is_collection {
            Ok(())
        } else {
            Err(DavError::conflict(
                "Der übergeordnete Ordner existiert nicht.",
            ))
        }
    }

    /// The checks COPY and MOVE share: the source exists, an existing destination may only be
    /// replaced when allowed (and is then removed whole), and the destination's parent exists.
    fn prepare_destination(
        &mut self,
        from: &DavPath,
        to: &DavPath,
        replace: bool,
    ) -> DavResult<()> {
        if !self.nodes.contains_key(from) {
            return Err(gone());
        }
        if self.nodes.contains_key(to) {
            if !replace {
                return Err(DavError::precondition_failed("Das Ziel existiert bereits."));
            }
            self.remove_tree(to);
        }
        self.require_parent(to)
    }

    fn entry(&self, path: &DavPath, n: &Node, want: Want, quota: Option<u64>) -> Entry {
        let read_only = self.is_read_only(path);
        let permissions = match (n.is_collection, read_only) {
            (_, true) => "RG",
            (true, false) => "RGDNVCK",
            (false, false) => "RGDNVW",
        };
        let size = if n.is_collection {
            if want.tree_size {
                self.tree_size(path)
            } else {
                0
            }
        } else {
            n.data.len() as u64
        };
        let quota = (n.is_collection && want.quota).then(|| {
            let used = self.tree_size(path);
            let total_used = self.tree_size(&DavPath::root());
            Quota {
                used,
                available: quota.map(|q| q.saturating_sub(total_used)),
            }
        });
        Entry {
            path: path.clone(),
            is_collection: n.is_collection,
            size,
            etag: n.etag.clone(),
            file_id: n.file_id.to_string(),
            oc_id: format!("{:08}ocmemory", n.file_id),
            permissions: permissions.to_owned(),
            mtime: n.mtime,
            created: Some(n.created),
            content_type: n.content_type.clone(),
            checksums: n.checksums.clone(),
            quota,
            dead_props: if want.dead_props {
                n.dead
                    .iter()
                    .map(|(k, v)| DeadProp {
                        name: k.clone(),
                        value: v.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn entry_at(&self, path: &DavPath, quota: Option<u64>) -> DavResult<Entry> {
        let n = self.nodes.get(path).ok_or_else(gone)?;
        Ok(self.entry(path, n, Want::default(), quota))
    }

    fn remove_tree(&mut self, path: &DavPath) {
        for k in self.subtree(path) {
            self.nodes.remove(&k);
        }
    }

    /// Stores `data` at `path` (checks done), keeping the file id of a replaced file.
    fn store(
        &mut self,
        path: &DavPath,
        data: Bytes,
        opts: &WriteOptions,
        now: SystemTime,
        quota: Option<u64>,
    ) -> DavResult<WriteOutcome> {
        if self.is_read_only(path) {
            return Err(forbidden());
        }
        let current = self.nodes.get(path);
        if current.is_some_and(|n| n.is_collection) {
            return Err(DavError::method_not_allowed(
                "An dieser Stelle existiert bereits ein Ordner.",
            ));
        }
        let expectation_holds = match (&opts.expect, current) {
            (Expect::New, Some(_)) | (Expect::Existing, None) | (Expect::Etag(_), None) => false,
            (Expect::Etag(tag), Some(n)) => n.etag == *tag,
            _ => true,
        };
        if !expectation_holds {
            return Err(DavError::precondition_failed(
                "Die Datei wurde inzwischen geändert.",
            ));
        }
        self.require_parent(path)?;
        if let Some(q) = quota {
            let old = current.map_or(0, |n| n.data.len() as u64);
            let used = self.tree_size(&DavPath::root()) - old;
            if used + data.len() as u64 > q {
                return Err(DavError::insufficient_storage(
                    "Der Speicherplatz reicht für diese Datei nicht aus.",
                ));
            }
        }
        let created = current.is_none();
        let mut node = self.new_node(false, data, now, opts.content_type.clone());
        if let Some(old) = self.nodes.get(path) {
            node.file_id = old.file_id;
            node.created = old.created;
            node.dead = old.dead.clone();
            // The id counter advanced for nothing; ids need only be unique, not dense.
        }
        if let Some(m) = opts.mtime {
            node.mtime = m;
        }
        self.nodes.insert(path.clone(), node);
        self.touch(path);
        Ok(WriteOutcome {
            created,
            entry: self.entry_at(path, quota)?,
        })
    }
}

fn checksums(data: &[u8]) -> Checksums {
    Checksums {
        sha1: Some(hex::encode(Sha1::digest(data))),
        md5: Some(hex::encode(Md5::digest(data))),
        sha256: Some(hex::encode(Sha256::digest(data))),
    }
}

/// Verifies a client checksum; unknown algorithms (e.g. ADLER32) are not checked.
fn verify(data: &[u8], opts: &WriteOptions) -> DavResult<()> {
    let Some(claim) = &opts.checksum else {
        return Ok(());
    };
    let ours = match claim.algorithm.as_str() {
        "SHA1" => hex::encode(Sha1::digest(data)),
        "MD5" => hex::encode(Md5::digest(data)),
        "SHA256" => hex::encode(Sha256::digest(data)),
        _ => return Ok(()),
    };
    if ours != claim.value {
        return Err(DavError::bad_request(
            "Die berechnete Prüfsumme stimmt nicht mit der vom Client gesendeten überein.",
        ));
    }
    Ok(())
}

async fn collect(mut body: ByteStream) -> DavResult<Bytes> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| DavError::bad_request("Das Hochladen wurde abgebrochen."))?;
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

impl DavBackend for MemoryBackend {
    type Principal = MemoryPrincipal;

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    fn principal_key(&self, principal: &MemoryPrincipal) -> String {
        principal.0.clone()
    }

    async fn resolve(
        &self,
        _p: &MemoryPrincipal,
        path: &DavPath,
        want: Want,
    ) -> DavResult<Option<Entry>> {
        let st = self.lock_state();
        Ok(st
            .nodes
            .get(path)
            .map(|n| st.entry(path, n, want, self.quota)))
    }

    async fn list(
        &self,
        _p: &MemoryPrincipal,
        path: &DavPath,
        want: Want,
    ) -> DavResult<Vec<Entry>> {
        let st = self.lock_state();
        let mut out = Vec::new();
        for (k, n) in &st.nodes {
            if k.parent().as_ref() == Some(path) {
                out.push(st.entry(k, n, want, self.quota));
            }
        }
        Ok(out)
    }

    async fn read(
        &self,
        _p: &MemoryPrincipal,
        entry: &Entry,
        range: Option<Range<u64>>,
    ) -> DavResult<ByteStream> {
        let data = {
            let st = self.lock_state();
            st.nodes.get(&entry.path).ok_or_else(gone)?.data.clone()
        };
        let data = match range {
            Some(r) => {
                let end = (r.end as usize).min(data.len());
                let start = (r.start as usize).min(end);
                data.slice(start..end)
            }
            None => data,
        };
        // Hand the content out in pieces, as a real backend would.
        let pieces: Vec<std::io::Result<Bytes>> = (0..data.len())
            .step_by(64 * 1024)
            .map(|i| Ok(data.slice(i..(i + 64 * 1024).min(data.len()))))
            .collect();
        Ok(Box::pin(futures_util::stream::iter(pieces)))
    }

    async fn write(
        &self,
        _p: &MemoryPrincipal,
        path: &DavPath,
        body: ByteStream,
        opts: WriteOptions,
    ) -> DavResult<WriteOutcome> {
        let data = collect(body).await?;
        verify(&data, &opts)?;
        let now = self.now();
        self.lock_state().store(path, data, &opts, now, self.quota)
    }

    async fn mkcol(&self, _p: &MemoryPrincipal, path: &DavPath) -> DavResult<Entry> {
        let now = self.now();
        let mut st = self.lock_state();
        if st.is_read_only(path) {
            return Err(forbidden());
        }
        if st.nodes.contains_key(path) {
            return Err(DavError::method_not_allowed(
                "Der Ordner existiert bereits.",
            ));
        }
        st.require_parent(path)?;
        let node = st.new_node(true, Bytes::new(), now, None);
        st.nodes.insert(path.clone(), node);
        st.touch(path);
        st.entry_at(path, self.quota)
    }

    async fn delete(&self, _p: &MemoryPrincipal, path: &DavPath) -> DavResult<()> {
        let mut st = self.lock_state();
        if st.is_read_only(path) || path.is_root() {
            return Err(forbidden());
        }
        if !st.nodes.contains_key(path) {
            return Err(gone());
        }
        st.remove_tree(path);
        if let Some(parent) = path.parent() {
            st.touch(&parent);
        }
        Ok(())
    }

    async fn copy(
        &self,
        _p: &MemoryPrincipal,
        from: &DavPath,
        to: &DavPath,
        opts: TransferOptions,
    ) -> DavResult<Entry> {
        let now = self.now();
        let mut st = self.lock_state();
        if st.is_read_only(to) {
            return Err(forbidden());
        }
        st.prepare_destination(from, to, opts.replace)?;
        let sources = if opts.recursive {
            st.subtree(from)
        } else {
            vec![from.clone()]
        };
        for src in sources {
            let Some(old) = st.nodes.get(&src).cloned() else {
                continue;
            };
            let Some(dst) = src.rebase(from, to) else {
                continue;
            };
            let mut node = st.new_node(
                old.is_collection,
                old.data.clone(),
                old.mtime,
                old.content_type.clone(),
            );
            node.dead = old.dead.clone();
            node.created = now;
            if let Some(m) = opts.mtime {
                node.mtime = m;
            }
            st.nodes.insert(dst, node);
        }
        st.touch(to);
        st.entry_at(to, self.quota)
    }

    async fn r#move(
        &self,
        _p: &MemoryPrincipal,
        from: &DavPath,
        to: &DavPath,
        opts: TransferOptions,
    ) -> DavResult<Entry> {
        let mut st = self.lock_state();
        if st.is_read_only(from) || st.is_read_only(to) {
            return Err(forbidden());
        }
        st.prepare_destination(from, to, opts.replace)?;
        for src in st.subtree(from) {
            if let (Some(node), Some(dst)) = (st.nodes.remove(&src), src.rebase(from, to)) {
                st.nodes.insert(dst, node);
            }
        }
        if let (Some(m), Some(n)) = (opts.mtime, st.nodes.get_mut(to)) {
            n.mtime = m;
        }
        if let Some(parent) = from.parent() {
            st.touch(&parent);
        }
        st.touch(to);
        st.entry_at(to, self.quota)
    }

    async fn proppatch(
        &self,
        _p: &MemoryPrincipal,
        path: &DavPath,
        patch: PropPatch,
    ) -> DavResult<()> {
        let mut st = self.lock_state();
        if st.is_read_only(path) {
            return Err(forbidden());
        }
        let node = st.nodes.get_mut(path).ok_or_else(gone)?;
        for op in patch.ops {
            match op {
                PropOp::Set(p) => {
                    node.dead.insert(p.name, p.value);
                }
                PropOp::Remove(name) => {
                    node.dead.remove(&name);
                }
            }
        }
        if let Some(m) = patch.mtime {
            node.mtime = m;
            st.touch(path);
        }
        Ok(())
    }

    async fn lock_list(
        &self,
        _p: &MemoryPrincipal,
        path: &DavPath,
        descendants: bool,
    ) -> DavResult<Vec<ActiveLock>> {
        let st = self.lock_state_unexpired();
        Ok(st
            .locks
            .iter()
            .filter(|l| path.starts_with(&l.root) || (descendants && l.root.is_descendant_of(path)))
            .cloned()
            .collect())
    }

    async fn lock_create(&self, _p: &MemoryPrincipal, lock: ActiveLock) -> DavResult<()> {
        let mut st = self.lock_state_unexpired();
        if st.locks.iter().any(|l| l.conflicts_with(&lock)) {
            return Err(DavError::locked("Die Ressource ist bereits gesperrt.")
                .with_condition("no-conflicting-lock"));
        }
        st.locks.push(lock);
        Ok(())
    }

    async fn lock_refresh(
        &self,
        _p: &MemoryPrincipal,
        token: &str,
        timeout: Option<Duration>,
        expires_at: Option<SystemTime>,
    ) -> DavResult<Option<ActiveLock>> {
        let mut st = self.lock_state_unexpired();
        Ok(st.locks.iter_mut().find(|l| l.token == token).map(|l| {
            l.timeout = timeout;
            l.expires_at = expires_at;
            l.clone()
        }))
    }

    async fn lock_remove(&self, _p: &MemoryPrincipal, token: &str) -> DavResult<bool> {
        let mut st = self.lock_state();
        let before = st.locks.len();
        st.locks.retain(|l| l.token != token);
        Ok(st.locks.len() != before)
    }

    async fn upload_create(
        &self,
        p: &MemoryPrincipal,
        session: &str,
        _total: Option<u64>,
    ) -> DavResult<bool> {
        let mut st = self.lock_state();
        let key = upload_key(p, session);
        if st.uploads.contains_key(&key) {
            return Ok(false);
        }
        st.uploads.insert(key, Upload::default());
        Ok(true)
    }

    async fn upload_chunks(
        &self,
        p: &MemoryPrincipal,
        session: &str,
    ) -> DavResult<Option<Vec<ChunkInfo>>> {
        let st = self.lock_state();
        Ok(st.uploads.get(&upload_key(p, session)).map(|u| {
            u.chunks
                .iter()
                .map(|(name, (data, mtime))| ChunkInfo {
                    name: name.clone(),
                    size: data.len() as u64,
                    mtime: *mtime,
                })
                .collect()
        }))
    }

    async fn upload_put_chunk(
        &self,
        p: &MemoryPrincipal,
        session: &str,
        chunk: &str,
        body: ByteStream,
        _expected_len: Option<u64>,
    ) -> DavResult<()> {
        let data = collect(body).await?;
        let now = self.now();
        let mut st = self.lock_state();
        let up = st
            .uploads
            .get_mut(&upload_key(p, session))
            .ok_or_else(|| DavError::conflict("Diese Upload-Sitzung existiert nicht."))?;
        up.chunks.insert(chunk.to_owned(), (data, now));
        Ok(())
    }

    async fn upload_delete_chunk(
        &self,
        p: &MemoryPrincipal,
        session: &str,
        chunk: &str,
    ) -> DavResult<bool> {
        let mut st = self.lock_state();
        Ok(st
            .uploads
            .get_mut(&upload_key(p, session))
            .and_then(|u| u.chunks.remove(chunk))
            .is_some())
    }

    async fn upload_delete(&self, p: &MemoryPrincipal, session: &str) -> DavResult<bool> {
        Ok(self
            .lock_state()
            .uploads
            .remove(&upload_key(p, session))
            .is_some())
    }

    async fn upload_assemble(
        &self,
        p: &MemoryPrincipal,
        session: &str,
        chunks: &[String],
        dest: &DavPath,
        opts: WriteOptions,
    ) -> DavResult<WriteOutcome> {
        let now = self.now();
        let key = upload_key(p, session);
        let data = {
            let st = self.lock_state();
            let up = st
                .uploads
                .get(&key)
                .ok_or_else(|| DavError::not_found("Diese Upload-Sitzung existiert nicht."))?;
            let mut buf = BytesMut::new();
            for name in chunks {
                let (d, _) = up
                    .chunks
                    .get(name)
                    .ok_or_else(|| DavError::conflict("Ein Teil des Uploads fehlt."))?;
                buf.extend_from_slice(d);
            }
            buf.freeze()
        };
        verify(&data, &opts)?;
        let mut st = self.lock_state();
        let outcome = st.store(dest, data, &opts, now, self.quota)?;
        st.uploads.remove(&key);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::test_util::*;

    #[tokio::test]
    async fn policy_refusal_carries_german_message() {
        let backend = MemoryBackend::new();
        backend.set_read_only(DavPath::root());
        let t = TestDav::with_backend(backend);
        let r = t.req("PUT", "/x").body("1").send().await;
        assert_eq!(r.status, 403);
        assert!(
            r.body
                .contains("<s:exception>Sabre\\DAV\\Exception\\Forbidden</s:exception>"),
            "{}",
            r.body
        );
        assert!(r.body.contains("keine Berechtigung"));
        assert!(r.headers.get("oc-errorstring").is_some());
        let r = t.propfind("/", "0").send().await;
        assert!(r.body.contains("<oc:permissions>RG</oc:permissions>"));
    }

    #[tokio::test]
    async fn quota_is_reported_and_enforced() {
        let t = TestDav::with_backend(MemoryBackend::new().with_quota(10));
        t.put("/a", "12345").await;
        let r = t.propfind("/", "0")
            .body(r#"<propfind xmlns="DAV:"><prop><quota-used-bytes/><quota-available-bytes/></prop></propfind>"#)
            .send().await;
        assert!(
            r.body
                .contains("<d:quota-used-bytes>5</d:quota-used-bytes>"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("<d:quota-available-bytes>5</d:quota-available-bytes>")
        );
        assert_eq!(t.req("PUT", "/b").body("123456").send().await.status, 507);
    }

    #[tokio::test]
    async fn locks_expire_by_the_injected_clock() {
        let secs = Arc::new(AtomicU64::new(1_000_000));
        let clock = secs.clone();
        let backend = MemoryBackend::new()
            .with_clock(move || UNIX_EPOCH + Duration::from_secs(clock.load(Ordering::SeqCst)));
        let t = TestDav::with_backend(backend);
        t.put("/f", "1").await;
        let body = r#"<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype></lockinfo>"#;
        assert_eq!(
            t.req("LOCK", "/f")
                .header("timeout", "Second-60")
                .body(body)
                .send()
                .await
                .status,
            200
        );
        assert_eq!(t.req("PUT", "/f").body("2").send().await.status, 423);
        secs.fetch_add(61, Ordering::SeqCst);
        assert_eq!(t.req("PUT", "/f").body("2").send().await.status, 204);
    }

    #[tokio::test]
    async fn etags_propagate_to_the_root() {
        let t = TestDav::new();
        t.mkcol("/a").await;
        t.mkcol("/a/b").await;
        let etag = |body: &str| {
            body.split("<d:getetag>")
                .nth(1)
                .map(|s| s.split('<').next().unwrap_or("").to_owned())
        };
        let q = r#"<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>"#;
        let root1 = etag(&t.propfind("/", "0").body(q).send().await.body);
        let a1 = etag(&t.propfind("/a", "0").body(q).send().await.body);
        t.put("/a/b/f", "x").await;
        let root2 = etag(&t.propfind("/", "0").body(q).send().await.body);
        let a2 = etag(&t.propfind("/a", "0").body(q).send().await.body);
        assert_ne!(root1, root2);
        assert_ne!(a1, a2);
        let root3 = etag(&t.propfind("/", "0").body(q).send().await.body);
        assert_eq!(root2, root3, "no change, same ETag");
    }
}
