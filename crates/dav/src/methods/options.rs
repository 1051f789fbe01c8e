//! OPTIONS: advertises WebDAV class 1 and 2 (locking).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::DavBackend;
use crate::context::{ALLOW, Ctx};
use crate::error::DavError;

pub(crate) async fn handle<B: DavBackend>(_ctx: &Ctx<B>) -> Result<Response, DavError> {
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert("dav", HeaderValue::from_static("1, 2"));
    h.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    // Windows' WebDAV redirector looks for this before it treats the server as DAV.
    h.insert("ms-author-via", HeaderValue::from_static("DAV"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn advertises_class_2() {
        let t = TestDav::new();
        let r = t.req("OPTIONS", "/").send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("dav"), Some("1, 2"));
        assert!(
            r.header("allow")
                .is_some_and(|a| a.contains("PROPFIND") && a.contains("LOCK"))
        );
    }

    #[tokio::test]
    async fn needs_a_principal() {
        let t = TestDav::new();
        let r = t.req("OPTIONS", "/").anonymous().send().await;
        assert_eq!(r.status, 401);
    }
}
