//! Request bodies: small XML bodies are collected under a cap; uploads are passed on as a stream
//! that checks the announced length, so memory stays flat whatever the file size.

use std::io;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::backend::ByteStream;
use crate::error::DavError;

/// Largest XML request body accepted (PROPFIND, PROPPATCH, LOCK). Real ones are a few KiB.
pub const MAX_XML_BODY: usize = 1024 * 1024;

fn too_large() -> DavError {
    DavError::payload_too_large("Der XML-Inhalt der Anfrage ist zu groß.")
}

/// Collects a body of at most `limit` bytes; larger ones are refused with 413 without reading
/// further than the limit.
pub async fn collect_limited(
    body: Body,
    declared: Option<u64>,
    limit: usize,
) -> Result<Bytes, DavError> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| DavError::bad_request("Der Inhalt der Anfrage ist unvollständig."))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// True when the request carries a body (for methods where a body is an error, e.g. MKCOL).
pub async fn has_content(body: Body) -> Result<bool, DavError> {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| DavError::bad_request("Der Inhalt der Anfrage ist unvollständig."))?;
        if !chunk.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Records why an upload stream failed, so the engine can answer 400 with the reason even though
/// the backend only saw an I/O error.
#[derive(Clone, Default)]
pub struct StreamVerdict(Arc<Mutex<Option<DavError>>>);

impl StreamVerdict {
    fn set(&self, e: DavError) {
        if let Ok(mut g) = self.0.lock() {
            g.get_or_insert(e);
        }
    }

    /// The recorded error, if the stream failed on our check.
    pub fn take(&self) -> Option<DavError> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

/// Turns an upload body into a [`ByteStream`] that fails (before its end, so a backend that
/// commits only on a clean end never commits) when it carries more or fewer bytes than announced.
pub fn upload_stream(body: Body, expected: Option<u64>) -> (ByteStream, StreamVerdict) {
    let verdict = StreamVerdict::default();
    let v = verdict.clone();
    let state = (body.into_data_stream(), 0u64, false);
    let stream = futures_util::stream::unfold(state, move |(mut inner, mut seen, done)| {
        let v = v.clone();
        async move {
            if done {
                return None;
            }
            match inner.next().await {
                Some(Ok(chunk)) => {
                    seen += chunk.len() as u64;
                    if let Some(exp) = expected
                        && seen > exp
                    {
                        let e = DavError::bad_request(format!(
                            "Erwartete Dateigröße {exp} Bytes, erhalten mehr."
                        ));
                        v.set(e);
                        return Some((
                            Err(io::Error::new(io::ErrorKind::InvalidData, "too long")),
                            (inner, seen, true),
                        ));
                    }
                    Some((Ok(chunk), (inner, seen, false)))
                }
                Some(Err(e)) => Some((Err(io::Error::other(e)), (inner, seen, true))),
                None => match expected {
                    Some(exp) if seen != exp => {
                        v.set(DavError::bad_request(format!(
                            "Erwartete Dateigröße {exp} Bytes, erhalten {seen} Bytes."
                        )));
                        Some((
                            Err(io::Error::new(io::ErrorKind::UnexpectedEof, "too short")),
                            (inner, seen, true),
                        ))
                    }
                    _ => None,
                },
            }
        }
    });
    (Box::pin(stream), verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(mut s: ByteStream) -> Result<usize, io::Error> {
        let mut n = 0;
        while let Some(c) = s.next().await {
            n += c?.len();
        }
        Ok(n)
    }

    #[tokio::test]
    async fn length_is_checked() {
        let (s, v) = upload_stream(Body::from("hello"), Some(5));
        assert_eq!(drain(s).await.ok(), Some(5));
        assert!(v.take().is_none());
        let (s, v) = upload_stream(Body::from("hello"), Some(6));
        assert!(drain(s).await.is_err());
        assert_eq!(v.take().map(|e| e.status().as_u16()), Some(400));
        let (s, v) = upload_stream(Body::from("hello"), Some(4));
        assert!(drain(s).await.is_err());
        assert!(v.take().is_some());
        let (s, _) = upload_stream(Body::from("hello"), None);
        assert_eq!(drain(s).await.ok(), Some(5));
    }

    #[tokio::test]
    async fn xml_cap() {
        let big = vec![b'a'; MAX_XML_BODY + 1];
        let e = collect_limited(Body::from(big), None, MAX_XML_BODY)
            .await
            .expect_err("too big");
        assert_eq!(e.status().as_u16(), 413);
        let e = collect_limited(Body::empty(), Some(u64::MAX), MAX_XML_BODY)
            .await
            .expect_err("declared");
        assert_eq!(e.status().as_u16(), 413);
    }
}
