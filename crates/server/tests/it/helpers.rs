//! Test harness: the real server (router, middleware, database, storage) on an
//! ephemeral port, against SQLite or — when AMTSBOTE_TEST_DATABASE names one —
//! PostgreSQL or MySQL/MariaDB, each test in a fresh database of its own.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use amtsbote::config::Config;
use amtsbote::startup::{self, Running, cli_actor};
use amtsbote_core::auth::accounts::{AccountKind, NewAccount};
use amtsbote_core::clock::ManualClock;
use amtsbote_core::members::{Member, MemberInput};
use amtsbote_core::settings::{
    LetterSettings, LockoutSettings, MailSettings, NotifySettings, ScanMode, ScanSettings,
    SecondFactorSettings, TemplateSettings,
};
use amtsbote_core::spaces::Space;
use amtsbote_core::{App, StaffRole};
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};
use sqlx::Connection;

pub const PW: &str = "Test-Passwort-2026!";

/// The bearer token of the monitoring in every test server (`metrics.token_file`).
pub const METRICS_TOKEN: &str = "test-monitoring-token-0123456789abcdef";

/// 2026-11-26 12:00 UTC: a fixed start for the injected clock.
pub const T0: i64 = 1_795_694_400_000;

#[derive(Clone, Debug)]
pub struct Opts {
    pub clerks_see_all: bool,
    pub quota: u64,
    pub max_upload: u64,
    /// Put the blob store on a tmpfs of this many bytes (a disk that fills up).
    pub storage_bytes: Option<u64>,
    /// Virus scanning: off unless a test brings its own clamd (see `scan.rs`).
    pub scan: ScanSettings,
    /// No mail server unless a test brings its own SMTP sink (see `notify.rs`).
    pub mail: MailSettings,
    pub notify: NotifySettings,
    pub template: TemplateSettings,
    pub lockout: LockoutSettings,
    pub second_factor: SecondFactorSettings,
    pub letters: LetterSettings,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            clerks_see_all: true,
            quota: 0,
            max_upload: 64 * 1024 * 1024,
            storage_bytes: None,
            scan: ScanSettings {
                mode: ScanMode::Off,
                ..ScanSettings::default()
            },
            mail: MailSettings::default(),
            notify: NotifySettings::default(),
            template: TemplateSettings::default(),
            lockout: LockoutSettings::default(),
            second_factor: SecondFactorSettings::default(),
            letters: LetterSettings::default(),
        }
    }
}

struct ServerDb {
    admin_url: String,
    name: String,
}

pub struct TestApp {
    pub url: String,
    pub app: App,
    pub clock: ManualClock,
    pub cfg: Config,
    pub dir: tempfile::TempDir,
    running: Option<Running>,
    server_db: Option<ServerDb>,
    small_disk: Option<PathBuf>,
    pub a: Member,
    pub b: Member,
    pub space_a: Space,
    pub space_b: Space,
}

/// The database URL for this test: a fresh SQLite file, or a fresh database on the
/// server named by AMTSBOTE_TEST_DATABASE.
async fn fresh_database(dir: &std::path::Path) -> (String, Option<ServerDb>) {
    let Ok(base) = std::env::var("AMTSBOTE_TEST_DATABASE") else {
        return (
            format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
            None,
        );
    };
    if base.is_empty() || base.starts_with("sqlite") {
        return (
            format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
            None,
        );
    }
    sqlx::any::install_default_drivers();
    let name = format!("amtsbote_it_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(&base)
        .await
        .expect("connect to test database server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    (
        with_db_name(&base, &name),
        Some(ServerDb {
            admin_url: base,
            name,
        }),
    )
}

fn with_db_name(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    format!("{base}/{name}{query}")
}

pub fn config(dir: &std::path::Path, db_url: &str, opts: &Opts) -> Config {
    let mut cfg = Config::default();
    cfg.server.data_dir = dir.join("data");
    cfg.database.url = db_url.to_string();
    cfg.access.clerks_see_all = opts.clerks_see_all;
    cfg.limits.space_quota_bytes = opts.quota;
    cfg.limits.max_upload_bytes = opts.max_upload;
    cfg.authority.public_base_url = "https://austausch.example".into();
    cfg.scan = opts.scan.clone();
    cfg.mail = opts.mail.clone();
    cfg.notify = opts.notify.clone();
    cfg.template = opts.template.clone();
    cfg.lockout = opts.lockout.clone();
    cfg.second_factor = opts.second_factor.clone();
    cfg.letters = opts.letters.clone();
    let token = dir.join("metrics-token");
    std::fs::write(&token, format!("{METRICS_TOKEN}\n")).expect("metrics token file");
    cfg.metrics.token_file = Some(token);
    cfg
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Opts::default()).await
    }

    pub async fn spawn_with(opts: Opts) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db_url, server_db) = fresh_database(dir.path()).await;
        let cfg = config(dir.path(), &db_url, &opts);
        let mut small_disk = None;
        if let Some(size) = opts.storage_bytes {
            let storage = cfg.server.data_dir.join("storage");
            std::fs::create_dir_all(&storage).expect("storage dir");
            let status = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&storage)
                .status()
                .expect("run mount");
            assert!(
                status.success(),
                "mounting a tmpfs needs root (CI runs as root)"
            );
            small_disk = Some(storage);
        }
        let clock = ManualClock::new(T0);
        let app = startup::build_app(&cfg, Arc::new(clock.clone()))
            .await
            .expect("build app");
        let cli = cli_actor();
        let a = app
            .create_member(
                &cli,
                MemberInput {
                    number: "1001".into(),
                    name: "Stadt Musterstadt".into(),
                    postal_address: "Marktplatz 1\n14467 Musterstadt".into(),
                    emails: vec!["post@musterstadt.example".into()],
                    authority_emails: vec![],
                },
            )
            .await
            .expect("member a");
        let b = app
            .create_member(
                &cli,
                MemberInput {
                    number: "1002".into(),
                    name: "Gemeinde Beispielheim".into(),
                    postal_address: String::new(),
                    emails: vec![],
                    authority_emails: vec![],
                },
            )
            .await
            .expect("member b");
        for (login, kind) in [
            ("admin", AccountKind::Staff(StaffRole::Admin)),
            ("clerk.a", AccountKind::Staff(StaffRole::Clerk)),
            ("clerk.other", AccountKind::Staff(StaffRole::Clerk)),
            ("user.a", AccountKind::MemberUser { member_id: a.id }),
            ("user.a2", AccountKind::MemberUser { member_id: a.id }),
            ("user.b", AccountKind::MemberUser { member_id: b.id }),
        ] {
            app.create_account(
                &cli,
                NewAccount {
                    login: login.into(),
                    display_name: format!("Name {login}"),
                    email: format!("{login}@example.org"),
                    kind,
                },
            )
            .await
            .expect("account");
            app.set_password(&cli, login, PW).await.expect("password");
        }
        app.assign_clerk(&cli, "clerk.a", "1001", true)
            .await
            .expect("assign");
        let space_a = app
            .space_of_member(&amtsbote::startup::cli_actor(), a.id)
            .await
            .expect("space a");
        let space_b = app
            .space_of_member(&amtsbote::startup::cli_actor(), b.id)
            .await
            .expect("space b");
        let running = startup::start(&cfg, app.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start server");
        Self {
            url: running.url(),
            app,
            clock,
            cfg,
            dir,
            running: Some(running),
            server_db,
            small_disk,
            a,
            b,
            space_a,
            space_b,
        }
    }

    /// Stops the server and starts a new one on the same database and data directory,
    /// as after a restart of the process.
    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
        self.app.db.close().await;
        let app = startup::build_app(&self.cfg, Arc::new(self.clock.clone()))
            .await
            .expect("rebuild app");
        let running = startup::start(
            &self.cfg,
            app.clone(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .expect("restart server");
        self.url = running.url();
        self.app = app;
        self.running = Some(running);
    }

    /// Stops the server gracefully (running requests finish), keeping the database.
    pub async fn stop_server(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
    }

    /// Stops the server and drops the per-test database.
    pub async fn finish(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
        self.app.db.close().await;
        if let Some(mount) = self.small_disk.take() {
            let _ = std::process::Command::new("umount").arg(&mount).status();
        }
        if let Some(db) = self.server_db.take()
            && let Ok(mut conn) = sqlx::AnyConnection::connect(&db.admin_url).await
        {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {}", db.name)))
                .execute(&mut conn)
                .await;
        }
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("client")
    }

    /// Signs in through the log-in form and returns the browser session.
    pub async fn login(&self, login: &str) -> Browser {
        self.login_with(login, PW).await.expect("login succeeds")
    }

    pub async fn login_with(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Browser, (StatusCode, String)> {
        let http = self.client();
        let resp = form_login(&http, &self.url, login, password).await;
        if resp.status() != StatusCode::SEE_OTHER {
            let status = resp.status();
            return Err((status, resp.text().await.unwrap_or_default()));
        }
        let mut b = Browser {
            http,
            base: self.url.clone(),
            csrf: String::new(),
        };
        let (_, html) = b.page("/password").await;
        b.csrf = csrf_of(&html);
        Ok(b)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.cfg.server.data_dir.clone()
    }

    /// Id of a template folder (or "" for the root) of a space.
    pub async fn folder(&self, space: &Space, name: &str) -> i64 {
        if name.is_empty() {
            return space.root_id;
        }
        let access = self
            .app
            .open_space(&cli_actor(), space.id)
            .await
            .expect("open");
        let (_, children) = self
            .app
            .list_folder(&access, space.root_id)
            .await
            .expect("list");
        children
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.id)
            .expect("template folder")
    }

    /// Names in a folder, straight from the database (what is really stored).
    pub async fn names_in(&self, space: &Space, folder: i64) -> Vec<String> {
        let access = self
            .app
            .open_space(&cli_actor(), space.id)
            .await
            .expect("open");
        let (_, children) = self.app.list_folder(&access, folder).await.expect("list");
        children.into_iter().map(|n| n.name).collect()
    }

    /// Files under the blob store (committed blobs and staging files).
    pub fn stored_files(&self) -> (usize, usize) {
        let root = self.data_dir().join("storage");
        let count = |p: PathBuf| -> usize { walk(&p).len() };
        (count(root.join("blobs")), count(root.join("staging")))
    }
}

fn walk(p: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The log-in form as a browser submits it: fetch the form (pre-login cookie and
/// token), then post the credentials. Returns the POST's response.
pub async fn form_login(
    http: &reqwest::Client,
    base: &str,
    login: &str,
    password: &str,
) -> Response {
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("get login");
    assert_eq!(page.status(), StatusCode::OK);
    let token = csrf_of(&page.text().await.expect("text"));
    http.post(format!("{base}/login"))
        .form(&[
            ("csrf", token.as_str()),
            ("login", login),
            ("password", password),
        ])
        .send()
        .await
        .expect("post login")
}

pub fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]+)""#).expect("regex");
    re.captures(html)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| panic!("no csrf token in page: {html}"))
}

/// A signed-in browser: cookie jar plus the session's CSRF token.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: String,
}

impl Browser {
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get")
    }

    /// GET following redirects; returns the final status and body.
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let mut path = path.to_string();
        for _ in 0..5 {
            let r = self.get(&path).await;
            if r.status().is_redirection() {
                path = r.headers()["location"]
                    .to_str()
                    .expect("location")
                    .to_string();
                continue;
            }
            let s = r.status();
            return (s, r.text().await.expect("text"));
        }
        panic!("redirect loop at {path}");
    }

    /// POST a form with this session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.http
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .expect("post")
    }

    /// Uploads files through the web form of a folder.
    pub async fn upload(&self, space: i64, folder: i64, files: &[(&str, Vec<u8>)]) -> Response {
        let mut form = reqwest::multipart::Form::new().text("csrf", self.csrf.clone());
        for (name, bytes) in files {
            form = form.part(
                "files",
                reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(name.to_string())
                    .mime_str("application/pdf")
                    .expect("mime"),
            );
        }
        self.http
            .post(format!(
                "{}/spaces/{space}/folders/{folder}/upload",
                self.base
            ))
            .multipart(form)
            .send()
            .await
            .expect("upload")
    }

    pub async fn download(&self, space: i64, node: i64) -> Response {
        self.get(&format!("/spaces/{space}/files/{node}")).await
    }
}

/// Pseudo-random bytes (deterministic per seed), so files differ and hashes mean something.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

/// The node id of a file by name in a folder, via the core (as the CLI would see it).
pub async fn node_id(t: &TestApp, space: &Space, folder: i64, name: &str) -> Option<i64> {
    let access = t
        .app
        .open_space(&cli_actor(), space.id)
        .await
        .expect("open");
    let (_, children) = t.app.list_folder(&access, folder).await.expect("list");
    children.into_iter().find(|n| n.name == name).map(|n| n.id)
}

/// The German text of a message key, read from `locales/de/main.ftl` (single-line
/// messages without placeables), so tests check what users really see.
pub fn de(key: &str) -> String {
    const FTL: &str = include_str!("../../locales/de/main.ftl");
    FTL.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no message {key} in de/main.ftl"))
}

/// Page text with the character references the templates write (`&#60;`, `&amp;`,
/// ...) turned back into characters.
pub fn unescape(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&j| j <= 10).and_then(|j| {
            let c = match &rest[1..j] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                e => e
                    .strip_prefix("#x")
                    .or_else(|| e.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| e.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, j))
        });
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &rest[j + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Asserts that a page shows the German message `key`.
#[track_caller]
pub fn assert_shows(html: &str, key: &str) {
    let text = de(key);
    assert!(
        unescape(html).contains(&text),
        "page should show {key} ({text}):\n{html}"
    );
}

/// Signs in through the form and returns the raw `Cookie` header value of the new
/// session (as the login response set it) and the session's CSRF token, for requests
/// made without the cookie jar.
pub async fn session_cookie(t: &TestApp, login: &str) -> (String, String) {
    let http = t.client();
    let resp = form_login(&http, &t.url, login, PW).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("amtsbote_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();
    let html = http
        .get(format!("{}/password", t.url))
        .send()
        .await
        .expect("get password")
        .text()
        .await
        .expect("text");
    (cookie, csrf_of(&html))
}

/// The `Location` of a redirect ("" if there is none).
pub fn location(r: &Response) -> String {
    r.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Whether the browser's session is alive: its start page (for member users a redirect
/// into their space) does not send it to the log-in.
pub async fn signed_in(b: &Browser) -> bool {
    let r = b.get("/").await;
    match r.status() {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => !location(&r).starts_with("/login"),
        _ => false,
    }
}

/// The actor an account acts as (for calling the core directly).
pub async fn actor(t: &TestApp, login: &str) -> amtsbote_core::Actor {
    t.app
        .account_by_login(&amtsbote::startup::cli_actor(), login)
        .await
        .expect("account")
        .actor()
        .expect("actor")
}

/// A request body of one chunk, for the core's ingest pipeline.
pub fn body(
    v: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(v))])
}

/// How many replaced versions a node keeps.
pub async fn versions_of(t: &TestApp, node: i64) -> i64 {
    t.app
        .db
        .qs::<i64>("SELECT COUNT(*) FROM node_versions WHERE node_id = ?")
        .bind(node)
        .fetch_one(t.app.db.pool())
        .await
        .expect("count")
}

/// Files the pending notification events into mails now (the worker would within two
/// seconds) and returns the mails that wait to be sent, as "template recipient" lines,
/// sorted. Without a mail server in the test, nothing is sent.
pub async fn filed_mails(t: &TestApp) -> Vec<String> {
    t.app.fan_out().await.expect("fan out");
    let mut v: Vec<String> = t
        .app
        .mails_by_status("pending", 10_000)
        .await
        .expect("mails")
        .into_iter()
        .map(|m| format!("{} {}", m.template, m.recipient))
        .collect();
    v.sort();
    v
}

/// A port that was free a moment ago (for a process that binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}
