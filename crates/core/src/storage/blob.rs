//! Blob storage by opaque id. Names and paths live only in the database; no user input
//! ever becomes a path on disk.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::fs;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::dir_sync::DirSyncs;

pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Bytes being written; nothing is visible under a blob id until `commit`.
#[async_trait]
pub trait StagedBlob: Send {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// Makes the bytes durable and returns the new blob's id (never reused).
    async fn commit(self: Box<Self>) -> io::Result<String>;
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn stage(&self) -> io::Result<Box<dyn StagedBlob>>;
    async fn open(&self, blob_id: &str) -> io::Result<BlobReader>;
    /// `len` bytes (all to the end when None) from byte `start` on. A range past the end
    /// reads as empty or short, never as an error: the caller checks it against the
    /// size it knows from the database, which is the authority on what the file is.
    async fn open_range(
        &self,
        blob_id: &str,
        start: u64,
        len: Option<u64>,
    ) -> io::Result<BlobReader>;
    async fn delete(&self, blob_id: &str) -> io::Result<()>;
    /// Blob ids with their age in milliseconds, for the cleanup job.
    async fn list(&self) -> io::Result<Vec<(String, u64)>>;
    /// Removes staging files older than `max_age_ms` (left by a crash); returns how many.
    async fn purge_staging(&self, max_age_ms: u64) -> io::Result<usize>;
}

/// Local-disk store: `<root>/blobs/<2 hex>/<id>`. While being written, a large upload
/// is `<root>/staging/<id>.part`; a small one waits in memory and is written to its
/// final place at commit, before any row points to it.
#[derive(Debug, Clone)]
pub struct LocalDisk {
    root: PathBuf,
    syncs: Arc<DirSyncs>,
}

/// New blobs go to one shard directory for this long, then to the next, round all 256:
/// uploads that arrive together share the directory's syncs (see `dir_sync`), and over
/// time every shard takes its part.
const SECONDS_PER_SHARD: u64 = 10;

/// A new blob id in the shard of the moment: the first two hex digits name the shard,
/// the rest is random.
fn new_blob_id(now: std::time::SystemTime) -> String {
    let seconds = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let shard = (seconds / SECONDS_PER_SHARD) % 256;
    let random = crate::ids::blob_id();
    format!("{shard:02x}{}", &random[2..])
}

/// The shard number of a (valid) blob id.
fn shard_of(id: &str) -> usize {
    id.get(..2)
        .and_then(|s| usize::from_str_radix(s, 16).ok())
        .unwrap_or_default()
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl LocalDisk {
    pub async fn open_dir(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("staging")).await?;
        // All shard directories up front, made durable once: a commit then never
        // creates one, and needs no check whether it exists.
        let blobs = root.join("blobs");
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut made = false;
            for shard in 0..=255u8 {
                let dir = blobs.join(format!("{shard:02x}"));
                if !dir.is_dir() {
                    std::fs::create_dir_all(&dir)?;
                    made = true;
                }
            }
            if made {
                std::fs::File::open(&blobs)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(io::Error::other)??;
        Ok(Self {
            root,
            syncs: Arc::new(DirSyncs::new(256)),
        })
    }

    fn blob_path(&self, id: &str) -> io::Result<PathBuf> {
        if !valid_id(id) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob id"));
        }
        let shard = id.get(..2).unwrap_or("00");
        Ok(self.root.join("blobs").join(shard).join(id))
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("staging")
    }
}

/// Uploads up to this size stay in memory until commit, which then writes, syncs and
/// renames them in one call on the blocking pool: a small file costs one trip there
/// instead of seven (each trip is two thread switches, which dominated small uploads).
const SMALL_BLOB: usize = 64 * 1024;

struct LocalStaged {
    /// The bytes so far, while they fit [`SMALL_BLOB`].
    buffer: Vec<u8>,
    /// The staging file, once the bytes outgrew the buffer.
    file: Option<fs::File>,
    /// Whether a staging file may exist (for Drop to remove).
    on_disk: bool,
    id: String,
    /// Where the bytes go once they outgrow the buffer.
    staging: PathBuf,
    /// The blob's final place. A buffered (small) upload is written there directly: no
    /// row points to it before its commit, and what a crash leaves half-written there
    /// is an unreferenced blob, which the cleanup removes like any orphan.
    target: PathBuf,
    /// Shares the sync of the target's directory with concurrent commits.
    syncs: Arc<DirSyncs>,
    shard: usize,
    committed: bool,
}

impl Drop for LocalStaged {
    fn drop(&mut self) {
        // An upload that was aborted, refused or failed leaves nothing behind.
        if !self.committed && self.on_disk {
            let _ = std::fs::remove_file(&self.staging);
            let _ = std::fs::remove_file(&self.target);
        }
    }
}

#[async_trait]
impl StagedBlob for LocalStaged {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.committed {
            return Err(io::Error::other("staged blob already closed"));
        }
        if let Some(f) = self.file.as_mut() {
            return f.write_all(chunk).await;
        }
        if self.buffer.len() + chunk.len() <= SMALL_BLOB {
            self.buffer.extend_from_slice(chunk);
            return Ok(());
        }
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.staging)
            .await?;
        self.on_disk = true;
        let buffered = std::mem::take(&mut self.buffer);
        let f = self.file.insert(f);
        f.write_all(&buffered).await?;
        f.write_all(chunk).await
    }

    async fn commit(mut self: Box<Self>) -> io::Result<String> {
        if self.committed {
            return Err(io::Error::other("staged blob already closed"));
        }
        let file = match self.file.take() {
            Some(f) => Some(f.into_std().await),
            None => None,
        };
        let buffer = std::mem::take(&mut self.buffer);
        let target = self.target.clone();
        let (syncs, shard) = (Arc::clone(&self.syncs), self.shard);
        let staging = self.staging.clone();
        // From here on a partial file exists or is about to: if anything below fails,
        // it is removed (by Drop at the latest).
        self.on_disk = true;
        let made = tokio::task::spawn_blocking(move || -> io::Result<()> {
            use std::io::Write;
            let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
            if !dir.is_dir() {
                // A shard removed behind the server's back is made again, durably.
                std::fs::create_dir_all(&dir)?;
                if let Some(parent) = dir.parent() {
                    std::fs::File::open(parent)?.sync_all()?;
                }
            }
            match file {
                Some(f) => {
                    f.sync_all()?;
                    std::fs::rename(&staging, &target)?;
                }
                None => {
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&target)?;
                    f.write_all(&buffer)?;
                    f.sync_all()?;
                }
            }
            // The new name is durable only once the directory entry is.
            syncs.sync(shard, || std::fs::File::open(&dir)?.sync_all())
        })
        .await
        .map_err(io::Error::other)?;
        if let Err(e) = made {
            let _ = std::fs::remove_file(&self.staging);
            let _ = std::fs::remove_file(&self.target);
            return Err(e);
        }
        self.committed = true;
        Ok(self.id.clone())
    }
}

#[async_trait]
impl BlobStore for LocalDisk {
    async fn stage(&self) -> io::Result<Box<dyn StagedBlob>> {
        // The shard of a new blob follows the wall clock: it groups files on disk and
        // means nothing for expiry, so it is no reading of domain time.
        #[allow(clippy::disallowed_methods)]
        let id = new_blob_id(std::time::SystemTime::now());
        let staging = self.staging_dir().join(format!("{id}.part"));
        let target = self.blob_path(&id)?;
        let shard = shard_of(&id);
        Ok(Box::new(LocalStaged {
            buffer: Vec::new(),
            file: None,
            on_disk: false,
            id,
            staging,
            target,
            syncs: Arc::clone(&self.syncs),
            shard,
            committed: false,
        }))
    }

    async fn open(&self, blob_id: &str) -> io::Result<BlobReader> {
        let f = fs::File::open(self.blob_path(blob_id)?).await?;
        Ok(Box::pin(f))
    }

    async fn open_range(
        &self,
        blob_id: &str,
        start: u64,
        len: Option<u64>,
    ) -> io::Result<BlobReader> {
        // Same id check as `open`: the path comes from the id, never from the request.
        let mut f = fs::File::open(self.blob_path(blob_id)?).await?;
        // Seeking past the end is allowed; reads there return nothing.
        f.seek(io::SeekFrom::Start(start)).await?;
        Ok(match len {
            // `take` stops at `len` without reading further into the file, so a small
            // range of a large blob costs only what it returns.
            Some(len) => Box::pin(f.take(len)),
            None => Box::pin(f),
        })
    }

    async fn delete(&self, blob_id: &str) -> io::Result<()> {
        match fs::remove_file(self.blob_path(blob_id)?).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    async fn list(&self) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut shards = fs::read_dir(self.root.join("blobs")).await?;
        while let Some(shard) = shards.next_entry().await? {
            if !shard.file_type().await?.is_dir() {
                continue;
            }
            let mut files = fs::read_dir(shard.path()).await?;
            while let Some(f) = files.next_entry().await? {
                let name = f.file_name().to_string_lossy().to_string();
                if valid_id(&name) {
                    out.push((name, age_ms(&f.metadata().await?)));
                }
            }
        }
        Ok(out)
    }

    async fn purge_staging(&self, max_age_ms: u64) -> io::Result<usize> {
        let mut removed = 0;
        let mut entries = fs::read_dir(self.staging_dir()).await?;
        while let Some(e) = entries.next_entry().await? {
            if age_ms(&e.metadata().await?) >= max_age_ms {
                fs::remove_file(e.path()).await?;
                removed += 1;
            }
        }
        // Earlier builds wrote small uploads beside their final name (`<id>.part` in
        // the shard); what a crash left of them goes too.
        let mut shards = fs::read_dir(self.root.join("blobs")).await?;
        while let Some(shard) = shards.next_entry().await? {
            if !shard.file_type().await?.is_dir() {
                continue;
            }
            let mut files = fs::read_dir(shard.path()).await?;
            while let Some(f) = files.next_entry().await? {
                let partial = f
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".part"))
                    .is_some_and(valid_id);
                if partial && age_ms(&f.metadata().await?) >= max_age_ms {
                    fs::remove_file(f.path()).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn age_ms(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn blobs_made_together_share_a_shard_and_the_shard_moves_on() {
        let at = |s: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let (a, b) = (new_blob_id(at(1_000_000)), new_blob_id(at(1_000_001)));
        assert!(valid_id(&a) && valid_id(&b), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(shard_of(&a), shard_of(&b));
        let later = new_blob_id(at(1_000_000 + SECONDS_PER_SHARD));
        assert_eq!(shard_of(&later), (shard_of(&a) + 1) % 256);
        // Round all shards, each as often as the others.
        let mut seen = std::collections::HashSet::new();
        for step in 0..256 {
            seen.insert(shard_of(&new_blob_id(at(step * SECONDS_PER_SHARD))));
        }
        assert_eq!(seen.len(), 256);
    }

    #[tokio::test]
    async fn staged_blob_is_invisible_until_commit_and_removed_when_dropped() {
        let dir = std::env::temp_dir().join(format!("amtsbote-blob-{}", crate::ids::token(6)));
        let store = LocalDisk::open_dir(&dir).await.expect("store");
        let mut staged = store.stage().await.expect("stage");
        staged.write(b"hello ").await.expect("write");
        staged.write(b"world").await.expect("write");
        assert!(store.list().await.expect("list").is_empty());
        let id = staged.commit().await.expect("commit");
        let mut s = String::new();
        store
            .open(&id)
            .await
            .expect("open")
            .read_to_string(&mut s)
            .await
            .expect("read");
        assert_eq!(s, "hello world");
        assert_eq!(store.list().await.expect("list").len(), 1);

        let mut dropped = store.stage().await.expect("stage");
        dropped.write(b"partial").await.expect("write");
        drop(dropped);
        assert_eq!(
            std::fs::read_dir(store.staging_dir()).expect("dir").count(),
            0
        );

        assert!(store.open("../../etc/passwd").await.is_err());
        store.delete(&id).await.expect("delete");
        assert!(store.open(&id).await.is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn small_blobs_wait_in_memory_and_large_ones_on_disk() {
        let dir = std::env::temp_dir().join(format!("amtsbote-blob-{}", crate::ids::token(6)));
        let store = LocalDisk::open_dir(&dir).await.expect("store");
        let staged_files = || std::fs::read_dir(store.staging_dir()).expect("dir").count();
        let big: Vec<u8> = (0..=255u8).cycle().take(SMALL_BLOB + 10_000).collect();

        let mut small = store.stage().await.expect("stage");
        small.write(&big[..SMALL_BLOB]).await.expect("write");
        assert_eq!(
            staged_files(),
            0,
            "up to the limit nothing touches the disk"
        );
        let id = small.commit().await.expect("commit");
        let mut got = Vec::new();
        store
            .open(&id)
            .await
            .expect("open")
            .read_to_end(&mut got)
            .await
            .expect("read");
        assert_eq!(got, &big[..SMALL_BLOB]);

        let mut large = store.stage().await.expect("stage");
        large.write(&big[..1000]).await.expect("write");
        large.write(&big[1000..]).await.expect("write");
        assert_eq!(
            staged_files(),
            1,
            "past the limit the bytes go to a staging file"
        );
        let id = large.commit().await.expect("commit");
        assert_eq!(staged_files(), 0);
        let mut got = Vec::new();
        store
            .open(&id)
            .await
            .expect("open")
            .read_to_end(&mut got)
            .await
            .expect("read");
        assert_eq!(got, big);

        let mut dropped = store.stage().await.expect("stage");
        dropped.write(&big).await.expect("write");
        assert_eq!(staged_files(), 1);
        drop(dropped);
        assert_eq!(staged_files(), 0, "a dropped upload leaves no staging file");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn leftovers_of_a_crash_are_purged_and_blobs_kept() {
        let dir = std::env::temp_dir().join(format!("amtsbote-blob-{}", crate::ids::token(6)));
        let store = LocalDisk::open_dir(&dir).await.expect("store");
        assert_eq!(
            std::fs::read_dir(dir.join("blobs")).expect("dir").count(),
            256,
            "every shard exists from the start"
        );
        let mut staged = store.stage().await.expect("stage");
        staged.write(b"kept").await.expect("write");
        let id = staged.commit().await.expect("commit");
        // What a crash in the middle of a small and of a large commit leaves behind.
        let other = crate::ids::blob_id();
        let beside = dir
            .join("blobs")
            .join(&other[..2])
            .join(format!("{other}.part"));
        std::fs::write(&beside, b"half").expect("write");
        std::fs::write(store.staging_dir().join(format!("{other}.part")), b"half").expect("write");
        // Nothing is young enough to be spared with a grace of 0 ms.
        assert_eq!(store.purge_staging(0).await.expect("purge"), 2);
        assert!(!beside.exists());
        assert_eq!(read_range(&store, &id, 0, None).await, b"kept");
        assert_eq!(store.list().await.expect("list").len(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    async fn read_range(store: &LocalDisk, id: &str, start: u64, len: Option<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        store
            .open_range(id, start, len)
            .await
            .expect("open_range")
            .read_to_end(&mut out)
            .await
            .expect("read");
        out
    }

    #[tokio::test]
    async fn ranges_read_exactly_the_requested_bytes() {
        let dir = std::env::temp_dir().join(format!("amtsbote-blob-{}", crate::ids::token(6)));
        let store = LocalDisk::open_dir(&dir).await.expect("store");
        let content: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut staged = store.stage().await.expect("stage");
        staged.write(&content).await.expect("write");
        let id = staged.commit().await.expect("commit");

        // Whole file, both ways of asking.
        assert_eq!(read_range(&store, &id, 0, None).await, content);
        assert_eq!(read_range(&store, &id, 0, Some(1000)).await, content);
        // Edges: first byte, last byte, a middle slice, the tail from an offset.
        assert_eq!(read_range(&store, &id, 0, Some(1)).await, &content[..1]);
        assert_eq!(read_range(&store, &id, 999, Some(1)).await, &content[999..]);
        assert_eq!(
            read_range(&store, &id, 300, Some(200)).await,
            &content[300..500]
        );
        assert_eq!(read_range(&store, &id, 700, None).await, &content[700..]);
        // A zero-length range is empty.
        assert!(read_range(&store, &id, 10, Some(0)).await.is_empty());
        // A length beyond the end stops at the end.
        assert_eq!(
            read_range(&store, &id, 900, Some(5000)).await,
            &content[900..]
        );
        // Starting at (or past) the size reads nothing, without an error.
        assert!(read_range(&store, &id, 1000, None).await.is_empty());
        assert!(read_range(&store, &id, 1000, Some(10)).await.is_empty());
        assert!(read_range(&store, &id, 5000, None).await.is_empty());
        // The id is validated exactly as for `open`.
        assert!(store.open_range("../../etc/passwd", 0, None).await.is_err());
        assert!(
            store
                .open_range(&id.to_uppercase(), 0, Some(1))
                .await
                .is_err()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
