//! Data, accounts and sessions live in the database and the blob store, not in the
//! process: a restart changes nothing a user can notice — and revoked stays revoked.

use amtsbote::startup::cli_actor;
use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::helpers::{
    PW, TestApp, assert_shows, bytes, location, node_id, session_cookie, signed_in,
};

/// GET with a raw `Cookie` header from a client without a cookie jar.
async fn get_with_cookie(t: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    t.client()
        .get(format!("{}{path}", t.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("get")
}

#[tokio::test]
async fn files_accounts_and_sessions_survive_a_restart() {
    let mut t = TestApp::spawn().await;
    let mut clerk = t.login("clerk.a").await;
    let mut user = t.login("user.a").await;
    let root = t.space_a.root_id;
    let doc = bytes(700_000, 1);
    let r = clerk
        .upload(t.space_a.id, root, &[("Bescheid.pdf", doc.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // A third session is logged out before the restart.
    let (revoked, revoked_csrf) = session_cookie(&t, "user.a2").await;
    let r = t
        .client()
        .post(format!("{}/logout", t.url))
        .header(COOKIE, &revoked)
        .form(&[("csrf", revoked_csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?logged_out=1");

    let old_url = t.url.clone();
    t.restart().await;
    assert_ne!(t.url, old_url, "a new process on a new port");
    clerk.base = t.url.clone();
    user.base = t.url.clone();

    // The first browser's cookie still works, and so does its CSRF token.
    let (status, listing) = clerk
        .page(&format!("/spaces/{}/folders/{root}", t.space_a.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(listing.contains("Bescheid.pdf"), "{listing}");
    let r = clerk
        .post(
            &format!("/spaces/{}/folders/{root}/mkdir", t.space_a.id),
            &[("name", "Nach dem Neustart")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        t.names_in(&t.space_a, root)
            .await
            .contains(&"Nach dem Neustart".to_string())
    );

    // The second browser downloads the file byte-identical.
    let id = node_id(&t, &t.space_a, root, "Bescheid.pdf")
        .await
        .expect("stored");
    let dl = user.download(t.space_a.id, id).await;
    assert_eq!(dl.status(), StatusCode::OK);
    assert_eq!(dl.bytes().await.expect("body").as_ref(), doc.as_slice());

    // The logged-out session stays revoked.
    for path in ["/", &format!("/spaces/{}/files/{id}", t.space_a.id)] {
        let r = get_with_cookie(&t, &revoked, path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/login"), "{}", location(&r));
    }

    // Accounts survive: the password still works, a wrong one still does not.
    let again = t.login("user.a2").await;
    assert!(signed_in(&again).await);
    let (status, html) = t
        .login_with("user.a2", "kein-richtiges-Passwort")
        .await
        .err()
        .expect("wrong password fails");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_shows(&html, "login-failed");

    // The audit trail from before the restart is still there.
    let audit = t.app.audit_recent(100).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "upload"));
    assert!(audit.iter().any(|a| a.action == "logout"));
    t.finish().await;
}

#[tokio::test]
async fn password_reset_revokes_existing_sessions() {
    let mut t = TestApp::spawn().await;
    let first = t.login("user.a").await;
    let second = t.login("user.a").await;
    let mut other = t.login("user.a2").await;
    let (raw, _) = session_cookie(&t, "user.a").await;
    assert!(signed_in(&first).await);

    let account = t
        .app
        .account_by_login(&amtsbote::startup::cli_actor(), "user.a")
        .await
        .expect("account");
    let otp = t
        .app
        .reset_password(&cli_actor(), account.id)
        .await
        .expect("reset");

    for b in [&first, &second] {
        let r = b.get("/").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/login?expired=1");
    }
    // Another account's session is untouched.
    assert!(signed_in(&other).await);

    // Still revoked after a restart; the old password is gone, the one-time password
    // leads straight to the password change.
    t.restart().await;
    other.base = t.url.clone();
    let r = get_with_cookie(&t, &raw, "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
    assert!(signed_in(&other).await);
    let (status, _) = t
        .login_with("user.a", PW)
        .await
        .err()
        .expect("old password");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let fresh = t
        .login_with("user.a", &otp)
        .await
        .expect("one-time password");
    let r = fresh.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/password");
    t.finish().await;
}

/// Shutdown lets a download that is under way finish, byte for byte.
#[tokio::test]
async fn graceful_shutdown_finishes_running_downloads() {
    use futures_util::StreamExt;
    let mut t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let root = t.space_a.root_id;
    let doc = bytes(24 * 1024 * 1024, 11);
    let r = clerk
        .upload(t.space_a.id, root, &[("Gross.pdf", doc.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = node_id(&t, &t.space_a, root, "Gross.pdf")
        .await
        .expect("stored");
    let r = clerk.download(t.space_a.id, id).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = r.bytes_stream();
    let mut got = body
        .next()
        .await
        .expect("first chunk")
        .expect("chunk")
        .to_vec();
    let rest = async {
        while let Some(chunk) = body.next().await {
            got.extend_from_slice(&chunk.expect("no reset during shutdown"));
            // Read slowly, so the download is still running when shutdown begins.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    };
    tokio::join!(t.stop_server(), rest);
    assert_eq!(got.len(), doc.len());
    assert!(got == doc, "the download completed byte-identical");
    // New connections are no longer accepted.
    assert!(reqwest::get(format!("{}/healthz", t.url)).await.is_err());
    t.finish().await;
}

/// The binary on an empty database: the first admin's password in a file for the
/// service user (never on standard output without a terminal, never in the log), the
/// URL printed, SIGTERM ends it cleanly.
#[cfg(unix)]
#[tokio::test]
async fn serve_prints_first_admin_once_and_stops_on_sigterm() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let start = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_amtsbote"))
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("AMTSBOTE_DATABASE__URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve")
    };
    let stop = |mut child: std::process::Child| -> (String, String, bool) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let pid = child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = child.wait().expect("wait");
        let mut out = String::new();
        let mut err = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("read");
        (out, err, exit.success())
    };
    let (out, err, ok) = stop(start(dir.path()));
    assert!(ok, "clean exit on SIGTERM: {err}");
    assert!(
        out.contains(&format!("listening on http://127.0.0.1:{port}/")),
        "{out}"
    );
    // Standard output is no terminal here (as under systemd, where it is the journal):
    // the password goes into a file for the service user only.
    let file = dir.path().join("initial-admin-password");
    assert!(out.contains("initial-admin-password"), "{out}");
    let kept = std::fs::read_to_string(&file).expect("password file");
    let otp = kept
        .lines()
        .find_map(|l| l.trim().strip_prefix("one-time password:"))
        .map(|s| s.trim().to_string())
        .expect("first admin's one-time password in the file");
    assert!(otp.len() >= 16, "{kept}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by the service user only");
    }
    assert!(
        !out.contains(&otp) && !err.contains(&otp),
        "the one-time password never reaches standard output or the log: {out} {err}"
    );
    assert!(err.contains("shutting down"), "{err}");
    // Second start on the same data: no new admin, no password anywhere, the file stays
    // while admin has not set a password.
    let (out, _, ok) = stop(start(dir.path()));
    assert!(ok);
    assert!(!out.contains("one-time password"), "{out}");
    assert!(file.exists());
    // Once admin has a password of its own, the next start removes the file.
    let mut set = Command::new(env!("CARGO_BIN_EXE_amtsbote"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["user", "set-password", "admin", "--password-stdin"])
        .env_remove("AMTSBOTE_DATABASE__URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("set-password");
    {
        use std::io::Write;
        set.stdin
            .take()
            .expect("stdin")
            .write_all(b"Ein eigenes Verwaltungspasswort 2026\n")
            .expect("write");
    }
    assert!(set.wait().expect("wait").success());
    let (_, _, ok) = stop(start(dir.path()));
    assert!(ok);
    assert!(!file.exists(), "the spent password file is removed");
}

/// `serve --demo` (the README's quick start): demo members and accounts, once.
#[cfg(unix)]
#[tokio::test]
async fn serve_demo_seeds_the_walkthrough() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("tmp");
    let port = crate::helpers::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_amtsbote"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("AMTSBOTE_DATABASE__URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
            let body = r.text().await.unwrap_or_default();
            // The public port tells only that it is ready (the log says scanning is off).
            assert_eq!(body, r#"{"status":"ok"}"#);
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "demo server answers");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("1001 Stadt Musterstadt"), "{stdout}");
    for login in ["admin", "sachbearbeitung", "musterstadt", "beispielheim"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(login) && l.contains("one-time password"))
                || stdout.contains(&format!("login:              {login}")),
            "{login} with its one-time password: {stdout}"
        );
    }
    assert!(
        stderr.contains("virus scanning is OFF"),
        "the log warns: {stderr}"
    );
}
