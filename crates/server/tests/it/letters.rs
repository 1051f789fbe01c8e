//! Access by two channels through the real server: the credential letter (a PDF read
//! back with Debian's poppler-utils, its address inside the DIN 5008 window) and the
//! link mail (a real SMTP sink), first log-in with the code, a code that runs out, a
//! reprint that replaces the code, and the batch for everyone not yet activated.

use std::path::Path;
use std::process::Command;

use amtsbote::startup::cli_actor;
use amtsbote_core::auth::accounts::{AccountKind, NewAccount};
use amtsbote_core::settings::{LetterSettings, MailSecurity, MailSettings, NotifySettings};
use reqwest::StatusCode;

use crate::helpers::{Opts, TestApp, csrf_of, form_login, location};
use crate::mail::{SmtpSink, read_mail, sink_needs};
use crate::prereq::{self, Need};

/// pdftotext and pdfinfo (Debian's poppler-utils) read the letters back.
fn poppler() -> [Need; 2] {
    [
        Need::binary("pdftotext", "poppler-utils").required_by("AMTSBOTE_REQUIRE_PEERS"),
        Need::binary("pdfinfo", "poppler-utils").required_by("AMTSBOTE_REQUIRE_PEERS"),
    ]
}

fn letters_opts(sink: Option<&SmtpSink>) -> Opts {
    let mut o = Opts {
        notify: NotifySettings {
            window_seconds: 0,
            ..NotifySettings::default()
        },
        ..Opts::default()
    };
    o.letters = LetterSettings {
        return_address: "KVBbg · Postfach 60 10 52 · 14410 Potsdam".into(),
        ..LetterSettings::default()
    };
    if let Some(sink) = sink {
        o.mail = MailSettings {
            host: "127.0.0.1".into(),
            port: sink.port,
            security: MailSecurity::None,
            from: "austausch@kvbbg.example".into(),
            ..MailSettings::default()
        };
    }
    o
}

async fn new_user(t: &TestApp, login: &str) -> i64 {
    t.app
        .create_account(
            &cli_actor(),
            NewAccount {
                login: login.into(),
                display_name: "Petra Personal".into(),
                email: format!("{login}@musterstadt.example"),
                kind: AccountKind::MemberUser { member_id: t.a.id },
            },
        )
        .await
        .expect("account")
        .0
        .id
}

fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn pages(pdf: &Path) -> usize {
    let out = Command::new("pdfinfo").arg(pdf).output().expect("pdfinfo");
    let info = String::from_utf8_lossy(&out.stdout).to_string();
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count: {info}"))
}

/// The boxes of words on the first page, in millimetres from the top left corner.
fn word_boxes(pdf: &Path) -> Vec<(String, f32, f32, f32, f32)> {
    let out = Command::new("pdftotext")
        .args(["-bbox", "-f", "1", "-l", "1"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext -bbox");
    let html = String::from_utf8_lossy(&out.stdout).to_string();
    let re = regex::Regex::new(
        r#"<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>"#,
    )
    .expect("regex");
    let pt = |s: &str| s.parse::<f32>().expect("number") * 25.4 / 72.0;
    re.captures_iter(&html)
        .map(|c| (c[5].to_string(), pt(&c[1]), pt(&c[2]), pt(&c[3]), pt(&c[4])))
        .collect()
}

/// The activation code as printed.
fn code_in(text: &str) -> String {
    regex::Regex::new(r"Aktivierungscode:\s+(\S{24})")
        .expect("regex")
        .captures(text)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| panic!("no code in {text}"))
}

#[tokio::test]
async fn onboarding_by_letter_and_link_mail() {
    let [pdftotext, pdfinfo] = poppler();
    if !prereq::ready(
        concat!(module_path!(), "::onboarding_by_letter_and_link_mail"),
        &[pdftotext, pdfinfo, sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let t = TestApp::spawn_with(letters_opts(Some(&sink))).await;
    let id = new_user(&t, "petra.personal").await;
    let admin = t.login("admin").await;
    let r = admin
        .post(&format!("/admin/accounts/{id}/letter"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains("Zugangsbrief-petra.personal.pdf")
    );
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("brief.pdf");
    std::fs::write(&file, r.bytes().await.expect("pdf")).expect("write");
    assert_eq!(pages(&file), 1);
    let text = pdf_text(&file);
    for expected in [
        "Ihre Zugangsdaten zum Dokumentenaustausch",
        "petra.personal",
        "https://austausch.example/login",
        "Stadt Musterstadt",
        "z. Hd. Petra Personal",
        "Marktplatz 1",
        "14467 Musterstadt",
        "Persönlich – vertraulich",
        "Mitgliedsnummer",
        "gilt bis zum 26.12.2026",
        "Bei Fragen wenden Sie sich bitte an Ihre Ansprechpersonen",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
    let code = code_in(&text);

    // The address sits in the window of a DIN 5008 form B letter (20 mm from the
    // left, 45 mm from the top, 85 × 45 mm), the return line in its first zone.
    let boxes = word_boxes(&file);
    for word in ["Musterstadt", "Marktplatz", "14467", "Petra", "Postfach"] {
        let (_, x0, y0, x1, y1) = boxes
            .iter()
            .find(|b| b.0 == word)
            .unwrap_or_else(|| panic!("{word} not on page 1"))
            .clone();
        assert!(
            x0 >= 20.0 && x1 <= 105.0 && y0 >= 45.0 && y1 <= 90.0,
            "{word} at x {x0:.1}–{x1:.1} mm, y {y0:.1}–{y1:.1} mm is outside the window"
        );
    }

    // The link mail arrives at the same time, without the code.
    let start = std::time::Instant::now();
    while sink.mails().is_empty() {
        assert!(start.elapsed().as_secs() < 20, "no link mail");
        t.app.wake_notifier();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let m = read_mail(&sink.mails()[0]);
    assert_eq!(m.envelope_to, "petra.personal@musterstadt.example");
    assert!(
        m.text.contains("https://austausch.example/login"),
        "{}",
        m.text
    );
    assert!(m.text.contains("per Post"), "{}", m.text);
    assert!(!m.raw.contains(&code), "the code never goes by mail");

    // First log-in with the code: a password of one's own, then the code is spent.
    let http = t.client();
    let r = form_login(&http, &t.url, "petra.personal", &code).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/password");
    let page = http
        .get(format!("{}/password", t.url))
        .send()
        .await
        .expect("form")
        .text()
        .await
        .expect("text");
    let r = http
        .post(format!("{}/password", t.url))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("current", code.as_str()),
            ("new", "Mein eigenes Passwort am See"),
            ("repeat", "Mein eigenes Passwort am See"),
        ])
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = form_login(&t.client(), &t.url, "petra.personal", &code).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a used code is refused"
    );
    let audit = t.app.audit_recent(100).await.expect("audit");
    assert!(audit.iter().any(|r| r.action == "letter.print"));
    assert!(
        audit
            .iter()
            .all(|r| !r.detail.contains(&code) && !r.target.contains(&code)),
        "the code is never logged"
    );
    t.finish().await;
}

#[tokio::test]
async fn codes_run_out_and_a_reprint_replaces_them() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::codes_run_out_and_a_reprint_replaces_them"
        ),
        &poppler(),
    ) {
        return;
    }
    let t = TestApp::spawn_with(letters_opts(None)).await;
    let id = new_user(&t, "petra.personal").await;
    let admin = t.login("admin").await;
    let dir = tempfile::tempdir().expect("tmp");
    let print = |n: &str| {
        let file = dir.path().join(n);
        let admin = &admin;
        async move {
            let r = admin
                .post(&format!("/admin/accounts/{id}/letter"), &[])
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            std::fs::write(&file, r.bytes().await.expect("pdf")).expect("write");
            code_in(&pdf_text(&file))
        }
    };
    let first = print("1.pdf").await;
    let second = print("2.pdf").await;
    assert_ne!(first, second, "a reprint means a new code");
    let r = form_login(&t.client(), &t.url, "petra.personal", &first).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the old code stopped working"
    );
    // After 30 days the code no longer signs in, and the page says whom to call.
    t.clock.advance_ms(31 * 86_400_000);
    let r = form_login(&t.client(), &t.url, "petra.personal", &second).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let page = r.text().await.expect("text");
    assert!(page.contains("Aktivierungscode ist abgelaufen"), "{page}");
    assert!(page.contains("Bei Fragen wenden Sie sich bitte"), "{page}");
    // Only admins print letters.
    let clerk = t.login("clerk.a").await;
    assert_eq!(
        clerk
            .post(&format!("/admin/accounts/{id}/letter"), &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    t.finish().await;
}

#[tokio::test]
async fn everyone_not_yet_activated_gets_a_letter_in_one_pdf() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::everyone_not_yet_activated_gets_a_letter_in_one_pdf"
        ),
        &poppler(),
    ) {
        return;
    }
    let t = TestApp::spawn_with(letters_opts(None)).await;
    for login in ["neu.eins", "neu.zwei", "neu.drei"] {
        new_user(&t, login).await;
    }
    let admin = t.login("admin").await;
    let (status, page) = admin.page("/admin/activation").await;
    assert_eq!(status, StatusCode::OK);
    for login in ["neu.eins", "neu.zwei", "neu.drei"] {
        assert!(page.contains(login), "{page}");
    }
    assert!(
        !page.contains("(user.a)"),
        "activated accounts are not listed"
    );
    let r = admin.post("/admin/activation/letters", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("alle.pdf");
    std::fs::write(&file, r.bytes().await.expect("pdf")).expect("write");
    assert_eq!(pages(&file), 3, "one page per letter");
    let text = pdf_text(&file);
    assert_eq!(text.matches("Aktivierungscode:").count(), 3);

    // The command line does the same, into a file only the operator can read, while
    // the server runs on the same database (on SQLite: two processes on one file).
    let out = dir.path().join("cli.pdf");
    // Awaited, not blocking: the test's server shares this runtime and must go on
    // (and finish its transactions) while the command runs.
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_amtsbote"))
        .arg("--data-dir")
        .arg(t.data_dir())
        .args(["letter", "batch", "--out"])
        .arg(&out)
        .env("AMTSBOTE_DATABASE__URL", &t.cfg.database.url)
        .env("AMTSBOTE_LETTERS__RETURN_ADDRESS", "KVBbg · 14410 Potsdam")
        .env("AMTSBOTE_SCAN__MODE", "off")
        .output()
        .await
        .expect("run amtsbote");
    let (ok, stdout, stderr) = (
        run.status.success(),
        String::from_utf8_lossy(&run.stdout).to_string(),
        String::from_utf8_lossy(&run.stderr).to_string(),
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("3 letters written"), "{stdout}");
    assert_eq!(pages(&out), 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    t.finish().await;
}

#[tokio::test]
async fn letters_need_the_return_address() {
    let t = TestApp::spawn().await;
    let id = new_user(&t, "petra.personal").await;
    let admin = t.login("admin").await;
    let r = admin
        .post(&format!("/admin/accounts/{id}/letter"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("letters.return_address")
    );
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("x.pdf");
    let (ok, _, stderr) = crate::cli::amtsbote(
        &t,
        &[
            "letter",
            "print",
            "petra.personal",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        None,
    )
    .await;
    assert!(
        !ok && stderr.contains("letters.return_address is not set"),
        "{stderr}"
    );
    assert!(!out.exists());
    t.finish().await;
}

/// The service staff's workflow: a member with its users in one form, then its letters.
#[tokio::test]
async fn a_member_and_its_users_in_one_form() {
    let t = TestApp::spawn_with(letters_opts(None)).await;
    let admin = t.login("admin").await;
    let form = |users: &'static str, number: &'static str| {
        vec![
            ("number", number),
            ("name", "Amt Seeland"),
            ("address", "Seestraße 3\n15345 Seeland"),
            ("emails", "post@seeland.example"),
            ("users", users),
        ]
    };
    // A bad line or a taken login name: nothing is created.
    for (users, expected) in [
        ("p.personal; Petra Personal", "Zeile 1"),
        (
            "p.personal; Petra Personal; p@seeland.example\nuser.a; Schon Vergeben; x@seeland.example",
            "bereits vergeben",
        ),
    ] {
        let r = admin.post("/admin/members", &form(users, "1003")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(
            r.text().await.expect("text").contains(expected),
            "{expected}"
        );
        assert!(matches!(
            t.app
                .member_numbered(&amtsbote::startup::cli_actor(), "1003")
                .await,
            Err(amtsbote_core::Error::NotFound)
        ));
        assert!(matches!(
            t.app
                .account_by_login(&amtsbote::startup::cli_actor(), "p.personal")
                .await,
            Err(amtsbote_core::Error::NotFound)
        ));
    }
    let r = admin
        .post(
            "/admin/members",
            &form(
                "p.personal; Petra Personal; p@seeland.example\n\tk.kasse\tKarl Kasse\tk@seeland.example\n",
                "1003",
            ),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).ends_with("notice=member-users-saved"),
        "{}",
        location(&r)
    );
    let (_, page) = admin.page("/admin/activation").await;
    assert!(
        page.contains("p.personal") && page.contains("k.kasse"),
        "{page}"
    );
    assert!(page.contains("1003 Amt Seeland"), "{page}");
    t.finish().await;
}
