//! HTTPS with a certificate from `amtsbote dev-cert`: served via rustls, cookies Secure
//! with the __Host- prefix, HSTS sent.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use amtsbote::startup;
use amtsbote_core::clock::SystemClock;
use reqwest::StatusCode;

use crate::helpers::{Opts, config, csrf_of};

#[tokio::test]
async fn https_with_dev_certificate() {
    let dir = tempfile::tempdir().expect("tmp");
    let tls_dir = dir.path().join("tls");
    let out = Command::new(env!("CARGO_BIN_EXE_amtsbote"))
        .args(["dev-cert", "--out"])
        .arg(&tls_dir)
        .output()
        .expect("dev-cert");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tls_dir.join("key.pem"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private key readable by owner only");
    }
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut cfg = config(dir.path(), &db, &Opts::default());
    cfg.tls.cert = Some(tls_dir.join("cert.pem"));
    cfg.tls.key = Some(tls_dir.join("key.pem"));
    let app = startup::build_app(&cfg, Arc::new(SystemClock))
        .await
        .expect("app");
    let running = startup::start(&cfg, app, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start");
    assert!(running.url().starts_with("https://"));

    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http
        .get(format!("{}/login", running.url()))
        .send()
        .await
        .expect("https get");
    assert_eq!(r.status(), StatusCode::OK);
    // Browsers speak HTTP/2 here (ALPN), where requests carry `:authority`, not `Host`:
    // the origin check of the log-in must understand that (it refused every log-in).
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(cookie.starts_with("__Host-amtsbote_prelogin="), "{cookie}");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    let token = csrf_of(&r.text().await.expect("body"));
    // No account has this password: the log-in page comes back with the generic error.
    let r = http
        .post(format!("{}/login", running.url()))
        .header("origin", running.url())
        .form(&[
            ("csrf", token.as_str()),
            ("login", "admin"),
            ("password", "falsch-falsch"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a wrong password, not a forged form"
    );
    assert!(r.headers().contains_key("strict-transport-security"));
    // Every door, also a refusal of WebDAV and a health answer.
    for (method, path) in [("PROPFIND", "/remote.php/webdav/"), ("GET", "/healthz")] {
        let r = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", running.url()),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(
            r.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{method} {path}"
        );
    }

    // Plain HTTP to the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/login", running.addr))
        .send()
        .await;
    assert!(plain.map(|r| r.status() != StatusCode::OK).unwrap_or(true));
    running.stop().await.expect("stop");
}
