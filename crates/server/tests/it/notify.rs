//! Notification e-mails through a real SMTP server (`smtp_sink.py`, Debian's
//! python3-aiosmtpd): what arrives, for whom, how often, in which words. The server's
//! clock is the test's (`t.clock`), so windows, backoff and the digest hour are moved
//! through, not waited for; `wake_notifier` asks the worker for a round at once.
//! Without python3-aiosmtpd (and clamd for the infected upload) these tests are skipped
//! visibly (`prereq::ready`), or fail under `AMTSBOTE_REQUIRE_ALL=1` (as in CI).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use amtsbote::startup::cli_actor;
use amtsbote_core::members::MemberInput;
use amtsbote_core::notify::fanout::next_digest;
use amtsbote_core::settings::{
    FolderPolicy, MailSecurity, MailSettings, Notify, NotifySettings, Side, TemplateFolder,
    TemplateSettings,
};
use reqwest::StatusCode;

use crate::helpers::{Opts, PW, TestApp, bytes, csrf_of, free_port, location, node_id};
use crate::mail::{Received, SmtpSink, read_mail, sink_needs};
use crate::prereq;

const BASE: &str = "https://austausch.example";

/// The process wording, word for word, with its line breaks; `{link}` is the folder.
fn process_text(link: &str) -> String {
    format!(
        "Sehr geehrte Damen und Herren,\n\ndie Beamtenversorgung des Kommunalen Versorgungsverbandes Brandenburg (KVBbg) hat für Sie neue Dokumente hinterlegt. Sie können diese unter dem folgenden Link aufrufen:\n\n{link}\n\nMit freundlichen Grüßen\nIhre Beamtenversorgung\n"
    )
}

fn opts(sink: &SmtpSink, notify: NotifySettings) -> Opts {
    Opts {
        mail: MailSettings {
            host: "127.0.0.1".into(),
            port: sink.port,
            security: MailSecurity::None,
            from: "Beamtenversorgung <austausch@kvbbg.example>".into(),
            ..MailSettings::default()
        },
        notify,
        ..Opts::default()
    }
}

/// Wakes the worker until `n` mails have arrived (at most 20 s), then returns all.
async fn wait_for(t: &TestApp, sink: &SmtpSink, n: usize) -> Vec<Received> {
    let start = Instant::now();
    while sink.mails().len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "expected {n} mails, got {}",
            sink.mails().len()
        );
        t.app.wake_notifier();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    received(sink)
}

/// Lets the worker run several rounds, then returns what arrived: for "nothing more".
async fn settle(t: &TestApp, sink: &SmtpSink) -> Vec<Received> {
    for _ in 0..6 {
        t.app.wake_notifier();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    received(sink)
}

fn received(sink: &SmtpSink) -> Vec<Received> {
    sink.mails().iter().map(|p| read_mail(p)).collect()
}

fn to_of(mails: &[Received]) -> Vec<String> {
    let mut v: Vec<String> = mails.iter().map(|m| m.envelope_to.clone()).collect();
    v.sort();
    v
}

async fn audit_count(t: &TestApp, action: &str) -> usize {
    t.app
        .audit_recent(1000)
        .await
        .expect("audit")
        .iter()
        .filter(|r| r.action == action)
        .count()
}

/// How many mails have `status`.
async fn mails_with(t: &TestApp, status: &str) -> usize {
    t.app
        .mails_by_status(status, 1000)
        .await
        .expect("mails")
        .len()
}

/// Polls the database until `check` holds (at most 20 s), waking the worker.
async fn until<F, Fut>(t: &TestApp, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        t.app.wake_notifier();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn thirty_documents_in_a_burst_make_one_mail_per_recipient_in_the_process_wording() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::thirty_documents_in_a_burst_make_one_mail_per_recipient_in_the_process_wording"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let t = TestApp::spawn_with(opts(&sink, NotifySettings::default())).await;
    let clerk = t.login("clerk.a").await;
    let root = t.space_a.root_id;
    for i in 1..=30 {
        let r = clerk
            .upload(
                t.space_a.id,
                root,
                &[(&format!("Bescheid Nr. {i:02}.pdf"), bytes(500, i))],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "upload {i}");
        t.clock.advance_ms(5_000);
    }
    // 150 s after the first document the window (300 s) is still open: nothing yet.
    assert!(settle(&t, &sink).await.is_empty());
    t.clock.advance_ms(140_000);
    assert!(
        settle(&t, &sink).await.is_empty(),
        "the window ends at 300 s"
    );
    t.clock.advance_ms(10_000);
    let mails = wait_for(&t, &sink, 3).await;
    assert_eq!(
        to_of(&mails),
        vec![
            "post@musterstadt.example",
            "user.a2@example.org",
            "user.a@example.org"
        ],
        "the member's active users and contact address; not the uploading clerk"
    );
    let link = format!("{BASE}/spaces/{}/folders/{root}", t.space_a.id);
    let mut ids = BTreeSet::new();
    for m in &mails {
        assert_eq!(m.text, process_text(&link), "the process wording");
        assert_eq!(m.subject, "KVBbg: 30 neue Dokumente für Sie hinterlegt");
        assert_eq!(m.from, "Beamtenversorgung <austausch@kvbbg.example>");
        assert!(!m.text.contains("Bescheid Nr."), "no file names by default");
        assert!(
            m.html.contains(&format!("<a href=\"{link}\">{link}</a>"))
                && m.html.contains("Mit freundlichen Grüßen<br>"),
            "{}",
            m.html
        );
        assert!(
            m.raw.contains("multipart/alternative"),
            "text and HTML: {}",
            m.raw
        );
        assert!(
            m.message_id.ends_with("@austausch.example>"),
            "{}",
            m.message_id
        );
        ids.insert(m.message_id.clone());
    }
    assert_eq!(ids.len(), 3, "one Message-ID per mail");
    // Nothing more comes, however often the worker runs.
    t.clock.advance_ms(3_600_000);
    assert_eq!(settle(&t, &sink).await.len(), 3);
    assert_eq!(audit_count(&t, "mail.sent").await, 3);
    let sent = t.app.audit_recent(1000).await.expect("audit");
    assert!(
        sent.iter()
            .filter(|r| r.action == "mail.sent")
            .all(|r| r.detail.contains("template=member_documents count=30")
                && !r.detail.contains("Bescheid")),
        "audited with template and count, without content"
    );

    // The link leads there after log-in.
    let path = link.strip_prefix(BASE).expect("base");
    let http = t.client();
    let r = http
        .get(format!("{}{path}", t.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login_at = location(&r);
    assert!(login_at.starts_with("/login?next="), "{login_at}");
    let (_, r) = sign_in_with_next(&t, &http, &login_at, ("user.a", PW), path).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), path, "back to the folder of the mail");
    let page = http
        .get(format!("{}{path}", t.url))
        .send()
        .await
        .expect("folder")
        .text()
        .await
        .expect("text");
    assert!(page.contains("Bescheid Nr. 30.pdf"), "{page}");

    // After 30 days the sent mails (recipients, items) are gone; the audit log stays.
    t.clock.advance_ms(31 * 86_400_000);
    let report = t.app.cleanup_storage(3_600_000).await.expect("cleanup");
    assert_eq!(report.notifications_removed, 3);
    assert!(
        t.app
            .mails_by_status("sent", 10)
            .await
            .expect("mails")
            .is_empty()
    );
    assert!(t.app.outbox_recent(10).await.expect("outbox").is_empty());
    assert_eq!(audit_count(&t, "mail.sent").await, 3);
    t.finish().await;
}

/// Fetches the log-in form at `form_path` and signs in with `next`; returns the form
/// and the answer to the log-in.
async fn sign_in_with_next(
    t: &TestApp,
    http: &reqwest::Client,
    form_path: &str,
    (login, password): (&str, &str),
    next: &str,
) -> (String, reqwest::Response) {
    let form = http
        .get(format!("{}{form_path}", t.url))
        .send()
        .await
        .expect("login form")
        .text()
        .await
        .expect("text");
    let r = http
        .post(format!("{}/login", t.url))
        .form(&[
            ("csrf", csrf_of(&form).as_str()),
            ("login", login),
            ("password", password),
            ("next", next),
        ])
        .send()
        .await
        .expect("login");
    (form, r)
}

#[tokio::test]
async fn a_foreign_next_after_log_in_is_ignored() {
    let t = TestApp::spawn().await;
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/\tspaces",
    ] {
        let http = t.client();
        let form_path = format!(
            "/login?next={}",
            percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
        );
        let (form, r) = sign_in_with_next(&t, &http, &form_path, ("user.a", PW), next).await;
        assert!(
            !form.contains("name=\"next\""),
            "{next:?} not carried: {form}"
        );
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/", "{next:?}");
    }
    t.finish().await;
}

/// Both directions, functional mailboxes, English for who chose it, umlauts in names
/// when names are listed, and never a mail to the uploader.
#[tokio::test]
async fn both_directions_reach_the_right_people_and_never_the_uploader() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::both_directions_reach_the_right_people_and_never_the_uploader"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let mut template = TemplateSettings::default();
    // A folder both sides write and the member hears of: the case where an uploader
    // could be among the recipients.
    template.folders.push(TemplateFolder {
        name: "Austausch".into(),
        policy: FolderPolicy {
            write: vec![Side::Member, Side::Authority],
            read: vec![Side::Member, Side::Authority],
            delete: vec![Side::Member, Side::Authority],
            notify: Notify::Member,
        },
    });
    let t = TestApp::spawn_with(Opts {
        template,
        ..opts(
            &sink,
            NotifySettings {
                window_seconds: 0,
                list_file_names: true,
                authority_addresses: vec!["beamtenversorgung@kvbbg.example".into()],
                ..NotifySettings::default()
            },
        )
    })
    .await;
    t.app
        .update_member(
            &cli_actor(),
            t.a.id,
            MemberInput {
                number: t.a.number.clone(),
                name: "Stadt Müncheberg-Süd".into(),
                postal_address: t.a.postal_address.clone(),
                emails: t.a.email_list(),
                authority_emails: vec!["team-nord@kvbbg.example".into()],
            },
            true,
        )
        .await
        .expect("member");
    let user = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;

    // Member -> authority: the assigned clerk and both functional mailboxes.
    let r = user
        .upload(t.space_a.id, an, &[("Antrag Jürgen Öß.pdf", bytes(900, 1))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mails = wait_for(&t, &sink, 3).await;
    assert_eq!(
        to_of(&mails),
        vec![
            "beamtenversorgung@kvbbg.example",
            "clerk.a@example.org",
            "team-nord@kvbbg.example"
        ]
    );
    let link = format!("{BASE}/spaces/{}/folders/{an}", t.space_a.id);
    for m in &mails {
        assert_eq!(
            m.subject,
            "1001 Stadt Müncheberg-Süd: 1 neues Dokument eingegangen"
        );
        assert_eq!(
            m.text,
            format!(
                "Sehr geehrte Damen und Herren,\n\ndas Mitglied Stadt Müncheberg-Süd (Mitgliedsnummer 1001) hat 1 neues Dokument übermittelt. Sie können diese unter dem folgenden Link aufrufen:\n\n{link}\n\nNeu hinterlegt:\n- Antrag Jürgen Öß.pdf\n\nDiese Nachricht wurde automatisch vom Dokumentenaustausch der KVBbg versandt.\n"
            )
        );
        assert!(m.html.contains("- Antrag Jürgen Öß.pdf"), "{}", m.html);
        let subject_line = m
            .raw
            .lines()
            .find(|l| l.starts_with("Subject:"))
            .expect("subject");
        assert!(subject_line.is_ascii(), "RFC 2047: {subject_line}");
    }

    // Member -> member: the other users and the contact address, not the uploader.
    let austausch = t.folder(&t.space_a, "Austausch").await;
    let r = user
        .upload(t.space_a.id, austausch, &[("Nachweis.pdf", bytes(10, 2))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mails = wait_for(&t, &sink, 5).await;
    assert_eq!(
        to_of(&mails[3..]),
        vec!["post@musterstadt.example", "user.a2@example.org"]
    );

    // Authority -> member; user.a chose English on the notifications page.
    let (_, page) = user.page("/notifications").await;
    assert!(page.contains("kann nicht abbestellt werden"), "{page}");
    assert!(!page.contains("name=\"delivery\""), "no digest for members");
    let r = user
        .post(
            "/notifications",
            &[("mail_lang", "en"), ("delivery", "immediate")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let clerk = t.login("clerk.a").await;
    let r = clerk
        .upload(
            t.space_a.id,
            t.space_a.root_id,
            &[("Bescheid Größe.pdf", bytes(10, 3))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mails = wait_for(&t, &sink, 8).await;
    let last: BTreeMap<String, &Received> = mails[5..]
        .iter()
        .map(|m| (m.envelope_to.clone(), m))
        .collect();
    assert_eq!(
        last.keys().collect::<Vec<_>>(),
        vec![
            "post@musterstadt.example",
            "user.a2@example.org",
            "user.a@example.org"
        ]
    );
    let en = last["user.a@example.org"];
    assert_eq!(en.subject, "KVBbg: 1 new document provided for you");
    assert!(en.text.starts_with("Dear Sir or Madam,\n\nthe Beamtenversorgung des Kommunalen Versorgungsverbandes Brandenburg (KVBbg) has provided new documents for you."), "{}", en.text);
    assert!(en.text.contains("- Bescheid Größe.pdf"));
    assert!(en.text.ends_with("Kind regards\nYour Beamtenversorgung\n"));
    assert!(last["user.a2@example.org"].text.starts_with("Sehr geehrte"));

    // Nobody ever heard of their own upload, and nothing came twice.
    let all = settle(&t, &sink).await;
    assert_eq!(all.len(), 8);
    assert!(!to_of(&all[..5]).contains(&"user.a@example.org".to_string()));
    assert_eq!(
        all.iter()
            .filter(|m| m.envelope_to == "clerk.a@example.org")
            .count(),
        1,
        "the clerk heard of the delivery, not of the own drop"
    );
    t.finish().await;
}

#[tokio::test]
async fn an_infected_upload_tells_the_admins_and_no_member() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::an_infected_upload_tells_the_admins_and_no_member"
        ),
        &[sink_needs(), crate::clamd::needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let clamd = crate::clamd::Clamd::start("25M").await;
    let t = TestApp::spawn_with(Opts {
        scan: clamd.settings(),
        ..opts(
            &sink,
            NotifySettings {
                window_seconds: 0,
                ..NotifySettings::default()
            },
        )
    })
    .await;
    let clerk = t.login("clerk.a").await;
    let r = clerk
        .upload(
            t.space_a.id,
            t.space_a.root_id,
            &[("Bescheid.pdf", crate::clamd::eicar())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mails = wait_for(&t, &sink, 1).await;
    let mails = {
        let more = settle(&t, &sink).await;
        assert_eq!(more.len(), mails.len(), "nothing else");
        more
    };
    assert_eq!(to_of(&mails), vec!["admin@example.org"], "no member mail");
    let m = &mails[0];
    assert_eq!(
        m.subject,
        "KVBbg: Schadsoftware in Uploads für 1001 Stadt Musterstadt"
    );
    assert!(m.text.contains("Eicar"), "{}", m.text);
    assert!(m.text.contains(&format!("{BASE}/admin/quarantine")));
    assert!(
        !m.text.contains("Bescheid.pdf"),
        "file names only when listed"
    );
    t.finish().await;
}

#[tokio::test]
async fn documents_deleted_before_the_mail_goes_out_are_not_announced() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::documents_deleted_before_the_mail_goes_out_are_not_announced"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let t = TestApp::spawn_with(opts(&sink, NotifySettings::default())).await;
    let clerk = t.login("clerk.a").await;
    let root = t.space_a.root_id;
    for name in ["Bleibt.pdf", "Irrtum.pdf"] {
        clerk
            .upload(t.space_a.id, root, &[(name, bytes(100, 1))])
            .await;
    }
    let wrong = node_id(&t, &t.space_a, root, "Irrtum.pdf")
        .await
        .expect("stored");
    let r = clerk
        .post(
            &format!("/spaces/{}/nodes/{wrong}/delete", t.space_a.id),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    t.clock.advance_ms(300_000);
    let mails = wait_for(&t, &sink, 3).await;
    assert!(
        mails
            .iter()
            .all(|m| m.subject == "KVBbg: 1 neues Dokument für Sie hinterlegt"),
        "{:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );

    // All of a window's documents gone: no mail at all.
    clerk
        .upload(t.space_a.id, root, &[("Auch Irrtum.pdf", bytes(100, 2))])
        .await;
    let id = node_id(&t, &t.space_a, root, "Auch Irrtum.pdf")
        .await
        .expect("stored");
    clerk
        .post(&format!("/spaces/{}/nodes/{id}/delete", t.space_a.id), &[])
        .await;
    t.clock.advance_ms(300_000);
    until(&t, "the empty mails are set aside", || async {
        mails_with(&t, "obsolete").await == 3
    })
    .await;
    assert_eq!(settle(&t, &sink).await.len(), 3);
    t.finish().await;
}

/// A server (window 0) whose mail server is down when user.a delivers one document into
/// `an_KVBbg`, of which the assigned clerk.a is the one recipient.
/// The caller has checked `sink_needs()` with `prereq::ready`.
async fn delivery_while_mail_is_down(notify: NotifySettings) -> (SmtpSink, TestApp) {
    let mut sink = SmtpSink::start();
    let t = TestApp::spawn_with(opts(
        &sink,
        NotifySettings {
            window_seconds: 0,
            ..notify
        },
    ))
    .await;
    sink.stop();
    let user = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let r = user
        .upload(t.space_a.id, an, &[("Antrag.pdf", bytes(100, 1))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    (sink, t)
}

/// The mail server is down while a document arrives and the server restarts; when the
/// mail server is back, the mail arrives, exactly once.
#[tokio::test]
async fn a_mail_server_outage_delays_the_mail_and_it_arrives_exactly_once() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::a_mail_server_outage_delays_the_mail_and_it_arrives_exactly_once"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let (mut sink, mut t) = delivery_while_mail_is_down(NotifySettings {
        retry_seconds: 60,
        ..NotifySettings::default()
    })
    .await;
    until(&t, "a failed try is recorded", || async {
        t.app
            .mails_by_status("pending", 10)
            .await
            .expect("mails")
            .iter()
            .any(|m| m.attempts == 1 && m.last_error.is_some())
    })
    .await;
    let pending = t.app.mails_by_status("pending", 10).await.expect("mails");
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("could not talk to the mail server")),
        "{:?}",
        pending[0].last_error
    );
    assert_eq!(
        pending[0].next_attempt_at,
        pending[0].created_at + 60_000,
        "backoff"
    );

    t.restart().await;
    sink.restart();
    assert!(
        settle(&t, &sink).await.is_empty(),
        "not before the backoff ends"
    );
    t.clock.advance_ms(60_000);
    let mails = wait_for(&t, &sink, 1).await;
    assert_eq!(to_of(&mails), vec!["clerk.a@example.org"]);
    t.clock.advance_ms(6 * 3_600_000);
    assert_eq!(settle(&t, &sink).await.len(), 1, "exactly once");
    let sent = t.app.mails_by_status("sent", 10).await.expect("mails");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attempts, 2);
    t.finish().await;
}

#[tokio::test]
async fn ten_failures_make_a_dead_letter_that_an_admin_sends_again() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::ten_failures_make_a_dead_letter_that_an_admin_sends_again"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let (mut sink, t) = delivery_while_mail_is_down(NotifySettings {
        max_attempts: 10,
        ..NotifySettings::default()
    })
    .await;
    for attempt in 1..=10 {
        until(&t, &format!("try {attempt}"), || async {
            let dead = t.app.mails_by_status("dead", 10).await.expect("dead");
            let pending = t.app.mails_by_status("pending", 10).await.expect("pending");
            dead.iter()
                .chain(pending.iter())
                .any(|m| m.attempts == attempt)
        })
        .await;
        let dead = t.app.mails_by_status("dead", 10).await.expect("dead");
        assert_eq!(dead.is_empty(), attempt < 10, "dead after exactly 10 tries");
        t.clock.advance_ms(6 * 3_600_000);
    }
    let dead = t.app.mails_by_status("dead", 10).await.expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].recipient, "clerk.a@example.org");
    assert_eq!(audit_count(&t, "mail.dead").await, 1);

    // Admins see it with its error; nobody else sees the page or can retry.
    let admin = t.login("admin").await;
    let (status, page) = admin.page("/admin/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("clerk.a@example.org"), "{page}");
    assert!(page.contains("could not talk to the mail server"), "{page}");
    assert!(page.contains("Unzustellbar: 1."), "{page}");
    let retry = format!("/admin/mail/{}/retry", dead[0].id);
    for login in ["clerk.a", "user.a"] {
        let b = t.login(login).await;
        assert_eq!(b.get("/admin/mail").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(b.post(&retry, &[]).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            b.post("/admin/mail/retry-all", &[]).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let forged = admin
        .http
        .post(format!("{}{retry}", t.url))
        .form(&[("csrf", "0000")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "CSRF-protected");
    assert_eq!(
        t.app.mails_by_status("dead", 10).await.expect("dead").len(),
        1
    );

    sink.restart();
    let r = admin.post(&retry, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mails = wait_for(&t, &sink, 1).await;
    assert_eq!(to_of(&mails), vec!["clerk.a@example.org"]);
    assert_eq!(settle(&t, &sink).await.len(), 1);
    assert_eq!(audit_count(&t, "mail.retry").await, 1);
    assert_eq!(audit_count(&t, "mail.sent").await, 1);
    // A sent mail is no dead letter to retry.
    assert_eq!(
        admin.post(&retry, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    t.finish().await;
}

#[tokio::test]
async fn staff_may_choose_a_daily_digest_members_may_not() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::staff_may_choose_a_daily_digest_members_may_not"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let t = TestApp::spawn_with(opts(
        &sink,
        NotifySettings {
            window_seconds: 0,
            ..NotifySettings::default()
        },
    ))
    .await;
    let user = t.login("user.a").await;
    let r = user
        .post(
            "/notifications",
            &[("delivery", "daily"), ("mail_lang", "de")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.expect("text").contains("nur Beschäftigten"));
    let r = user
        .post(
            "/notifications",
            &[("delivery", "sofort"), ("mail_lang", "de")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = user
        .http
        .post(format!("{}/notifications", t.url))
        .form(&[("csrf", "00"), ("mail_lang", "en")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "CSRF-protected");

    let clerk = t.login("clerk.a").await;
    let (_, page) = clerk.page("/notifications").await;
    assert!(
        page.contains("eines der 1 Ihnen zugeordneten Mitglieder"),
        "{page}"
    );
    let r = clerk
        .post(
            "/notifications",
            &[("delivery", "daily"), ("mail_lang", "de")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = clerk.page("/notifications").await;
    assert!(
        page.contains(r#"id="delivery-daily" name="delivery" value="daily" checked"#),
        "{page}"
    );

    let an = t.folder(&t.space_a, "an_KVBbg").await;
    user.upload(t.space_a.id, an, &[("Antrag.pdf", bytes(100, 1))])
        .await;
    let due = next_digest(t.app.now(), 7);
    until(&t, "the delivery is filed into the digest", || async {
        t.app
            .mails_by_status("pending", 10)
            .await
            .expect("mails")
            .iter()
            .any(|m| m.template == "authority_digest" && m.due_at == due)
    })
    .await;
    assert!(
        settle(&t, &sink).await.is_empty(),
        "not before the digest hour"
    );
    let now = t.app.now();
    t.clock.advance_ms(due - now);
    let mails = wait_for(&t, &sink, 1).await;
    assert_eq!(to_of(&mails), vec!["clerk.a@example.org"]);
    assert_eq!(
        mails[0].subject,
        "KVBbg: Tagesübersicht, 1 neues Dokument von Mitgliedern"
    );
    assert!(
        mails[0].text.contains(&format!(
            "- 1001 Stadt Musterstadt: 1 neues Dokument\n  {BASE}/spaces/{}/folders/{an}",
            t.space_a.id
        )),
        "{}",
        mails[0].text
    );
    t.finish().await;
}

/// A node of a cluster: the real binary, on the test's database and data directory.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_node(t: &TestApp, sink: &SmtpSink) -> Node {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_amtsbote"))
        .arg("--data-dir")
        .arg(t.data_dir())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("AMTSBOTE_DATABASE__URL", &t.cfg.database.url)
        .env("AMTSBOTE_SCAN__MODE", "off")
        .env("AMTSBOTE_MAIL__HOST", "127.0.0.1")
        .env("AMTSBOTE_MAIL__PORT", sink.port.to_string())
        .env("AMTSBOTE_MAIL__SECURITY", "none")
        .env("AMTSBOTE_MAIL__FROM", "austausch@kvbbg.example")
        .env("AMTSBOTE_NOTIFY__WINDOW_SECONDS", "2")
        .env("AMTSBOTE_AUTHORITY__PUBLIC_BASE_URL", BASE)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn amtsbote");
    let node = Node {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{}/healthz", node.url)).await
            && r.status() == StatusCode::OK
        {
            return node;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "node did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// "1 neues Dokument" / "N neue Dokumente" in a subject.
fn count_in(subject: &str) -> usize {
    let re = regex::Regex::new(r"(\d+) neues? Dokument").expect("regex");
    re.captures(subject)
        .and_then(|c| c[1].parse().ok())
        .unwrap_or_else(|| panic!("no count in {subject:?}"))
}

/// Two server processes on one database and one outbox, uploads spread over both:
/// every recipient hears of every document exactly once.
#[tokio::test]
async fn two_server_processes_send_each_notification_exactly_once() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::two_server_processes_send_each_notification_exactly_once"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let mut t = TestApp::spawn().await;
    t.app
        .assign_clerk(&cli_actor(), "clerk.other", "1001", true)
        .await
        .expect("assign");
    // The test's own server (with its own clock) steps aside; the nodes use real time.
    t.stop_server().await;
    let nodes = [start_node(&t, &sink).await, start_node(&t, &sink).await];
    let http = reqwest::Client::new();
    for i in 0..10 {
        let node = &nodes[i % 2];
        let r = http
            .put(format!(
                "{}/remote.php/dav/files/user.a/an_KVBbg/Antrag-{i}.pdf",
                node.url
            ))
            .basic_auth("user.a", Some(PW))
            .body(bytes(200, i as u64))
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), StatusCode::CREATED, "upload {i}");
    }
    let recipients = ["clerk.a@example.org", "clerk.other@example.org"];
    let start = Instant::now();
    loop {
        let mails = received(&sink);
        let done = recipients.iter().all(|r| {
            mails
                .iter()
                .filter(|m| m.envelope_to == *r)
                .map(|m| count_in(&m.subject))
                .sum::<usize>()
                >= 10
        });
        if done {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "mails missing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Several more rounds of both workers: nothing further.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mails = received(&sink);
    for r in recipients {
        let total: usize = mails
            .iter()
            .filter(|m| m.envelope_to == r)
            .map(|m| count_in(&m.subject))
            .sum();
        assert_eq!(total, 10, "{r} heard of every document exactly once");
    }
    assert!(
        mails
            .iter()
            .all(|m| recipients.contains(&m.envelope_to.as_str())),
        "{:?}",
        to_of(&mails)
    );
    let ids: BTreeSet<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), mails.len(), "no mail sent twice");
    let sent = t.app.mails_by_status("sent", 100).await.expect("mails");
    assert_eq!(sent.len(), mails.len());
    assert!(
        t.app
            .mails_by_status("pending", 100)
            .await
            .expect("mails")
            .is_empty()
    );
    drop(nodes);
    t.finish().await;
}

#[tokio::test]
async fn operator_templates_are_checked_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let templates = dir.path().join("vorlagen");
    std::fs::create_dir(&templates).expect("dir");
    std::fs::write(
        templates.join("member_documents.de.txt"),
        "Betreff: Neue Post (%Anzahl%)\n\nGuten Tag,\n\nbitte beachten Sie: %Lnik%\n",
    )
    .expect("write");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_amtsbote"))
            .arg("--data-dir")
            .arg(dir.path())
            .arg("check-config")
            .env("AMTSBOTE_NOTIFY__TEMPLATE_DIR", &templates)
            .env("AMTSBOTE_SCAN__MODE", "off")
            .env_remove("AMTSBOTE_DATABASE__URL")
            .output()
            .expect("run")
    };
    let out = run();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("member_documents.de.txt") && err.contains("unknown placeholder %Lnik%"),
        "{err}"
    );
    std::fs::write(
        templates.join("member_documents.de.txt"),
        "Betreff: Neue Post (%Anzahl%)\n\nGuten Tag,\n\nbitte beachten Sie: %Link%\n",
    )
    .expect("write");
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("member_documents.de.txt"), "{stdout}");
}

/// A member user's first log-in comes from the mail: after the forced password change
/// the link still leads into the folder.
#[tokio::test]
async fn the_mail_link_survives_the_first_password_change() {
    let t = TestApp::spawn().await;
    let (_, otp) = t
        .app
        .create_account(
            &cli_actor(),
            amtsbote_core::auth::accounts::NewAccount {
                login: "neu.a".into(),
                display_name: "Neue Kollegin".into(),
                email: "neu.a@example.org".into(),
                kind: amtsbote_core::auth::accounts::AccountKind::MemberUser { member_id: t.a.id },
            },
        )
        .await
        .expect("account");
    let path = format!("/spaces/{}/folders/{}", t.space_a.id, t.space_a.root_id);
    let http = t.client();
    let r = http
        .get(format!("{}{path}", t.url))
        .send()
        .await
        .expect("get");
    let login_at = location(&r);
    let (_, r) = sign_in_with_next(&t, &http, &login_at, ("neu.a", &otp), &path).await;
    let to_password = location(&r);
    assert!(to_password.starts_with("/password?next="), "{to_password}");
    let page = http
        .get(format!("{}{to_password}", t.url))
        .send()
        .await
        .expect("password form")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains(&format!("name=\"next\" value=\"{path}\"")),
        "{page}"
    );
    let r = http
        .post(format!("{}/password", t.url))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("current", otp.as_str()),
            ("new", "Mein neues Passwort am Markt"),
            ("repeat", "Mein neues Passwort am Markt"),
            ("next", path.as_str()),
        ])
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), path);
    t.finish().await;
}

/// Recipients are checked again when the mail goes out: a clerk no longer assigned to
/// the member (where clerks see only their members) is not told of its deliveries.
#[tokio::test]
async fn a_clerk_unassigned_before_the_mail_goes_out_is_not_told() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::a_clerk_unassigned_before_the_mail_goes_out_is_not_told"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let t = TestApp::spawn_with(Opts {
        clerks_see_all: false,
        ..opts(&sink, NotifySettings::default())
    })
    .await;
    let user = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    user.upload(t.space_a.id, an, &[("Antrag.pdf", bytes(100, 1))])
        .await;
    until(&t, "the delivery is filed for clerk.a", || async {
        t.app
            .mails_by_status("pending", 10)
            .await
            .expect("mails")
            .iter()
            .any(|m| m.recipient == "clerk.a@example.org")
    })
    .await;
    t.app
        .assign_clerk(&cli_actor(), "clerk.a", "1001", false)
        .await
        .expect("unassign");
    t.clock.advance_ms(300_000);
    until(&t, "the mail is set aside", || async {
        mails_with(&t, "obsolete").await == 1
    })
    .await;
    assert!(settle(&t, &sink).await.is_empty());
    t.finish().await;
}
