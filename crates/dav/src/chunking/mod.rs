//! Chunked uploads: ownCloud's chunking NG (an upload collection per transfer, assembled by a
//! final `MOVE .file`) and the legacy v1 (`name-chunking-<transfer>-<count>-<index>` PUTs).
//! Chunks are staging data held by the backend; nothing is visible in the tree until assembly
//! has gone through the backend's ingest pipeline.

pub mod ng;
pub mod v1;

use std::cmp::Ordering;

use axum::body::Body;
use axum::response::Response;

use crate::backend::{ChunkInfo, DavBackend, Expect};
use crate::body::upload_stream;
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers;
use crate::methods::{changed_response, put::write_options};
use crate::path::DavPath;

/// Longest accepted session id or chunk name.
const MAX_NAME: usize = 128;

/// Session ids and chunk names become storage keys in the backend; keep them to a harmless
/// alphabet.
pub(crate) fn check_name(name: &str) -> Result<(), DavError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(DavError::bad_request(
            "Ungültiger Name für einen Upload-Teil.",
        ))
    }
}

/// Orders chunk names by their leading integer (byte offsets from ownCloud, indexes from
/// Nextcloud, `start-end` from rclone all sort correctly), then by name. Works for numbers of
/// any length, so 16-digit zero padding and unpadded names mix correctly.
pub fn chunk_order(a: &str, b: &str) -> Ordering {
    fn lead(s: &str) -> Option<&str> {
        let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let d = s[..digits].trim_start_matches('0');
        Some(d)
    }
    match (lead(a), lead(b)) {
        (Some(x), Some(y)) => x
            .len()
            .cmp(&y.len())
            .then_with(|| x.cmp(y))
            .then_with(|| a.cmp(b)),
        // Names without a number go last, in name order.
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Streams one chunk of `session` to the backend, checked against `Content-Length`.
pub(crate) async fn store_chunk<B: DavBackend>(
    ctx: &Ctx<B>,
    session: &str,
    chunk: &str,
    body: Body,
) -> Result<(), DavError> {
    let expected = headers::content_length(&ctx.headers)?;
    let (stream, verdict) = upload_stream(body, expected);
    ctx.backend
        .upload_put_chunk(&ctx.principal, session, chunk, stream, expected)
        .await
        // Our own length check explains the failure better than the backend's I/O error.
        .map_err(|e| verdict.take().unwrap_or(e))
}

/// The chunk names in file order, and the size of the file they make.
pub(crate) fn file_order(mut chunks: Vec<ChunkInfo>) -> (Vec<String>, u64) {
    chunks.sort_by(|a, b| chunk_order(&a.name, &b.name));
    let sum = chunks.iter().map(|c| c.size).sum();
    (chunks.into_iter().map(|c| c.name).collect(), sum)
}

/// The chunks must add up to the length the client announced, if it announced one.
pub(crate) fn check_total(announced: Option<u64>, sum: u64) -> Result<(), DavError> {
    match announced {
        Some(total) if total != sum => Err(DavError::bad_request(format!(
            "Die Teile ergeben nicht {total}, sondern {sum} Bytes."
        ))),
        _ => Ok(()),
    }
}

/// Has the backend write the chunks `names` (in file order, `len` bytes together) to `dest`
/// through its ingest pipeline, and answers like a PUT.
pub(crate) async fn assemble_into<B: DavBackend>(
    ctx: &Ctx<B>,
    session: &str,
    names: &[String],
    len: u64,
    dest: &DavPath,
    expect: Expect,
) -> Result<Response, DavError> {
    let opts = write_options(ctx, Some(len), expect)?;
    let mtime_applied = opts.mtime.is_some();
    let outcome = ctx
        .backend
        .upload_assemble(&ctx.principal, session, names, dest, opts)
        .await?;
    Ok(changed_response(
        outcome.created,
        &outcome.entry,
        mtime_applied,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_order() {
        let mut v = vec![
            "10",
            "9",
            "0000000000000002",
            "x",
            "000000000000001-000000000000010",
            "0",
        ];
        v.sort_by(|a, b| chunk_order(a, b));
        assert_eq!(
            v,
            vec![
                "0",
                "000000000000001-000000000000010",
                "0000000000000002",
                "9",
                "10",
                "x"
            ]
        );
        let mut offsets = ["0000000010000000", "0000000000000000", "0000000025000000"];
        offsets.sort_by(|a, b| chunk_order(a, b));
        assert_eq!(offsets[0], "0000000000000000");
        assert_eq!(offsets[2], "0000000025000000");
    }

    #[test]
    fn names() {
        assert!(check_name("0000000000000001").is_ok());
        assert!(check_name("4242424242").is_ok());
        for bad in ["", ".file", "../x", "a/b", "ä"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
