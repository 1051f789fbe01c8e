//! TLS per BSI TR-02102-2 (finding 3 of the penetration test), checked with OpenSSL's
//! client as the peer: the `bsi` profile speaks TLS 1.3 and TLS 1.2 with Extended Master
//! Secret only, the recommended AEAD suites and NIST groups only; `compat` also takes
//! ChaCha20, X25519 and TLS 1.2 without EMS; `min_version = "1.3"` drops TLS 1.2. Weak
//! certificate keys stop the server; an expiring certificate shows in the metrics and
//! to admins; a renewed certificate is taken over without a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use amtsbote::config::Config;
use amtsbote::startup::{self, Running};
use amtsbote::tls::{MinVersion, TlsProfile};
use amtsbote_core::clock::SystemClock;

use crate::helpers::{METRICS_TOKEN, Opts, config};
use crate::prereq::{self, Need};

fn openssl() -> Need {
    Need::binary("openssl", "openssl")
}

/// A key and self-signed certificate made by OpenSSL: `key` is e.g. `rsa:2048` or
/// `ec` with `-pkeyopt ec_paramgen_curve:P-256`.
async fn certificate(dir: &Path, name: &str, key: &[&str], days: u32) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let keyfile = dir.join(format!("{name}.key"));
    let out = tokio::process::Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-days", &days.to_string(), "-newkey"])
        .args(key)
        .arg("-keyout")
        .arg(&keyfile)
        .arg("-out")
        .arg(&cert)
        .output()
        .await
        .expect("openssl req");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, keyfile)
}

fn tls_config(dir: &Path, cert: &Path, key: &Path, profile: TlsProfile, min: MinVersion) -> Config {
    let db = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let mut cfg = config(dir, &db, &Opts::default());
    cfg.tls.cert = Some(cert.to_path_buf());
    cfg.tls.key = Some(key.to_path_buf());
    cfg.tls.profile = profile;
    cfg.tls.min_version = min;
    cfg
}

async fn serve(cfg: &Config) -> anyhow::Result<Running> {
    let app = startup::build_app(cfg, Arc::new(SystemClock)).await?;
    startup::start(cfg, app, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// What `openssl s_client` negotiated with these options: the protocol and cipher, or
/// None when the handshake failed.
async fn handshake(addr: SocketAddr, opts: &[&str], no_ems: Option<&Path>) -> Option<String> {
    let mut cmd = tokio::process::Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &addr.to_string(),
        "-servername",
        "localhost",
    ])
    .args(opts)
    .stdin(std::process::Stdio::null());
    if let Some(conf) = no_ems {
        cmd.env("OPENSSL_CONF", conf);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("s_client in time")
        .expect("s_client");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text.lines().find(|l| l.starts_with("New, "))?.to_string();
    if line.contains("(NONE)") || !out.status.success() {
        return None;
    }
    let group = text
        .lines()
        .find(|l| l.trim_start().starts_with("Server Temp Key:"))
        .unwrap_or_default();
    let ems = text
        .lines()
        .find(|l| l.trim_start().starts_with("Extended master secret:"))
        .unwrap_or_default();
    Some(format!("{line} | {group} | {ems}"))
}

/// An OpenSSL configuration whose clients send no Extended Master Secret.
fn no_ems_conf(dir: &Path) -> PathBuf {
    let p = dir.join("no-ems.cnf");
    std::fs::write(
        &p,
        "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\nOptions = -ExtendedMasterSecret\n",
    )
    .expect("conf");
    p
}

#[tokio::test]
async fn bsi_profile_offers_only_what_tr_02102_2_recommends() {
    if !prereq::ready(
        "it::tls_profile::bsi_profile_offers_only_what_tr_02102_2_recommends",
        &[openssl()],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = certificate(
        dir.path(),
        "p256",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        90,
    )
    .await;
    let no_ems = no_ems_conf(dir.path());
    let running = serve(&tls_config(
        dir.path(),
        &cert,
        &key,
        TlsProfile::Bsi,
        MinVersion::Tls12,
    ))
    .await
    .expect("bsi starts with a P-256 certificate");
    let addr = running.addr;

    let t13 = handshake(addr, &["-tls1_3"], None).await.expect("TLS 1.3");
    assert!(
        t13.contains("TLSv1.3") && t13.contains("TLS_AES_256_GCM_SHA384"),
        "server's order: {t13}"
    );
    let t12 = handshake(addr, &["-tls1_2"], None)
        .await
        .expect("TLS 1.2 with EMS");
    assert!(t12.contains("ECDHE-ECDSA-AES256-GCM-SHA384"), "{t12}");
    assert!(t12.contains("Extended master secret: yes"), "{t12}");
    for (what, opts, conf) in [
        (
            "TLS 1.2 without EMS",
            &["-tls1_2"][..],
            Some(no_ems.as_path()),
        ),
        ("TLS 1.1", &["-tls1_1"][..], None),
        (
            "ChaCha20 over TLS 1.3",
            &["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"][..],
            None,
        ),
        (
            "ChaCha20 over TLS 1.2",
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"][..],
            None,
        ),
        (
            "CBC over TLS 1.2",
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"][..],
            None,
        ),
        ("only X25519", &["-tls1_3", "-groups", "X25519"][..], None),
        (
            "only X25519 over TLS 1.2",
            &["-tls1_2", "-groups", "X25519"][..],
            None,
        ),
    ] {
        assert_eq!(
            handshake(addr, opts, conf).await,
            None,
            "{what} must be refused"
        );
    }
    for (curve, shown) in [("P-256", "prime256v1"), ("P-384", "secp384r1")] {
        let got = handshake(addr, &["-tls1_3", "-groups", curve], None)
            .await
            .unwrap_or_else(|| panic!("{curve} is offered"));
        assert!(got.contains(shown), "{got}");
    }
    running.stop().await.expect("stop");

    // compat: the same certificate, more for old clients.
    let running = serve(&tls_config(
        dir.path(),
        &cert,
        &key,
        TlsProfile::Compat,
        MinVersion::Tls12,
    ))
    .await
    .expect("compat");
    let addr = running.addr;
    assert!(
        handshake(addr, &["-tls1_2"], Some(&no_ems)).await.is_some(),
        "no EMS in compat"
    );
    assert!(
        handshake(
            addr,
            &["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
            None
        )
        .await
        .is_some()
    );
    assert!(
        handshake(addr, &["-tls1_3", "-groups", "X25519"], None)
            .await
            .is_some()
    );
    running.stop().await.expect("stop");

    // TLS 1.3 only.
    let running = serve(&tls_config(
        dir.path(),
        &cert,
        &key,
        TlsProfile::Bsi,
        MinVersion::Tls13,
    ))
    .await
    .expect("1.3 only");
    assert_eq!(
        handshake(running.addr, &["-tls1_2"], None).await,
        None,
        "TLS 1.2 refused"
    );
    assert!(handshake(running.addr, &["-tls1_3"], None).await.is_some());
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn weak_certificate_keys_stop_the_server() {
    if !prereq::ready(
        "it::tls_profile::weak_certificate_keys_stop_the_server",
        &[openssl()],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = certificate(dir.path(), "rsa2048", &["rsa:2048"], 90).await;
    let err = serve(&tls_config(
        dir.path(),
        &cert,
        &key,
        TlsProfile::Bsi,
        MinVersion::Tls12,
    ))
    .await
    .err()
    .expect("RSA 2048 is refused under bsi");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("RSA 2048") && msg.contains("too weak"),
        "{msg}"
    );
    let running = serve(&tls_config(
        dir.path(),
        &cert,
        &key,
        TlsProfile::Compat,
        MinVersion::Tls12,
    ))
    .await
    .expect("compat takes RSA 2048");
    running.stop().await.expect("stop");

    let (cert, key) = certificate(dir.path(), "rsa3072", &["rsa:3072"], 90).await;
    let running = serve(&tls_config(
        dir.path(),
        &cert,
        &key,
        TlsProfile::Bsi,
        MinVersion::Tls12,
    ))
    .await
    .expect("RSA 3072 under bsi");
    let t12 = handshake(running.addr, &["-tls1_2"], None)
        .await
        .expect("RSA over TLS 1.2");
    assert!(t12.contains("ECDHE-RSA-AES256-GCM-SHA384"), "{t12}");
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn an_expiring_certificate_is_reported_and_a_renewed_one_taken_over() {
    if !prereq::ready(
        "it::tls_profile::an_expiring_certificate_is_reported_and_a_renewed_one_taken_over",
        &[openssl()],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = certificate(
        dir.path(),
        "soon",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        10,
    )
    .await;
    let cfg = tls_config(dir.path(), &cert, &key, TlsProfile::Bsi, MinVersion::Tls12);
    let app = startup::build_app(&cfg, Arc::new(SystemClock))
        .await
        .expect("app");
    let cli = startup::cli_actor();
    app.create_account(
        &cli,
        amtsbote_core::auth::accounts::NewAccount {
            login: "admin".into(),
            display_name: "Administration".into(),
            email: "admin@example.org".into(),
            kind: amtsbote_core::auth::accounts::AccountKind::Staff(
                amtsbote_core::StaffRole::Admin,
            ),
        },
    )
    .await
    .expect("admin");
    app.set_password(&cli, "admin", crate::helpers::PW)
        .await
        .expect("pw");
    let running = startup::start(&cfg, app, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start");
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .build()
        .expect("client");
    let base = running.url();
    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let left: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("amtsbote_tls_certificate_expiry_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("expiry metric in {metrics}"));
    assert!((9 * 86_400..=10 * 86_400 + 60).contains(&left), "{left}");

    let r = crate::helpers::form_login(&http, &base, "admin", crate::helpers::PW).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let page = http
        .get(format!("{base}/admin/accounts"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Das TLS-Zertifikat dieses Servers läuft in 9 Tagen ab")
            || page.contains("Das TLS-Zertifikat dieses Servers läuft in 10 Tagen ab"),
        "{}",
        page.lines()
            .filter(|l| l.contains("banner"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Renewal: new files in place; the running server takes them over.
    let peer_cert = |r: &reqwest::Response| {
        r.extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate().map(<[u8]>::to_vec))
            .expect("peer certificate")
    };
    let before = peer_cert(
        &http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("get"),
    );
    let (new_cert, new_key) = certificate(
        dir.path(),
        "renewed",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        365,
    )
    .await;
    // Written the way ACME clients do: new files renamed over the old ones.
    std::fs::rename(&new_key, &key).expect("key");
    std::fs::rename(&new_cert, &cert).expect("cert");
    let mut taken_over = false;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A new client: no TLS session to resume.
        let fresh = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .tls_info(true)
            .build()
            .expect("client");
        let now = peer_cert(
            &fresh
                .get(format!("{base}/healthz"))
                .send()
                .await
                .expect("get"),
        );
        if now != before {
            taken_over = true;
            break;
        }
    }
    assert!(
        taken_over,
        "the renewed certificate is served without a restart"
    );
    let page = http
        .get(format!("{base}/admin/accounts"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(!page.contains("TLS-Zertifikat"), "the banner is gone");
    running.stop().await.expect("stop");
}

/// Debian's testssl.sh against the default profile: no finding of severity MEDIUM or
/// above. The certificate is one a CA would issue (90 days, a CRL address, the test's own
/// trust anchor), so that what is judged is the server, not a throw-away certificate.
#[tokio::test]
async fn testssl_finds_nothing_of_medium_severity_or_above() {
    if !prereq::ready(
        "it::tls_profile::testssl_finds_nothing_of_medium_severity_or_above",
        &[openssl(), Need::binary("testssl", "testssl.sh")],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = certificate(
        dir.path(),
        "ca-like",
        &[
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "crlDistributionPoints=URI:http://crl.example.invalid/amtsbote.crl",
        ],
        90,
    )
    .await;
    let running = serve(&tls_config(
        dir.path(),
        &cert,
        &key,
        TlsProfile::Bsi,
        MinVersion::Tls12,
    ))
    .await
    .expect("start");
    let json = dir.path().join("testssl.json");
    let out = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new("testssl")
            .args(["--quiet", "--color", "0", "--warnings", "off", "--add-ca"])
            .arg(&cert)
            .arg("--jsonfile")
            .arg(&json)
            .arg(format!("https://{}/login", running.addr))
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("testssl in time")
    .expect("testssl runs");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let findings: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("testssl json")).expect("json");
    assert!(findings.len() > 50, "testssl ran its checks: {report}");
    let serious: Vec<String> = findings
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
        .map(|f| format!("{} {}: {}", f["severity"], f["id"], f["finding"]))
        .collect();
    assert!(serious.is_empty(), "{serious:#?}\n{report}");
    for (id, want) in [
        ("SSLv3", "not offered"),
        ("TLS1", "not offered"),
        ("TLS1_1", "not offered"),
        ("TLS1_3", "offered"),
    ] {
        let got = findings
            .iter()
            .find(|f| f["id"] == id)
            .and_then(|f| f["finding"].as_str())
            .unwrap_or_default();
        assert!(got.starts_with(want), "{id}: {got}");
    }
    running.stop().await.expect("stop");
}
