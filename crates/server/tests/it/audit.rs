//! The tamper-evident audit log (security-compliance.md §6, tests 26–28): append-only in
//! the database, a hash chain over every entry, signed checkpoints, and an offline
//! verifier that names the first wrong entry, whatever was changed, deleted, reordered
//! or cut off — also a row changed directly in the database, past the triggers.

use amtsbote::startup::cli_actor;
use amtsbote_core::App;
use amtsbote_core::audit::AuditEvent;
use amtsbote_core::audit::export::{Format, verify};
use amtsbote_core::audit::seal::Signer;
use amtsbote_core::db::Backend;

use crate::cli::amtsbote;
use crate::helpers::{PW, TestApp};

async fn export(app: &App) -> String {
    let mut out = Vec::new();
    app.audit_export(&cli_actor(), None, None, Format::JsonLines, &mut out)
        .await
        .expect("export");
    String::from_utf8(out).expect("utf-8")
}

fn check(text: &str, key: Option<&str>) -> Result<amtsbote_core::audit::export::Report, String> {
    verify(&mut text.as_bytes(), key).map_err(|p| p.to_string())
}

/// Some activity of the kind the log records: log-ins (good and bad), admin acts.
async fn activity(t: &TestApp, n: usize) {
    for i in 0..n {
        t.app
            .audit(
                t.app.db.pool(),
                AuditEvent::new(&cli_actor(), "test.event", format!("target:{i}"))
                    .detail(format!("Eintrag {i} \"mit\" Umlauten äöü")),
            )
            .await
            .expect("audit");
    }
}

fn entry_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(r#""type":"entry""#))
        .map(|(i, l)| (i, l.to_string()))
        .collect()
}

fn with_line(text: &str, index: usize, new: Option<&str>) -> String {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            if i == index {
                new.map(str::to_string)
            } else {
                Some(l.to_string())
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_change_to_an_export_is_found_at_its_entry() {
    let t = TestApp::spawn().await;
    let _ = t.login("user.a").await;
    assert!(
        t.login_with("user.a", "falsch-falsch-falsch")
            .await
            .is_err()
    );
    activity(&t, 30).await;
    let text = export(&t.app).await;
    let key = t.app.audit_verifier_key().expect("key");
    let report = check(&text, Some(&key)).expect("a fresh export verifies");
    assert!(report.entries > 30, "{report:?}");
    assert!(report.checkpoints >= 1, "the export seals what it holds");
    assert_eq!(report.unsealed, 0);

    let entries = entry_lines(&text);
    for pick in [0, entries.len() / 2, entries.len() - 1] {
        let (line, original) = &entries[pick];
        let seq = pick; // a fresh log: seq = position
        // One byte of the entry changed.
        let changed = original.replacen("\"outcome\":\"", "\"outcome\":\"X", 1);
        assert_ne!(&changed, original);
        let err = check(&with_line(&text, *line, Some(&changed)), Some(&key)).expect_err("changed");
        assert!(
            err.starts_with(&format!("seq {seq}:")),
            "changed at {seq}: {err}"
        );
        // The entry deleted.
        let err = check(&with_line(&text, *line, None), Some(&key)).expect_err("deleted");
        assert!(
            err.contains(&format!("seq {seq}")) || err.contains(&format!("seq {}", seq + 1)),
            "deleted at {seq}: {err}"
        );
    }
    // Two entries swapped.
    let (a, la) = &entries[3];
    let (b, lb) = &entries[4];
    let swapped = with_line(&with_line(&text, *a, Some(lb)), *b, Some(la));
    let err = check(&swapped, Some(&key)).expect_err("reordered");
    assert!(
        err.starts_with("seq 4:") || err.starts_with("seq 3:"),
        "{err}"
    );
    // The tail cut off (the last five entries gone, the seals kept).
    let mut cut = text.clone();
    for (line, _) in entries.iter().rev().take(5) {
        cut = with_line(&cut, *line, Some(""));
    }
    let err = check(&cut, Some(&key)).expect_err("truncated");
    assert!(err.contains("sealed"), "{err}");
    t.finish().await;
}

#[tokio::test]
async fn the_database_refuses_changes_and_a_change_past_it_is_found() {
    let t = TestApp::spawn().await;
    activity(&t, 10).await;
    t.app.chain_audit_fully(true).await.expect("chain");
    let pool = t.app.db.pool();
    for sql in [
        "UPDATE audit_log SET detail = 'anders'",
        "DELETE FROM audit_log",
        "UPDATE audit_chain SET hash = 'x'",
        "DELETE FROM audit_chain",
        "DELETE FROM audit_checkpoints",
    ] {
        let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(pool)
            .await;
        assert!(r.is_err(), "refused: {sql}");
    }
    let text = export(&t.app).await;
    assert!(check(&text, None).is_ok());

    // A database administrator drops the guard and changes one entry in place.
    let drop_guard = match t.app.db.backend() {
        Backend::Sqlite | Backend::MySql => "DROP TRIGGER audit_log_no_update",
        Backend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop_guard.to_string()))
        .execute(pool)
        .await
        .expect("drop trigger");
    let victim: i64 =
        sqlx::query_scalar::<_, i64>("SELECT entry_id FROM audit_chain WHERE seq = 5")
            .fetch_one(pool)
            .await
            .expect("entry of seq 5");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_log SET detail = 'nachträglich geändert' WHERE id = {victim}"
    )))
    .execute(pool)
    .await
    .expect("update past the trigger");
    let err = check(&export(&t.app).await, None).expect_err("found");
    assert!(
        err.starts_with("seq 5:") && err.contains("changed"),
        "{err}"
    );
    t.finish().await;
}

#[tokio::test]
async fn a_checkpoint_signed_with_another_key_fails() {
    let t = TestApp::spawn().await;
    activity(&t, 5).await;
    let text = export(&t.app).await;
    let dir = tempfile::tempdir().expect("tmp");
    let other =
        Signer::from_file("amtsbote/KVBbg", &dir.path().join("other.key"), true).expect("key");
    let err = check(&text, Some(&other.verifier_key())).expect_err("wrong key");
    assert!(err.contains("checkpoint"), "{err}");
    // A forger who re-signs the checkpoints with a key of their own, and puts that key
    // into the export, is caught by the key the auditor holds.
    let forged: String = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            match v["type"].as_str() {
                Some("header") => {
                    let mut v = v.clone();
                    v["key"] = other.verifier_key().into();
                    v.to_string()
                }
                Some("checkpoint") => {
                    let note = v["note"].as_str().expect("note");
                    let body = &note[..note.find("\n\n").expect("body") + 1];
                    let mut v = v.clone();
                    v["note"] = other.sign(body).into();
                    v.to_string()
                }
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let real = t.app.audit_verifier_key().expect("key");
    assert!(
        check(&forged, Some(&real)).is_err(),
        "but not under the real key"
    );
    t.finish().await;
}

#[tokio::test]
async fn two_nodes_writing_and_linking_at_once_make_one_chain() {
    let t = TestApp::spawn().await;
    let second = amtsbote::startup::build_app(&t.cfg, std::sync::Arc::new(t.clock.clone()))
        .await
        .expect("second node");
    let write = |app: App, tag: &'static str| async move {
        for i in 0..40 {
            app.audit(
                app.db.pool(),
                AuditEvent::new(&cli_actor(), "test.event", format!("{tag}:{i}")),
            )
            .await
            .expect("audit");
            if i % 5 == 0 {
                app.chain_audit().await.expect("chain");
            }
        }
        app.chain_audit().await.expect("chain");
    };
    tokio::join!(write(t.app.clone(), "a"), write(second.clone(), "b"));
    let text = export(&second).await;
    let report =
        check(&text, Some(&t.app.audit_verifier_key().expect("key"))).expect("one valid chain");
    let ours = text.matches("\"test.event\"").count();
    assert_eq!(ours, 80, "every entry of both nodes is in the chain once");
    assert!(report.entries >= 80);
    second.db.close().await;
    t.finish().await;
}

#[tokio::test]
async fn the_command_line_exports_and_verifies() {
    let t = TestApp::spawn().await;
    let _ = t.login("user.a").await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("protokoll.jsonl");
    let f = file.to_string_lossy().to_string();
    let (ok, out, err) = amtsbote(&t, &["audit", "export", "--out", &f], None).await;
    assert!(ok, "{out}{err}");
    assert!(!err.contains(PW) && !out.contains(PW));
    let (ok, key, _) = amtsbote(&t, &["audit", "key"], None).await;
    assert!(ok && key.starts_with("amtsbote/KVBbg+"), "{key}");
    let (ok, out, _) = amtsbote(&t, &["audit", "verify", &f, "--key", key.trim()], None).await;
    assert!(ok && out.contains("verified"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the export is for the operator only");
    }
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, text.replacen("\"login\"", "\"logout\"", 1)).expect("write");
    let (ok, out, _) = amtsbote(&t, &["audit", "verify", &f, "--key", key.trim()], None).await;
    assert!(!ok && out.contains("AUDIT EXPORT INVALID: seq "), "{out}");
    let csv = dir.path().join("protokoll.csv");
    let (ok, _, err) = amtsbote(
        &t,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--out",
            &csv.to_string_lossy(),
        ],
        None,
    )
    .await;
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(&csv).expect("csv");
    assert!(csv.starts_with("seq,time_utc,"), "{csv}");
    assert!(csv.contains("\"login\""), "{csv}");
    t.finish().await;
}
