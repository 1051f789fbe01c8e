//! Test 24 of security-compliance.md: no secrets and no file content in the log. The
//! real binary runs at log level `debug` through a scenario of every kind of secret the
//! system handles (account passwords right and wrong, on the web and over WebDAV, the
//! session cookie, the CSRF token, an app password, the first admin's one-time password,
//! the audit signing key) and an upload with recognisable content; then its whole
//! output is searched for each of them.

use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};

use crate::helpers::{Browser, csrf_of, form_login, free_port};

const PW: &str = "Geheimes-Passwort-2026!";
const WRONG: &str = "Falsches-Kennwort-4711";
const CONTENT: &str = "INHALT-PERSONALAKTE-Diagnose-0815";

fn cli(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_amtsbote"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("AMTSBOTE_DATABASE__URL")
        .env("AMTSBOTE_SCAN__MODE", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("cli");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Ends the server it holds when dropped, also when an assertion fails first.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_log_holds_no_secret_and_no_content() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let port = free_port();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_amtsbote"))
            .arg("--data-dir")
            .arg(&data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("AMTSBOTE_DATABASE__URL")
            .env("AMTSBOTE_SCAN__MODE", "off")
            .env("AMTSBOTE_LOG", "debug")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn serve"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..150 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "the server came up");
    // The first admin was made on the empty database; the member and its user now, by
    // the command line next to the running server.
    cli(
        &data,
        &[
            "member",
            "add",
            "--number",
            "1001",
            "--name",
            "Stadt Musterstadt",
        ],
        None,
    );
    cli(
        &data,
        &[
            "user",
            "add",
            "--member",
            "1001",
            "--login",
            "user.a",
            "--name",
            "Frau A",
            "--email",
            "a@example.org",
        ],
        None,
    );
    cli(
        &data,
        &["user", "set-password", "user.a", "--password-stdin"],
        Some(&format!("{PW}\n")),
    );

    // The web door: a wrong and a right password, the session, its token.
    let jar = Arc::new(Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = form_login(&http, &base, "user.a", WRONG).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = form_login(&http, &base, "user.a", PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = http
        .get(format!("{base}/app-passwords"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    let user = Browser {
        http: http.clone(),
        base: base.clone(),
        csrf: csrf_of(&home),
    };
    let cookies = jar
        .cookies(&base.parse().expect("url"))
        .expect("cookies")
        .to_str()
        .expect("ascii")
        .to_string();
    let session: Vec<String> = cookies
        .split(';')
        .filter_map(|c| c.split_once('=').map(|(_, v)| v.trim().to_string()))
        .filter(|v| v.len() >= 16)
        .collect();
    assert!(!session.is_empty(), "a session cookie: {cookies}");
    let r = user.post("/app-passwords", &[("label", "Büro-PC")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("text");
    let token = regex::Regex::new(r"<code>([a-zA-Z2-9]{5}(?:-[a-zA-Z2-9]{5}){4})</code>")
        .expect("re")
        .captures(&page)
        .and_then(|c| c.get(1))
        .expect("app password shown")
        .as_str()
        .to_string();

    // WebDAV: Basic with the password (wrong and right) and the app password, an upload
    // whose content must stay out of the log.
    let dav = format!("{base}/remote.php/dav/files/user.a");
    let plain = reqwest::Client::new();
    for (secret, expect) in [
        (WRONG, StatusCode::UNAUTHORIZED),
        (PW, StatusCode::MULTI_STATUS),
        (token.as_str(), StatusCode::MULTI_STATUS),
    ] {
        let r = plain
            .request(reqwest::Method::from_bytes(b"PROPFIND").expect("m"), &dav)
            .basic_auth("user.a", Some(secret))
            .header("Depth", "1")
            .send()
            .await
            .expect("propfind");
        assert_eq!(r.status(), expect);
    }
    let r = plain
        .put(format!("{dav}/an_KVBbg/Bescheid.pdf"))
        .basic_auth("user.a", Some(&token))
        .body(CONTENT.repeat(100))
        .send()
        .await
        .expect("put");
    assert!(r.status().is_success(), "{}", r.status());
    let r = plain
        .get(format!("{dav}/an_KVBbg/Bescheid.pdf"))
        .basic_auth("user.a", Some(&token))
        .send()
        .await
        .expect("get");
    assert!(r.text().await.expect("body").starts_with(CONTENT));

    // Test 25: a failure of the database is a plain message with an incident number,
    // without SQL, table names or versions; the log line carries the same number.
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(&format!("sqlite://{}", data.join("amtsbote.db").display()))
        .await
        .expect("database");
    sqlx::raw_sql("ALTER TABLE app_passwords RENAME TO app_passwords_weg")
        .execute(&db)
        .await
        .expect("break the table");
    db.close().await;
    let r = http
        .get(format!("{base}/app-passwords"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let page = r.text().await.expect("text");
    let incident = regex::Regex::new(r"Vorgangsnummer: ([A-Z2-9]{4}-[A-Z2-9]{4})")
        .expect("re")
        .captures(&page)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| panic!("an incident number on the page: {page}"));
    for detail in [
        "app_passwords",
        "SQL",
        "sqlite",
        "no such table",
        "amtsbote_core",
        ".rs:",
    ] {
        assert!(!page.contains(detail), "the page tells {detail:?}: {page}");
    }
    drop(server);

    let text = std::fs::read_to_string(&log_path).expect("log");
    // The log is not empty: it has the requests at debug level and the start.
    assert!(text.contains("listening on"), "{text}");
    assert!(text.lines().count() > 10, "{text}");
    let failure = text
        .lines()
        .find(|l| l.contains(&incident))
        .unwrap_or_else(|| panic!("the incident {incident} in the log"));
    assert!(
        failure.contains("request failed") && failure.contains("app_passwords"),
        "the log line has the detail the page has not: {failure}"
    );
    let admin_otp = std::fs::read_to_string(data.join("initial-admin-password"))
        .expect("first admin's one-time password file");
    let admin_otp = admin_otp
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.len() >= 20 && w.contains('-'))
        })
        .expect("a one-time password in the file")
        .to_string();
    let signing_key = std::fs::read(data.join("audit-signing-key")).expect("signing key");
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut secrets: Vec<(String, &str)> = vec![
        (PW.to_string(), "the account password"),
        (WRONG.to_string(), "a wrong password"),
        (token.clone(), "the app password"),
        (user.csrf.clone(), "the CSRF token"),
        (CONTENT.to_string(), "file content"),
        (admin_otp, "the first admin's one-time password"),
        (b64.encode(format!("user.a:{PW}")), "a Basic header"),
        (b64.encode(format!("user.a:{token}")), "a Basic header"),
        (b64.encode(&signing_key), "the audit signing key"),
        (hex::encode(&signing_key), "the audit signing key"),
    ];
    for s in session {
        secrets.push((s, "the session cookie"));
    }
    for (secret, what) in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} is in the log: {}",
            text.lines()
                .find(|l| l.contains(secret.as_str()))
                .unwrap_or_default()
        );
    }
}
