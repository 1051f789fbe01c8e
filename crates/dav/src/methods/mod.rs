//! One module per WebDAV method, plus the helpers they share.

pub mod copy;
pub mod delete;
pub mod get;
pub mod lock;
pub mod mkcol;
pub mod r#move;
pub mod options;
pub mod propfind;
pub mod proppatch;
pub mod put;
mod transfer;
pub mod unlock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::{DavBackend, Entry, Expect, Want};
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers::{self, EtagList};
use crate::path::DavPath;

/// The entry at `path` with only the always-present data.
pub(crate) async fn resolve<B: DavBackend>(
    ctx: &Ctx<B>,
    path: &DavPath,
) -> Result<Option<Entry>, DavError> {
    ctx.backend
        .resolve(&ctx.principal, path, Want::default())
        .await
}

pub(crate) fn not_found() -> DavError {
    DavError::not_found("Die Datei oder der Ordner wurde nicht gefunden.")
}

/// The parent of `path` must exist and be a collection, else 409 (RFC 4918 §9.7.1).
pub(crate) async fn require_parent<B: DavBackend>(
    ctx: &Ctx<B>,
    path: &DavPath,
) -> Result<(), DavError> {
    let parent = path
        .parent()
        .ok_or_else(|| DavError::forbidden("Das Wurzelverzeichnis kann nicht ersetzt werden."))?;
    match resolve(ctx, &parent).await? {
        Some(p) if p.is_collection => Ok(()),
        _ => Err(DavError::conflict(
            "Der übergeordnete Ordner existiert nicht.",
        )),
    }
}

/// `If-Match` / `If-None-Match` on a state-changing request, against the current entry
/// (RFC 9110 §13): a mismatch is 412. Returns what the backend must re-check atomically.
pub(crate) fn write_preconditions(
    headers: &HeaderMap,
    current: Option<&Entry>,
) -> Result<Expect, DavError> {
    let failed = || DavError::precondition_failed("Die Datei wurde inzwischen geändert.");
    let mut expect = Expect::Any;
    if let Some(list) = headers::etag_list(headers, "if-match")? {
        match (current, &list) {
            (None, _) => return Err(failed()),
            (Some(_), EtagList::Any) => expect = Expect::Existing,
            (Some(e), EtagList::Tags(_)) if list.matches(&e.etag) => {
                expect = Expect::Etag(e.etag.clone());
            }
            (Some(_), _) => return Err(failed()),
        }
    }
    if let Some(list) = headers::etag_list(headers, "if-none-match")? {
        match current {
            Some(e) if list.matches(&e.etag) => return Err(failed()),
            None if list == EtagList::Any => expect = Expect::New,
            _ => {}
        }
    }
    Ok(expect)
}

/// A quoted ETag header value.
pub(crate) fn etag_header(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{etag}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// The answer to a change: 201 when it created `entry`, else 204, with the ownCloud headers
/// `ETag`, `OC-ETag`, `OC-FileId`, and `X-OC-MTime: accepted` when the client's mtime was applied.
pub(crate) fn changed_response(created: bool, entry: &Entry, mtime_applied: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    };
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    if !entry.is_collection {
        h.insert("etag", etag_header(&entry.etag));
    }
    h.insert("oc-etag", etag_header(&entry.etag));
    if let Ok(v) = HeaderValue::from_str(&entry.oc_id) {
        h.insert("oc-fileid", v);
    }
    if mtime_applied {
        h.insert("x-oc-mtime", HeaderValue::from_static("accepted"));
    }
    resp
}

/// A multistatus (or other XML) body with the one content type the clients accept.
pub(crate) fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::XML_CONTENT_TYPE),
    );
    resp
}
