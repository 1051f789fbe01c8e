//! What the public port tells about the server's health (finding 6 of the penetration
//! test): `/healthz` and a bare `/readyz` for everyone; whether scanning is off, why the
//! scanner is down and every counter only on the monitoring listener or with the
//! bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use amtsbote::startup;
use amtsbote_core::clock::SystemClock;
use reqwest::StatusCode;

use crate::helpers::{METRICS_TOKEN, Opts, TestApp, config};

#[tokio::test]
async fn the_public_port_keeps_the_details_for_the_monitoring() {
    let t = TestApp::spawn().await;
    let http = t.client();
    let get = |path: &str, token: Option<&str>| {
        let mut rq = http.get(format!("{}{path}", t.url));
        if let Some(tok) = token {
            rq = rq.bearer_auth(tok);
        }
        rq.send()
    };
    let r = get("/healthz", None).await.expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);

    let r = get("/readyz", None).await.expect("readyz");
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({ "status": "ok" }),
        "a bare status only"
    );

    for token in [None, Some("falsch"), Some(&METRICS_TOKEN[1..])] {
        let r = get("/metrics", token).await.expect("metrics");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let text = r.text().await.expect("text");
        assert!(!text.contains("amtsbote_"), "{text}");
        let r = get("/readyz", token).await.expect("readyz");
        let body: serde_json::Value = r.json().await.expect("json");
        assert!(body.get("scanner").is_none(), "{token:?}: {body}");
    }

    let r = get("/metrics", Some(METRICS_TOKEN)).await.expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("text");
    assert!(
        text.contains("amtsbote_scanner_up{scanner=\"off\"} 0"),
        "{text}"
    );
    assert!(text.contains("amtsbote_password_checks_total"), "{text}");
    let r = get("/readyz", Some(METRICS_TOKEN)).await.expect("readyz");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["scanner"], "off", "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    t.finish().await;
}

#[tokio::test]
async fn the_monitoring_listener_serves_what_the_public_port_does_not() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut cfg = config(dir.path(), &db, &Opts::default());
    cfg.metrics.token_file = None;
    cfg.metrics.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let app = startup::build_app(&cfg, Arc::new(SystemClock))
        .await
        .expect("app");
    let running = startup::start(&cfg, app, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start");
    let monitor = running.metrics_addr.expect("monitoring listener");
    assert_ne!(monitor, running.addr);
    let http = reqwest::Client::new();

    // Without a token the public port does not serve the metrics at all.
    let r = http
        .get(format!("{}/metrics", running.url()))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("public metrics");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = http
        .get(format!("http://{monitor}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .is_ok_and(|v| v.starts_with("text/plain; version=0.0.4"))
    );
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("amtsbote_scans_total")
    );
    let body: serde_json::Value = http
        .get(format!("http://{monitor}/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(body["scanner"], "off", "{body}");
    let r = http
        .get(format!("http://{monitor}/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "no pages on the monitoring listener"
    );
    running.stop().await.expect("stop");
    assert!(
        http.get(format!("http://{monitor}/healthz"))
            .send()
            .await
            .is_err(),
        "the monitoring listener ends with the server"
    );
}
