//! Chunked upload sessions (WebDAV chunking NG and v1): the chunks of a large file arrive
//! one request at a time and are kept as blobs that no space references — staging data,
//! never listed, never downloadable. Only assembly turns them into a file, and it does so
//! through the ingest pipeline like every other upload: size, quota, checksum and virus
//! scan apply to the whole file, and nothing is visible before it has passed.
//!
//! A session belongs to one account. Abandoned sessions are removed after a configurable
//! time by the cleanup job.

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use tokio_util::io::ReaderStream;

use crate::App;
use crate::db::is_unique_violation;
use crate::error::{Error, Result};
use crate::ids;
use crate::spaces::SpaceAccess;
use crate::storage::blob::BlobReader;
use crate::storage::ingest::{Ingested, Upload};

/// Longest session or chunk name accepted (the column width).
const MAX_NAME: usize = 255;
/// Most open sessions one account may have; a client needs a handful at a time.
pub const MAX_SESSIONS_PER_ACCOUNT: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Chunk {
    pub name: String,
    pub size: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Session {
    id: i64,
    total_len: Option<i64>,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(Error::Invalid("upload name"));
    }
    Ok(())
}

/// The blobs one after another, as one stream, each opened only when the previous one
/// has been read.
fn concatenated(
    store: std::sync::Arc<dyn crate::storage::blob::BlobStore>,
    blobs: Vec<String>,
) -> std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>> {
    let state = (store, blobs.into_iter(), None::<ReaderStream<BlobReader>>);
    Box::pin(stream::unfold(
        state,
        |(store, mut ids, mut current)| async move {
            loop {
                if let Some(reader) = current.as_mut()
                    && let Some(item) = reader.next().await
                {
                    return Some((item, (store, ids, current)));
                }
                let id = ids.next()?;
                match store.open(&id).await {
                    Ok(r) => current = Some(ReaderStream::new(r)),
                    Err(e) => return Some((Err(e), (store, ids, None))),
                }
            }
        },
    ))
}

impl App {
    async fn upload_session(&self, account_id: i64, session: &str) -> Result<Option<Session>> {
        Ok(self
            .db
            .qa::<Session>(
                "SELECT id, total_len FROM dav_uploads WHERE account_id = ? AND session = ?",
            )
            .bind(account_id)
            .bind(session.to_string())
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Opens a session; false when the account already has one of that name.
    pub async fn create_upload_session(
        &self,
        account_id: i64,
        session: &str,
        total_len: Option<u64>,
    ) -> Result<bool> {
        check_name(session)?;
        if self.upload_session(account_id, session).await?.is_some() {
            return Ok(false);
        }
        let open = self
            .db
            .qs::<i64>("SELECT COUNT(*) FROM dav_uploads WHERE account_id = ?")
            .bind(account_id)
            .fetch_one(self.db.pool())
            .await?;
        if open >= MAX_SESSIONS_PER_ACCOUNT {
            return Err(Error::Invalid("too many uploads"));
        }
        let max = self.settings.limits.max_upload_bytes;
        if total_len.is_some_and(|t| t > max) {
            return Err(Error::TooLarge { limit: max });
        }
        // Refused before the first chunk rather than after the last.
        if let (Some(limit), Some(t)) = (self.scanner.stream_limit(), total_len)
            && t > limit
        {
            return Err(Error::TooLargeToScan { limit });
        }
        let now = self.now();
        let inserted = self
            .db
            .q("INSERT INTO dav_uploads (id, account_id, session, total_len, created_at, touched_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(ids::new_id())
            .bind(account_id)
            .bind(session.to_string())
            .bind(total_len.and_then(|t| i64::try_from(t).ok()))
            .bind(now)
            .bind(now)
            .execute(self.db.pool())
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The chunks of a session, by name; `None` when the account has no such session.
    pub async fn upload_chunks(
        &self,
        account_id: i64,
        session: &str,
    ) -> Result<Option<Vec<Chunk>>> {
        let Some(s) = self.upload_session(account_id, session).await? else {
            return Ok(None);
        };
        Ok(Some(
            self.db
                .qa::<Chunk>(
                    "SELECT name, size, created_at FROM dav_upload_chunks WHERE upload_id = ? ORDER BY name",
                )
                .bind(s.id)
                .fetch_all(self.db.pool())
                .await?,
        ))
    }

    /// A session that outgrew what the scanner accepts can never become a file: it goes
    /// now, with its chunks, rather than after `abandoned_upload_hours`.
    async fn chunks_too_large(&self, upload_id: i64, e: Error) -> Error {
        if matches!(e, Error::TooLargeToScan { .. })
            && let Err(del) = self.remove_upload_session(upload_id).await
        {
            tracing::warn!(error = %del, "removing an oversized upload session failed");
        }
        e
    }

    /// Stores (or replaces) one chunk. All chunks of a session together may not exceed the
    /// upload limit; the quota is checked on assembly, when it is known where the file goes.
    pub async fn put_upload_chunk<S, E>(
        &self,
        account_id: i64,
        session: &str,
        chunk: &str,
        body: S,
        expected_len: Option<u64>,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        check_name(chunk)?;
        let s = self
            .upload_session(account_id, session)
            .await?
            .ok_or(Error::NotFound)?;
        // Summed here: SUM over BIGINT is NUMERIC on PostgreSQL, which `Any` cannot decode.
        let others: i64 = self
            .db
            .qs::<i64>("SELECT size FROM dav_upload_chunks WHERE upload_id = ? AND name <> ?")
            .bind(s.id)
            .bind(chunk.to_string())
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .sum();
        // The whole file must fit the upload limit and what the scanner accepts, so a
        // session that grows past either fails at the chunk that crosses it.
        let max = self.settings.limits.max_upload_bytes;
        let scan_limit = self.scanner.stream_limit().filter(|l| *l < max);
        let too_large = || match scan_limit {
            Some(limit) => Error::TooLargeToScan { limit },
            None => Error::TooLarge { limit: max },
        };
        let room = scan_limit
            .unwrap_or(max)
            .saturating_sub(u64::try_from(others).unwrap_or(0));
        if expected_len.is_some_and(|l| l > room) {
            return Err(self.chunks_too_large(s.id, too_large()).await);
        }
        let mut staged = self.blobs.stage().await?;
        let mut size: u64 = 0;
        let mut body = std::pin::pin!(body);
        while let Some(part) = body.next().await {
            let part = part.map_err(|e| Error::UploadAborted(e.to_string()))?;
            size += part.len() as u64;
            if size > room {
                return Err(self.chunks_too_large(s.id, too_large()).await);
            }
            staged.write(&part).await?;
        }
        if expected_len.is_some_and(|l| l != size) {
            return Err(Error::UploadAborted(format!(
                "expected {} bytes, got {size}",
                expected_len.unwrap_or(0)
            )));
        }
        let blob_id = staged.commit().await?;
        let now = self.now();
        let stored = async {
            let mut tx = self.db.begin_write().await?;
            let old = self
                .db
                .qs::<String>(
                    "SELECT blob_id FROM dav_upload_chunks WHERE upload_id = ? AND name = ?",
                )
                .bind(s.id)
                .bind(chunk.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            self.db
                .q("DELETE FROM dav_upload_chunks WHERE upload_id = ? AND name = ?")
                .bind(s.id)
                .bind(chunk.to_string())
                .execute(&mut *tx)
                .await?;
            self.db
                .q("INSERT INTO dav_upload_chunks (upload_id, name, size, blob_id, created_at) VALUES (?, ?, ?, ?, ?)")
                .bind(s.id)
                .bind(chunk.to_string())
                .bind(i64::try_from(size).map_err(|_| Error::TooLarge { limit: max })?)
                .bind(blob_id.clone())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            self.db
                .q("UPDATE dav_uploads SET touched_at = ? WHERE id = ?")
                .bind(now)
                .bind(s.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, Error>(old)
        }
        .await;
        match stored {
            Ok(old) => {
                if let Some(old) = old {
                    self.remove_blob_quietly(&old).await;
                }
                Ok(())
            }
            Err(e) => {
                // The session may have been removed meanwhile (a foreign-key failure).
                self.remove_blob_quietly(&blob_id).await;
                Err(e)
            }
        }
    }

    /// Removes one chunk; false when there was none.
    pub async fn delete_upload_chunk(
        &self,
        account_id: i64,
        session: &str,
        chunk: &str,
    ) -> Result<bool> {
        let Some(s) = self.upload_session(account_id, session).await? else {
            return Ok(false);
        };
        let Some(blob) = self
            .db
            .qs::<String>("SELECT blob_id FROM dav_upload_chunks WHERE upload_id = ? AND name = ?")
            .bind(s.id)
            .bind(chunk.to_string())
            .fetch_optional(self.db.pool())
            .await?
        else {
            return Ok(false);
        };
        self.db
            .q("DELETE FROM dav_upload_chunks WHERE upload_id = ? AND name = ?")
            .bind(s.id)
            .bind(chunk.to_string())
            .execute(self.db.pool())
            .await?;
        self.remove_blob_quietly(&blob).await;
        Ok(true)
    }

    /// Removes a session with its chunks; false when there was none.
    pub async fn delete_upload_session(&self, account_id: i64, session: &str) -> Result<bool> {
        let Some(s) = self.upload_session(account_id, session).await? else {
            return Ok(false);
        };
        self.remove_upload_session(s.id).await?;
        Ok(true)
    }

    async fn remove_upload_session(&self, id: i64) -> Result<()> {
        let blobs = self
            .db
            .qs::<String>("SELECT blob_id FROM dav_upload_chunks WHERE upload_id = ?")
            .bind(id)
            .fetch_all(self.db.pool())
            .await?;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("DELETE FROM dav_upload_chunks WHERE upload_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.db
            .q("DELETE FROM dav_uploads WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for b in blobs {
            self.remove_blob_quietly(&b).await;
        }
        Ok(())
    }

    async fn remove_blob_quietly(&self, blob_id: &str) {
        if let Err(e) = self.blobs.delete(blob_id).await {
            tracing::warn!(blob = %blob_id, error = %e, "chunk blob left for cleanup");
        }
    }

    /// Streams the chunks `names` (in this order) through the ingest pipeline as one file,
    /// then removes the session. On any failure the session stays, so the client may
    /// retry the assembly; nothing becomes visible.
    pub async fn assemble_upload(
        &self,
        access: &SpaceAccess,
        session: &str,
        names: &[String],
        mut up: Upload,
    ) -> Result<Ingested> {
        let account_id = access
            .actor()
            .account_id()
            .ok_or(Error::Forbidden("no account"))?;
        let s = self
            .upload_session(account_id, session)
            .await?
            .ok_or(Error::NotFound)?;
        #[derive(sqlx::FromRow)]
        struct Part {
            name: String,
            size: i64,
            blob_id: String,
        }
        let parts = self
            .db
            .qa::<Part>("SELECT name, size, blob_id FROM dav_upload_chunks WHERE upload_id = ?")
            .bind(s.id)
            .fetch_all(self.db.pool())
            .await?;
        let mut blobs = Vec::with_capacity(names.len());
        let mut total: u64 = 0;
        for n in names {
            let p = parts
                .iter()
                .find(|p| &p.name == n)
                .ok_or(Error::Invalid("missing chunk"))?;
            total += u64::try_from(p.size).unwrap_or(0);
            blobs.push(p.blob_id.clone());
        }
        if let Some(t) = s.total_len
            && u64::try_from(t).ok() != Some(total)
        {
            return Err(Error::UploadAborted(format!(
                "announced {t} bytes, chunks hold {total}"
            )));
        }
        up.declared_size = Some(total);
        let body = concatenated(self.blobs.clone(), blobs);
        let ingested = match self.ingest(access, up, body).await {
            Ok(i) => i,
            // These chunks can never become a file: they go at once, not after
            // `abandoned_upload_hours`. After an outage the client may try again.
            Err(e @ (Error::Infected { .. } | Error::TooLargeToScan { .. })) => {
                self.remove_upload_session(s.id).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.remove_upload_session(s.id).await?;
        Ok(ingested)
    }

    /// Removes sessions untouched for `max_idle_ms` (cleanup job); returns how many.
    pub async fn purge_abandoned_uploads(&self, max_idle_ms: u64) -> Result<usize> {
        let cutoff = self.now() - i64::try_from(max_idle_ms).unwrap_or(i64::MAX / 2);
        let stale = self
            .db
            .qs::<i64>("SELECT id FROM dav_uploads WHERE touched_at < ?")
            .bind(cutoff)
            .fetch_all(self.db.pool())
            .await?;
        for id in &stale {
            self.remove_upload_session(*id).await?;
        }
        Ok(stale.len())
    }
}
