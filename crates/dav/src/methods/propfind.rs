//! PROPFIND (RFC 4918 §9.1): Depth 0 and 1, `allprop`, `propname`, named properties; `infinity`
//! is refused with `propfind-finite-depth` because a whole-tree walk is a denial-of-service lever
//! and no supported client needs it.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::backend::{ActiveLock, DavBackend, Entry, PropName, Want};
use crate::body::{MAX_XML_BODY, collect_limited};
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers::{self, Depth};
use crate::locks::live_locks;
use crate::props::{Live, RenderCtx, render};
use crate::xml::write::{MULTISTATUS_END, MULTISTATUS_START, PropList, escape, status_line};
use crate::xml::{DAV, Element, parse_body};

use super::xml_response;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    AllProp { include: Vec<PropName> },
    PropName,
    Props(Vec<PropName>),
}

pub(crate) fn parse_request(root: Option<Element>) -> Result<Request, DavError> {
    let Some(root) = root else {
        return Ok(Request::AllProp {
            include: Vec::new(),
        });
    };
    if !root.is(DAV, "propfind") {
        return Err(DavError::bad_request(
            "PROPFIND erwartet ein <propfind>-Element.",
        ));
    }
    let names = |el: &Element| -> Vec<PropName> {
        el.elements()
            .map(|p| PropName::new(&*p.ns, p.name.clone()))
            .collect()
    };
    for child in root.elements() {
        if child.is(DAV, "allprop") {
            let include = root.child(DAV, "include").map(names).unwrap_or_default();
            return Ok(Request::AllProp { include });
        }
        if child.is(DAV, "propname") {
            return Ok(Request::PropName);
        }
        if child.is(DAV, "prop") {
            return Ok(Request::Props(names(child)));
        }
    }
    Err(DavError::bad_request(
        "PROPFIND erwartet <allprop/>, <propname/> oder <prop>.",
    ))
}

impl Request {
    fn want(&self) -> Want {
        match self {
            Request::AllProp { .. } | Request::PropName => Want {
                dead_props: true,
                quota: true,
                tree_size: true,
            },
            Request::Props(names) => {
                let mut w = Want::default();
                for n in names {
                    match Live::lookup(n) {
                        Some(l) => {
                            let lw = l.want();
                            w.quota |= lw.quota;
                            w.tree_size |= lw.tree_size;
                        }
                        None => w.dead_props = true,
                    }
                }
                w
            }
        }
    }

    fn needs_locks(&self) -> bool {
        match self {
            Request::AllProp { .. } => true,
            Request::PropName => false,
            Request::Props(names) => names
                .iter()
                .any(|n| Live::lookup(n) == Some(Live::LockDiscovery)),
        }
    }
}

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>, body: Body) -> Result<Response, DavError> {
    // Without a Depth header RFC 4918 means infinity; like Sabre we answer that as Depth 1
    // rather than fail clients that simply forget the header.
    let depth = headers::depth(&ctx.headers)?.unwrap_or(Depth::One);
    if depth == Depth::Infinity {
        return Err(finite_depth_required());
    }
    let raw = collect_limited(body, headers::content_length(&ctx.headers)?, MAX_XML_BODY).await?;
    let request = parse_request(parse_body(&raw)?)?;
    let want = request.want();
    let entry = ctx
        .backend
        .resolve(&ctx.principal, &ctx.path, want)
        .await?
        .ok_or_else(super::not_found)?;
    let children = if entry.is_collection && depth == Depth::One {
        ctx.backend.list(&ctx.principal, &ctx.path, want).await?
    } else {
        Vec::new()
    };
    let locks = if request.needs_locks() {
        live_locks(ctx, &ctx.path, depth == Depth::One).await?
    } else {
        Vec::new()
    };
    if children.len() < ENTRIES_PER_PIECE {
        let body = render_multistatus(ctx, &request, &entry, &children, &locks);
        return Ok(xml_response(StatusCode::MULTI_STATUS, body));
    }
    let body = stream_multistatus(
        ctx.prefix.clone(),
        ctx.backend.now(),
        request,
        std::iter::once(entry).chain(children),
        locks,
    );
    let mut resp = (StatusCode::MULTI_STATUS, body).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(crate::XML_CONTENT_TYPE),
    );
    Ok(resp)
}

/// Entries per piece of a streamed answer: a listing of 10,000 files goes out in pieces of
/// some 100 KiB, each entry freed once written, instead of being built whole in memory.
const ENTRIES_PER_PIECE: usize = 256;

fn stream_multistatus(
    prefix: String,
    now: std::time::SystemTime,
    request: Request,
    entries: impl Iterator<Item = Entry> + Send + 'static,
    locks: Vec<ActiveLock>,
) -> Body {
    let state = (Some(entries), true);
    let pieces = futures_util::stream::unfold(state, move |(entries, first)| {
        let Some(mut entries) = entries else {
            return std::future::ready(None);
        };
        let rc = RenderCtx {
            prefix: &prefix,
            now,
            locks: &locks,
        };
        let mut out = String::with_capacity(ENTRIES_PER_PIECE * 512);
        if first {
            out.push_str(MULTISTATUS_START);
        }
        let mut written = 0;
        for e in entries.by_ref().take(ENTRIES_PER_PIECE) {
            render_response(
                &mut out,
                &e.path.href(&prefix, e.is_collection),
                &request,
                &e,
                &rc,
            );
            written += 1;
        }
        let rest = if written < ENTRIES_PER_PIECE {
            out.push_str(MULTISTATUS_END);
            None
        } else {
            Some(entries)
        };
        std::future::ready(Some((
            Ok::<_, std::convert::Infallible>(bytes::Bytes::from(out)),
            (rest, false),
        )))
    });
    Body::from_stream(pieces)
}

/// The refusal of `Depth: infinity`, on the files tree and in the upload area alike.
pub(crate) fn finite_depth_required() -> DavError {
    DavError::forbidden("PROPFIND mit Depth: infinity wird nicht unterstützt.")
        .with_condition("propfind-finite-depth")
}

fn render_multistatus<B: DavBackend>(
    ctx: &Ctx<B>,
    request: &Request,
    entry: &Entry,
    children: &[Entry],
    locks: &[ActiveLock],
) -> String {
    let rc = RenderCtx {
        prefix: &ctx.prefix,
        now: ctx.backend.now(),
        locks,
    };
    // About 1 KiB per entry with the full ownCloud property set.
    let mut out = String::with_capacity(512 + 1024 * (children.len() + 1));
    out.push_str(MULTISTATUS_START);
    for e in std::iter::once(entry).chain(children) {
        render_response(
            &mut out,
            &ctx.href(&e.path, e.is_collection),
            request,
            e,
            &rc,
        );
    }
    out.push_str(MULTISTATUS_END);
    out
}

/// One `<d:response>` for an entry.
pub(crate) fn render_response(
    out: &mut String,
    href: &str,
    request: &Request,
    e: &Entry,
    rc: &RenderCtx<'_>,
) {
    out.push_str("<d:response><d:href>");
    out.push_str(&escape(href));
    out.push_str("</d:href>");
    let mut found = PropList::new();
    let mut missing = PropList::new();
    match request {
        Request::PropName => {
            for live in Live::allprop() {
                if render(*live, e, rc).is_some() {
                    let n = live.name();
                    found.push(&n.ns, &n.name, None);
                }
            }
            for d in &e.dead_props {
                found.push(&d.name.ns, &d.name.name, None);
            }
        }
        Request::AllProp { include } => {
            for live in Live::allprop() {
                if let Some(v) = render(*live, e, rc) {
                    let n = live.name();
                    found.push(&n.ns, &n.name, Some(&v));
                }
            }
            for d in &e.dead_props {
                if Live::lookup(&d.name).is_none() {
                    found.push(&d.name.ns, &d.name.name, Some(&d.value));
                }
            }
            for n in include {
                if let Some(l) = Live::lookup(n).filter(|l| !Live::allprop().contains(l)) {
                    match render(l, e, rc) {
                        Some(v) => found.push(&n.ns, &n.name, Some(&v)),
                        None => missing.push(&n.ns, &n.name, None),
                    }
                }
            }
        }
        Request::Props(names) => {
            for n in names {
                let value = match Live::lookup(n) {
                    Some(l) => render(l, e, rc),
                    None => e
                        .dead_props
                        .iter()
                        .find(|d| d.name == *n)
                        .map(|d| d.value.clone()),
                };
                match value {
                    Some(v) => found.push(&n.ns, &n.name, Some(&v)),
                    None => missing.push(&n.ns, &n.name, None),
                }
            }
        }
    }
    if !found.is_empty() || missing.is_empty() {
        propstat(out, &found, StatusCode::OK);
    }
    if !missing.is_empty() {
        propstat(out, &missing, StatusCode::NOT_FOUND);
    }
    out.push_str("</d:response>");
}

pub(crate) fn propstat(out: &mut String, props: &PropList, status: StatusCode) {
    out.push_str("<d:propstat>");
    props.write_to(out);
    out.push_str("<d:status>");
    out.push_str(&status_line(status));
    out.push_str("</d:status></d:propstat>");
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    const OC_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/><oc:id/><oc:downloadURL/><oc:dDC/><oc:permissions/><oc:checksums/><oc:size/><oc:fileid/><oc:data-fingerprint/><oc:share-types/><d:quota-used-bytes/><d:quota-available-bytes/><x:unknown xmlns:x="urn:x"/></d:prop>M</d:propfind>"#;

    /// Large listings go out in pieces; the document must be the same as if built whole.
    #[tokio::test]
    async fn a_large_listing_is_streamed_as_one_well_formed_document() {
        let t = TestDav::new();
        t.mkcol("/viele").await;
        // Exactly two pieces' worth plus the folder itself, to hit the boundary.
        let n = 2 * super::ENTRIES_PER_PIECE;
        for i in 0..n {
            t.put(&format!("/viele/datei-{i:04}.txt"), "x").await;
        }
        let r = t.propfind("/viele", "1").body(OC_BODY).send().await;
        assert_eq!(r.status, 207);
        assert_eq!(
            r.header("content-type"),
            Some("application/xml; charset=utf-8")
        );
        let b = &r.body;
        assert_eq!(b.matches("<d:response>").count(), n + 1);
        assert_eq!(b.matches("<d:multistatus").count(), 1);
        assert!(b.ends_with("</d:multistatus>\n"), "{}", &b[b.len() - 100..]);
        for i in [
            0,
            super::ENTRIES_PER_PIECE - 1,
            super::ENTRIES_PER_PIECE,
            n - 1,
        ] {
            assert!(
                b.contains(&format!("/viele/datei-{i:04}.txt</d:href>")),
                "entry {i}"
            );
        }
        let parsed = crate::xml::parse_body(b.as_bytes()).expect("well-formed");
        assert!(parsed.is_some());
    }

    #[tokio::test]
    async fn depth1_listing_with_owncloud_props() {
        let t = TestDav::new();
        t.mkcol("/sub").await;
        t.put("/sub/a%20b.txt", "hello").await;
        t.put("/sub/c.txt", "x").await;
        let r = t.propfind("/sub", "1").body(OC_BODY).send().await;
        assert_eq!(r.status, 207);
        assert_eq!(
            r.header("content-type"),
            Some("application/xml; charset=utf-8")
        );
        let b = &r.body;
        assert!(
            b.contains("<d:href>/remote.php/dav/files/alice/sub/</d:href>"),
            "{b}"
        );
        assert!(b.contains("<d:href>/remote.php/dav/files/alice/sub/a%20b.txt</d:href>"));
        assert_eq!(b.matches("<d:response>").count(), 3);
        assert!(b.contains("<d:getcontentlength>5</d:getcontentlength>"));
        assert!(b.contains("<oc:checksum>SHA1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d MD5:5d41402abc4b2a76b9719d911017c592"));
        assert!(b.contains("<oc:permissions>RGDNVW</oc:permissions>"));
        assert!(b.contains("<oc:permissions>RGDNVCK</oc:permissions>"));
        assert!(b.contains("<oc:size>6</oc:size>"), "recursive size: {b}");
        assert!(b.contains("<d:collection/>"));
        assert!(b.contains("<oc:data-fingerprint></oc:data-fingerprint>"));
        assert!(b.contains("<unknown xmlns=\"urn:x\"/>"));
        assert!(b.contains("HTTP/1.1 404 Not Found"));
        assert!(b.contains("<oc:downloadURL/>"));
        assert!(b.contains("<d:getetag>&quot;"));
        assert!(b.contains("GMT</d:getlastmodified>"));
    }

    #[tokio::test]
    async fn depth_rules() {
        let t = TestDav::new();
        let r = t.propfind("/", "infinity").send().await;
        assert_eq!(r.status, 403);
        assert!(r.body.contains("<d:propfind-finite-depth/>"));
        let r = t.propfind("/", "0").send().await;
        assert_eq!(r.status, 207);
        assert!(
            r.body
                .contains("<d:href>/remote.php/dav/files/alice/</d:href>")
        );
        assert!(r.body.contains("<d:supportedlock>"));
        let r = t.propfind("/missing", "0").send().await;
        assert_eq!(r.status, 404);
        assert!(r.body.contains("Sabre\\DAV\\Exception\\NotFound"));
    }

    #[tokio::test]
    async fn propname_and_allprop_include_dead_props() {
        let t = TestDav::new();
        t.put("/f", "1").await;
        let patch = r#"<propertyupdate xmlns="DAV:"><set><prop><z:color xmlns:z="urn:z">blue</z:color></prop></set></propertyupdate>"#;
        assert_eq!(
            t.req("PROPPATCH", "/f").body(patch).send().await.status,
            207
        );
        let r = t
            .propfind("/f", "0")
            .body(r#"<propfind xmlns="DAV:"><propname/></propfind>"#)
            .send()
            .await;
        assert!(r.body.contains("<color xmlns=\"urn:z\"/>"), "{}", r.body);
        assert!(r.body.contains("<d:getetag/>"));
        let r = t
            .propfind("/f", "0")
            .body(r#"<propfind xmlns="DAV:"><allprop/></propfind>"#)
            .send()
            .await;
        assert!(r.body.contains("<color xmlns=\"urn:z\">blue</color>"));
    }

    #[tokio::test]
    async fn hostile_bodies() {
        let t = TestDav::new();
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><propfind xmlns="DAV:"><prop>&b;</prop></propfind>"#;
        assert_eq!(t.propfind("/", "0").body(laughs).send().await.status, 400);
        let big = format!(
            "<propfind xmlns=\"DAV:\"><prop>{}</prop></propfind>",
            "<a/>".repeat(300_000)
        );
        assert_eq!(t.propfind("/", "0").body(big).send().await.status, 413);
        let deep = format!("{}{}", "<a>".repeat(200), "</a>".repeat(200));
        assert_eq!(t.propfind("/", "0").body(deep).send().await.status, 400);
        assert_eq!(t.propfind("/", "0").body("<foo>").send().await.status, 400);
        let wrong_root = r#"<foo xmlns="DAV:"/>"#;
        assert_eq!(
            t.propfind("/", "0").body(wrong_root).send().await.status,
            400
        );
    }

    #[tokio::test]
    async fn prefix_is_derived_when_nested_without_extension() {
        let t = TestDav::new();
        t.mkcol("/d").await;
        let r = t.propfind("/d/", "0").without_mount_prefix().send().await;
        assert!(
            r.body
                .contains("<d:href>/remote.php/dav/files/alice/d/</d:href>"),
            "{}",
            r.body
        );
        let r = t.propfind("", "0").without_mount_prefix().send().await;
        assert!(
            r.body
                .contains("<d:href>/remote.php/dav/files/alice/</d:href>"),
            "{}",
            r.body
        );
    }

    #[tokio::test]
    async fn dot_dot_is_refused() {
        let t = TestDav::new();
        let r = t.propfind("/a/%2e%2e/b", "0").send().await;
        assert_eq!(r.status, 400);
    }
}
