//! The security headers of every response of every door (web pages, WebDAV, OCS,
//! health), set in one layer around the whole router so that no route can go without
//! them. A response that sets one of them itself keeps its own (file bodies carry a
//! stricter policy, the stylesheet may be cached).

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The pages' policy: nothing from elsewhere, no inline script or style, never framed.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One year, this host and every subdomain (ASVS 5.0 V3.4.1 at L2).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Wraps `router` in the headers; `hsts` only when this process terminates TLS.
pub fn apply(router: Router, hsts: bool) -> Router {
    let set = |name, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let r = router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        // Everything here is personal or depends on who asks; only what says otherwise
        // (the stylesheet) may be kept by a browser or a proxy.
        .layer(set(header::CACHE_CONTROL, "no-store"));
    if hsts {
        r.layer(set(header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        r
    }
}
