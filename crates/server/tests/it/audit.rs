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
use reqwest::StatusCode;

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
    // Nothing is old enough to go yet: the prune says so and removes nothing.
    let (ok, out, err) = amtsbote(&t, &["audit", "prune"], None).await;
    assert!(
        ok && out.contains("0 epochs older than 365 days pruned"),
        "{out}{err}"
    );
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

/// Test 29: retention removes whole epochs only, oldest first, each after an
/// `audit.pruned` entry that states range, count and last hash; the export still
/// verifies from the last pruned seal on, and the database refuses to delete a single
/// entry, a link above the horizon, or a horizon that is not a sealed epoch's end.
#[tokio::test]
async fn pruning_removes_whole_old_epochs_and_keeps_the_chain_verifiable() {
    let t = TestApp::spawn().await;
    let key = t.app.audit_verifier_key().expect("key");
    // Three epochs: two that will be old, one recent.
    activity(&t, 12).await;
    t.app.chain_audit_fully(true).await.expect("seal epoch 0");
    activity(&t, 7).await;
    t.app.chain_audit_fully(true).await.expect("seal epoch 1");
    let before = check(&export(&t.app).await, Some(&key)).expect("verifies");
    assert_eq!(before.pruned_below, 0);
    let days = t.app.settings.audit.retention_days;
    assert!(days > 0, "retention is on by default");
    t.clock
        .advance_ms(i64::try_from(days + 1).expect("days") * 86_400_000);
    activity(&t, 5).await;
    t.app.chain_audit_fully(true).await.expect("seal epoch 2");
    let seals: Vec<(i64, i64, String, i64)> = sqlx::query_as::<_, (i64, i64, String, i64)>(
        "SELECT epoch, size, root, at FROM audit_checkpoints ORDER BY epoch",
    )
    .fetch_all(t.app.db.pool())
    .await
    .expect("seals");
    let cutoff = t.app.now() - i64::try_from(days).expect("days") * 86_400_000;
    let old: Vec<_> = seals.iter().filter(|s| s.3 < cutoff).collect();
    assert!(old.len() >= 2 && old.len() < seals.len(), "{seals:?}");

    // A member user may not prune; the command line may.
    let user = crate::helpers::actor(&t, "user.a").await;
    assert!(t.app.prune_audit(Some(&user)).await.is_err());
    let pruned = t.app.prune_audit(Some(&cli_actor())).await.expect("prune");
    assert_eq!(
        pruned.len(),
        old.len(),
        "the old epochs, not the recent one"
    );
    let horizon = old.last().expect("old").1;
    let last = pruned.last().expect("pruned");
    assert_eq!(
        (last.below, &last.last_hash),
        (horizon, &old.last().expect("old").2)
    );
    assert_eq!(pruned[0].first, 0);
    assert_eq!(pruned[0].entries, old[0].1);
    assert!(
        t.app.prune_audit(None).await.expect("again").is_empty(),
        "nothing twice"
    );

    // The pruning entries say what went, and the export verifies from the seal on.
    let rows = t.app.audit_recent(50).await.expect("recent");
    let record = rows
        .iter()
        .find(|r| r.action == "audit.pruned" && r.target == format!("audit:epoch:{}", last.epoch))
        .expect("pruning entry");
    let before_last = old[old.len() - 2].1;
    assert!(
        record
            .detail
            .contains(&format!("seq={before_last}-{}", horizon - 1))
            && record
                .detail
                .contains(&format!("last_hash={}", last.last_hash))
            && record.detail.contains("entries="),
        "{}",
        record.detail
    );
    let text = export(&t.app).await;
    let after = check(&text, Some(&key)).expect("still verifies after pruning");
    assert_eq!(after.pruned_below, horizon);
    assert!(after.checkpoints >= 3, "the seals are kept");
    let first_seq = entry_lines(&text)
        .first()
        .map(|(_, l)| serde_json::from_str::<serde_json::Value>(l).expect("json")["seq"].as_i64())
        .expect("an entry");
    assert_eq!(first_seq, Some(horizon));
    // Cutting more off the head, or changing the first kept entry, is still found.
    let entries = entry_lines(&text);
    let err = check(&with_line(&text, entries[0].0, None), Some(&key)).expect_err("head cut");
    assert!(err.contains(&format!("seq {horizon}")), "{err}");
    let changed = entries[0].1.replacen(
        &format!("\"prev_hash\":\"{}", &last.last_hash[..4]),
        "\"prev_hash\":\"ffff",
        1,
    );
    assert_ne!(changed, entries[0].1);
    let err = check(&with_line(&text, entries[0].0, Some(&changed)), Some(&key))
        .expect_err("prev changed");
    assert!(err.starts_with(&format!("seq {horizon}:")), "{err}");
    let pool = t.app.db.pool();
    let kept: i64 = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM audit_chain WHERE seq < {horizon}"
    )))
    .fetch_one(pool)
    .await
    .expect("count");
    assert_eq!(kept, 0, "the links of the pruned epochs are gone");

    // The database: no single entry, no link above the horizon, no made-up horizon.
    let recent =
        sqlx::query_scalar::<_, i64>("SELECT entry_id FROM audit_chain ORDER BY seq DESC LIMIT 1")
            .fetch_one(pool)
            .await
            .expect("entry");
    let epoch2 = seals.last().expect("recent seal");
    for sql in [
        format!("DELETE FROM audit_log WHERE id = {recent}"),
        format!("DELETE FROM audit_chain WHERE seq = {horizon}"),
        "DELETE FROM audit_checkpoints".to_string(),
        "DELETE FROM audit_prunes".to_string(),
        "UPDATE audit_prunes SET below_seq = below_seq + 1".to_string(),
        // A horizon in the middle of an epoch.
        format!(
            "INSERT INTO audit_prunes (epoch, below_seq, entries, last_hash, at, entry_id) VALUES ({}, {}, 1, '{}', 0, {})",
            epoch2.0,
            epoch2.1 - 1,
            epoch2.2,
            record.id
        ),
        // The end of an epoch, but with the pruning entry of another epoch.
        format!(
            "INSERT INTO audit_prunes (epoch, below_seq, entries, last_hash, at, entry_id) VALUES ({}, {}, 1, '{}', 0, {recent})",
            epoch2.0, epoch2.1, epoch2.2
        ),
    ] {
        let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(pool)
            .await;
        assert!(r.is_err(), "refused: {sql}");
    }
    assert!(check(&export(&t.app).await, Some(&key)).is_ok());
    t.finish().await;
}

/// The rows of the page's table, as their text.
fn page_rows(html: &str) -> Vec<String> {
    let html = crate::helpers::unescape(html);
    let Some(body) = html.split("<tbody>").nth(1) else {
        return Vec::new();
    };
    let body = body.split("</tbody>").next().unwrap_or_default();
    body.split("<tr role=\"row\">")
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// The admin page *Protokoll*: the auditor's view, with filters by person, member,
/// document, kind and days, newest first, a page at a time; bad filters are refused in
/// words with 400; nobody but admins reaches it (and it is in the route walks of
/// `it::admin_gate`, `it::csrf` and the isolation table).
#[tokio::test]
async fn the_protocol_page_filters_by_person_member_document_kind_and_day() {
    use crate::helpers::de;
    let t = TestApp::spawn().await;
    let user_a = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let r = user_a
        .upload(
            t.space_a.id,
            an,
            &[("Antrag-Müller.pdf", crate::helpers::bytes(2048, 7))],
        )
        .await;
    assert!(r.status().is_success() || r.status().is_redirection());
    assert!(
        t.login_with("user.b", "falsch-falsch-falsch")
            .await
            .is_err()
    );
    let admin = t.login("admin").await;

    let (s, html) = admin.page("/admin/audit").await;
    assert_eq!(s, StatusCode::OK);
    let rows = page_rows(&html);
    assert!(rows.len() >= 4, "{rows:?}");
    let upload = rows
        .iter()
        .find(|r| r.contains("Antrag-Müller.pdf") && r.contains(&de("audit-action-upload")))
        .expect("the upload is listed");
    assert!(upload.contains("Name user.a") && upload.contains("1001 Stadt Musterstadt"));
    assert!(
        rows.iter()
            .any(|r| r.contains("user.b") && r.contains(&de("audit-outcome-failure"))),
        "the failed sign-in is listed"
    );
    assert!(html.contains(&de("audit-not-sealed")) || html.contains("Epoche"));

    let only = |q: &'static str| {
        let admin = &admin;
        async move {
            let (s, html) = admin.page(&format!("/admin/audit?{q}")).await;
            assert_eq!(s, StatusCode::OK, "{q}");
            page_rows(&html)
        }
    };
    let by_person = only("person=NAME+USER.A").await;
    assert!(!by_person.is_empty() && by_person.iter().all(|r| r.contains("Name user.a")));
    let by_member = only_member(&admin, t.b.id).await;
    assert!(
        by_member.iter().all(|r| !r.contains("Antrag-Müller.pdf")),
        "A's upload is not B's"
    );
    let by_member_a = only_member(&admin, t.a.id).await;
    assert!(by_member_a.iter().any(|r| r.contains("Antrag-Müller.pdf")));
    let by_document = only("document=antrag-m%C3%BCller").await;
    assert!(!by_document.is_empty() && by_document.iter().all(|r| r.contains("Antrag-Müller.pdf")));
    let signin = only("kind=signin").await;
    assert!(!signin.is_empty());
    assert!(
        signin
            .iter()
            .all(|r| !r.contains(&de("audit-action-upload")))
    );
    let documents = only("kind=documents").await;
    assert!(
        documents
            .iter()
            .any(|r| r.contains(&de("audit-action-upload")))
    );
    assert!(documents.iter().all(|r| !r.contains("user.b")));
    // Days: the test clock's day holds everything, the next day nothing.
    let today = jiff::Timestamp::from_millisecond(t.app.now())
        .expect("now")
        .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").expect("tz"))
        .date();
    let (s, html) = admin
        .page(&format!("/admin/audit?from={today}&to={today}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page_rows(&html).len(), rows.len());
    let tomorrow = today.tomorrow().expect("tomorrow");
    let (s, html) = admin.page(&format!("/admin/audit?from={tomorrow}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page_rows(&html).is_empty() && html.contains(&de("audit-none-filtered")));

    // Bad filters: said in words, with 400, and nothing listed.
    for (q, key) in [
        ("from=gestern", "audit-err-from"),
        ("to=31.02.2026", "audit-err-to"),
        ("from=2026-12-02&to=2026-12-01", "audit-err-range"),
        ("member=987654321", "audit-err-member"),
        ("kind=alles", "audit-err-kind"),
    ] {
        let (s, html) = admin.page(&format!("/admin/audit?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        let text = crate::helpers::unescape(&html);
        assert!(
            text.contains(&crate::helpers::unescape(&de(key))),
            "{q}: {key}"
        );
        assert!(page_rows(&html).is_empty());
    }

    // Pages of 100, newest first; the link leads on with the same filters.
    activity(&t, 130).await;
    let (_, first) = admin.page("/admin/audit?kind=system").await;
    let first_rows = page_rows(&first);
    assert_eq!(first_rows.len(), 100);
    assert!(first_rows[0].contains("target:129"), "newest first");
    let href = crate::helpers::unescape(&first)
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.starts_with("/admin/audit?") && h.contains("before="))
        .map(str::to_string)
        .expect("a link to older entries");
    assert!(href.contains("kind=system"), "{href}");
    let (_, second) = admin.page(&href).await;
    let second_rows = page_rows(&second);
    assert!(second_rows.len() >= 30, "{}", second_rows.len());
    assert!(second_rows[0].contains("target:29"), "{}", second_rows[0]);

    // Nobody else sees it.
    for login in ["clerk.a", "user.a"] {
        let b = t.login(login).await;
        assert_eq!(b.get("/admin/audit").await.status(), StatusCode::NOT_FOUND);
    }
    t.finish().await;
}

async fn only_member(admin: &crate::helpers::Browser, member: i64) -> Vec<String> {
    let (s, html) = admin.page(&format!("/admin/audit?member={member}")).await;
    assert_eq!(s, StatusCode::OK);
    page_rows(&html)
}

/// The entries that carry this request id.
async fn of_request(t: &TestApp, id: &str) -> Vec<amtsbote_core::audit::AuditRow> {
    t.app
        .audit_recent(500)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.request_id.as_deref() == Some(id))
        .collect()
}

/// Test 23: each act of a scripted scenario yields exactly one audit entry, with time,
/// actor, action, object, member, outcome and the id of its request (the client's
/// `X-Request-Id` if it sent a sane one, else the server's, which the response names);
/// what the server does by itself has none; the chain covers the id.
#[tokio::test]
async fn every_act_leaves_one_entry_with_its_request_id() {
    use crate::helpers::{bytes, csrf_of, node_id};
    let t = TestApp::spawn().await;
    let http = t.client();
    let login = |id: &'static str, pw: &'static str| {
        let (http, url) = (http.clone(), t.url.clone());
        async move {
            let page = http
                .get(format!("{url}/login"))
                .send()
                .await
                .expect("login page");
            let csrf = csrf_of(&page.text().await.expect("text"));
            http.post(format!("{url}/login"))
                .header("x-request-id", id)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("login", "user.a"),
                    ("password", pw),
                ])
                .send()
                .await
                .expect("login")
        }
    };
    let one = |rows: Vec<amtsbote_core::audit::AuditRow>, what: &str| {
        assert_eq!(rows.len(), 1, "{what}: {rows:?}");
        rows.into_iter().next().expect("one")
    };

    let r = login("req-login-wrong-0001", "falsch-falsch-falsch").await;
    assert_eq!(r.headers()["x-request-id"], "req-login-wrong-0001");
    let e = one(
        of_request(&t, "req-login-wrong-0001").await,
        "failed log-in",
    );
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("login", "failure")
    );
    assert!(e.at > 0 && e.target.contains("user.a"));

    let r = login("req-login-right-0002", PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let e = one(of_request(&t, "req-login-right-0002").await, "log-in");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("login", "success")
    );
    assert_eq!(
        (e.actor_kind.as_str(), e.member_id),
        ("member", Some(t.a.id))
    );

    // The signed-in browser of that log-in: upload, download, delete.
    let (_, html) = {
        let r = http
            .get(format!("{}/password", t.url))
            .send()
            .await
            .expect("page");
        (r.status(), r.text().await.expect("text"))
    };
    let csrf = csrf_of(&html);
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .part(
            "files",
            reqwest::multipart::Part::bytes(bytes(3000, 3))
                .file_name("Antrag.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    let r = http
        .post(format!(
            "{}/spaces/{}/folders/{an}/upload",
            t.url, t.space_a.id
        ))
        .header("x-request-id", "req-upload-0003")
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert!(r.status().is_success() || r.status().is_redirection());
    let e = one(of_request(&t, "req-upload-0003").await, "upload");
    assert_eq!((e.action.as_str(), e.member_id), ("upload", Some(t.a.id)));
    let node = node_id(&t, &t.space_a, an, "Antrag.pdf")
        .await
        .expect("stored");
    assert!(e.target.contains(&node.to_string()), "{}", e.target);

    let r = http
        .get(format!("{}/spaces/{}/files/{node}", t.url, t.space_a.id))
        .header("x-request-id", "req-download-0004")
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), StatusCode::OK);
    let _ = r.bytes().await;
    let e = one(of_request(&t, "req-download-0004").await, "download");
    assert_eq!(e.action, "download");

    // No sane id of its own: the server makes one and names it in the response.
    let r = http
        .post(format!(
            "{}/spaces/{}/nodes/{node}/delete",
            t.url, t.space_a.id
        ))
        .header("x-request-id", "<script>x</script>")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("delete");
    assert!(r.status().is_success() || r.status().is_redirection());
    let made = r.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    assert!(
        made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()),
        "{made}"
    );
    let e = one(of_request(&t, &made).await, "delete");
    assert_eq!(e.action, "node.delete");

    // WebDAV: the upload names its request too (a first Basic check may add its log-in).
    let r = reqwest::Client::new()
        .put(format!(
            "{}/remote.php/dav/files/user.a/an_KVBbg/Nachweis.pdf",
            t.url
        ))
        .basic_auth("user.a", Some(PW))
        .header("x-request-id", "req-dav-put-0005")
        .body(bytes(2000, 5))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["x-request-id"], "req-dav-put-0005");
    let rows = of_request(&t, "req-dav-put-0005").await;
    let uploads: Vec<_> = rows.iter().filter(|e| e.action == "upload").collect();
    assert_eq!(uploads.len(), 1, "{rows:?}");
    assert_eq!(
        uploads[0].source_ip.as_deref(),
        Some("127.0.0.1"),
        "the client's address, also where the use case names none"
    );
    assert!(uploads[0].target.contains("Nachweis.pdf"));
    assert!(
        rows.iter()
            .all(|e| e.action == "upload" || e.action == "login.basic"),
        "{rows:?}"
    );

    // An admin act.
    let admin = t.login("admin").await;
    let r = admin
        .http
        .post(format!("{}/admin/members/{}", t.url, t.b.id))
        .header("x-request-id", "req-admin-0006")
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("number", "1002"),
            ("name", "Gemeinde Beispielheim-Nord"),
            ("active", "1"),
        ])
        .send()
        .await
        .expect("update member");
    assert!(r.status().is_redirection(), "{}", r.status());
    let e = one(of_request(&t, "req-admin-0006").await, "admin act");
    assert_eq!(
        (e.action.as_str(), e.member_id),
        ("member.update", Some(t.b.id))
    );
    assert_eq!(e.actor_kind, "staff");

    // What the server does by itself names no request.
    t.app
        .audit(
            t.app.db.pool(),
            AuditEvent::new(
                amtsbote_core::audit::AuditActor::system(),
                "test.system",
                "x",
            ),
        )
        .await
        .expect("audit");
    let sys = t.app.audit_recent(1).await.expect("audit");
    assert_eq!(sys[0].request_id, None);

    // The ids are in the chain: an export verifies, and changing one is found.
    let text = export(&t.app).await;
    let key = t.app.audit_verifier_key().expect("key");
    check(&text, Some(&key)).expect("verifies with the ids");
    assert!(text.contains("req-admin-0006"));
    let err = check(
        &text.replace("req-admin-0006", "req-admin-0007"),
        Some(&key),
    )
    .expect_err("a changed id");
    assert!(err.contains("changed"), "{err}");
    t.finish().await;
}
