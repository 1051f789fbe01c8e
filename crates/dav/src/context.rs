//! Per-request context and method dispatch.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use crate::backend::DavBackend;
use crate::error::DavError;
use crate::headers::{self, IfHeader};
use crate::path::{DavPath, decoded_segments};
use crate::{FilesMount, MountPrefix, chunking, methods};

/// Which tree a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Area {
    Files,
    Uploads,
}

/// Everything a method handler needs about the request, parsed once.
pub(crate) struct Ctx<B: DavBackend> {
    pub backend: Arc<B>,
    pub principal: B::Principal,
    /// Percent-encoded mount prefix without trailing slash ("" at the root).
    pub prefix: String,
    pub path: DavPath,
    pub headers: HeaderMap,
    pub method: Method,
    /// The files tree's prefix, for uploads-area MOVE destinations.
    pub files_mount: Option<String>,
    if_header: Option<IfHeader>,
}

impl<B: DavBackend> Ctx<B> {
    pub fn href(&self, path: &DavPath, collection: bool) -> String {
        path.href(&self.prefix, collection)
    }

    pub fn host(&self) -> Option<&str> {
        self.headers.get(header::HOST).and_then(|h| h.to_str().ok())
    }

    pub fn if_header(&self) -> Option<&IfHeader> {
        self.if_header.as_ref()
    }

    /// Maps a percent-encoded absolute path (from `Destination` or an `If` resource tag) into
    /// this mount; `Ok(None)` when it lies outside. Compared segment-wise after decoding, so
    /// `%7E` and `~` are the same and `..` can never climb out.
    pub fn path_in_mount(&self, encoded: &str) -> Result<Option<DavPath>, DavError> {
        path_under(&self.prefix, encoded)
    }

    /// The resolved `Destination` header inside this mount: 400 when absent, 502 for another
    /// host, 403 when outside the mount (RFC 4918 allows 502 there; 403 is clearer, the server
    /// is the same, the target simply is not reachable through this mount).
    pub fn destination(&self) -> Result<DavPath, DavError> {
        let raw = headers::destination(&self.headers, self.host())?
            .ok_or_else(|| DavError::bad_request("Der Destination-Header fehlt."))?;
        self.path_in_mount(raw)?
            .ok_or_else(|| DavError::forbidden("Das Ziel liegt außerhalb dieses Bereichs."))
    }
}

/// Maps an encoded absolute path under an encoded prefix to a [`DavPath`].
pub(crate) fn path_under(prefix: &str, encoded: &str) -> Result<Option<DavPath>, DavError> {
    let pre = decoded_segments(prefix)?;
    let segs = decoded_segments(encoded)?;
    if segs.len() < pre.len() || segs[..pre.len()] != pre[..] {
        return Ok(None);
    }
    DavPath::from_segments(&segs[pre.len()..]).map(Some)
}

/// The mount prefix: the host's [`MountPrefix`], else what nesting stripped off the URI.
fn mount_prefix(req: &Request) -> String {
    if let Some(MountPrefix(p)) = req.extensions().get::<MountPrefix>() {
        return p.trim_end_matches('/').to_owned();
    }
    if let Some(OriginalUri(orig)) = req.extensions().get::<OriginalUri>() {
        let full = orig.path();
        let rest = req.uri().path();
        if rest == "/" && !full.ends_with('/') {
            return full.to_owned();
        }
        if let Some(p) = full.strip_suffix(rest) {
            return p.trim_end_matches('/').to_owned();
        }
    }
    String::new()
}

pub(crate) async fn dispatch<B: DavBackend>(backend: Arc<B>, req: Request, area: Area) -> Response {
    match build(backend, req, area).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn build<B: DavBackend>(
    backend: Arc<B>,
    req: Request,
    area: Area,
) -> Result<Response, DavError> {
    let prefix = mount_prefix(&req);
    let files_mount = req
        .extensions()
        .get::<FilesMount>()
        .map(|FilesMount(p)| p.trim_end_matches('/').to_owned());
    let principal = req
        .extensions()
        .get::<B::Principal>()
        .cloned()
        .ok_or_else(DavError::not_authenticated)?;
    let (parts, body) = req.into_parts();
    let (path, _trailing_slash) = DavPath::from_uri_path(parts.uri.path())?;
    let if_header = headers::if_header(&parts.headers)?;
    let ctx = Ctx {
        backend,
        principal,
        prefix,
        path,
        headers: parts.headers,
        method: parts.method,
        files_mount,
        if_header,
    };
    match area {
        Area::Files => files(&ctx, body).await,
        Area::Uploads => chunking::ng::handle(&ctx, body).await,
    }
}

/// Methods served on the files tree, for `Allow`.
pub(crate) const ALLOW: &str =
    "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK";

/// A 405 on the files tree; it must say what is allowed instead (RFC 9110 §15.5.6).
pub(crate) fn method_not_allowed(message: impl Into<String>) -> DavError {
    DavError::method_not_allowed(message)
        .with_header(header::ALLOW, HeaderValue::from_static(ALLOW))
}

async fn files<B: DavBackend>(ctx: &Ctx<B>, body: Body) -> Result<Response, DavError> {
    match ctx.method.as_str() {
        "OPTIONS" => methods::options::handle(ctx).await,
        "PROPFIND" => methods::propfind::handle(ctx, body).await,
        "PROPPATCH" => methods::proppatch::handle(ctx, body).await,
        "GET" => methods::get::handle(ctx, false).await,
        "HEAD" => methods::get::handle(ctx, true).await,
        "PUT" => methods::put::handle(ctx, body).await,
        "MKCOL" => methods::mkcol::handle(ctx, body).await,
        "DELETE" => methods::delete::handle(ctx).await,
        "COPY" => methods::copy::handle(ctx).await,
        "MOVE" => methods::r#move::handle(ctx).await,
        "LOCK" => methods::lock::handle(ctx, body).await,
        "UNLOCK" => methods::unlock::handle(ctx).await,
        // Known to HTTP, refused here: TRACE would echo the credentials back.
        "TRACE" | "CONNECT" | "POST" | "PATCH" => {
            Err(method_not_allowed("Diese Methode ist hier nicht erlaubt."))
        }
        _ => Err(
            DavError::not_implemented("Diese Methode wird nicht unterstützt.")
                .with_header(header::ALLOW, HeaderValue::from_static(ALLOW)),
        ),
    }
}
