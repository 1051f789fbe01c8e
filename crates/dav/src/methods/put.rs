//! PUT: streams the body to the backend with the client's mtime, checksum and length, answers
//! with the ownCloud headers. Chunking-v1 chunk names are diverted to [`crate::chunking::v1`].

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::backend::{DavBackend, Expect, WriteOptions};
use crate::body::upload_stream;
use crate::chunking;
use crate::context::{Ctx, method_not_allowed};
use crate::error::DavError;
use crate::headers;
use crate::locks::{Target, check_write};
use crate::path::DavPath;

use super::changed_response;

/// The client's description of an upload, shared by PUT, v1 chunks and the NG final MOVE;
/// `expect` is what [`write_preconditions`](super::write_preconditions) found.
pub(crate) fn write_options<B: DavBackend>(
    ctx: &Ctx<B>,
    expected_len: Option<u64>,
    expect: Expect,
) -> Result<WriteOptions, DavError> {
    Ok(WriteOptions {
        mtime: headers::oc_mtime(&ctx.headers)?,
        checksum: headers::oc_checksum(&ctx.headers)?,
        expected_len,
        content_type: ctx
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        expect,
    })
}

/// Everything checked before the first byte of a file upload (PUT or a v1 chunk) to `path` is
/// read: it is no collection, a new file's parent exists, the conditional headers hold and no
/// lock stands in the way. Returns what the backend must re-check atomically.
pub(crate) async fn check_file_write<B: DavBackend>(
    ctx: &Ctx<B>,
    path: &DavPath,
) -> Result<Expect, DavError> {
    let current = super::resolve(ctx, path).await?;
    if current.as_ref().is_some_and(|e| e.is_collection) {
        return Err(method_not_allowed(
            "An dieser Stelle existiert bereits ein Ordner.",
        ));
    }
    if current.is_none() {
        super::require_parent(ctx, path).await?;
    }
    let expect = super::write_preconditions(&ctx.headers, current.as_ref())?;
    let targets = Target::for_write(path, current.is_none());
    check_write(ctx, &targets, current.as_ref()).await?;
    Ok(expect)
}

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>, body: Body) -> Result<Response, DavError> {
    if ctx.headers.contains_key(header::CONTENT_RANGE) {
        // Partial PUT is not part of HTTP (RFC 9110 §14.5); refusing beats storing a fragment.
        return Err(DavError::bad_request(
            "Teilweises Hochladen mit Content-Range wird nicht unterstützt.",
        ));
    }
    if let Some(chunk) = chunking::v1::parse_request(ctx)? {
        return chunking::v1::put_chunk(ctx, chunk, body).await;
    }
    let expect = check_file_write(ctx, &ctx.path).await?;

    let expected = match headers::content_length(&ctx.headers)? {
        Some(n) => Some(n),
        None => headers::oc_total_length(&ctx.headers)?,
    };
    let opts = write_options(ctx, expected, expect)?;
    let mtime_applied = opts.mtime.is_some();
    let (stream, verdict) = upload_stream(body, expected);
    let outcome = match ctx
        .backend
        .write(&ctx.principal, &ctx.path, stream, opts)
        .await
    {
        Ok(o) => o,
        // Our own length check explains the failure better than the backend's I/O error.
        Err(e) => return Err(verdict.take().unwrap_or(e)),
    };
    let mut resp = changed_response(outcome.created, &outcome.entry, mtime_applied);
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn create_then_overwrite_keeps_file_id() {
        let t = TestDav::new();
        let r = t
            .req("PUT", "/a.txt")
            .header("x-oc-mtime", "1600000000")
            .body("one")
            .send()
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.header("x-oc-mtime"), Some("accepted"));
        let id = r.header("oc-fileid").map(str::to_owned).expect("file id");
        let etag = r.header("etag").map(str::to_owned).expect("etag");
        assert_eq!(r.header("oc-etag"), Some(etag.as_str()));
        let r = t
            .req("PUT", "/a.txt")
            .header("if-match", &etag)
            .body("two")
            .send()
            .await;
        assert_eq!(r.status, 204);
        assert_eq!(r.header("oc-fileid"), Some(id.as_str()));
        assert_eq!(r.header("x-oc-mtime"), None);
        assert_ne!(r.header("etag"), Some(etag.as_str()));
        let r = t
            .req("PUT", "/a.txt")
            .header("if-match", &etag)
            .body("three")
            .send()
            .await;
        assert_eq!(r.status, 412);
        let r = t
            .req("PUT", "/a.txt")
            .header("if-none-match", "*")
            .body("three")
            .send()
            .await;
        assert_eq!(r.status, 412);
        assert_eq!(t.get("/a.txt").await, "two");
    }

    #[tokio::test]
    async fn refusals() {
        let t = TestDav::new();
        t.mkcol("/d").await;
        assert_eq!(t.req("PUT", "/d").body("x").send().await.status, 405);
        assert_eq!(t.req("PUT", "/nope/x").body("x").send().await.status, 409);
        assert_eq!(
            t.req("PUT", "/new")
                .header("if-match", "*")
                .body("x")
                .send()
                .await
                .status,
            412
        );
        assert_eq!(
            t.req("PUT", "/r")
                .header("content-range", "bytes 0-1/2")
                .body("x")
                .send()
                .await
                .status,
            400
        );
    }

    #[tokio::test]
    async fn checksum_and_length_are_verified() {
        let t = TestDav::new();
        let r = t
            .req("PUT", "/c")
            .header(
                "oc-checksum",
                "SHA1:0000000000000000000000000000000000000000",
            )
            .body("data")
            .send()
            .await;
        assert_eq!(r.status, 400);
        assert!(
            r.headers
                .get("oc-errorstring")
                .is_some_and(|v| String::from_utf8_lossy(v.as_bytes()).contains("Prüfsumme"))
        );
        assert_eq!(t.req("GET", "/c").send().await.status, 404);
        let r = t
            .req("PUT", "/c")
            .header(
                "oc-checksum",
                "SHA1:a17c9aaa61e80a1bf71d0d850af4e5baa9800bbd",
            )
            .body("data")
            .send()
            .await;
        assert_eq!(r.status, 201);
        let r = t
            .req("PUT", "/l")
            .header("oc-total-length", "10")
            .body("data")
            .send()
            .await;
        assert_eq!(r.status, 400);
        assert!(r.body.contains("10"));
        assert_eq!(t.req("GET", "/l").send().await.status, 404);
    }
}
