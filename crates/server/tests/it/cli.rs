//! The admin CLI against the same database and storage as a running server.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use reqwest::StatusCode;

use crate::helpers::TestApp;

/// Runs the CLI as its own process. Awaited, not waited for: the test's runtime also
/// drives the server, and a blocked runtime would leave a write transaction of the
/// server open that the CLI then waits for in vain ("database is locked").
pub async fn amtsbote(t: &TestApp, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amtsbote"));
    cmd.arg("--data-dir")
        .arg(t.data_dir())
        .args(args)
        .env("AMTSBOTE_DATABASE__URL", &t.cfg.database.url)
        .env("USER", "betrieb")
        .env_remove("AMTSBOTE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn amtsbote");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().await.expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn run(t: &TestApp, args: &[&str]) -> (bool, String, String) {
    amtsbote(t, args, None).await
}

fn otp_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("one-time password:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no one-time password in {stdout}"))
}

#[tokio::test]
async fn operators_manage_members_and_accounts() {
    let t = TestApp::spawn().await;

    let (ok, out, err) = run(
        &t,
        &[
            "member",
            "add",
            "--number",
            "2001",
            "--name",
            "Amt Seeland",
            "--email",
            "post@seeland.example",
            "--address",
            "Amt Seeland\\nSeestraße 3",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let (ok, out, _) = run(
        &t,
        &["member", "add", "--number", "2001", "--name", "Doppelt"],
    )
    .await;
    assert!(!ok, "duplicate member numbers are refused: {out}");
    let (ok, out, _) = run(&t, &["member", "list"]).await;
    assert!(
        ok && out.contains("2001\tAmt Seeland\tactive") && out.contains("1001\tStadt Musterstadt"),
        "{out}"
    );

    // A member user: one-time password, forced change at first web log-in.
    let (ok, out, err) = run(
        &t,
        &[
            "user",
            "add",
            "--member",
            "2001",
            "--login",
            "Personal.Seeland",
            "--email",
            "personal@seeland.example",
            "--name",
            "Paula Personal",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let otp = otp_of(&out);
    let (ok, _, err) = run(
        &t,
        &[
            "user",
            "add",
            "--member",
            "2001",
            "--login",
            "personal.seeland",
            "--email",
            "x@seeland.example",
            "--name",
            "Zweite",
        ],
    )
    .await;
    assert!(
        !ok && err.contains("already exists"),
        "login names are unique without regard to case: {err}"
    );
    let b = t
        .login_with("personal.seeland", &otp)
        .await
        .expect("one-time password works");
    let r = b.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/password",
        "first log-in forces a new password"
    );

    // set-password from stdin: no forced change afterwards.
    let (ok, out, err) = amtsbote(
        &t,
        &[
            "user",
            "set-password",
            "personal.seeland",
            "--password-stdin",
        ],
        Some("Neues-Passwort-Seeland\n"),
    )
    .await;
    assert!(ok, "{out}{err}");
    let b = t
        .login_with("personal.seeland", "Neues-Passwort-Seeland")
        .await
        .expect("new password works");
    let (s, page) = b.page("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("an_KVBbg"),
        "straight into the own space: {page}"
    );
    let (ok, _, err) = amtsbote(
        &t,
        &[
            "user",
            "set-password",
            "personal.seeland",
            "--password-stdin",
        ],
        Some("kurz\n"),
    )
    .await;
    assert!(!ok && err.contains("password rejected"), "{err}");

    // reset-password: new one-time password, the running session ends.
    let (ok, out, err) = run(&t, &["user", "reset-password", "personal.seeland"]).await;
    assert!(ok, "{out}{err}");
    let otp2 = otp_of(&out);
    assert_ne!(otp, otp2);
    let r = b.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .expect("loc")
            .starts_with("/login"),
        "session revoked"
    );
    assert!(
        t.login_with("personal.seeland", "Neues-Passwort-Seeland")
            .await
            .is_err()
    );
    assert!(t.login_with("personal.seeland", &otp2).await.is_ok());

    // Staff and assignment.
    let (ok, out, err) = run(
        &t,
        &[
            "staff",
            "add",
            "--login",
            "sb.seeland",
            "--email",
            "sb@kvbbg.example",
            "--name",
            "Sven Sachbearbeiter",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run(&t, &["staff", "assign", "sb.seeland", "--member", "2001"]).await;
    assert!(ok, "{out}{err}");
    let (ok, out, _) = run(&t, &["member", "show", "2001"]).await;
    assert!(
        ok && out.contains("clerk:    sb.seeland") && out.contains("user:     Personal.Seeland"),
        "{out}"
    );
    assert!(out.contains("Seestraße 3"), "{out}");
    let (ok, _, _) = run(&t, &["staff", "unassign", "sb.seeland", "--member", "2001"]).await;
    assert!(ok);
    let (_, out, _) = run(&t, &["member", "show", "2001"]).await;
    assert!(!out.contains("clerk:    sb.seeland"), "{out}");

    // Teams.
    for args in [
        vec!["team", "add", "Team Nord"],
        vec!["team", "join", "Team Nord", "--login", "sb.seeland"],
        vec!["team", "assign", "Team Nord", "--member", "2001"],
    ] {
        let (ok, out, err) = run(&t, &args).await;
        assert!(ok, "{args:?}: {out}{err}");
    }
    let (_, out, _) = run(&t, &["member", "show", "2001"]).await;
    assert!(
        out.contains("clerk:    sb.seeland"),
        "team assignment counts: {out}"
    );

    // Deactivating the member locks its users out.
    let (ok, _, _) = run(&t, &["member", "deactivate", "2001"]).await;
    assert!(ok);
    assert!(t.login_with("personal.seeland", &otp2).await.is_err());
    let (_, out, _) = run(&t, &["member", "list", "--search", "2001"]).await;
    assert!(out.contains("inactive"), "{out}");

    // Every act is audited with the actor cli:<os user>.
    let audit = t.app.audit_recent(200).await.expect("audit");
    for action in [
        "member.create",
        "account.create",
        "password.set",
        "password.reset",
        "assignment.add",
        "assignment.remove",
        "team.create",
        "member.deactivate",
    ] {
        assert!(
            audit.iter().any(|a| a.action == action
                && a.actor_label == "cli:betrieb"
                && a.actor_kind == "cli"),
            "{action} audited as cli:betrieb"
        );
    }
    // The one-time passwords never reach the audit log.
    assert!(
        audit
            .iter()
            .all(|a| !a.detail.contains(&otp) && !a.target.contains(&otp))
    );

    let (ok, out, err) = run(&t, &["check-config"]).await;
    assert!(ok && out.contains("configuration ok"), "{out}{err}");
    // Scanning is on by default, and check-config says whether clamd answers.
    assert!(out.contains("scan.mode: clamd"), "{out}");
    assert!(
        out.contains("scanner:   unix:///run/clamav/clamd.ctl ")
            && out.contains(", files up to ")
            && out.contains(" MiB"),
        "{out}"
    );
    t.finish().await;
}

#[test]
fn unknown_configuration_keys_stop_the_program() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[server]\nlisten = \"127.0.0.1:0\"\n[sacn]\nmode = \"off\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtsbote"))
        .args(["--config"])
        .arg(&f)
        .arg("check-config")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sacn"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtsbote"))
        .arg("--help")
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "serve",
        "check-config",
        "dev-cert",
        "member",
        "user",
        "staff",
    ] {
        assert!(help.contains(cmd), "--help names {cmd}: {help}");
    }
}
