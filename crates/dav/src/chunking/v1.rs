//! Chunking v1: `PUT {dir}/{name}-chunking-{transfer}-{count}-{index}` with `OC-Chunked: 1`.
//! Chunks may arrive in any order and in parallel; whichever request completes the set assembles
//! the file and is the only one answered with an ETag (that is how the client knows it is done).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::backend::DavBackend;
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers;
use crate::methods::put::check_file_write;
use crate::path::DavPath;

use super::{assemble_into, check_total, file_order, store_chunk};

/// Most chunks accepted per transfer (10 MB chunks → 100 GB).
const MAX_CHUNKS: u64 = 10_000;

/// A parsed v1 chunk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkRequest {
    pub target: DavPath,
    pub transfer: String,
    pub count: u64,
    pub index: u64,
}

/// Parses `name-chunking-<transfer>-<count>-<index>`. Only with `OC-Chunked` present, so that a
/// file that merely looks like a chunk name is stored as it is.
pub(crate) fn parse_name(path: &DavPath) -> Option<(DavPath, String, u64, u64)> {
    let name = path.name();
    let pos = name.rfind("-chunking-")?;
    let base = &name[..pos];
    let mut parts = name[pos + "-chunking-".len()..].split('-');
    let transfer = parts.next()?;
    let count = decimal(parts.next()?)?;
    let index = decimal(parts.next()?)?;
    if parts.next().is_some() || base.is_empty() || !is_digits(transfer) {
        return None;
    }
    let target = path.parent()?.join(base).ok()?;
    Some((target, transfer.to_owned(), count, index))
}

/// A number in the documented form: ASCII digits only. (`str::parse` also takes a leading `+`,
/// which would make a name that is no chunk name refused instead of stored.)
fn decimal(s: &str) -> Option<u64> {
    is_digits(s).then(|| s.parse().ok()).flatten()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The backend's session key for a v1 transfer: per target file, because the transfer id is
/// only the client's random number and two files may share one; and starting with a dot, which
/// chunking NG refuses in a session name ([`super::check_name`]), so that an NG client can never
/// name, fill or complete a v1 session, nor a v1 upload an NG one.
pub(crate) fn session_key(chunk: &ChunkRequest) -> String {
    format!(
        ".v1-{}-{}-{:032x}",
        chunk.transfer,
        chunk.count,
        fnv1a_128(chunk.target.as_str().as_bytes())
    )
}

/// FNV-1a, 128 bits: stable across builds and Rust versions (sessions outlive a restart), which
/// `std`'s hasher does not promise. Not collision-resistant against a chosen input, and need not
/// be: sessions are per principal, so only a user's own uploads could be made to collide.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u128::from(*b)).wrapping_mul(PRIME))
}

pub(crate) fn parse_request<B: DavBackend>(ctx: &Ctx<B>) -> Result<Option<ChunkRequest>, DavError> {
    if !ctx.headers.contains_key("oc-chunked") {
        return Ok(None);
    }
    let Some((target, transfer, count, index)) = parse_name(&ctx.path) else {
        return Ok(None);
    };
    if count == 0 || count > MAX_CHUNKS || index >= count {
        return Err(DavError::bad_request(
            "Ungültige Teilnummer beim Hochladen.",
        ));
    }
    Ok(Some(ChunkRequest {
        target,
        transfer,
        count,
        index,
    }))
}

pub(crate) async fn put_chunk<B: DavBackend>(
    ctx: &Ctx<B>,
    chunk: ChunkRequest,
    body: Body,
) -> Result<Response, DavError> {
    let expect = check_file_write(ctx, &chunk.target).await?;

    let session = session_key(&chunk);
    let total = headers::oc_total_length(&ctx.headers)?;
    ctx.backend
        .upload_create(&ctx.principal, &session, total)
        .await?;
    let name = format!("{:016}", chunk.index);
    store_chunk(ctx, &session, &name, body).await?;

    let chunks = ctx
        .backend
        .upload_chunks(&ctx.principal, &session)
        .await?
        .unwrap_or_default();
    if (chunks.len() as u64) < chunk.count {
        return Ok(StatusCode::CREATED.into_response());
    }
    let (names, sum) = file_order(chunks);
    if let Err(e) = check_total(total, sum) {
        ctx.backend.upload_delete(&ctx.principal, &session).await?;
        return Err(e);
    }
    assemble_into(ctx, &session, &names, sum, &chunk.target, expect).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    #[test]
    fn names() {
        let p = DavPath::from_segments(["d", "my file-chunking-4711-3-2"]).expect("path");
        let (t, tr, c, i) = parse_name(&p).expect("chunk");
        assert_eq!(
            (t.as_str(), tr.as_str(), c, i),
            ("/d/my file", "4711", 3, 2)
        );
        let p = DavPath::from_segments(["x-chunking-a-1-0"]).expect("path");
        assert!(parse_name(&p).is_none());
        for plain in [
            "a-chunking-0-+0-0",
            "a-chunking-0-0-+0",
            "a-chunking-+1-1-0",
            "a-chunking-1--1-0",
        ] {
            let p = DavPath::from_segments([plain]).expect("path");
            assert!(parse_name(&p).is_none(), "{plain}");
        }
        // The transfer id is compared, never computed with: any number of digits.
        let long = "a-chunking-123456789012345678901234567890-2-1";
        let p = DavPath::from_segments([long]).expect("path");
        assert!(parse_name(&p).is_some());
    }

    #[test]
    fn session_keys_are_per_target_and_outside_the_ng_names() {
        let req = |path: &str| {
            let (target, transfer, count, index) =
                parse_name(&DavPath::from_segments(path.split('/')).expect("path")).expect("chunk");
            ChunkRequest {
                target,
                transfer,
                count,
                index,
            }
        };
        let a = session_key(&req("a/f-chunking-7-2-0"));
        assert_eq!(
            a,
            session_key(&req("a/f-chunking-7-2-1")),
            "one transfer, one key"
        );
        assert_ne!(a, session_key(&req("b/f-chunking-7-2-1")), "another folder");
        assert_ne!(a, session_key(&req("a/g-chunking-7-2-1")), "another file");
        assert_ne!(a, session_key(&req("a/f-chunking-7-3-1")), "another count");
        assert!(
            super::super::check_name(&a).is_err(),
            "{a} is a valid NG session name"
        );
        assert!(a.len() < 255, "{a}");
    }

    #[tokio::test]
    async fn v1_assembles_when_complete_in_any_order() {
        let t = TestDav::new();
        let put = |i: u32, data: &'static str| {
            t.req("PUT", &format!("/f.bin-chunking-99-3-{i}"))
                .header("oc-chunked", "1")
                .header("oc-total-length", "9")
                .header("x-oc-mtime", "1600000000")
                .body(data)
        };
        let r = put(2, "789").send().await;
        assert_eq!(r.status, 201);
        assert!(r.header("etag").is_none());
        let r = put(0, "123").send().await;
        assert!(r.header("etag").is_none());
        assert_eq!(
            t.req("GET", "/f.bin").send().await.status,
            404,
            "nothing visible yet"
        );
        let r = put(1, "456").send().await;
        assert_eq!(r.status, 201);
        assert!(r.header("etag").is_some());
        assert!(r.header("oc-fileid").is_some());
        assert_eq!(t.get("/f.bin").await, "123456789");
        // Without OC-Chunked the name is just a name.
        assert_eq!(
            t.req("PUT", "/g-chunking-1-2-0")
                .body("x")
                .send()
                .await
                .status,
            201
        );
        assert_eq!(t.get("/g-chunking-1-2-0").await, "x");
    }
}
