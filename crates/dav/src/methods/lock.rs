//! LOCK (RFC 4918 §9.10): exclusive and shared write locks with depth 0 or infinity, refresh
//! through the `If` header, and creation of an empty file on an unmapped URL (201).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use crate::backend::{ActiveLock, DavBackend, Expect, LockScope, WriteOptions};
use crate::body::{MAX_XML_BODY, collect_limited};
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers::{self, Depth};
use crate::locks::{Target, activelock, check_write, live_locks};
use crate::xml::write::fragment;
use crate::xml::{DAV, Element, parse_body};

use super::xml_response;

/// What a LOCK body asks for.
struct LockInfo {
    scope: LockScope,
    owner: Option<String>,
}

fn parse_lockinfo(root: &Element) -> Result<LockInfo, DavError> {
    if !root.is(DAV, "lockinfo") {
        return Err(DavError::bad_request(
            "LOCK erwartet ein <lockinfo>-Element.",
        ));
    }
    let scope_el = root
        .child(DAV, "lockscope")
        .and_then(|s| s.elements().next())
        .ok_or_else(|| DavError::bad_request("<lockscope> fehlt."))?;
    let scope = if scope_el.is(DAV, "exclusive") {
        LockScope::Exclusive
    } else if scope_el.is(DAV, "shared") {
        LockScope::Shared
    } else {
        return Err(DavError::bad_request("Unbekannter <lockscope>."));
    };
    let write = root
        .child(DAV, "locktype")
        .and_then(|t| t.elements().next())
        .is_some_and(|t| t.is(DAV, "write"));
    if !write {
        return Err(DavError::bad_request(
            "Nur Schreibsperren (<write/>) werden unterstützt.",
        ));
    }
    let owner = root.child(DAV, "owner").map(|o| fragment(&o.children));
    Ok(LockInfo { scope, owner })
}

fn expiry<B: DavBackend>(ctx: &Ctx<B>, timeout: Duration) -> Option<std::time::SystemTime> {
    ctx.backend.now().checked_add(timeout)
}

fn lock_response(
    prefix: &str,
    lock: &ActiveLock,
    now: std::time::SystemTime,
    status: StatusCode,
) -> Response {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:prop xmlns:d=\"DAV:\"><d:lockdiscovery>",
    );
    activelock(&mut body, prefix, lock, now);
    body.push_str("</d:lockdiscovery></d:prop>\n");
    let mut resp = xml_response(status, body);
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", lock.token)) {
        resp.headers_mut().insert("lock-token", v);
    }
    resp
}

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>, body: Body) -> Result<Response, DavError> {
    let raw = collect_limited(body, headers::content_length(&ctx.headers)?, MAX_XML_BODY).await?;
    let timeout = headers::timeout(&ctx.headers)?;
    match parse_body(&raw)? {
        None => refresh(ctx, timeout).await,
        Some(root) => create(ctx, &root, timeout).await,
    }
}

/// A LOCK without body refreshes the lock whose token is in the `If` header.
async fn refresh<B: DavBackend>(ctx: &Ctx<B>, timeout: Duration) -> Result<Response, DavError> {
    let me = ctx.backend.principal_key(&ctx.principal);
    let submitted: Vec<String> = ctx
        .if_header()
        .map(|h| h.submitted_tokens().map(str::to_owned).collect())
        .unwrap_or_default();
    if submitted.is_empty() {
        return Err(DavError::bad_request(
            "Zum Verlängern einer Sperre muss ihr Token im If-Header stehen.",
        ));
    }
    let locks = live_locks(ctx, &ctx.path, false).await?;
    let lock = locks
        .iter()
        .find(|l| l.covers(&ctx.path) && submitted.contains(&l.token))
        .ok_or_else(|| {
            DavError::precondition_failed("Keine passende Sperre für diese Ressource.")
                .with_condition("lock-token-matches-request-uri")
        })?;
    if lock.principal != me {
        return Err(DavError::forbidden("Diese Sperre gehört jemand anderem."));
    }
    let refreshed = ctx
        .backend
        .lock_refresh(
            &ctx.principal,
            &lock.token,
            Some(timeout),
            expiry(ctx, timeout),
        )
        .await?
        .ok_or_else(|| DavError::precondition_failed("Die Sperre ist abgelaufen."))?;
    Ok(lock_response(
        &ctx.prefix,
        &refreshed,
        ctx.backend.now(),
        StatusCode::OK,
    ))
}

async fn create<B: DavBackend>(
    ctx: &Ctx<B>,
    root: &Element,
    timeout: Duration,
) -> Result<Response, DavError> {
    let info = parse_lockinfo(root)?;
    let deep = match headers::depth(&ctx.headers)?.unwrap_or(Depth::Infinity) {
        Depth::Zero => false,
        Depth::Infinity => true,
        Depth::One => {
            return Err(DavError::bad_request(
                "LOCK erlaubt nur Depth 0 oder infinity.",
            ));
        }
    };
    let current = super::resolve(ctx, &ctx.path).await?;
    // Existing locks are handled by the backend's conflict check; here only the If header and,
    // for a new resource, the parent's membership lock matter.
    let mut targets = Vec::new();
    if current.is_none() {
        targets.extend(Target::parent_of(&ctx.path));
    }
    check_write(ctx, &targets, current.as_ref()).await?;

    let now = ctx.backend.now();
    let lock = ActiveLock {
        token: format!("opaquelocktoken:{}", uuid::Uuid::new_v4()),
        root: ctx.path.clone(),
        scope: info.scope,
        deep,
        owner: info.owner,
        principal: ctx.backend.principal_key(&ctx.principal),
        timeout: Some(timeout),
        expires_at: now.checked_add(timeout),
    };
    // Check conflicts before creating an empty file, so a refused LOCK leaves nothing behind;
    // the backend checks again atomically.
    let existing = live_locks(ctx, &ctx.path, true).await?;
    if existing.iter().any(|l| l.conflicts_with(&lock)) {
        return Err(DavError::locked("Die Ressource ist bereits gesperrt.")
            .with_condition("no-conflicting-lock"));
    }
    let created = if current.is_none() {
        super::require_parent(ctx, &ctx.path).await?;
        let opts = WriteOptions {
            mtime: None,
            checksum: None,
            expected_len: Some(0),
            content_type: None,
            expect: Expect::New,
        };
        let empty: crate::backend::ByteStream = Box::pin(futures_util::stream::empty());
        ctx.backend
            .write(&ctx.principal, &ctx.path, empty, opts)
            .await?;
        true
    } else {
        false
    };
    ctx.backend
        .lock_create(&ctx.principal, lock.clone())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(lock_response(&ctx.prefix, &lock, now, status))
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    pub(crate) const EXCLUSIVE: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>litmus</D:href></D:owner></D:lockinfo>"#;
    const SHARED: &str = r#"<lockinfo xmlns="DAV:"><lockscope><shared/></lockscope><locktype><write/></locktype></lockinfo>"#;

    async fn put_if(t: &TestDav, path: &str, if_header: &str, body: &'static str) -> u16 {
        t.req("PUT", path)
            .header("if", if_header)
            .body(body)
            .send()
            .await
            .status
    }

    fn token(r: &TestResp) -> String {
        r.header("lock-token")
            .map(|t| t.trim_matches(['<', '>']).to_owned())
            .expect("token")
    }

    #[tokio::test]
    async fn exclusive_lock_blocks_others() {
        let t = TestDav::new();
        t.put("/f", "1").await;
        let r = t
            .req("LOCK", "/f")
            .header("timeout", "Second-100")
            .body(EXCLUSIVE)
            .send()
            .await;
        assert_eq!(r.status, 200);
        assert!(
            r.body
                .contains("<d:owner><href xmlns=\"DAV:\">litmus</href></d:owner>"),
            "{}",
            r.body
        );
        assert!(r.body.contains("Second-100"));
        let tok = token(&r);
        assert!(tok.starts_with("opaquelocktoken:"));
        assert_eq!(t.req("PUT", "/f").body("2").send().await.status, 423);
        assert_eq!(t.req("DELETE", "/f").send().await.status, 423);
        assert_eq!(t.req("LOCK", "/f").body(EXCLUSIVE).send().await.status, 423);
        assert_eq!(t.req("LOCK", "/f").body(SHARED).send().await.status, 423);
        let ifh = format!("(<{tok}>)");
        assert_eq!(put_if(&t, "/f", &ifh, "2").await, 204);
        let bad = format!("(<{tok}> [\"nope\"])");
        assert_eq!(put_if(&t, "/f", &bad, "3").await, 412);
        // A list that holds without a valid token: locked (423). A list that fails: 412.
        assert_eq!(
            put_if(
                &t,
                "/f",
                "(<opaquelocktoken:bogus>) (Not <DAV:no-lock>)",
                "3"
            )
            .await,
            423
        );
        assert_eq!(
            put_if(&t, "/f", "(<opaquelocktoken:bogus>)", "3").await,
            412
        );
        assert_eq!(put_if(&t, "/f", "(<DAV:no-lock>)", "3").await, 412);
        // Refresh.
        let r = t
            .req("LOCK", "/f")
            .header("if", &ifh)
            .header("timeout", "Second-500")
            .send()
            .await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("Second-500"));
        // Discovery.
        let r = t
            .propfind("/f", "0")
            .body(r#"<propfind xmlns="DAV:"><prop><lockdiscovery/></prop></propfind>"#)
            .send()
            .await;
        assert!(r.body.contains(&tok));
        // Unlock.
        let lt = format!("<{tok}>");
        let unlock = || t.req("UNLOCK", "/f").header("lock-token", &lt).send();
        assert_eq!(unlock().await.status, 204);
        assert_eq!(unlock().await.status, 409);
        assert_eq!(t.req("PUT", "/f").body("4").send().await.status, 204);
    }

    #[tokio::test]
    async fn shared_locks_coexist() {
        let t = TestDav::new();
        t.put("/f", "1").await;
        let a = t.req("LOCK", "/f").body(SHARED).send().await;
        let b = t.req("LOCK", "/f").body(SHARED).send().await;
        assert_eq!((a.status, b.status), (200, 200));
        assert_ne!(token(&a), token(&b));
        assert_eq!(t.req("LOCK", "/f").body(EXCLUSIVE).send().await.status, 423);
        let ifh = format!("(<{}>)", token(&b));
        assert_eq!(put_if(&t, "/f", &ifh, "2").await, 204);
    }

    #[tokio::test]
    async fn collection_lock_and_unmapped() {
        let t = TestDav::new();
        t.mkcol("/d").await;
        let r = t.req("LOCK", "/d").body(EXCLUSIVE).send().await;
        assert_eq!(r.status, 200);
        let tok = token(&r);
        assert_eq!(t.req("PUT", "/d/new").body("x").send().await.status, 423);
        assert_eq!(t.req("MKCOL", "/d/sub").send().await.status, 423);
        let ifh = format!("<http://localhost/remote.php/dav/files/alice/d> (<{tok}>)");
        assert_eq!(put_if(&t, "/d/new", &ifh, "x").await, 201);
        let r = t
            .req("MOVE", "/d/new")
            .header("destination", "/remote.php/dav/files/alice/moved")
            .send()
            .await;
        assert_eq!(r.status, 423);
        // Unmapped URL: an empty file is created.
        let r = t.req("LOCK", "/unmapped").body(EXCLUSIVE).send().await;
        assert_eq!(r.status, 201);
        assert_eq!(t.get("/unmapped").await, "");
        assert_eq!(
            t.req("LOCK", "/nope/x").body(EXCLUSIVE).send().await.status,
            409
        );
        assert_eq!(
            t.req("LOCK", "/f")
                .header("depth", "1")
                .body(EXCLUSIVE)
                .send()
                .await
                .status,
            400
        );
        assert_eq!(t.req("LOCK", "/unmapped").send().await.status, 400);
    }
}
