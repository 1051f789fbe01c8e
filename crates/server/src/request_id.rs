//! One id per request, for every door: the client's `X-Request-Id` when it is a sane token
//! (the ownCloud and Nextcloud clients send one with every request, a proxy may set one),
//! else a new random one. It comes back in the response header and goes into every audit
//! entry the request causes (`amtsbote_core::audit::REQUEST`), so that a user's report,
//! the proxy's log and the audit log meet on one value. The client's address goes with it,
//! for the entries whose use case does not name one (uploads, downloads, admin acts).

use amtsbote_core::audit::{REQUEST, RequestContext};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A client's id is taken as it is only if it cannot smuggle anything into a log or a
/// page: 8 to 64 letters, digits, `-`, `_` or `.`.
fn sane(s: &str) -> bool {
    (8..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub async fn layer(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| sane(s))
        .map_or_else(|| amtsbote_core::ids::token(16), str::to_string);
    // The peer's address, as the log-in throttle sees it (behind a proxy: the proxy's).
    let ip = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let context = RequestContext { id: id.clone(), ip };
    let mut response = REQUEST.scope(context, next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_tokens_are_taken() {
        assert!(sane("4f1c9a6e-0d2b-4c1e-9a51-7b3e2f0c8d11"));
        assert!(sane("abcd1234"));
        assert!(!sane("short"));
        assert!(!sane(&"a".repeat(65)));
        assert!(!sane("abc def ghi"));
        assert!(!sane("abcdefgh\nINJECTED"));
        assert!(!sane("<script>alert(1)</script>"));
    }
}
