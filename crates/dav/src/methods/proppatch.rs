//! PROPPATCH (RFC 4918 §9.2): dead properties are stored through the backend; the mtime can be
//! set through `DAV:lastmodified` (rclone) or `DAV:getlastmodified`; other live properties are
//! protected (403 in their propstat). All or nothing: when one instruction fails, the others are
//! reported as 424 and nothing is applied.

use std::time::SystemTime;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use crate::backend::{DavBackend, DeadProp, PropName, PropOp, PropPatch};
use crate::body::{MAX_XML_BODY, collect_limited};
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers::{self, parse_unix_time};
use crate::locks::{Target, check_write};
use crate::props::{is_ignored_on_patch, is_protected, is_settable_mtime};
use crate::time::parse_http_date;
use crate::xml::write::{MULTISTATUS_END, MULTISTATUS_START, PropList, escape, fragment};
use crate::xml::{DAV, parse_body};

use super::propfind::propstat;
use super::xml_response;

/// rclone sends unix seconds; others an HTTP date.
fn parse_mtime(v: &str) -> Option<SystemTime> {
    parse_unix_time(v).or_else(|| parse_http_date(v))
}

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>, body: Body) -> Result<Response, DavError> {
    let entry = super::resolve(ctx, &ctx.path)
        .await?
        .ok_or_else(super::not_found)?;
    check_write(ctx, &[Target::one(&ctx.path)], Some(&entry)).await?;
    let raw = collect_limited(body, headers::content_length(&ctx.headers)?, MAX_XML_BODY).await?;
    let root = parse_body(&raw)?
        .filter(|r| r.is(DAV, "propertyupdate"))
        .ok_or_else(|| DavError::bad_request("PROPPATCH erwartet ein <propertyupdate>-Element."))?;

    let mut patch = PropPatch::default();
    // (name, status) per instruction, in document order; `None` means "would succeed".
    let mut results: Vec<(PropName, Option<StatusCode>)> = Vec::new();
    for instr in root.elements() {
        let set = if instr.is(DAV, "set") {
            true
        } else if instr.is(DAV, "remove") {
            false
        } else {
            continue;
        };
        for prop in instr.elements().filter(|e| e.is(DAV, "prop")) {
            for p in prop.elements() {
                let name = PropName::new(&*p.ns, p.name.clone());
                let status = if is_ignored_on_patch(&name) {
                    None
                } else if set && is_settable_mtime(&name) {
                    match parse_mtime(&p.text()) {
                        Some(t) => {
                            patch.mtime = Some(t);
                            None
                        }
                        None => Some(StatusCode::CONFLICT),
                    }
                } else if is_protected(&name) || is_settable_mtime(&name) {
                    Some(StatusCode::FORBIDDEN)
                } else {
                    patch.ops.push(if set {
                        PropOp::Set(DeadProp {
                            name: name.clone(),
                            value: fragment(&p.children),
                        })
                    } else {
                        PropOp::Remove(name.clone())
                    });
                    None
                };
                results.push((name, status));
            }
        }
    }
    if results.is_empty() {
        return Err(DavError::bad_request("PROPPATCH ohne Eigenschaften."));
    }
    let failed = results.iter().any(|(_, s)| s.is_some());
    if !failed {
        ctx.backend
            .proppatch(&ctx.principal, &ctx.path, patch)
            .await?;
    }
    let mut groups: Vec<(StatusCode, PropList)> = Vec::new();
    for (name, status) in &results {
        let status = match status {
            Some(s) => *s,
            None if failed => StatusCode::FAILED_DEPENDENCY,
            None => StatusCode::OK,
        };
        let idx = match groups.iter().position(|(s, _)| *s == status) {
            Some(i) => i,
            None => {
                groups.push((status, PropList::new()));
                groups.len() - 1
            }
        };
        groups[idx].1.push(&name.ns, &name.name, None);
    }
    let mut out = String::from(MULTISTATUS_START);
    out.push_str("<d:response><d:href>");
    out.push_str(&escape(&ctx.href(&ctx.path, entry.is_collection)));
    out.push_str("</d:href>");
    for (status, props) in &groups {
        propstat(&mut out, props, *status);
    }
    if groups.iter().any(|(s, _)| *s == StatusCode::FORBIDDEN) {
        out.push_str("<d:error><d:cannot-modify-protected-property/></d:error>");
    }
    out.push_str("</d:response>");
    out.push_str(MULTISTATUS_END);
    Ok(xml_response(StatusCode::MULTI_STATUS, out))
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn rclone_lastmodified_sets_mtime() {
        let t = TestDav::new();
        t.put("/f", "data").await;
        let body = r#"<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:set><d:prop><d:lastmodified>1700000000</d:lastmodified><oc:checksums><oc:checksum>SHA1:x</oc:checksum></oc:checksums></d:prop></d:set></d:propertyupdate>"#;
        let r = t.req("PROPPATCH", "/f").body(body).send().await;
        assert_eq!(r.status, 207);
        assert!(r.body.contains("HTTP/1.1 200 OK"), "{}", r.body);
        assert!(!r.body.contains("424"));
        let r = t
            .propfind("/f", "0")
            .body(r#"<propfind xmlns="DAV:"><prop><getlastmodified/></prop></propfind>"#)
            .send()
            .await;
        assert!(
            r.body.contains("Tue, 14 Nov 2023 22:13:20 GMT"),
            "{}",
            r.body
        );
    }

    #[tokio::test]
    async fn protected_props_fail_everything() {
        let t = TestDav::new();
        t.put("/f", "data").await;
        let body = r#"<propertyupdate xmlns="DAV:"><set><prop><getetag>"x"</getetag><z:a xmlns:z="urn:z">1</z:a></prop></set></propertyupdate>"#;
        let r = t.req("PROPPATCH", "/f").body(body).send().await;
        assert_eq!(r.status, 207);
        assert!(r.body.contains("HTTP/1.1 403 Forbidden"));
        assert!(r.body.contains("HTTP/1.1 424 Failed Dependency"));
        assert!(r.body.contains("cannot-modify-protected-property"));
        let r = t
            .propfind("/f", "0")
            .body(r#"<propfind xmlns="DAV:"><prop><a xmlns="urn:z"/></prop></propfind>"#)
            .send()
            .await;
        assert!(
            r.body.contains("404 Not Found"),
            "nothing applied: {}",
            r.body
        );
    }

    #[tokio::test]
    async fn set_then_remove_in_order() {
        let t = TestDav::new();
        t.put("/f", "data").await;
        let body = r#"<propertyupdate xmlns="DAV:" xmlns:z="urn:z"><set><prop><z:a>1</z:a><z:b><x xmlns="urn:y">v</x></z:b></prop></set><remove><prop><z:a/></prop></remove></propertyupdate>"#;
        assert_eq!(t.req("PROPPATCH", "/f").body(body).send().await.status, 207);
        let r = t
            .propfind("/f", "0")
            .body(r#"<propfind xmlns="DAV:" xmlns:z="urn:z"><prop><z:a/><z:b/></prop></propfind>"#)
            .send()
            .await;
        assert!(
            r.body
                .contains("<b xmlns=\"urn:z\"><x xmlns=\"urn:y\">v</x></b>"),
            "{}",
            r.body
        );
        assert!(r.body.contains("<a xmlns=\"urn:z\"/>"));
    }

    #[tokio::test]
    async fn missing_resource_and_bad_body() {
        let t = TestDav::new();
        assert_eq!(
            t.req("PROPPATCH", "/nope")
                .body("<propertyupdate xmlns=\"DAV:\"/>")
                .send()
                .await
                .status,
            404
        );
        t.put("/f", "x").await;
        assert_eq!(
            t.req("PROPPATCH", "/f").body("<foo/>").send().await.status,
            400
        );
    }
}
