//! Security headers on every response of every door (finding 2 of the penetration
//! test): uploaded files never render in the application's origin, whichever door
//! serves them and whatever type the uploader claimed; pages, WebDAV, OCS and health
//! answers all carry nosniff, a policy against framing and `no-store`.

use reqwest::{Method, Response, StatusCode};

use crate::helpers::{PW, TestApp, bytes, node_id};

fn assert_guarded(r: &Response, what: &str) {
    let h = r.headers();
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "nosniff on {what}"
    );
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "CSP on {what}: {csp:?}"
    );
    assert!(
        !csp.contains("http:") && !csp.contains("https:"),
        "no external origin on {what}: {csp}"
    );
    assert_eq!(
        h.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "no-store on {what}"
    );
    assert!(h.get("server").is_none(), "no Server header on {what}");
}

/// The headers of a file body: a download, typed neutrally, sandboxed.
fn assert_file_body(r: &Response, what: &str) {
    let h = r.headers();
    assert_eq!(
        h["content-type"], "application/octet-stream",
        "type of {what}"
    );
    let disposition = h["content-disposition"].to_str().unwrap_or_default();
    assert!(
        disposition.starts_with("attachment;"),
        "{what}: {disposition}"
    );
    let csp = h["content-security-policy"].to_str().unwrap_or_default();
    assert!(csp.starts_with("sandbox"), "{what}: {csp}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
}

#[tokio::test]
async fn uploaded_html_and_svg_never_render_through_any_door() {
    let t = TestApp::spawn().await;
    let http = t.client();
    let dav = |m: &str, path: &str| {
        http.request(
            Method::from_bytes(m.as_bytes()).expect("method"),
            format!("{}/remote.php/dav/files/user.a/an_KVBbg/{path}", t.url),
        )
        .basic_auth("user.a", Some(PW))
    };
    let script = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let r = dav("PUT", "seite.html")
        .header("content-type", "text/html")
        .body(script.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#.to_vec();
    let r = dav("PUT", "bild.svg")
        .header("content-type", "image/svg+xml")
        .body(svg.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);

    for (name, content) in [("seite.html", &script), ("bild.svg", &svg)] {
        let r = dav("GET", name).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::OK);
        assert_file_body(&r, &format!("WebDAV GET {name}"));
        assert_guarded(&r, &format!("WebDAV GET {name}"));
        assert_eq!(r.bytes().await.expect("body").as_ref(), content.as_slice());
        let r = dav("GET", name)
            .header("range", "bytes=0-4")
            .send()
            .await
            .expect("range");
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_file_body(&r, &format!("WebDAV range of {name}"));
    }
    // The claimed type is still what PROPFIND reports (the apps choose icons by it).
    let r = dav("PROPFIND", "seite.html")
        .header("depth", "0")
        .send()
        .await
        .expect("propfind");
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert_guarded(&r, "PROPFIND");
    assert!(r.text().await.expect("xml").contains("text/html"));

    // The web door serves the same file the same way.
    let user = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let id = node_id(&t, &t.space_a, an, "seite.html")
        .await
        .expect("stored");
    let r = user.download(t.space_a.id, id).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_file_body(&r, "web download");
    assert_guarded(&r, "web download");
    t.finish().await;
}

#[tokio::test]
async fn every_door_answers_with_the_security_headers() {
    let t = TestApp::spawn().await;
    let http = t.client();
    let user = t.login("user.a").await;
    let root = t.space_a.root_id;
    assert_eq!(
        user.upload(t.space_a.id, root, &[("a.pdf", bytes(10, 1))])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "members do not write into the root"
    );

    let mut answers = Vec::new();
    for path in [
        "/login",
        "/",
        "/gibt-es-nicht",
        "/healthz",
        "/readyz",
        "/status.php",
        "/ocs/v2.php/cloud/capabilities",
    ] {
        answers.push((
            format!("GET {path}"),
            http.get(format!("{}{path}", t.url))
                .send()
                .await
                .expect("get"),
        ));
    }
    answers.push(("signed-in start page".into(), user.get("/").await));
    for (what, auth) in [("WebDAV 401", None), ("WebDAV 207", Some(PW))] {
        let mut rq = http
            .request(
                Method::from_bytes(b"PROPFIND").expect("method"),
                format!("{}/remote.php/webdav/", t.url),
            )
            .header("depth", "0");
        if let Some(pw) = auth {
            rq = rq.basic_auth("user.a", Some(pw));
        }
        answers.push((what.to_string(), rq.send().await.expect("propfind")));
    }
    answers.push((
        "WebDAV 404".into(),
        http.get(format!("{}/remote.php/webdav/nichts.pdf", t.url))
            .basic_auth("user.a", Some(PW))
            .send()
            .await
            .expect("get"),
    ));
    for (what, r) in &answers {
        assert_guarded(r, what);
    }

    // No TRACE through any door.
    for path in ["/login", "/remote.php/webdav/"] {
        let r = http
            .request(Method::TRACE, format!("{}{path}", t.url))
            .basic_auth("user.a", Some(PW))
            .send()
            .await
            .expect("trace");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "TRACE {path}");
    }

    // Only the stylesheet may be kept by a browser.
    let r = http
        .get(format!("{}/static/style.css", t.url))
        .send()
        .await
        .expect("css");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .is_ok_and(|v| v.starts_with("public"))
    );
    t.finish().await;
}
