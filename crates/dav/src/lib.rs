//! amtsbote's WebDAV engine: RFC 4918 class 1 and 2 plus what the ownCloud/Nextcloud sync
//! clients and rclone need (`oc:` properties, `X-OC-Mtime`, `OC-Checksum`, `OC-FileId`,
//! chunking NG and v1). See `shared/reference/client-protocol.md` for the why of each detail.
//!
//! The engine owns no state and knows no database. Everything it needs comes from three places:
//!
//! * a [`DavBackend`] (given to [`router`]), which answers for one principal's view of the tree
//!   and performs changes — the core implements it through its permission function and ingest
//!   pipeline; [`memory::MemoryBackend`] is the in-memory one for tests, fuzzing and litmus;
//! * the authenticated principal, which the host's auth layer puts into the request extensions as
//!   a value of type [`DavBackend::Principal`] (no principal → 401; authentication is not our job);
//! * the mount prefix: a [`MountPrefix`] request extension (e.g. `/remote.php/dav/files/alice`),
//!   so hrefs are absolute paths as the clients demand. Without it the prefix is derived from
//!   axum's `OriginalUri` when the router is nested, else the engine assumes it is at `/`.
//!
//! ```ignore
//! let files = amtsbote_dav::router(backend.clone());
//! let uploads = amtsbote_dav::uploads_router(backend);
//! app.nest_service("/remote.php/webdav", files.clone())
//!    .nest_service("/remote.php/dav/files/{login}", files)
//!    .nest_service("/remote.php/dav/uploads/{login}", uploads)
//!    // plus a layer that authenticates, checks {login}, and inserts the principal,
//!    // MountPrefix (and FilesMount for the uploads tree).
//! ```
//!
//! Why a generic trait and not `dyn`: see [`DavBackend`]. The memory backend is behind the
//! `memory` feature, which this crate's own tests switch on: it is not shipped in the server's
//! release binary.
//!
//! Known gap: a fragment in the request URI (`DELETE /a/#frag`) is dropped by the HTTP parser
//! before the engine sees it, so it cannot be refused (litmus `delete_fragment` warns).

pub mod backend;
pub mod body;
pub mod chunking;
mod context;
pub mod download;
pub mod error;
pub mod headers;
pub mod locks;
#[cfg(feature = "memory")]
pub mod memory;
pub mod methods;
pub mod path;
pub mod props;
pub mod time;
pub mod xml;

#[cfg(all(test, feature = "memory"))]
mod test_util;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;

pub use backend::{
    ActiveLock, ByteStream, Checksums, ChunkInfo, ClaimedChecksum, DavBackend, DeadProp, Entry,
    Expect, LockScope, PropName, PropOp, PropPatch, Quota, TransferOptions, Want, WriteOptions,
    WriteOutcome,
};
pub use error::{DavError, DavResult};
pub use path::DavPath;

/// The content type of every XML response. owncloudcmd 2.11 rejects anything else on PROPFIND
/// (client-protocol §2.2), so it is one constant, used everywhere.
pub const XML_CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// Request extension: the percent-encoded path the engine is mounted at, without trailing slash,
/// e.g. `/remote.php/dav/files/alice` or `/remote.php/webdav`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPrefix(pub String);

/// Request extension for the uploads router: the [`MountPrefix`] of the same principal's files
/// tree, where chunking-NG `MOVE …/.file` destinations must point (e.g.
/// `/remote.php/dav/files/alice`). Without it such a MOVE is refused with 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesMount(pub String);

/// The WebDAV file tree: all methods, for the mount prefixes
/// `/remote.php/dav/files/{login}/` and `/remote.php/webdav/`.
pub fn router<B: DavBackend>(backend: Arc<B>) -> Router {
    Router::new().fallback(serve_files::<B>).with_state(backend)
}

/// The chunking-NG upload area, for the mount prefix `/remote.php/dav/uploads/{login}/`.
pub fn uploads_router<B: DavBackend>(backend: Arc<B>) -> Router {
    Router::new()
        .fallback(serve_uploads::<B>)
        .with_state(backend)
}

async fn serve_files<B: DavBackend>(State(backend): State<Arc<B>>, req: Request) -> Response {
    context::dispatch(backend, req, context::Area::Files).await
}

async fn serve_uploads<B: DavBackend>(State(backend): State<Arc<B>>, req: Request) -> Response {
    context::dispatch(backend, req, context::Area::Uploads).await
}
