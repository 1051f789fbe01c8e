//! GET and HEAD: streamed content with `ETag` (the clients refuse downloads without one),
//! `Last-Modified`, `OC-Checksum`, conditional requests and single byte ranges.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::{DavBackend, Entry};
use crate::context::{Ctx, method_not_allowed};
use crate::error::DavError;
use crate::headers::{self, RangeRequest, normalize_etag};
use crate::props::oc_checksum_header;
use crate::time::{http_date, parse_http_date};

use super::etag_header;

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>, head: bool) -> Result<Response, DavError> {
    let entry = super::resolve(ctx, &ctx.path)
        .await?
        .ok_or_else(super::not_found)?;
    if entry.is_collection {
        if head {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut()
                .insert(header::ETAG, etag_header(&entry.etag));
            return Ok(resp);
        }
        return Err(method_not_allowed(
            "Ordner können nicht heruntergeladen werden.",
        ));
    }
    if let Some(resp) = conditional(ctx, &entry)? {
        return Ok(resp);
    }
    let range = match range_applies(ctx, &entry) {
        true => headers::range(&ctx.headers, entry.size),
        false => RangeRequest::Full,
    };
    let (status, range) = match range {
        RangeRequest::Full => (StatusCode::OK, None),
        RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        RangeRequest::Unsatisfiable => {
            return Err(DavError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "Der angeforderte Bereich liegt außerhalb der Datei.",
            )
            .with_header(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{}", entry.size))
                    .unwrap_or_else(|_| HeaderValue::from_static("bytes */0")),
            ));
        }
    };
    let len = range.as_ref().map_or(entry.size, |r| r.end - r.start);
    let body = if head {
        Body::empty()
    } else {
        Body::from_stream(
            ctx.backend
                .read(&ctx.principal, &entry, range.clone())
                .await?,
        )
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    common_headers(h, &entry);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(r) = range
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            r.start,
            r.end.saturating_sub(1),
            entry.size
        ))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

fn common_headers(h: &mut axum::http::HeaderMap, entry: &Entry) {
    h.insert(header::ETAG, etag_header(&entry.etag));
    if let Ok(v) = HeaderValue::from_str(&http_date(entry.mtime)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    // The type the uploader claimed stays in PROPFIND; the body is a neutral download.
    crate::download::set_file_body_headers(h, entry.path.name());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(v) = oc_checksum_header(entry).and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert("oc-checksum", v);
    }
}

/// RFC 9110 §13.2.2 order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.
fn conditional<B: DavBackend>(ctx: &Ctx<B>, entry: &Entry) -> Result<Option<Response>, DavError> {
    let h = &ctx.headers;
    if let Some(list) = headers::etag_list(h, "if-match")?
        && !list.matches(&entry.etag)
    {
        return Err(DavError::precondition_failed(
            "Die Datei wurde inzwischen geändert.",
        ));
    }
    if h.get("if-match").is_none()
        && let Some(since) = h
            .get(header::IF_UNMODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date)
        && secs(entry.mtime) > secs(since)
    {
        return Err(DavError::precondition_failed(
            "Die Datei wurde inzwischen geändert.",
        ));
    }
    let not_modified = || {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut()
            .insert(header::ETAG, etag_header(&entry.etag));
        resp
    };
    if let Some(list) = headers::etag_list(h, "if-none-match")? {
        if list.matches(&entry.etag) {
            return Ok(Some(not_modified()));
        }
    } else if let Some(since) = h
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        && secs(entry.mtime) <= secs(since)
    {
        return Ok(Some(not_modified()));
    }
    Ok(None)
}

fn secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `If-Range`: the range only applies while the representation is unchanged.
fn range_applies<B: DavBackend>(ctx: &Ctx<B>, entry: &Entry) -> bool {
    match ctx
        .headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(v) if v.trim_start().starts_with('"') || v.trim_start().starts_with("W/") => {
            normalize_etag(v) == entry.etag
        }
        Some(v) => parse_http_date(v).is_some_and(|t| secs(entry.mtime) <= secs(t)),
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn get_with_headers_and_ranges() {
        let t = TestDav::new();
        t.put("/f.txt", "0123456789").await;
        let r = t.req("GET", "/f.txt").send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "0123456789");
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert!(
            r.header("content-disposition")
                .is_some_and(|v| v.starts_with("attachment;"))
        );
        assert!(
            r.header("content-security-policy")
                .is_some_and(|v| v.starts_with("sandbox"))
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let etag = r.header("etag").map(str::to_owned).expect("etag");
        assert!(etag.starts_with('"'));
        assert_eq!(r.header("content-length"), Some("10"));
        assert!(r.header("last-modified").is_some());
        assert_eq!(
            r.header("oc-checksum"),
            Some("SHA1:87acec17cd9dcd20a716cc2cf67417b71c8a7016")
        );

        let r = t
            .req("GET", "/f.txt")
            .header("range", "bytes=2-4")
            .send()
            .await;
        assert_eq!(r.status, 206);
        assert_eq!(r.body, "234");
        assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
        let r = t
            .req("GET", "/f.txt")
            .header("range", "bytes=7-")
            .send()
            .await;
        assert_eq!((r.status, r.body.as_str()), (206, "789"));
        let r = t
            .req("GET", "/f.txt")
            .header("range", "bytes=20-")
            .send()
            .await;
        assert_eq!(r.status, 416);
        assert_eq!(r.header("content-range"), Some("bytes */10"));
        let r = t
            .req("GET", "/f.txt")
            .header("range", "bytes=2-4")
            .header("if-range", "\"other\"")
            .send()
            .await;
        assert_eq!(r.status, 200);

        let r = t
            .req("GET", "/f.txt")
            .header("if-none-match", &etag)
            .send()
            .await;
        assert_eq!(r.status, 304);
        let r = t
            .req("GET", "/f.txt")
            .header("if-match", "\"nope\"")
            .send()
            .await;
        assert_eq!(r.status, 412);

        let r = t.req("HEAD", "/f.txt").send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "");
        assert_eq!(r.header("content-length"), Some("10"));
    }

    #[tokio::test]
    async fn missing_and_collections() {
        let t = TestDav::new();
        assert_eq!(t.req("GET", "/nope").send().await.status, 404);
        t.mkcol("/d").await;
        assert_eq!(t.req("GET", "/d/").send().await.status, 405);
        assert_eq!(t.req("HEAD", "/d/").send().await.status, 200);
    }
}
