//! Tenant isolation, table-driven: a user of member B — and a clerk who does not look
//! after member A — reaches nothing of member A by any route the server has. Every row
//! must be refused with 404 or 403 (never a success, never a redirect into A), no
//! response may carry A's names or bytes, and nothing of A may change.
//!
//! The table is checked against the route table in `src/web/mod.rs`: a route that is
//! neither probed here nor listed in [`NO_TENANT_DATA`] fails the test, so new routes
//! must join the table.

use std::collections::BTreeSet;
use std::sync::Arc;

use amtsbote::startup::cli_actor;
use amtsbote_core::auth::accounts::Account;
use amtsbote_core::members::Member;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Browser, Opts, PW, TestApp, bytes, csrf_of, form_login, node_id};

/// Routes that serve no data of any member, with the reason. Everything else in the
/// route table must be probed by a row of the tables built below.
const NO_TENANT_DATA: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/",
        "member users are redirected to their own space (checked separately)",
    ),
    ("GET", "/login", "public log-in form"),
    ("POST", "/login", "log-in; acts only on the caller"),
    ("POST", "/logout", "ends the caller's own session"),
    ("GET", "/password", "the caller's own password form"),
    ("POST", "/password", "changes the caller's own password"),
    ("GET", "/lang/{code}", "language cookie"),
    ("GET", "/static/style.css", "static asset"),
    ("GET", "/healthz", "liveness, no data"),
    ("GET", "/readyz", "readiness, no data"),
    (
        "GET",
        "/metrics",
        "counters of the whole server, no data of any member",
    ),
    (
        "GET",
        "/app-passwords",
        "lists the caller's own app passwords only",
    ),
    (
        "GET",
        "/login/second-factor",
        "the caller's own sign-in waiting for its code",
    ),
    (
        "POST",
        "/login/second-factor",
        "completes the caller's own sign-in",
    ),
    ("GET", "/security", "the caller's own second factor"),
    (
        "POST",
        "/security/totp/start",
        "sets up the caller's own second factor",
    ),
    (
        "GET",
        "/security/totp/qr.svg",
        "the caller's own enrolment under way",
    ),
    (
        "POST",
        "/security/totp/confirm",
        "confirms the caller's own enrolment",
    ),
    (
        "POST",
        "/security/totp/disable",
        "switches off the caller's own second factor",
    ),
    (
        "POST",
        "/security/recovery-codes",
        "renews the caller's own recovery codes",
    ),
    (
        "GET",
        "/sessions",
        "lists the caller's own sessions only (ending one is probed)",
    ),
    (
        "GET",
        "/notifications",
        "the caller's own notification settings; no ids in the request",
    ),
    (
        "POST",
        "/notifications",
        "changes the caller's own notification settings only",
    ),
    (
        "POST",
        "/app-passwords",
        "creates an app password for the caller only",
    ),
    (
        "GET",
        "/status.php",
        "public server status for the sync clients, no data",
    ),
    (
        "GET",
        "/ocs/{version}/cloud/capabilities",
        "public feature list for the sync clients, no data",
    ),
    (
        "GET",
        "/ocs/{version}/cloud/user",
        "Basic-authenticated; answers with the caller's own account only",
    ),
    (
        "ANY",
        "/remote.php/webdav",
        "WebDAV: the caller's own root only (paths below it are probed)",
    ),
    (
        "ANY",
        "/remote.php/webdav/",
        "WebDAV: the caller's own root only (paths below it are probed)",
    ),
];

/// Text that must never appear in a response to an outsider.
const A_MARKERS: &[&str] = &[
    "Musterstadt",
    "Geheim-A",
    "Interna-A",
    "Name user.a",
    "user.a@example.org",
    "post@musterstadt.example",
];

/// Every (method, pattern) the router declares, read from its source: the web routes,
/// and the WebDAV door's, which take any method ("ANY").
fn declared_routes() -> BTreeSet<(String, String)> {
    let mut out = web_routes();
    let dav = include_str!("../../src/dav_door/mod.rs");
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#).expect("regex");
    let before = out.len();
    for c in route.captures_iter(dav) {
        out.insert(("ANY".to_string(), c[1].to_string()));
    }
    assert!(
        out.len() > before,
        "WebDAV routes not found in dav_door/mod.rs"
    );
    out
}

pub(crate) fn web_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../../src/web/mod.rs");
    assert!(
        !src.contains(".nest(") && !src.contains(".merge("),
        "the router grew nested routers: teach declared_routes() to read them"
    );
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#).expect("regex");
    let starts: Vec<(usize, String)> = route
        .captures_iter(src)
        .map(|c| (c.get(0).expect("match").start(), c[1].to_string()))
        .collect();
    assert!(starts.len() > 10, "route table not found in web/mod.rs");
    let end = src.find(".fallback(").unwrap_or(src.len());
    let mut out = BTreeSet::new();
    for (i, (start, pattern)) in starts.iter().enumerate() {
        let stop = starts.get(i + 1).map(|s| s.0).unwrap_or(end);
        let segment = &src[*start..stop];
        let mut found = false;
        for method in ["get", "post", "put", "patch", "delete", "any"] {
            let re = regex::Regex::new(&format!(r"\b{method}\(")).expect("regex");
            if re.is_match(segment) {
                out.insert((method.to_uppercase(), pattern.clone()));
                found = true;
            }
        }
        assert!(found, "no method found for route {pattern}: {segment}");
    }
    out
}

/// A signed-in session whose cookie can also be sent on hand-written requests.
struct Session {
    login: &'static str,
    b: Browser,
    cookie: String,
}

async fn session(t: &TestApp, login: &'static str) -> Session {
    let jar = Arc::new(Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .build()
        .expect("client");
    let r = form_login(&http, &t.url, login, PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "log-in of {login}");
    let mut b = Browser {
        http,
        base: t.url.clone(),
        csrf: String::new(),
    };
    let (_, html) = b.page("/password").await;
    b.csrf = csrf_of(&html);
    let url: reqwest::Url = t.url.parse().expect("url");
    let cookie = jar
        .cookies(&url)
        .expect("session cookie")
        .to_str()
        .expect("ascii")
        .to_string();
    Session { login, b, cookie }
}

#[derive(Clone, Debug)]
enum Req {
    Get(String),
    Head(String),
    /// A form with the session's CSRF token added.
    Post(String, Vec<(&'static str, String)>),
    /// The multipart upload form with one file.
    Upload(String),
    /// Sent byte for byte over a plain TCP connection, so that no client normalises the
    /// path (`..`, `%2F`, `//`). With a form, it is a POST carrying the CSRF token.
    Raw(String, Option<Vec<(&'static str, String)>>),
    /// A WebDAV request with the session's login and password as Basic credentials (the
    /// sync clients' way in); `raw` sends it byte for byte like [`Req::Raw`].
    Dav {
        method: &'static str,
        path: String,
        headers: Vec<(&'static str, String)>,
        body: Option<String>,
        raw: bool,
    },
}

impl Req {
    fn describe(&self) -> String {
        match self {
            Req::Get(p) => format!("GET {p}"),
            Req::Head(p) => format!("HEAD {p}"),
            Req::Post(p, f) => format!("POST {p} {f:?}"),
            Req::Upload(p) => format!("POST(upload) {p}"),
            Req::Raw(p, None) => format!("raw GET {p}"),
            Req::Raw(p, Some(f)) => format!("raw POST {p} {f:?}"),
            Req::Dav {
                method,
                path,
                headers,
                raw,
                ..
            } => format!(
                "{}{method} {path} {headers:?}",
                if *raw { "raw " } else { "" }
            ),
        }
    }
}

struct Probe {
    /// The route of the table (method, pattern) this row exercises; `None` for rows that
    /// match no route on purpose (path tricks).
    route: Option<(&'static str, &'static str)>,
    req: Req,
    what: String,
}

fn row(route: Option<(&'static str, &'static str)>, req: Req, what: impl Into<String>) -> Probe {
    Probe {
        route,
        req,
        what: what.into(),
    }
}

const R_SPACE: (&str, &str) = ("GET", "/spaces/{space}");
const R_FOLDER: (&str, &str) = ("GET", "/spaces/{space}/folders/{folder}");
const R_UPLOAD: (&str, &str) = ("POST", "/spaces/{space}/folders/{folder}/upload");
const R_MKDIR: (&str, &str) = ("POST", "/spaces/{space}/folders/{folder}/mkdir");
const R_FILE: (&str, &str) = ("GET", "/spaces/{space}/files/{node}");
const R_DELETE: (&str, &str) = ("POST", "/spaces/{space}/nodes/{node}/delete");
const R_CONFIRM: (&str, &str) = ("GET", "/spaces/{space}/nodes/{node}/delete");
const R_RENAME: (&str, &str) = ("POST", "/spaces/{space}/nodes/{node}/rename");

/// What is stored for member A (and B) before the table runs.
struct World {
    sa: i64,
    sb: i64,
    /// A's folders: root, template folders, a member-made sub-folder.
    a_folders: Vec<(i64, &'static str)>,
    /// A's files with their content.
    a_files: Vec<(i64, &'static str, Vec<u8>)>,
    an: i64,
    f_an: i64,
    rb: i64,
    an_b: i64,
    f_b: i64,
    member_a: i64,
    user_a: i64,
    /// An app password of user.a.
    app_pw_a: i64,
    user_b: i64,
    /// A quarantined upload of A (with the bytes of A's delivery).
    quarantine_a: i64,
    /// A dead-lettered notification about A's documents.
    dead_mail_a: i64,
    /// The public id of a session of user.a.
    session_a: String,
}

/// A session of user.a, by its public id (what the sessions page's forms carry).
async fn session_of_user_a(t: &TestApp) -> String {
    let _ = t.login("user.a").await;
    t.app
        .db
        .qs("SELECT public_id FROM sessions WHERE account_id = (SELECT id FROM accounts WHERE login_key = 'user.a') AND revoked = 0 AND public_id IS NOT NULL ORDER BY created_at DESC LIMIT 1")
        .fetch_one(t.app.db.pool())
        .await
        .expect("a session of user.a")
}

/// user.a2's login name locked after failed attempts (written directly, as the counts
/// would leave it).
async fn lock_of_user_a(t: &TestApp) {
    t.app
        .db
        .q("INSERT INTO auth_failures (subject, failures, last_failure_at, locked_until) VALUES ('login:user.a2', 10, ?, ?)")
        .bind(t.app.now())
        .bind(t.app.now() + 3_600_000)
        .execute(t.app.db.pool())
        .await
        .expect("lock");
}

/// One of the notifications about A's documents, dead-lettered (as after failed sends).
async fn dead_mail_of_a(t: &TestApp) -> i64 {
    t.app.fan_out().await.expect("fan out");
    let id: i64 = t
        .app
        .db
        .qs("SELECT id FROM mails WHERE member_id = ? ORDER BY id LIMIT 1")
        .bind(t.a.id)
        .fetch_one(t.app.db.pool())
        .await
        .expect("a mail about A's documents");
    t.app
        .db
        .q("UPDATE mails SET status = 'dead', attempts = 10, last_error = 'Geheim-A-Fehler' WHERE id = ?")
        .bind(id)
        .execute(t.app.db.pool())
        .await
        .expect("dead letter");
    id
}

/// A quarantine entry of member A, as `scan.on_infected = "quarantine"` leaves it (the
/// scanner is off here, so it is written directly), holding the bytes of A's delivery.
async fn quarantine_of_a(t: &TestApp, node: i64) -> i64 {
    let blob: String = t
        .app
        .db
        .qs("SELECT blob_id FROM nodes WHERE id = ?")
        .bind(node)
        .fetch_one(t.app.db.pool())
        .await
        .expect("blob of A's delivery");
    let size: i64 = t
        .app
        .db
        .qs("SELECT size FROM nodes WHERE id = ?")
        .bind(node)
        .fetch_one(t.app.db.pool())
        .await
        .expect("size of A's delivery");
    let id = 7_000_001;
    t.app
        .db
        .q("INSERT INTO quarantine (id, blob_id, member_id, name, folder, size, sha256, signature, uploaded_by, created_at, expires_at) VALUES (?, ?, ?, 'Geheim-A-Quarantaene.pdf', 'an_KVBbg', ?, 'x', 'Eicar-Test-Signature', 'Name user.a', 0, 9000000000000)")
        .bind(id)
        .bind(blob)
        .bind(t.a.id)
        .bind(size)
        .execute(t.app.db.pool())
        .await
        .expect("quarantine row");
    id
}

async fn account(t: &TestApp, login: &str) -> Account {
    t.app
        .account_by_login(&amtsbote::startup::cli_actor(), login)
        .await
        .expect("account")
}

/// Fills both spaces through the web door: an authority document in A's root, a
/// delivery in A's an_KVBbg, a member-made sub-folder with a file, and a delivery of B.
async fn build_world(t: &TestApp) -> World {
    let clerk = t.login("clerk.a").await;
    let user_a = t.login("user.a").await;
    let user_b = t.login("user.b").await;
    let (sa, sb) = (t.space_a.id, t.space_b.id);
    let ra = t.space_a.root_id;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let post = t.folder(&t.space_a, "KVBBG-SB-Posteingang").await;
    let out = t.folder(&t.space_a, "Postausgang").await;
    let an_b = t.folder(&t.space_b, "an_KVBbg").await;

    let doc = bytes(5_000, 101);
    let r = clerk
        .upload(sa, ra, &[("Geheim-A-Bescheid.pdf", doc.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::OK, "authority document for A");
    let delivery = bytes(6_000, 102);
    let r = user_a
        .upload(sa, an, &[("Geheim-A-Antrag.pdf", delivery.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::OK, "delivery of A");
    let r = user_a
        .post(
            &format!("/spaces/{sa}/folders/{an}/mkdir"),
            &[("name", "Interna-A")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sub-folder of A");
    let sub = node_id(t, &t.space_a, an, "Interna-A")
        .await
        .expect("sub-folder");
    let annex = bytes(7_000, 103);
    let r = user_a
        .upload(sa, sub, &[("Geheim-A-Anlage.pdf", annex.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::OK, "file in A's sub-folder");
    let r = user_b
        .upload(sb, an_b, &[("Eigenes-B.pdf", bytes(4_000, 104))])
        .await;
    assert_eq!(r.status(), StatusCode::OK, "delivery of B");

    let f_root = node_id(t, &t.space_a, ra, "Geheim-A-Bescheid.pdf")
        .await
        .expect("doc");
    let f_an = node_id(t, &t.space_a, an, "Geheim-A-Antrag.pdf")
        .await
        .expect("delivery");
    let f_sub = node_id(t, &t.space_a, sub, "Geheim-A-Anlage.pdf")
        .await
        .expect("annex");
    let f_b = node_id(t, &t.space_b, an_b, "Eigenes-B.pdf")
        .await
        .expect("b");
    World {
        sa,
        sb,
        a_folders: vec![
            (ra, "A's root"),
            (an, "A's an_KVBbg"),
            (post, "A's KVBBG-SB-Posteingang"),
            (out, "A's Postausgang"),
            (sub, "A's sub-folder"),
        ],
        a_files: vec![
            (f_root, "A's authority document", doc),
            (f_an, "A's delivery", delivery),
            (f_sub, "A's file in the sub-folder", annex),
        ],
        an,
        f_an,
        rb: t.space_b.root_id,
        an_b,
        f_b,
        member_a: t.a.id,
        user_a: account(t, "user.a").await.id,
        app_pw_a: t
            .app
            .create_app_password(&account(t, "user.a").await, "Büro-PC")
            .await
            .expect("app password")
            .0
            .id,
        user_b: account(t, "user.b").await.id,
        quarantine_a: quarantine_of_a(t, f_an).await,
        dead_mail_a: {
            lock_of_user_a(t).await;
            dead_mail_of_a(t).await
        },
        session_a: session_of_user_a(t).await,
    }
}

/// Rows on A's space and nodes: by A's space id, and A's node ids under B's space id.
fn space_rows(w: &World) -> Vec<Probe> {
    let mut rows = vec![
        row(
            Some(R_SPACE),
            Req::Get(format!("/spaces/{}", w.sa)),
            "A's space",
        ),
        row(
            Some(R_SPACE),
            Req::Head(format!("/spaces/{}", w.sa)),
            "A's space",
        ),
    ];
    let nodes: Vec<(i64, &str)> = w
        .a_folders
        .iter()
        .map(|(id, l)| (*id, *l))
        .chain(w.a_files.iter().map(|(id, l, _)| (*id, *l)))
        .collect();
    for (sid, sl) in [(w.sa, "A's space id"), (w.sb, "B's space id")] {
        for &(nid, nl) in &nodes {
            let what = format!("{nl} under {sl}");
            rows.push(row(
                Some(R_FOLDER),
                Req::Get(format!("/spaces/{sid}/folders/{nid}")),
                &what,
            ));
            rows.push(row(
                Some(R_FOLDER),
                Req::Head(format!("/spaces/{sid}/folders/{nid}")),
                &what,
            ));
            rows.push(row(
                Some(R_FILE),
                Req::Get(format!("/spaces/{sid}/files/{nid}")),
                &what,
            ));
            rows.push(row(
                Some(R_FILE),
                Req::Head(format!("/spaces/{sid}/files/{nid}")),
                &what,
            ));
            rows.push(row(
                Some(R_UPLOAD),
                Req::Upload(format!("/spaces/{sid}/folders/{nid}/upload")),
                &what,
            ));
            rows.push(row(
                Some(R_MKDIR),
                Req::Post(
                    format!("/spaces/{sid}/folders/{nid}/mkdir"),
                    vec![("name", "Eingeschleust".into())],
                ),
                &what,
            ));
            rows.push(row(
                Some(R_RENAME),
                Req::Post(
                    format!("/spaces/{sid}/nodes/{nid}/rename"),
                    vec![("name", "Umbenannt.pdf".into())],
                ),
                &what,
            ));
            rows.push(row(
                Some(R_DELETE),
                Req::Post(format!("/spaces/{sid}/nodes/{nid}/delete"), vec![]),
                &what,
            ));
            rows.push(row(
                Some(R_CONFIRM),
                Req::Get(format!("/spaces/{sid}/nodes/{nid}/delete")),
                &what,
            ));
        }
    }
    // B's own nodes named under A's space id: A's space must not open at all.
    let sa = w.sa;
    rows.extend([
        row(
            Some(R_FOLDER),
            Req::Get(format!("/spaces/{sa}/folders/{}", w.rb)),
            "B's root under A's space id",
        ),
        row(
            Some(R_FILE),
            Req::Get(format!("/spaces/{sa}/files/{}", w.f_b)),
            "B's file under A's space id",
        ),
        row(
            Some(R_UPLOAD),
            Req::Upload(format!("/spaces/{sa}/folders/{}/upload", w.an_b)),
            "B's an_KVBbg under A's space id",
        ),
        row(
            Some(R_MKDIR),
            Req::Post(
                format!("/spaces/{sa}/folders/{}/mkdir", w.an_b),
                vec![("name", "Eingeschleust".into())],
            ),
            "B's an_KVBbg under A's space id",
        ),
        row(
            Some(R_RENAME),
            Req::Post(
                format!("/spaces/{sa}/nodes/{}/rename", w.f_b),
                vec![("name", "Umbenannt.pdf".into())],
            ),
            "B's file under A's space id",
        ),
        row(
            Some(R_DELETE),
            Req::Post(format!("/spaces/{sa}/nodes/{}/delete", w.f_b), vec![]),
            "B's file under A's space id",
        ),
        row(
            Some(R_CONFIRM),
            Req::Get(format!("/spaces/{sa}/nodes/{}/delete", w.f_b)),
            "B's file under A's space id",
        ),
    ]);
    rows
}

/// Guessed and malformed ids, as space ids (aimed at A's nodes) and as node ids under
/// B's own space.
fn guess_rows(w: &World) -> Vec<Probe> {
    let (sa, sb, an, f_an) = (w.sa, w.sb, w.an, w.f_an);
    let uuid = uuid::Uuid::new_v4();
    let odd: Vec<String> = vec![
        "0".into(),
        "-1".into(),
        i64::MAX.to_string(),
        i64::MIN.to_string(),
        "9223372036854775808".into(),
        "-9223372036854775809".into(),
        amtsbote_core::ids::new_id().to_string(),
        amtsbote_core::ids::new_id().to_string(),
        amtsbote_core::ids::new_id().to_string(),
        uuid.to_string(),
        uuid.simple().to_string(),
        "..%2F1".into(),
        "..%2F..%2F1".into(),
        "abc".into(),
        "1e3".into(),
        "0x10".into(),
        "null".into(),
        "%00".into(),
        "%20".into(),
    ];
    // Spellings that parse to A's real ids.
    let a_spellings = |id: i64| -> Vec<String> {
        vec![
            format!("-{id}"),
            format!("+{id}"),
            format!("0{id}"),
            format!("00000{id}"),
            format!("%2B{id}"),
            format!("%20{id}"),
            format!("{id}%20"),
            format!("{id}%00"),
            format!("{id}.0"),
            format!("{id}%2F"),
        ]
    };
    let mut rows = Vec::new();
    let space_guesses: Vec<String> = odd.iter().cloned().chain(a_spellings(sa)).collect();
    for g in &space_guesses {
        let what = format!("guessed space id {g:?}");
        rows.extend([
            row(Some(R_SPACE), Req::Get(format!("/spaces/{g}")), &what),
            row(
                Some(R_FOLDER),
                Req::Get(format!("/spaces/{g}/folders/{an}")),
                &what,
            ),
            row(
                Some(R_FILE),
                Req::Get(format!("/spaces/{g}/files/{f_an}")),
                &what,
            ),
            row(
                Some(R_UPLOAD),
                Req::Upload(format!("/spaces/{g}/folders/{an}/upload")),
                &what,
            ),
            row(
                Some(R_MKDIR),
                Req::Post(
                    format!("/spaces/{g}/folders/{an}/mkdir"),
                    vec![("name", "Eingeschleust".into())],
                ),
                &what,
            ),
            row(
                Some(R_RENAME),
                Req::Post(
                    format!("/spaces/{g}/nodes/{f_an}/rename"),
                    vec![("name", "Umbenannt.pdf".into())],
                ),
                &what,
            ),
            row(
                Some(R_DELETE),
                Req::Post(format!("/spaces/{g}/nodes/{f_an}/delete"), vec![]),
                &what,
            ),
            row(
                Some(R_CONFIRM),
                Req::Get(format!("/spaces/{g}/nodes/{f_an}/delete")),
                &what,
            ),
        ]);
    }
    let node_guesses: Vec<String> = odd
        .iter()
        .cloned()
        .chain(a_spellings(f_an))
        .chain(a_spellings(an))
        .collect();
    for g in &node_guesses {
        let what = format!("guessed node id {g:?} under B's space id");
        rows.extend([
            row(
                Some(R_FOLDER),
                Req::Get(format!("/spaces/{sb}/folders/{g}")),
                &what,
            ),
            row(
                Some(R_FILE),
                Req::Get(format!("/spaces/{sb}/files/{g}")),
                &what,
            ),
            row(
                Some(R_UPLOAD),
                Req::Upload(format!("/spaces/{sb}/folders/{g}/upload")),
                &what,
            ),
            row(
                Some(R_MKDIR),
                Req::Post(
                    format!("/spaces/{sb}/folders/{g}/mkdir"),
                    vec![("name", "Eingeschleust".into())],
                ),
                &what,
            ),
            row(
                Some(R_RENAME),
                Req::Post(
                    format!("/spaces/{sb}/nodes/{g}/rename"),
                    vec![("name", "Umbenannt.pdf".into())],
                ),
                &what,
            ),
            row(
                Some(R_DELETE),
                Req::Post(format!("/spaces/{sb}/nodes/{g}/delete"), vec![]),
                &what,
            ),
            row(
                Some(R_CONFIRM),
                Req::Get(format!("/spaces/{sb}/nodes/{g}/delete")),
                &what,
            ),
        ]);
    }
    rows
}

/// Path tricks, sent raw so that they reach the server as written.
fn trick_rows(w: &World, host: &str) -> Vec<Probe> {
    let (sa, sb, an, f_an, rb, f_b, an_b) = (w.sa, w.sb, w.an, w.f_an, w.rb, w.f_b, w.an_b);
    let ra = w.a_folders[0].0;
    let gets = [
        format!("/spaces/{sa}/folders/{ra}/.."),
        format!("/spaces/{sa}/folders/{ra}/."),
        format!("/spaces/{sa}/files/{f_an}/"),
        format!("/spaces/{sb}/.."),
        format!("/spaces/{sb}/../{sa}"),
        format!("/spaces/{sb}/folders/{rb}/../{an}"),
        format!("/spaces/{sb}/folders/{rb}/../../../spaces/{sa}/folders/{ra}"),
        format!("/spaces/{sb}/files/{f_b}/../{f_an}"),
        format!("/spaces/{sb}/files/%2E%2E/{f_an}"),
        format!("/spaces/{sb}/files/%2e%2e%2f{f_an}"),
        format!("/spaces/{sb}/files/..%2F..%2F{sa}%2Ffiles%2F{f_an}"),
        format!("/spaces/{sb}/files/{f_b}%2F..%2F{f_an}"),
        format!("/spaces/{sa}%2Ffolders%2F{ra}"),
        format!("/spaces/{sb}%2F..%2F{sa}/folders/{ra}"),
        format!("/spaces/{sb}%2f..%2f{sa}/files/{f_an}"),
        format!("//spaces/{sa}"),
        format!("//spaces/{sa}/files/{f_an}"),
        format!("/spaces//{sa}"),
        format!("/spaces/{sa}//folders/{ra}"),
        format!("/spaces/{sb}/folders//{an}"),
        format!("/spaces/{sb}/folders/{rb}//{an}"),
        format!("/spaces/{sb}/files//{f_an}"),
        format!("/./spaces/{sa}"),
        format!("/spaces/./{sa}/files/{f_an}"),
        format!("/spaces/{sa};/files/{f_an}"),
        format!("/spaces/{sa}/files/{f_an};jsessionid=x"),
        format!("/spaces/{sa}/files/{f_an}?space={sb}"),
        format!("/spaces/{sb}/files/{f_an}?space={sa}"),
        format!("/spaces/{sb}/files/{f_an}?node={f_b}"),
        format!("/SPACES/{sa}/files/{f_an}"),
        format!("/spaces/{sa}/FILES/{f_an}"),
        format!("/%73paces/{sa}/files/{f_an}"),
        format!("/spaces/{sa}/files/%{f_an}"),
        format!("/spaces/{sa}/files/%zz{f_an}"),
        format!("/spaces/{sb}/files/%FF{f_an}"),
        format!("/spaces/{sb}/files/{f_an}%C0"),
        format!("/spaces/%FF{sa}/files/{f_an}"),
        format!("/spaces/%C0%AE%C0%AE/{sa}/files/{f_an}"),
        format!("/spaces/{sb}/folders/%C0%AE%C0%AE%C0%AF{an}"),
        format!("http://{host}/spaces/{sa}/files/{f_an}"),
        format!("http://{host}//spaces/{sa}/folders/{ra}"),
    ];
    let mut rows: Vec<Probe> = gets
        .into_iter()
        .map(|p| row(None, Req::Raw(p, None), "path trick"))
        .collect();
    let posts = [
        format!("/spaces/{sa}/nodes/{f_an}/delete/.."),
        format!("/spaces/{sb}/nodes/{f_b}/../{f_an}/delete"),
        format!("/spaces/{sb}/nodes/..%2F{f_an}/delete"),
        format!("/spaces/{sb}/nodes/{f_b}%2F..%2F{f_an}/delete"),
        format!("/spaces/{sb}/../{sa}/nodes/{f_an}/delete"),
        format!("//spaces/{sa}/nodes/{f_an}/delete"),
        format!("/spaces/{sb}/nodes/{f_b}/../{f_an}/rename"),
        format!("/spaces/{sb}/folders/{an_b}/../{an}/mkdir"),
        format!("/spaces/{sb}/folders/{an_b}%2F..%2F{an}/mkdir"),
    ];
    rows.extend(posts.into_iter().map(|p| {
        row(
            None,
            Req::Raw(p, Some(vec![("name", "Umbenannt.pdf".into())])),
            "path trick",
        )
    }));
    rows
}

/// The member list: staff only.
fn member_list_rows() -> Vec<Probe> {
    ["", "muster", "1001", "%25", "Stadt%20Musterstadt"]
        .into_iter()
        .map(|q| {
            row(
                Some(("GET", "/members")),
                Req::Get(format!("/members?q={q}")),
                "member list",
            )
        })
        .collect()
}

/// The caller's own settings, aimed at another account's objects.
fn account_rows(w: &World) -> Vec<Probe> {
    vec![row(
        Some(("POST", "/app-passwords/{id}/revoke")),
        Req::Post(format!("/app-passwords/{}/revoke", w.app_pw_a), vec![]),
        "revoke user.a's app password",
    )]
}

/// Administration: admins only. Includes escalation of one's own account.
fn admin_rows(w: &World, own_account: i64) -> Vec<Probe> {
    let (ma, ua) = (w.member_a, w.user_a);
    let f = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    vec![
        row(
            Some(("GET", "/admin/members/new")),
            Req::Get("/admin/members/new".into()),
            "new member form",
        ),
        row(
            Some(("POST", "/admin/members")),
            Req::Post(
                "/admin/members".into(),
                f(&[("number", "1003"), ("name", "Eindringling")]),
            ),
            "create a member",
        ),
        row(
            Some(("GET", "/admin/members/{member}")),
            Req::Get(format!("/admin/members/{ma}")),
            "A's member record",
        ),
        row(
            Some(("POST", "/admin/members/{member}")),
            Req::Post(
                format!("/admin/members/{ma}"),
                f(&[
                    ("number", "1001"),
                    ("name", "Gekapert"),
                    ("emails", "evil@example.org"),
                    ("active", "1"),
                ]),
            ),
            "update A's member record",
        ),
        row(
            Some(("POST", "/admin/members/{member}")),
            Req::Post(
                format!("/admin/members/{ma}"),
                f(&[("number", "1001"), ("name", "Stadt Musterstadt")]),
            ),
            "deactivate A",
        ),
        row(
            Some(("POST", "/admin/members/{member}/assign")),
            Req::Post(
                format!("/admin/members/{ma}/assign"),
                f(&[("login", "clerk.other"), ("assign", "1")]),
            ),
            "assign clerk.other to A",
        ),
        row(
            Some(("POST", "/admin/members/{member}/assign")),
            Req::Post(
                format!("/admin/members/{ma}/assign"),
                f(&[("login", "clerk.a"), ("assign", "0")]),
            ),
            "unassign clerk.a from A",
        ),
        row(
            Some(("GET", "/admin/accounts")),
            Req::Get("/admin/accounts".into()),
            "account list",
        ),
        row(
            Some(("GET", "/admin/quarantine")),
            Req::Get("/admin/quarantine".into()),
            "quarantine list",
        ),
        row(
            Some(("POST", "/sessions/end")),
            Req::Post("/sessions/end".into(), f(&[("id", w.session_a.as_str())])),
            "end user.a's session by its id",
        ),
        row(
            Some(("POST", "/admin/accounts/{account}/letter")),
            Req::Post(format!("/admin/accounts/{ua}/letter"), f(&[])),
            "print user.a's access letter (a new code)",
        ),
        row(
            Some(("GET", "/admin/activation")),
            Req::Get("/admin/activation".into()),
            "accounts not yet activated",
        ),
        row(
            Some(("POST", "/admin/activation/letters")),
            Req::Post("/admin/activation/letters".into(), f(&[])),
            "print every pending access letter",
        ),
        row(
            Some(("POST", "/admin/accounts/{account}/second-factor/reset")),
            Req::Post(format!("/admin/accounts/{ua}/second-factor/reset"), f(&[])),
            "remove user.a's second factor",
        ),
        row(
            Some(("POST", "/admin/accounts/{account}/sessions/end")),
            Req::Post(format!("/admin/accounts/{ua}/sessions/end"), f(&[])),
            "end all of user.a's sessions",
        ),
        row(
            Some(("GET", "/admin/locks")),
            Req::Get("/admin/locks".into()),
            "locked sign-ins, with user.a2's",
        ),
        row(
            Some(("GET", "/admin/audit")),
            Req::Get(format!("/admin/audit?member={ma}&document=Geheim")),
            "the audit log of A's documents",
        ),
        row(
            Some(("POST", "/admin/locks/unlock")),
            Req::Post(
                "/admin/locks/unlock".into(),
                f(&[("subject", "login:user.a2")]),
            ),
            "lift user.a2's lock",
        ),
        row(
            Some(("GET", "/admin/mail")),
            Req::Get("/admin/mail".into()),
            "notification queue with A's dead letter",
        ),
        row(
            Some(("POST", "/admin/mail/retry-all")),
            Req::Post("/admin/mail/retry-all".into(), f(&[])),
            "send every dead letter again, A's among them",
        ),
        row(
            Some(("POST", "/admin/mail/{id}/retry")),
            Req::Post(format!("/admin/mail/{}/retry", w.dead_mail_a), f(&[])),
            "send A's dead letter again",
        ),
        row(
            Some(("GET", "/admin/quarantine/{id}")),
            Req::Get(format!("/admin/quarantine/{}", w.quarantine_a)),
            "A's quarantined file",
        ),
        row(
            Some(("POST", "/admin/accounts")),
            Req::Post(
                "/admin/accounts".into(),
                f(&[
                    ("login", "eindringling"),
                    ("display_name", "Eindringling"),
                    ("email", "evil@example.org"),
                    ("kind", "member"),
                    ("member", "1001"),
                ]),
            ),
            "create a user of A",
        ),
        row(
            Some(("POST", "/admin/accounts")),
            Req::Post(
                "/admin/accounts".into(),
                f(&[
                    ("login", "eindringling2"),
                    ("display_name", "Eindringling"),
                    ("email", "evil@example.org"),
                    ("kind", "admin"),
                ]),
            ),
            "create an admin",
        ),
        row(
            Some(("GET", "/admin/accounts/new")),
            Req::Get("/admin/accounts/new".into()),
            "new account form",
        ),
        row(
            Some(("GET", "/admin/accounts/new")),
            Req::Get("/admin/accounts/new?member=1001".into()),
            "new account form for A",
        ),
        row(
            Some(("GET", "/admin/accounts/{account}")),
            Req::Get(format!("/admin/accounts/{ua}")),
            "user.a's account",
        ),
        row(
            Some(("POST", "/admin/accounts/{account}")),
            Req::Post(
                format!("/admin/accounts/{ua}"),
                f(&[
                    ("display_name", "Gekapert"),
                    ("email", "evil@example.org"),
                    ("kind", "member"),
                ]),
            ),
            "change and deactivate user.a",
        ),
        row(
            Some(("POST", "/admin/accounts/{account}")),
            Req::Post(
                format!("/admin/accounts/{own_account}"),
                f(&[
                    ("display_name", "Ich"),
                    ("email", "me@example.org"),
                    ("kind", "admin"),
                    ("active", "1"),
                ]),
            ),
            "make oneself admin",
        ),
        row(
            Some(("POST", "/admin/accounts/{account}/reset")),
            Req::Post(format!("/admin/accounts/{ua}/reset"), vec![]),
            "reset user.a's password",
        ),
        row(
            Some(("GET", "/admin/accounts/{account}")),
            Req::Get(format!("/admin/accounts/{own_account}")),
            "own account record",
        ),
    ]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn form_body(csrf: &str, fields: &[(&'static str, String)]) -> String {
    std::iter::once(("csrf", csrf.to_string()))
        .chain(fields.iter().cloned())
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(&v, NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One HTTP/1.1 request exactly as written; returns status and body bytes.
async fn raw(
    t: &TestApp,
    s: &Session,
    target: &str,
    form: Option<&[(&'static str, String)]>,
) -> (u16, Vec<u8>) {
    let host = t.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let body = form.map(|f| form_body(&s.b.csrf, f));
    let mut req = format!(
        "{} {target} HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nConnection: close\r\n",
        if body.is_some() { "POST" } else { "GET" },
        s.cookie
    );
    if let Some(b) = &body {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.as_deref().unwrap_or(""));
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no status line for {target}: {head}"));
    (status, buf[head_end..].to_vec())
}

async fn send(t: &TestApp, s: &Session, req: &Req) -> (u16, Vec<u8>) {
    let b = &s.b;
    let resp = match req {
        Req::Get(p) => b.get(p).await,
        Req::Head(p) => b
            .http
            .head(format!("{}{p}", b.base))
            .send()
            .await
            .expect("head"),
        Req::Post(p, fields) => {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.post(p, &fields).await
        }
        Req::Upload(p) => {
            let form = reqwest::multipart::Form::new()
                .text("csrf", b.csrf.clone())
                .part(
                    "files",
                    reqwest::multipart::Part::bytes(bytes(2_000, 999))
                        .file_name("Eingeschleust.pdf")
                        .mime_str("application/pdf")
                        .expect("mime"),
                );
            b.http
                .post(format!("{}{p}", b.base))
                .multipart(form)
                .send()
                .await
                .expect("upload")
        }
        Req::Raw(p, form) => return raw(t, s, p, form.as_deref()).await,
        Req::Dav {
            method,
            path,
            headers,
            body,
            raw: true,
        } => return raw_dav(t, s, method, path, headers, body.as_deref()).await,
        Req::Dav {
            method,
            path,
            headers,
            body,
            raw: false,
        } => {
            let mut r = b
                .http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                    format!("{}{path}", b.base),
                )
                .basic_auth(s.login, Some(PW));
            for (k, v) in headers {
                r = r.header(*k, v);
            }
            if let Some(body) = body {
                r = r.body(body.clone());
            }
            r.send().await.expect("dav request")
        }
    };
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// Runs every row as the session; returns one line per violation.
async fn run_table(t: &TestApp, w: &World, s: &Session, rows: &[Probe]) -> Vec<String> {
    let mut failures = Vec::new();
    for p in rows {
        let (status, body) = send(t, s, &p.req).await;
        let desc = p.req.describe();
        // WebDAV also refuses with the statuses its clients understand: a malformed
        // path (400), a missing parent (409), a failed `If` (412), another host (502).
        let dav_refusal =
            matches!(p.req, Req::Dav { .. }) && matches!(status, 400 | 409 | 412 | 502);
        let refused = status == 403 || status == 404 || dav_refusal;
        if !refused {
            failures.push(format!(
                "{desc} ({}) as {} gave {status}: {:.120}",
                p.what,
                s.login,
                String::from_utf8_lossy(&body)
            ));
        }
        for m in A_MARKERS {
            if contains(&body, m.as_bytes()) {
                failures.push(format!(
                    "{desc} ({}) as {} leaked {m:?} (status {status})",
                    p.what, s.login
                ));
            }
        }
        for (_, label, content) in &w.a_files {
            if contains(&body, &content[..64]) || contains(&body, &content[content.len() - 64..]) {
                failures.push(format!(
                    "{desc} ({}) as {} returned bytes of {label} (status {status})",
                    p.what, s.login
                ));
            }
        }
    }
    failures
}

/// Everything stored about A and B that an outsider could try to change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    nodes_a: Vec<NodeRow>,
    nodes_b: Vec<NodeRow>,
    versions: i64,
    spaces: Vec<(i64, i64, i64, i64)>,
    members: Vec<(i64, String, String, String, i64)>,
    accounts: Vec<AccountRow>,
    assignments: Vec<(i64, i64)>,
    outbox: usize,
    /// Notifications by status (a retry would move a dead letter back to pending).
    mails: Vec<(String, i64)>,
    /// Locked sign-ins (an unlock would remove user.a2's).
    locks: Vec<String>,
    /// Ended sessions of user.a (ending one from outside would add to them).
    sessions_ended_a: i64,
    blobs: (usize, usize),
    dav: DavState,
}

/// What the WebDAV door keeps besides nodes: locks, dead properties, upload sessions.
#[derive(Debug, PartialEq)]
struct DavState {
    locks: Vec<(String, i64, String, Option<i64>)>,
    props: Vec<(i64, String, String, String)>,
    uploads: Vec<(i64, i64, String, i64)>,
    chunks: Vec<(i64, String, i64, String)>,
}

async fn dav_state(t: &TestApp) -> DavState {
    let db = &t.app.db;
    DavState {
        locks: db
            .qa::<(String, i64, String, Option<i64>)>(
                "SELECT token, space_id, path, expires_at FROM dav_locks ORDER BY token",
            )
            .fetch_all(db.pool())
            .await
            .expect("locks"),
        props: db
            .qa::<(i64, String, String, String)>(
                "SELECT node_id, ns, name, value FROM dav_props ORDER BY node_id, ns, name",
            )
            .fetch_all(db.pool())
            .await
            .expect("props"),
        uploads: db
            .qa::<(i64, i64, String, i64)>(
                "SELECT id, account_id, session, touched_at FROM dav_uploads ORDER BY id",
            )
            .fetch_all(db.pool())
            .await
            .expect("uploads"),
        chunks: db
            .qa::<(i64, String, i64, String)>(
                "SELECT upload_id, name, size, blob_id FROM dav_upload_chunks ORDER BY upload_id, name",
            )
            .fetch_all(db.pool())
            .await
            .expect("chunks"),
    }
}

/// id, login, display name, e-mail, password hash, active, must change password, role.
type AccountRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
);

/// id, parent, name, ETag, size, SHA-256, blob, modified at.
type NodeRow = (
    i64,
    Option<i64>,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    i64,
);

async fn nodes_of(t: &TestApp, space: i64) -> Vec<NodeRow> {
    t.app
        .db
        .qa::<NodeRow>("SELECT id, parent_id, name, etag, size, sha256, blob_id, modified_at FROM nodes WHERE space_id = ? ORDER BY id")
        .bind(space)
        .fetch_all(t.app.db.pool())
        .await
        .expect("nodes")
}

async fn snapshot(t: &TestApp) -> Snapshot {
    let db = &t.app.db;
    let member = |m: Member| (m.id, m.number, m.name, m.emails, m.active);
    let mut members = Vec::new();
    for id in [t.a.id, t.b.id] {
        members.push(member(
            t.app
                .member(&amtsbote::startup::cli_actor(), id)
                .await
                .expect("member"),
        ));
    }
    let accounts = t
        .app
        .list_accounts(&cli_actor())
        .await
        .expect("accounts")
        .into_iter()
        .map(|a| {
            (
                a.id,
                a.login,
                a.display_name,
                a.email,
                a.password_hash,
                a.active,
                a.must_change_password,
                a.role,
            )
        })
        .collect();
    Snapshot {
        nodes_a: nodes_of(t, t.space_a.id).await,
        nodes_b: nodes_of(t, t.space_b.id).await,
        versions: db
            .qs::<i64>("SELECT COUNT(*) FROM node_versions")
            .fetch_one(db.pool())
            .await
            .expect("versions"),
        spaces: db
            .qa::<(i64, i64, i64, i64)>(
                "SELECT id, member_id, root_id, used_bytes FROM spaces ORDER BY id",
            )
            .fetch_all(db.pool())
            .await
            .expect("spaces"),
        members,
        accounts,
        assignments: db
            .qa::<(i64, i64)>(
                "SELECT member_id, account_id FROM clerk_assignments ORDER BY member_id, account_id",
            )
            .fetch_all(db.pool())
            .await
            .expect("assignments"),
        outbox: t.app.outbox_recent(1_000).await.expect("outbox").len(),
        mails: db
            .qa::<(String, i64)>(
                "SELECT status, COUNT(*) FROM mails GROUP BY status ORDER BY status",
            )
            .fetch_all(db.pool())
            .await
            .expect("mails"),
        locks: db
            .qs::<String>("SELECT subject FROM auth_failures WHERE locked_until IS NOT NULL ORDER BY subject")
            .fetch_all(db.pool())
            .await
            .expect("locks"),
        sessions_ended_a: db
            .qs::<i64>("SELECT COUNT(*) FROM sessions WHERE revoked = 1 AND account_id = (SELECT id FROM accounts WHERE login_key = 'user.a')")
            .fetch_one(db.pool())
            .await
            .expect("sessions"),
        blobs: t.stored_files(),
        dav: dav_state(t).await,
    }
}

/// Successful acts of `who` recorded after audit row `since` (the table's requests
/// must leave none).
async fn acts_since(t: &TestApp, since: i64, who: &str) -> Vec<String> {
    t.app
        .audit_recent(10_000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.id > since && r.actor_label == who && r.outcome == "success")
        .map(|r| format!("{} {} {:?}", r.action, r.target, r.member_id))
        .collect()
}

async fn last_audit_id(t: &TestApp) -> i64 {
    t.app
        .audit_recent(1)
        .await
        .expect("audit")
        .first()
        .map(|r| r.id)
        .unwrap_or(0)
}

#[tokio::test]
async fn member_b_reaches_nothing_of_a_by_any_route() {
    let t = TestApp::spawn().await;
    let w = build_world(&t).await;
    let host = t.url.trim_start_matches("http://").to_string();
    let user_b = session(&t, "user.b").await;

    let mut table = space_rows(&w);
    table.extend(guess_rows(&w));
    table.extend(trick_rows(&w, &host));
    table.extend(member_list_rows());
    table.extend(admin_rows(&w, w.user_b));
    table.extend(account_rows(&w));
    // The WebDAV rows run in their own test (with A's locks and uploads set up); here
    // they count for the route coverage.
    let dav_cover = dav_rows(
        &w,
        &DavWorld {
            a_lock: String::new(),
            a_session: "0",
            own_session: "0",
        },
        "user.b",
        false,
        &host,
    );

    // The table covers the whole router.
    let covered: BTreeSet<(String, String)> = table
        .iter()
        .chain(dav_cover.iter())
        .filter_map(|p| p.route)
        .map(|(m, r)| (m.to_string(), r.to_string()))
        .chain(
            NO_TENANT_DATA
                .iter()
                .map(|(m, r, _)| (m.to_string(), r.to_string())),
        )
        .collect();
    let declared = declared_routes();
    let missing: Vec<_> = declared.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without an isolation row (add rows to tenant tables in isolation.rs): {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&declared).collect();
    assert!(
        stale.is_empty(),
        "isolation rows for routes the server no longer has: {stale:?}"
    );

    // user.a's app password survived the revoke attempt.
    let a_pws = t.app.app_passwords(w.user_a).await.expect("app passwords");
    assert_eq!(
        a_pws.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![w.app_pw_a]
    );

    // Controls: the session works and reaches B's own space, so refusals mean something.
    let r = user_b.b.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        format!("/spaces/{}/folders/{}", w.sb, w.rb).as_str(),
        "user.b's start page is B's own root"
    );
    let (s, own) = user_b
        .b
        .page(&format!("/spaces/{}/folders/{}", w.sb, w.an_b))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(own.contains("Eigenes-B.pdf"));
    assert_eq!(
        user_b.b.download(w.sb, w.f_b).await.status(),
        StatusCode::OK
    );
    let (status, _) = raw(
        &t,
        &user_b,
        &format!("/spaces/{}/folders/{}", w.sb, w.rb),
        None,
    )
    .await;
    assert_eq!(status, 200, "raw requests carry the session");

    let before = snapshot(&t).await;
    let audit_mark = last_audit_id(&t).await;
    let failures = run_table(&t, &w, &user_b, &table).await;
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );

    // Clerks: the administration is for admins only.
    for login in ["clerk.a", "clerk.other"] {
        let s = session(&t, login).await;
        let own = account(&t, login).await.id;
        let rows = admin_rows(&w, own);
        let failures = run_admin_table(&t, &s, &rows).await;
        assert!(
            failures.is_empty(),
            "{} of {} admin rows failed for {login}:\n{}",
            failures.len(),
            rows.len(),
            failures.join("\n")
        );
    }

    // Nothing of A (nor of B, nor any account) changed.
    let after = snapshot(&t).await;
    assert_eq!(before, after, "state changed by refused requests");
    assert_eq!(
        t.names_in(&t.space_a, w.a_folders[0].0).await,
        vec![
            "an_KVBbg",
            "KVBBG-SB-Posteingang",
            "Postausgang",
            "Geheim-A-Bescheid.pdf"
        ]
    );
    let against_a = acts_since(&t, audit_mark, "Name user.b").await;
    assert!(against_a.is_empty(), "user.b acted on A: {against_a:?}");
    let downloads = t
        .app
        .audit_recent(10_000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.id > audit_mark && r.action == "download")
        .count();
    assert_eq!(downloads, 0, "no download happened during the table");
    // The reset was refused: user.a's password still works.
    t.login("user.a").await;
    assert!(matches!(
        t.app
            .member_numbered(&amtsbote::startup::cli_actor(), "1003")
            .await,
        Err(amtsbote_core::Error::NotFound)
    ));
    eprintln!(
        "isolation: {} rows as user.b, {} admin rows per clerk",
        table.len(),
        admin_rows(&w, 0).len()
    );
    t.finish().await;
}

/// Admin rows for staff: staff may know member names, so besides the status only
/// account data (which only the account pages show) is looked for in the body.
async fn run_admin_table(t: &TestApp, s: &Session, rows: &[Probe]) -> Vec<String> {
    let mut failures = Vec::new();
    for p in rows {
        let (status, body) = send(t, s, &p.req).await;
        if status != 403 && status != 404 {
            failures.push(format!(
                "{} ({}) as {} gave {status}",
                p.req.describe(),
                p.what,
                s.login
            ));
        }
        if contains(&body, b"user.a@example.org") {
            failures.push(format!(
                "{} as {} leaked account data (status {status})",
                p.req.describe(),
                s.login
            ));
        }
    }
    failures
}

#[tokio::test]
async fn unassigned_clerk_reaches_nothing_of_a() {
    let t = TestApp::spawn_with(Opts {
        clerks_see_all: false,
        ..Opts::default()
    })
    .await;
    let w = build_world(&t).await;
    // clerk.other looks after B only, so the positive controls have something to show.
    t.app
        .assign_clerk(&cli_actor(), "clerk.other", "1002", true)
        .await
        .expect("assign");
    let host = t.url.trim_start_matches("http://").to_string();
    let other = session(&t, "clerk.other").await;
    let clerk_a = session(&t, "clerk.a").await;

    // Controls first: clerk.other works in B, clerk.a in A.
    assert_eq!(other.b.download(w.sb, w.f_b).await.status(), StatusCode::OK);
    let dl = clerk_a.b.download(w.sa, w.f_an).await;
    assert_eq!(dl.status(), StatusCode::OK);
    assert_eq!(dl.bytes().await.expect("body").as_ref(), w.a_files[1].2);
    let (s, home_a) = clerk_a.b.page("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(home_a.contains("Geheim-A-Antrag.pdf"), "{home_a}");
    assert!(
        !home_a.contains("Eigenes-B.pdf"),
        "clerk.a does not look after B"
    );
    let (s, list_a) = clerk_a.b.page("/members?q=").await;
    assert_eq!(s, StatusCode::OK);
    assert!(list_a.contains("Musterstadt") && !list_a.contains("Beispielheim"));
    assert_eq!(
        clerk_a.b.get(&format!("/spaces/{}", w.sb)).await.status(),
        StatusCode::NOT_FOUND,
        "clerk.a does not see B either"
    );

    // clerk.other: nothing of A in the list, the start page or the search.
    for q in ["", "muster", "1001", "Stadt"] {
        let (s, list) = other.b.page(&format!("/members?q={q}")).await;
        assert_eq!(s, StatusCode::OK, "/members?q={q}");
        assert!(!list.contains("Musterstadt"), "/members?q={q}: {list}");
    }
    let (_, list) = other.b.page("/members?q=").await;
    assert!(list.contains("Beispielheim"));
    let (s, home) = other.b.page("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(home.contains("Eigenes-B.pdf"), "{home}");
    for m in A_MARKERS {
        assert!(!home.contains(m), "start page of clerk.other shows {m}");
    }
    let deliveries = t
        .app
        .recent_deliveries(
            &account(&t, "clerk.other").await.actor().expect("actor"),
            100,
        )
        .await
        .expect("deliveries");
    assert!(deliveries.iter().all(|d| d.member_id != t.a.id));

    // The same table as for a member of B, on every route into A.
    let mut table = space_rows(&w);
    table.extend(guess_rows(&w));
    table.extend(trick_rows(&w, &host));
    let before = snapshot(&t).await;
    let audit_mark = last_audit_id(&t).await;
    let failures = run_table(&t, &w, &other, &table).await;
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
    let after = snapshot(&t).await;
    assert_eq!(before, after, "state changed by refused requests");
    let against_a = acts_since(&t, audit_mark, "Name clerk.other").await;
    assert!(
        against_a.is_empty(),
        "clerk.other acted on A: {against_a:?}"
    );
    eprintln!("isolation: {} rows as clerk.other", table.len());
    t.finish().await;
}

/// A WebDAV request exactly as written, with the session's Basic credentials.
async fn raw_dav(
    t: &TestApp,
    s: &Session,
    method: &str,
    target: &str,
    headers: &[(&'static str, String)],
    body: Option<&str>,
) -> (u16, Vec<u8>) {
    use base64::Engine as _;
    let host = t.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{PW}", s.login));
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no status line for {target}: {head}"));
    (status, buf[head_end..].to_vec())
}

const R_WEBDAV: (&str, &str) = ("ANY", "/remote.php/webdav/{*rest}");
const R_DAV: (&str, &str) = ("ANY", "/remote.php/dav/{*rest}");

/// A's WebDAV state an outsider could aim at, made by user.a over WebDAV before the
/// table runs: a dead property, a lock, an unfinished chunked upload.
struct DavWorld {
    /// The token of user.a's lock on the file in A's sub-folder.
    a_lock: String,
    /// user.a's chunk session.
    a_session: &'static str,
    /// The prober's own chunk session (one chunk in it).
    own_session: &'static str,
}

/// A's files by path below A's root.
const A_PATHS: &[&str] = &[
    "Geheim-A-Bescheid.pdf",
    "an_KVBbg/Geheim-A-Antrag.pdf",
    "an_KVBbg/Interna-A",
    "an_KVBbg/Interna-A/Geheim-A-Anlage.pdf",
];
/// Member A's folder on the staff's top level, percent-encoded.
const A_STAFF: &str = "1001%20Stadt%20Musterstadt";

fn enc(path: &str) -> String {
    path.split('/')
        .map(|s| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

async fn dav_ok(
    t: &TestApp,
    login: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    let mut r = t
        .client()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
            format!("{}{path}", t.url),
        )
        .basic_auth(login, Some(PW))
        .body(body.to_string());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.expect("dav");
    assert!(
        resp.status().is_success(),
        "{method} {path} as {login}: {}",
        resp.status()
    );
    resp
}

/// Sets up A's WebDAV state (as user.a) and the prober's own chunk session.
async fn build_dav_world(t: &TestApp, prober: &str) -> DavWorld {
    let a_file = format!("/remote.php/webdav/{}", enc(A_PATHS[1]));
    dav_ok(
        t,
        "user.a",
        "PROPPATCH",
        &a_file,
        &[],
        r#"<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><x:akte xmlns:x="urn:amtsbote-test">Interna-A</x:akte></d:prop></d:set></d:propertyupdate>"#,
    )
    .await;
    let r = dav_ok(
        t,
        "user.a",
        "LOCK",
        &format!("/remote.php/webdav/{}", enc(A_PATHS[3])),
        &[("Timeout", "Second-3600")],
        r#"<?xml version="1.0"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype><d:owner>user.a</d:owner></d:lockinfo>"#,
    )
    .await;
    let a_lock = r.headers()["lock-token"]
        .to_str()
        .expect("token")
        .to_string();
    let (a_session, own_session) = ("6160", "5150");
    for (login, session) in [("user.a", a_session), (prober, own_session)] {
        let dir = format!("/remote.php/dav/uploads/{login}/{session}");
        dav_ok(t, login, "MKCOL", &dir, &[], "").await;
        dav_ok(t, login, "PUT", &format!("{dir}/1"), &[], "Interna-A-Teil").await;
    }
    DavWorld {
        a_lock,
        a_session,
        own_session,
    }
}

/// WebDAV rows for `login`: A's paths through every mount the prober can name, MOVE and
/// COPY of the prober's own file into A or to another host, locks, chunked uploads.
fn dav_rows(w: &World, dw: &DavWorld, login: &str, staff: bool, host: &str) -> Vec<Probe> {
    let _ = w;
    let mut rows = Vec::new();
    let dav = |method: &'static str,
               path: String,
               headers: Vec<(&'static str, String)>,
               body: Option<String>| {
        let route = if path.starts_with("/remote.php/webdav/") {
            Some(R_WEBDAV)
        } else if path.starts_with("/remote.php/dav/") {
            Some(R_DAV)
        } else {
            None
        };
        row(
            route,
            Req::Dav {
                method,
                path,
                headers,
                body,
                raw: false,
            },
            "WebDAV",
        )
    };
    let own_root = format!("/remote.php/dav/files/{login}");
    let propfind = || {
        Some(
            r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>"#
                .to_string(),
        )
    };
    let proppatch = || {
        Some(r#"<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:remove><d:prop><x:akte xmlns:x="urn:amtsbote-test"/></d:prop></d:remove><d:set><d:prop><d:lastmodified>1000000000</d:lastmodified></d:prop></d:set></d:propertyupdate>"#.to_string())
    };
    let lockinfo = || {
        Some(r#"<?xml version="1.0"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype></d:lockinfo>"#.to_string())
    };
    // Where A's paths could be named: user.a's tree; the staff's folder of A (under the
    // prober's own mounts); for a member, the own tree (A's names in B's space).
    let mut bases = vec![
        "/remote.php/dav/files/user.a".to_string(),
        "/remote.php/dav/files/USER.A".to_string(),
        format!("/remote.php/webdav/{A_STAFF}"),
        format!("{own_root}/{A_STAFF}"),
        "/remote.php/webdav/1001".to_string(),
        "/remote.php/webdav/1001%20stadt%20musterstadt".to_string(),
    ];
    if !staff {
        bases.push("/remote.php/webdav".into());
        bases.push(own_root.clone());
    }
    for base in &bases {
        // Writing into the prober's own folders is allowed; only paths that lie in A (or
        // whose parent exists nowhere the prober can write) are probed with writes.
        let own = base == "/remote.php/webdav" || *base == own_root;
        for p in A_PATHS {
            let path = format!("{base}/{}", enc(p));
            rows.push(dav(
                "PROPFIND",
                path.clone(),
                vec![("Depth", "1".into())],
                propfind(),
            ));
            rows.push(dav("GET", path.clone(), vec![], None));
            rows.push(dav("HEAD", path.clone(), vec![], None));
            rows.push(dav("DELETE", path.clone(), vec![], None));
            rows.push(dav("PROPPATCH", path.clone(), vec![], proppatch()));
            rows.push(dav(
                "MOVE",
                path.clone(),
                vec![("Destination", format!("{base}/Umbenannt.pdf"))],
                None,
            ));
            rows.push(dav(
                "COPY",
                path.clone(),
                vec![("Destination", format!("{base}/Kopie.pdf"))],
                None,
            ));
            let in_a = !own || p.contains("Interna-A/") || !p.contains('/');
            if in_a {
                rows.push(dav(
                    "PUT",
                    path.clone(),
                    vec![],
                    Some("Eingeschleust".into()),
                ));
                rows.push(dav(
                    "LOCK",
                    path.clone(),
                    vec![("Timeout", "Second-60".into())],
                    lockinfo(),
                ));
                rows.push(dav(
                    "UNLOCK",
                    path.clone(),
                    vec![("Lock-Token", dw.a_lock.clone())],
                    None,
                ));
                rows.push(dav(
                    "MKCOL",
                    format!("{base}/an_KVBbg/Interna-A/Neu"),
                    vec![],
                    None,
                ));
            }
        }
        if !own {
            rows.push(dav(
                "PROPFIND",
                format!("{base}/"),
                vec![("Depth", "1".into())],
                propfind(),
            ));
            rows.push(dav(
                "PUT",
                format!("{base}/an_KVBbg/Eingeschleust.pdf"),
                vec![],
                Some("x".into()),
            ));
            rows.push(dav(
                "MKCOL",
                format!("{base}/an_KVBbg/Eingeschleust"),
                vec![],
                None,
            ));
        }
    }

    // The prober's own file, moved or copied into A or to another host.
    let own_file = if staff {
        "/remote.php/webdav/1002%20Gemeinde%20Beispielheim/an_KVBbg/Eigenes-B.pdf".to_string()
    } else {
        "/remote.php/webdav/an_KVBbg/Eigenes-B.pdf".to_string()
    };
    let into_a = [
        "/remote.php/dav/files/user.a/an_KVBbg/Eingeschleust.pdf".to_string(),
        format!("http://{host}/remote.php/dav/files/user.a/an_KVBbg/Eingeschleust.pdf"),
        "http://evil.example/remote.php/webdav/an_KVBbg/Eingeschleust.pdf".to_string(),
        format!("http://evil.example/remote.php/dav/files/{login}/an_KVBbg/x.pdf"),
        format!("/remote.php/webdav/{A_STAFF}/an_KVBbg/Eingeschleust.pdf"),
        format!("/remote.php/webdav/{A_STAFF}/Geheim-A-Bescheid.pdf"),
        format!("{own_root}/{A_STAFF}/an_KVBbg/Geheim-A-Antrag.pdf"),
        format!("/remote.php/dav/uploads/user.a/{}/2", dw.a_session),
        "/remote.php/webdav/../dav/files/user.a/an_KVBbg/Eingeschleust.pdf".to_string(),
        "/remote.php/webdav/an_KVBbg/%2e%2e/%2e%2e/dav/files/user.a/x.pdf".to_string(),
    ];
    for dest in &into_a {
        for method in ["MOVE", "COPY"] {
            rows.push(dav(
                method,
                own_file.clone(),
                vec![("Destination", dest.clone()), ("Overwrite", "T".into())],
                None,
            ));
        }
    }
    // A's lock token, used on the prober's own file.
    rows.push(dav(
        "UNLOCK",
        own_file.clone(),
        vec![("Lock-Token", dw.a_lock.clone())],
        None,
    ));
    rows.push(dav(
        "LOCK",
        own_file.clone(),
        vec![
            ("If", format!("({})", dw.a_lock)),
            ("Timeout", "Second-99999".into()),
        ],
        None,
    ));

    // Chunked uploads: user.a's area, user.a's session by id, and the prober's own
    // session assembled into A.
    let a_up = format!("/remote.php/dav/uploads/user.a/{}", dw.a_session);
    let own_up = format!("/remote.php/dav/uploads/{login}");
    rows.extend([
        dav(
            "MKCOL",
            "/remote.php/dav/uploads/user.a/777".into(),
            vec![],
            None,
        ),
        dav(
            "PROPFIND",
            format!("{a_up}/"),
            vec![("Depth", "1".into())],
            propfind(),
        ),
        dav(
            "PUT",
            format!("{a_up}/2"),
            vec![],
            Some("Eingeschleust".into()),
        ),
        dav("DELETE", format!("{a_up}/1"), vec![], None),
        dav("DELETE", a_up.clone(), vec![], None),
        dav(
            "MOVE",
            format!("{a_up}/.file"),
            vec![("Destination", format!("{own_root}/an_KVBbg/Gestohlen.bin"))],
            None,
        ),
        dav(
            "PROPFIND",
            format!("{own_up}/{}/", dw.a_session),
            vec![("Depth", "1".into())],
            propfind(),
        ),
        dav(
            "PUT",
            format!("{own_up}/{}/2", dw.a_session),
            vec![],
            Some("x".into()),
        ),
        dav("DELETE", format!("{own_up}/{}", dw.a_session), vec![], None),
        dav(
            "MOVE",
            format!("{own_up}/{}/.file", dw.a_session),
            vec![("Destination", format!("{own_root}/an_KVBbg/Gestohlen.bin"))],
            None,
        ),
    ]);
    for dest in [
        "/remote.php/dav/files/user.a/an_KVBbg/Eingeschleust.bin".to_string(),
        format!("http://{host}/remote.php/dav/files/user.a/an_KVBbg/Eingeschleust.bin"),
        format!("http://evil.example/remote.php/dav/files/{login}/an_KVBbg/x.bin"),
        format!("/remote.php/webdav/{A_STAFF}/an_KVBbg/Eingeschleust.bin"),
        format!("{own_root}/{A_STAFF}/Eingeschleust.bin"),
        format!("{own_root}/{A_STAFF}/an_KVBbg/Geheim-A-Antrag.pdf"),
        format!("{own_root}/../user.a/an_KVBbg/Eingeschleust.bin"),
    ] {
        rows.push(dav(
            "MOVE",
            format!("{own_up}/{}/.file", dw.own_session),
            vec![("Destination", dest), ("OC-Total-Length", "14".into())],
            None,
        ));
    }

    // Path tricks, sent as written.
    let tricks = [
        "/remote.php/webdav/../dav/files/user.a/an_KVBbg/Geheim-A-Antrag.pdf".to_string(),
        format!("{own_root}/../user.a/an_KVBbg/Geheim-A-Antrag.pdf"),
        format!("{own_root}/%2e%2e/user.a/an_KVBbg/Geheim-A-Antrag.pdf"),
        format!("{own_root}%2f..%2fuser.a/an_KVBbg/Geheim-A-Antrag.pdf"),
        format!("{own_root}/an_KVBbg%2f..%2f..%2fuser.a%2fan_KVBbg/Geheim-A-Antrag.pdf"),
        "/remote.php/dav/files/user.a%00/an_KVBbg/Geheim-A-Antrag.pdf".to_string(),
        "/remote.php/dav/files/user.a/an_KVBbg/Geheim-A-Antrag.pdf%00".to_string(),
        "/remote.php/dav/files//user.a/an_KVBbg/Geheim-A-Antrag.pdf".to_string(),
        "/remote.php/dav//files/user.a/an_KVBbg/Geheim-A-Antrag.pdf".to_string(),
        "//remote.php/dav/files/user.a/an_KVBbg/Geheim-A-Antrag.pdf".to_string(),
        "/remote.php/dav/uploads/user.a/../../files/user.a/an_KVBbg/Geheim-A-Antrag.pdf"
            .to_string(),
        format!("/remote.php/dav/uploads/{login}/../user.a/{}", dw.a_session),
        format!("http://{host}/remote.php/dav/files/user.a/an_KVBbg/Geheim-A-Antrag.pdf"),
        format!("/remote.php/webdav/%2e%2e/{A_STAFF}/an_KVBbg/Geheim-A-Antrag.pdf"),
    ];
    for p in tricks {
        for method in ["GET", "PROPFIND", "DELETE"] {
            rows.push(row(
                None,
                Req::Dav {
                    method,
                    path: p.clone(),
                    headers: vec![("Depth", "0".into())],
                    body: None,
                    raw: true,
                },
                "WebDAV path trick",
            ));
        }
    }
    rows
}

#[tokio::test]
async fn member_b_reaches_nothing_of_a_over_webdav() {
    let t = TestApp::spawn().await;
    let w = build_world(&t).await;
    let dw = build_dav_world(&t, "user.b").await;
    let host = t.url.trim_start_matches("http://").to_string();
    let user_b = session(&t, "user.b").await;

    // Controls: user.b's credentials work over WebDAV and reach B's own file, and the
    // lock and the dead property of A are really there.
    let (status, body) = send(
        &t,
        &user_b,
        &Req::Dav {
            method: "PROPFIND",
            path: "/remote.php/webdav/an_KVBbg/".into(),
            headers: vec![("Depth", "1".into())],
            body: None,
            raw: false,
        },
    )
    .await;
    assert_eq!(status, 207);
    assert!(contains(&body, b"Eigenes-B.pdf"));
    let before = snapshot(&t).await;
    assert_eq!(before.dav.locks.len(), 1);
    assert_eq!(before.dav.props.len(), 1);
    assert_eq!(before.dav.uploads.len(), 2);

    let table = dav_rows(&w, &dw, "user.b", false, &host);
    let audit_mark = last_audit_id(&t).await;
    let failures = run_table(&t, &w, &user_b, &table).await;
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
    let after = snapshot(&t).await;
    assert_eq!(before, after, "state changed by refused requests");
    let against_a = acts_since(&t, audit_mark, "Name user.b").await;
    assert!(against_a.is_empty(), "user.b acted on A: {against_a:?}");
    eprintln!("isolation: {} WebDAV rows as user.b", table.len());
    t.finish().await;
}

#[tokio::test]
async fn unassigned_clerk_reaches_nothing_of_a_over_webdav() {
    let t = TestApp::spawn_with(Opts {
        clerks_see_all: false,
        ..Opts::default()
    })
    .await;
    let w = build_world(&t).await;
    t.app
        .assign_clerk(&cli_actor(), "clerk.other", "1002", true)
        .await
        .expect("assign");
    let dw = build_dav_world(&t, "clerk.other").await;
    let host = t.url.trim_start_matches("http://").to_string();
    let other = session(&t, "clerk.other").await;

    // Control: clerk.other sees B's folder and file over WebDAV, and nothing else.
    let (status, body) = send(
        &t,
        &other,
        &Req::Dav {
            method: "PROPFIND",
            path: "/remote.php/webdav/".into(),
            headers: vec![("Depth", "1".into())],
            body: None,
            raw: false,
        },
    )
    .await;
    assert_eq!(status, 207);
    assert!(contains(&body, b"Beispielheim"));
    assert!(!contains(&body, b"Musterstadt"));
    let (status, _) = send(
        &t,
        &other,
        &Req::Dav {
            method: "GET",
            path: "/remote.php/webdav/1002%20Gemeinde%20Beispielheim/an_KVBbg/Eigenes-B.pdf".into(),
            headers: vec![],
            body: None,
            raw: false,
        },
    )
    .await;
    assert_eq!(status, 200);

    let before = snapshot(&t).await;
    let table = dav_rows(&w, &dw, "clerk.other", true, &host);
    let audit_mark = last_audit_id(&t).await;
    let failures = run_table(&t, &w, &other, &table).await;
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
    let after = snapshot(&t).await;
    assert_eq!(before, after, "state changed by refused requests");
    let against_a = acts_since(&t, audit_mark, "Name clerk.other").await;
    assert!(
        against_a.is_empty(),
        "clerk.other acted on A: {against_a:?}"
    );
    eprintln!("isolation: {} WebDAV rows as clerk.other", table.len());
    t.finish().await;
}

/// The core's reads of tenant data take the actor and go through the gate: a member the
/// actor may not see is "not found" like one that does not exist, on every read, and the
/// lists only service staff keep are refused to everyone else.
fn hidden<T>(r: Result<T, amtsbote_core::Error>) -> bool {
    matches!(r, Err(amtsbote_core::Error::NotFound))
}

#[tokio::test]
async fn tenant_reads_go_through_the_gate() {
    let t = TestApp::spawn_with(Opts {
        clerks_see_all: false,
        ..Opts::default()
    })
    .await;
    use crate::helpers::actor;
    let admin = actor(&t, "admin").await;
    let clerk_a = actor(&t, "clerk.a").await;
    let clerk_other = actor(&t, "clerk.other").await;
    let user_a = actor(&t, "user.a").await;
    let user_b = actor(&t, "user.b").await;
    let (a, b) = (t.a.id, t.b.id);

    // Who sees which member: admins all, a clerk their assigned ones, a user their own.
    for (who, actor, sees_a, sees_b) in [
        ("admin", &admin, true, true),
        ("clerk.a", &clerk_a, true, false),
        ("clerk.other", &clerk_other, false, false),
        ("user.a", &user_a, true, false),
        ("user.b", &user_b, false, true),
    ] {
        for (member, number, sees) in [(a, "1001", sees_a), (b, "1002", sees_b)] {
            let by_id = t.app.member(actor, member).await;
            let by_number = t.app.member_numbered(actor, number).await;
            let space = t.app.space_of_member(actor, member).await;
            if sees {
                assert_eq!(by_id.expect("member").id, member, "{who} sees {number}");
                assert_eq!(by_number.expect("member").id, member, "{who}");
                assert_eq!(space.expect("space").member_id, member, "{who}");
            } else {
                assert!(hidden(by_id), "{who} must not see member {number}");
                assert!(hidden(by_number), "{who} must not see member {number}");
                assert!(hidden(space), "{who} must not see the space of {number}");
            }
        }
    }
    // A guessed id that exists and one that does not are answered alike.
    assert!(hidden(t.app.member(&user_a, 987_654_321).await));

    // The lists of service staff: admins only, and nothing about a hidden member.
    assert_eq!(t.app.member_users(&admin, a).await.expect("users").len(), 2);
    assert_eq!(
        t.app.assigned_clerks(&admin, a).await.expect("clerks")[0].login,
        "clerk.a"
    );
    for actor in [&clerk_a, &user_a, &user_b] {
        assert!(t.app.member_users(actor, a).await.is_err());
        assert!(t.app.assigned_clerks(actor, a).await.is_err());
        assert!(t.app.teams(actor).await.is_err());
    }

    // Accounts: one's own, or any for admins; another's is not found.
    let b_id = user_b.account_id().expect("id");
    assert_eq!(t.app.account(&user_b, b_id).await.expect("own").id, b_id);
    assert_eq!(t.app.account(&admin, b_id).await.expect("admin").id, b_id);
    assert!(hidden(t.app.account(&user_a, b_id).await));
    assert!(hidden(t.app.account(&clerk_a, b_id).await));
    assert!(hidden(t.app.account_by_login(&user_a, "user.b").await));
    assert!(hidden(t.app.account_by_login(&user_a, "admin").await));
    t.finish().await;
}
