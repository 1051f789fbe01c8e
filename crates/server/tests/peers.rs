//! Third-party WebDAV peers against the real server: litmus (compliance), the ownCloud and
//! Nextcloud desktop sync clients (`owncloudcmd`, `nextcloudcmd`) and rclone with both
//! vendor profiles. The clients are run unchanged, as a member organisation would run them.
//! The desktop clients also meet the virus scanner (a private clamd, `it/clamd.rs`).
//!
//! Each test is skipped visibly (`prereq::ready`) when its tool (or clamd) is missing;
//! `AMTSBOTE_REQUIRE_ALL=1` or `AMTSBOTE_REQUIRE_PEERS=1` (CI) turns that into a failure.
//! `AMTSBOTE_PEERS_KEEP=1` keeps the working directories (client logs), and
//! `AMTSBOTE_PEERS_DEBUG=1` runs the sync clients with `--logdebug`.

// helpers.rs allows dead code itself (`#![allow(dead_code)]`); repeating it here is a
// clippy error (duplicated attribute).
#[path = "it/helpers.rs"]
mod helpers;
// The private clamd of the scanner tests (`it/scan.rs`), for the infected-upload tests.
// Unlike helpers.rs, clamd.rs does not allow dead code itself, and this crate does not
// use all of it (`Clamd::restart`).
#[allow(dead_code)]
#[path = "it/clamd.rs"]
mod clamd;
// Prerequisites: a missing tool is a visible skip (allows dead code itself).
#[path = "../../../tests/prereq.rs"]
mod prereq;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use amtsbote_core::storage::ingest::Upload;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use clamd::{Clamd, eicar};
use helpers::{Opts, PW, TestApp, actor, body, bytes, node_id};
use prereq::Need;

const MEMBER: &str = "user.a";
const STAFF: &str = "clerk.a";
const UPLOAD_FOLDER: &str = "an_KVBbg";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(600);

// ------------------------------------------------------------------------------ tools

/// A peer program and the Debian package that brings it.
fn tool_need(name: &'static str, package: &'static str) -> Need {
    Need::binary(name, package).required_by("AMTSBOTE_REQUIRE_PEERS")
}

/// The tool's path. The test has checked it with `prereq::ready` first.
fn tool(name: &str) -> PathBuf {
    prereq::find_binary(name).unwrap_or_else(|| {
        panic!("{name} is missing: the test must check it with prereq::ready first")
    })
}

fn keep() -> bool {
    std::env::var_os("AMTSBOTE_PEERS_KEEP").is_some()
}

fn work_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("amtsbote-peers-{tag}-"))
        .tempdir()
        .expect("temp dir")
}

/// Runs a command with a timeout; returns its exit code (-1 if killed by a signal) and
/// stdout+stderr, which is also written to `log`.
async fn run(mut cmd: tokio::process::Command, log: &Path) -> (i32, String) {
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    let started = Instant::now();
    let out = tokio::time::timeout(CLIENT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} did not finish within {CLIENT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{cmd:?} could not start: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    std::fs::write(log, &text).expect("write log");
    let rc = out.status.code().unwrap_or(-1);
    eprintln!(
        "  ran {:?} in {:.1}s: rc {rc}",
        cmd.as_std().get_program(),
        started.elapsed().as_secs_f64()
    );
    (rc, text)
}

/// The last lines of a client's output, for assertion messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(data))
}

/// Every file below `root` (relative path with `/` → content), skipping the clients'
/// own journal and log files.
fn local_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("._sync_")
                || name.starts_with(".sync_")
                || name == ".owncloudsync.log"
            {
                continue;
            }
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .expect("below base")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&p).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn write_file(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir -p");
    std::fs::write(p, data).expect("write");
}

/// The tree the clients upload: nested folders, umlauts and spaces, an empty file, and a
/// file big enough that both desktop clients must use chunked upload.
fn sample_tree(root: &Path, big: usize) -> BTreeMap<String, Vec<u8>> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("Gehaltsmitteilung März.pdf", bytes(150_000, 1)),
        ("leer.txt", Vec::new()),
        ("Unterordner Ä/Bescheid 2026 Übersicht.pdf", bytes(4_321, 2)),
        (
            "Unterordner Ä/Tiefer Ordner/Straße ß.txt",
            b"Gr\xc3\xbc\xc3\x9fe\n".to_vec(),
        ),
        ("Unterordner Ä/Tiefer Ordner/leer auch.txt", Vec::new()),
        ("Großer Anhang.bin", bytes(big, 3)),
    ];
    for (rel, data) in &files {
        write_file(root, rel, data);
    }
    files.into_iter().map(|(r, d)| (r.to_string(), d)).collect()
}

fn encode_path(rel: &str) -> String {
    rel.split('/')
        .map(|s| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// GETs a file straight from the server (not through the counting proxy) as the member.
async fn server_file(t: &TestApp, rel: &str) -> Option<Vec<u8>> {
    let url = format!(
        "{}/remote.php/dav/files/{MEMBER}/{}",
        t.url,
        encode_path(rel)
    );
    let r = reqwest::Client::new()
        .get(url)
        .basic_auth(MEMBER, Some(PW))
        .send()
        .await
        .expect("get");
    match r.status() {
        StatusCode::OK => Some(r.bytes().await.expect("body").to_vec()),
        StatusCode::NOT_FOUND => None,
        s => panic!("GET {rel}: unexpected {s}"),
    }
}

/// Asserts that every file of `files` lies byte-identical on the server below `prefix`:
/// what a GET returns, and what the core recorded (size, SHA-256, SHA-1 and, when the
/// local tree is given, the client's modification time to the second).
async fn assert_on_server(
    t: &TestApp,
    prefix: &str,
    files: &BTreeMap<String, Vec<u8>>,
    local: Option<&Path>,
) {
    let access = t
        .app
        .own_space(&actor(t, MEMBER).await)
        .await
        .expect("member's space");
    for (rel, data) in files {
        let path = format!("{prefix}/{rel}");
        let got = server_file(t, &path)
            .await
            .unwrap_or_else(|| panic!("{path} is missing on the server"));
        assert_eq!(got.len(), data.len(), "size of {path}");
        assert_eq!(sha256_hex(&got), sha256_hex(data), "content of {path}");

        let parts: Vec<&str> = path.split('/').collect();
        let node = t
            .app
            .resolve_path(&access, &parts)
            .await
            .unwrap_or_else(|e| panic!("core cannot resolve {path}: {e:?}"));
        assert_eq!(node.size, data.len() as i64, "recorded size of {path}");
        assert_eq!(
            node.sha256.as_deref(),
            Some(sha256_hex(data).as_str()),
            "recorded SHA-256 of {path}"
        );
        assert_eq!(
            node.sha1.as_deref(),
            Some(sha1_hex(data).as_str()),
            "recorded SHA-1 of {path}"
        );
        if let Some(root) = local {
            let want = std::fs::metadata(root.join(rel))
                .and_then(|m| m.modified())
                .expect("local mtime")
                .duration_since(UNIX_EPOCH)
                .expect("after epoch")
                .as_secs() as i64;
            assert_eq!(
                node.mtime.map(|ms| ms.div_euclid(1000)),
                Some(want),
                "modification time of {path} (X-OC-Mtime) not kept"
            );
        }
    }
}

/// Rows of the audit log with one of these actions: what the core really stored or sent.
async fn audit_count(t: &TestApp, actions: &[&str]) -> i64 {
    let mut n = 0;
    for a in actions {
        n += t
            .app
            .db
            .qs::<i64>("SELECT COUNT(*) FROM audit_log WHERE action = ?")
            .bind(*a)
            .fetch_one(t.app.db.pool())
            .await
            .expect("count audit rows");
    }
    n
}

/// Puts a file into the member's root (or, with `overwrite`, a new version of it) as the
/// authority's clerk does: the server-side drop.
async fn staff_drop(t: &TestApp, name: &str, data: Vec<u8>, overwrite: bool) {
    let access = t
        .app
        .open_space(&actor(t, STAFF).await, t.space_a.id)
        .await
        .expect("clerk opens space a");
    t.app
        .ingest(
            &access,
            Upload {
                folder_id: t.space_a.root_id,
                name: name.into(),
                content_type: Some("application/pdf".into()),
                overwrite,
                declared_size: None,
                mtime: None,
                checksum: None,
                precondition: Default::default(),
            },
            body(data),
        )
        .await
        .expect("staff drop");
}

// ------------------------------------------------------------------------------ proxy

/// One request as the counting proxy saw it.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    /// Percent-decoded path, without the query.
    path: String,
    status: u16,
}

/// A loopback HTTP forwarder in front of the server that records every request, so a
/// test can count what a client really sent (PUT attempts, GETs, chunk uploads).
#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Proxy {
    async fn start(upstream: &str) -> (String, Proxy, tokio::task::JoinHandle<()>) {
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client"),
            hits: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new().fallback(forward).with_state(proxy.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}"), proxy, task)
    }

    fn mark(&self) -> usize {
        self.hits.lock().expect("hits lock").len()
    }

    fn since(&self, mark: usize) -> Vec<Hit> {
        self.hits.lock().expect("hits lock")[mark..].to_vec()
    }
}

fn count(hits: &[Hit], method: &str, pred: impl Fn(&str) -> bool) -> usize {
    hits.iter()
        .filter(|h| h.method == method && pred(&h.path))
        .count()
}

/// A sync with nothing to do: the client looked (PROPFIND through the proxy, so it did
/// reach the server) but moved no content either way and changed nothing.
#[track_caller]
fn assert_idle(hits: &[Hit]) {
    assert!(
        count(hits, "PROPFIND", |_| true) > 0,
        "the client never asked the server:\n{}",
        summary(hits)
    );
    let changing: Vec<&Hit> = hits
        .iter()
        .filter(|h| {
            matches!(
                h.method.as_str(),
                "PUT" | "MKCOL" | "MOVE" | "COPY" | "DELETE" | "PROPPATCH"
            ) || (h.method == "GET" && h.path.starts_with("/remote.php/"))
        })
        .collect();
    assert!(
        changing.is_empty(),
        "an unchanged tree was transferred again: {changing:?}\n{}",
        summary(hits)
    );
}

fn summary(hits: &[Hit]) -> String {
    hits.iter()
        .map(|h| format!("{} {} -> {}", h.method, h.path, h.status))
        .collect::<Vec<_>>()
        .join("\n")
}

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        h.remove(name);
    }
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, incoming) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|x| x.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let path = percent_decode_str(parts.uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let has_body = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    let mut out = p
        .http
        .request(parts.method.clone(), format!("{}{pq}", p.upstream))
        .headers(headers);
    if has_body {
        out = out.body(reqwest::Body::wrap_stream(incoming.into_data_stream()));
    }
    let resp = out.send().await;
    let (status, response) = match resp {
        Ok(r) => {
            let status = r.status();
            let mut headers = r.headers().clone();
            strip_hop_by_hop(&mut headers);
            let mut response = Response::new(Body::from_stream(r.bytes_stream()));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            (status, response)
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        ),
    };
    p.hits.lock().expect("hits lock").push(Hit {
        method: parts.method.to_string(),
        path,
        status: status.as_u16(),
    });
    response
}

// ------------------------------------------------------------------------------ litmus

#[derive(Debug)]
struct LitmusSummary {
    group: String,
    run: u32,
    passed: u32,
    failed: u32,
}

/// Parses lines like ``<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%``.
fn parse_litmus(out: &str) -> Vec<LitmusSummary> {
    let mut res = Vec::new();
    for line in out.lines() {
        let Some(rest) = line.trim().strip_prefix("<- summary for `") else {
            continue;
        };
        let Some((group, rest)) = rest.split_once("': of ") else {
            continue;
        };
        let nums: Vec<u32> = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        if let [run, passed, failed, ..] = nums[..] {
            res.push(LitmusSummary {
                group: group.to_owned(),
                run,
                passed,
                failed,
            });
        }
    }
    res
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litmus_as_member_in_upload_folder() {
    const GROUPS: [&str; 5] = ["basic", "copymove", "props", "locks", "http"];
    if !prereq::ready(
        concat!(module_path!(), "::litmus_as_member_in_upload_folder"),
        &[tool_need("litmus", "litmus")],
    ) {
        return;
    }
    let bin = tool("litmus");
    let started = Instant::now();
    let t = TestApp::spawn().await;
    let dir = work_dir("litmus");
    let url = format!("{}/remote.php/dav/files/{MEMBER}/{UPLOAD_FOLDER}/", t.url);
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("-k")
        .arg(&url)
        .arg(MEMBER)
        .arg(PW)
        .env("TESTS", GROUPS.join(" "))
        .current_dir(dir.path());
    let (_, out) = run(cmd, &dir.path().join("litmus.out")).await;
    let summaries = parse_litmus(&out);
    for s in &summaries {
        eprintln!(
            "litmus {}: {}/{} passed, {} failed",
            s.group, s.passed, s.run, s.failed
        );
    }
    for g in GROUPS {
        let s = summaries
            .iter()
            .find(|s| s.group == g)
            .unwrap_or_else(|| panic!("no summary for group {g}:\n{out}"));
        assert!(s.run > 0, "group {g} ran no tests:\n{out}");
        assert_eq!(s.failed, 0, "group {g} had failures:\n{out}");
        assert_eq!(s.passed, s.run, "group {g}:\n{out}");
    }
    if keep() {
        eprintln!("litmus logs kept in {}", dir.keep().display());
    }
    t.finish().await;
    eprintln!("litmus test took {:.1}s", started.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------------------ desktop clients

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Desktop {
    OwnCloud,
    Nextcloud,
}

impl Desktop {
    fn bin(self) -> &'static str {
        match self {
            Desktop::OwnCloud => "owncloudcmd",
            Desktop::Nextcloud => "nextcloudcmd",
        }
    }

    fn need(self) -> Need {
        match self {
            Desktop::OwnCloud => tool_need("owncloudcmd", "owncloud-client-cmd"),
            Desktop::Nextcloud => tool_need("nextcloudcmd", "nextcloud-desktop-cmd"),
        }
    }
}

/// The clients' usual exclude patterns; owncloudcmd aborts without any exclude list.
const EXCLUDES: &str = "*~\n.~lock.*\n~$*\n*.part\n*.swp\n.DS_Store\nThumbs.db\ndesktop.ini\n";

struct SyncRunner {
    kind: Desktop,
    bin: PathBuf,
    proxy_url: String,
    home: PathBuf,
    exclude: PathBuf,
    logs: PathBuf,
    runs: usize,
}

impl SyncRunner {
    /// A client with its own home (configuration, journal caches), exclude list and log
    /// directory below `dir`, talking to the server through the proxy at `proxy_url`.
    fn new(kind: Desktop, bin: PathBuf, proxy_url: String, dir: &Path) -> Self {
        let home = dir.join("home");
        let logs = dir.join("logs");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::create_dir_all(&logs).expect("logs");
        let exclude = dir.join("exclude.lst");
        std::fs::write(&exclude, EXCLUDES).expect("exclude list");
        SyncRunner {
            kind,
            bin,
            proxy_url,
            home,
            exclude,
            logs,
            runs: 0,
        }
    }

    /// One sync of `local` with the server folder `remote` ("" for the member root,
    /// "an_KVBbg" for the upload folder). Returns exit code and output.
    async fn sync(&mut self, local: &Path, remote: &str) -> (i32, String) {
        self.runs += 1;
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env_remove("DISPLAY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .arg("--non-interactive")
            .arg("-u")
            .arg(MEMBER)
            .arg("-p")
            .arg(PW)
            .arg("--exclude")
            .arg(&self.exclude);
        if std::env::var_os("AMTSBOTE_PEERS_DEBUG").is_some() {
            cmd.arg("--logdebug");
        }
        match self.kind {
            Desktop::OwnCloud => {
                // owncloudcmd takes the remote folder as part of the server URL, after
                // the WebDAV path.
                cmd.arg(local).arg(format!(
                    "{}/remote.php/webdav/{}",
                    self.proxy_url,
                    encode_path(remote)
                ));
            }
            Desktop::Nextcloud => {
                cmd.arg("--path")
                    .arg(format!("/{remote}"))
                    .arg(local)
                    .arg(&self.proxy_url);
            }
        }
        let log = self
            .logs
            .join(format!("{}-{:02}.log", self.kind.bin(), self.runs));
        run(cmd, &log).await
    }
}

/// The caller has checked `kind.need()` with `prereq::ready`.
async fn desktop_client_round_trip(kind: Desktop) {
    let bin = tool(kind.bin());
    let started = Instant::now();
    let t = TestApp::spawn().await;
    let (proxy_url, proxy, proxy_task) = Proxy::start(&t.url).await;
    let dir = work_dir(kind.bin());
    let mut client = SyncRunner::new(kind, bin, proxy_url, dir.path());

    // 1. Upload a tree into the member's upload folder, the 60 MiB file in chunks.
    let up = dir.path().join("up");
    std::fs::create_dir_all(&up).expect("up");
    let files = sample_tree(&up, 60 << 20);
    let mark = proxy.mark();
    let (rc, out) = client.sync(&up, UPLOAD_FOLDER).await;
    let hits = proxy.since(mark);
    assert_eq!(rc, 0, "first upload sync failed:\n{}", tail(&out));
    assert_on_server(&t, UPLOAD_FOLDER, &files, Some(&up)).await;
    // The big file must have gone through chunking NG (chunks PUT below the uploads
    // collection, then assembled by MOVE), not as one huge PUT.
    let chunk_puts = count(&hits, "PUT", |p| p.starts_with("/remote.php/dav/uploads/"));
    let assembles = count(&hits, "MOVE", |p| {
        p.starts_with("/remote.php/dav/uploads/") && p.ends_with("/.file")
    });
    assert!(
        chunk_puts >= 2 && assembles == 1,
        "60 MiB should be uploaded in chunks ({chunk_puts} chunk PUTs, {assembles} MOVEs):\n{}",
        summary(&hits)
    );
    assert_eq!(
        count(&hits, "PUT", |p| p.ends_with("Großer Anhang.bin")),
        0,
        "the big file was PUT whole:\n{}",
        summary(&hits)
    );

    // 2. A second sync with nothing changed transfers nothing.
    let uploads_before = audit_count(&t, &["upload", "upload.replace"]).await;
    let mark = proxy.mark();
    let (rc, out) = client.sync(&up, UPLOAD_FOLDER).await;
    let hits = proxy.since(mark);
    assert_eq!(rc, 0, "second upload sync failed:\n{}", tail(&out));
    assert_idle(&hits);
    assert_eq!(
        audit_count(&t, &["upload", "upload.replace"]).await,
        uploads_before,
        "the server stored something on an idle sync"
    );

    // 3. A client whose sync root is the member root gets the authority's drop.
    let drop_name = "Bescheid Ä 2026.pdf";
    let drop_v1 = bytes(70_000, 10);
    staff_drop(&t, drop_name, drop_v1.clone(), false).await;
    let down = dir.path().join("down");
    std::fs::create_dir_all(&down).expect("down");
    let (rc, out) = client.sync(&down, "").await;
    assert_eq!(rc, 0, "download sync failed:\n{}", tail(&out));
    let got = local_files(&down);
    assert_eq!(
        got.get(drop_name).map(|d| sha256_hex(d)),
        Some(sha256_hex(&drop_v1)),
        "the staff drop did not arrive intact; local files: {:?}",
        got.keys().collect::<Vec<_>>()
    );
    for (rel, data) in &files {
        let rel = format!("{UPLOAD_FOLDER}/{rel}");
        assert_eq!(
            got.get(&rel).map(|d| sha256_hex(d)),
            Some(sha256_hex(data)),
            "{rel} not synced down intact"
        );
    }
    for folder in ["KVBBG-SB-Posteingang", "Postausgang"] {
        assert!(
            down.join(folder).is_dir(),
            "template folder {folder} missing locally"
        );
    }

    // 4. Again nothing to do: no GET, no PUT, no download in the audit log.
    let downloads_before = audit_count(&t, &["download", "download.range"]).await;
    let mark = proxy.mark();
    let (rc, out) = client.sync(&down, "").await;
    let hits = proxy.since(mark);
    assert_eq!(rc, 0, "idle download sync failed:\n{}", tail(&out));
    assert_idle(&hits);
    assert_eq!(
        audit_count(&t, &["download", "download.range"]).await,
        downloads_before,
        "the server sent file content on an idle sync"
    );

    // 5. A new version on the server is picked up, and only that file is fetched.
    let drop_v2 = bytes(80_000, 11);
    staff_drop(&t, drop_name, drop_v2.clone(), true).await;
    let mark = proxy.mark();
    let (rc, out) = client.sync(&down, "").await;
    let hits = proxy.since(mark);
    assert_eq!(rc, 0, "sync after the new version failed:\n{}", tail(&out));
    let local = std::fs::read(down.join(drop_name)).expect("dropped file");
    assert_eq!(
        sha256_hex(&local),
        sha256_hex(&drop_v2),
        "new version not synced"
    );
    assert_eq!(
        count(&hits, "GET", |p| p.starts_with("/remote.php/")),
        1,
        "exactly the changed file should be fetched:\n{}",
        summary(&hits)
    );

    // 6. Uploads the policy forbids (the read-only root and Postausgang) are reported,
    //    not retried in a loop, not stored, and the local files are left alone.
    let forbidden = [
        ("Eigene Notiz.pdf", bytes(3_000, 20)),
        ("Postausgang/Antwort März.pdf", bytes(3_000, 21)),
    ];
    for (rel, data) in &forbidden {
        write_file(&down, rel, data);
    }
    let mark = proxy.mark();
    let (rc1, out1) = client.sync(&down, "").await;
    let (rc2, out2) = client.sync(&down, "").await;
    let hits = proxy.since(mark);
    for (rc, out) in [(rc1, &out1), (rc2, &out2)] {
        // Only the exit code or the clients' own message count: a bare "403" or
        // "permission" also occurs in timestamps and property names of ordinary logs.
        let reported = rc != 0 || out.contains("Not allowed because you don't have permission");
        assert!(
            reported,
            "a forbidden upload went unreported (rc {rc}):\n{}",
            tail(out)
        );
    }
    for (rel, data) in &forbidden {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let attempts = count(&hits, "PUT", |p| p.ends_with(name))
            + count(&hits, "MOVE", |p| p.ends_with(name));
        assert!(
            attempts <= 2,
            "{attempts} upload attempts of {rel} in two syncs (retry storm):\n{}",
            summary(&hits)
        );
        assert_eq!(server_file(&t, rel).await, None, "{rel} reached the server");
        assert_eq!(
            std::fs::read(down.join(rel)).ok().map(|d| sha256_hex(&d)),
            Some(sha256_hex(data)),
            "the client removed or changed the local {rel}"
        );
    }
    let total = hits.len();
    assert!(
        total < 200,
        "{total} requests for two syncs of a forbidden file:\n{}",
        summary(&hits)
    );

    proxy_task.abort();
    std::fs::write(
        dir.path().join("logs/requests.log"),
        summary(&proxy.since(0)),
    )
    .expect("write request log");
    if keep() {
        eprintln!("{} logs kept in {}", kind.bin(), dir.keep().display());
    }
    t.finish().await;
    eprintln!(
        "{} round trip took {:.1}s",
        kind.bin(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owncloudcmd_syncs_up_and_down() {
    if !prereq::ready(
        concat!(module_path!(), "::owncloudcmd_syncs_up_and_down"),
        &[Desktop::OwnCloud.need()],
    ) {
        return;
    }
    desktop_client_round_trip(Desktop::OwnCloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nextcloudcmd_syncs_up_and_down() {
    if !prereq::ready(
        concat!(module_path!(), "::nextcloudcmd_syncs_up_and_down"),
        &[Desktop::Nextcloud.need()],
    ) {
        return;
    }
    desktop_client_round_trip(Desktop::Nextcloud).await;
}

// ------------------------------------------------------------------------------ virus scan

/// The infected file of the infected-upload tests (EICAR content).
const INFECTED: &str = "eicar.com";

/// One sync run of the infected-upload tests, as the client and the proxy saw it.
struct InfectedRun {
    rc: i32,
    out: String,
    hits: Vec<Hit>,
    /// PUTs of the infected file, and how many of them the server answered with 415.
    puts: usize,
    refused: usize,
}

/// The client's journal entry for a file it set aside: (ignore duration in seconds,
/// error string), from the `blacklist` table of the sync journal in the local folder
/// (`.sync_journal.db` for owncloudcmd, `.sync_<hash>.db` for nextcloudcmd).
async fn set_aside(local: &Path, rel: &str) -> Option<(i64, String)> {
    use sqlx::Connection as _;
    let journal = std::fs::read_dir(local)
        .expect("read local folder")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            (name.starts_with(".sync_") || name.starts_with("._sync_")) && name.ends_with(".db")
        })
        .unwrap_or_else(|| panic!("no sync journal in {}", local.display()));
    let mut db =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", journal.display()))
            .await
            .expect("open sync journal");
    let row = sqlx::query_as::<_, (i64, String)>(
        "SELECT ignoreDuration, errorstring FROM blacklist WHERE path = ?",
    )
    .bind(rel)
    .fetch_optional(&mut db)
    .await
    .expect("read the journal's blacklist");
    db.close().await.ok();
    row
}

/// A member syncs a folder with three clean files and one infected file into the upload
/// folder, twice (the second run is the client's next sync cycle): the clean files
/// arrive; the infected one is refused with 415 and the finding, stored nowhere,
/// audited and notified to the admins, reported by the client, and set aside by the
/// client for a day instead of being uploaded again and again.
/// The caller has checked `kind.need()` and `clamd::needs()` with `prereq::ready`.
async fn desktop_client_infected_upload(kind: Desktop) {
    let bin = tool(kind.bin());
    let clamd = Clamd::start("100M").await;
    let started = Instant::now();
    let t = TestApp::spawn_with(Opts {
        scan: clamd.settings(),
        ..Opts::default()
    })
    .await;
    let (proxy_url, proxy, proxy_task) = Proxy::start(&t.url).await;
    let dir = work_dir(&format!("{}-infected", kind.bin()));
    let mut client = SyncRunner::new(kind, bin, proxy_url, dir.path());

    let up = dir.path().join("up");
    let clean: BTreeMap<String, Vec<u8>> = [
        ("Antrag März.pdf", bytes(120_000, 30)),
        ("Anlage 1.pdf", bytes(5_000, 31)),
        ("Übersicht.txt", b"Gr\xc3\xbc\xc3\x9fe\n".to_vec()),
    ]
    .into_iter()
    .map(|(rel, data)| (rel.to_string(), data))
    .collect();
    for (rel, data) in &clean {
        write_file(&up, rel, data);
    }
    write_file(&up, INFECTED, &eicar());

    let is_infected = |p: &str| p.ends_with(&format!("/{INFECTED}"));
    let mut runs = Vec::new();
    for n in 1..=2 {
        let mark = proxy.mark();
        let (rc, out) = client.sync(&up, UPLOAD_FOLDER).await;
        let hits = proxy.since(mark);
        let puts = count(&hits, "PUT", is_infected);
        let refused = hits
            .iter()
            .filter(|h| h.method == "PUT" && is_infected(&h.path) && h.status == 415)
            .count();
        eprintln!(
            "  {} run {n}: rc {rc}, {puts} PUT(s) of {INFECTED}, {refused} refused with 415, {} requests",
            kind.bin(),
            hits.len()
        );
        runs.push(InfectedRun {
            rc,
            out,
            hits,
            puts,
            refused,
        });
    }

    // The clean files are on the server, intact; the infected one left nothing.
    assert_on_server(&t, UPLOAD_FOLDER, &clean, Some(&up)).await;
    let an = t.folder(&t.space_a, UPLOAD_FOLDER).await;
    assert_eq!(
        node_id(&t, &t.space_a, an, INFECTED).await,
        None,
        "{INFECTED} was stored"
    );
    assert_eq!(
        server_file(&t, &format!("{UPLOAD_FOLDER}/{INFECTED}")).await,
        None,
        "{INFECTED} can be downloaded"
    );
    assert_eq!(t.stored_files().1, 0, "a staging file was left behind");

    // The client reports the infected file, and only it, in both runs: a failed exit
    // status and the server's message (OC-ErrorString), which both clients print (in
    // the second run from their journal, "skipped due to earlier error").
    let message =
        format!("In der Datei „{INFECTED}“ wurde Schadsoftware gefunden (Eicar-Test-Signature");
    for (n, run) in runs.iter().enumerate() {
        let n = n + 1;
        assert_ne!(
            run.rc,
            0,
            "run {n}: the infected upload went unreported:\n{}",
            tail(&run.out)
        );
        assert!(
            run.out.contains(&message),
            "run {n}: the client did not pass the server's message on:\n{}",
            tail(&run.out)
        );
        let other_errors: Vec<&str> = run
            .out
            .lines()
            .filter(|l| l.contains("Could not complete propagation of") && !l.contains(INFECTED))
            .collect();
        assert!(
            other_errors.is_empty(),
            "run {n}: errors for clean files: {other_errors:#?}"
        );
    }

    // No retry storm. Measured with Debian 12's owncloudcmd 2.11.0 and nextcloudcmd
    // 3.7.3: run 1 PUTs the file once (415) and does not retry it within the run; run 2
    // PUTs it not at all, because on a 415 both clients put the file on their blacklist
    // for the maximum time (86400 s) at once. A client that retried in a loop would
    // exceed these bounds (one repeat within a run is tolerated).
    let (first, second) = (&runs[0], &runs[1]);
    assert!(
        (1..=2).contains(&first.puts) && first.refused == first.puts,
        "run 1: {} PUT(s) of {INFECTED}, {} refused with 415:\n{}",
        first.puts,
        first.refused,
        summary(&first.hits)
    );
    assert_eq!(
        second.puts,
        0,
        "run 2 uploaded the infected file again:\n{}",
        summary(&second.hits)
    );
    // The clean files are done, too: the next cycle is idle.
    assert_idle(&second.hits);
    let (ignore_secs, error) = set_aside(&up, INFECTED)
        .await
        .unwrap_or_else(|| panic!("{} did not set {INFECTED} aside", kind.bin()));
    assert!(
        ignore_secs >= 86_400,
        "{INFECTED} set aside for only {ignore_secs} s: the client retries it soon"
    );
    assert!(error.contains(&message), "journal error string: {error}");

    // Every refusal is audited (target `name:<file>`) and notified to the admins.
    let refused: usize = runs.iter().map(|r| r.refused).sum();
    let audit = t.app.audit_recent(1000).await.expect("audit");
    let infected_audits = audit
        .iter()
        .filter(|r| {
            r.action == "upload.infected"
                && r.outcome == "denied"
                && r.target == format!("name:{INFECTED}")
        })
        .count();
    assert_eq!(
        infected_audits, refused,
        "one upload.infected audit entry per refused PUT"
    );
    let outbox = t.app.outbox_recent(1000).await.expect("outbox");
    assert!(
        outbox
            .iter()
            .any(|o| o.kind == "upload_infected" && o.payload.contains(INFECTED)),
        "no upload_infected notice for {INFECTED}: {outbox:#?}"
    );

    proxy_task.abort();
    std::fs::write(
        dir.path().join("logs/requests.log"),
        summary(&proxy.since(0)),
    )
    .expect("write request log");
    if keep() {
        eprintln!("{} logs kept in {}", kind.bin(), dir.keep().display());
    }
    t.finish().await;
    drop(clamd);
    eprintln!(
        "{} infected upload took {:.1}s",
        kind.bin(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owncloudcmd_sets_an_infected_upload_aside() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::owncloudcmd_sets_an_infected_upload_aside"
        ),
        &[Desktop::OwnCloud.need(), clamd::needs()],
    ) {
        return;
    }
    desktop_client_infected_upload(Desktop::OwnCloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nextcloudcmd_sets_an_infected_upload_aside() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::nextcloudcmd_sets_an_infected_upload_aside"
        ),
        &[Desktop::Nextcloud.need(), clamd::needs()],
    ) {
        return;
    }
    desktop_client_infected_upload(Desktop::Nextcloud).await;
}

// ------------------------------------------------------------------------------ rclone

fn rclone() -> Need {
    tool_need("rclone", "rclone")
}

/// The caller has checked `rclone()` with `prereq::ready`.
async fn rclone_round_trip(vendor: &str) {
    let bin = tool("rclone");
    let started = Instant::now();
    let t = TestApp::spawn().await;
    let dir = work_dir(&format!("rclone-{vendor}"));
    let local = dir.path().join("local");
    std::fs::create_dir_all(&local).expect("local");
    let files = sample_tree(&local, 12 << 20);
    // Distinct whole-second mtimes in the past, so a server that ignores X-OC-Mtime (and
    // stamps the upload time) is caught.
    let base = UNIX_EPOCH + Duration::from_secs(1_740_000_000);
    let mut want_mtime = BTreeMap::new();
    for (i, rel) in files.keys().enumerate() {
        let m = base + Duration::from_secs(86_400 * i as u64 + 17);
        std::fs::File::options()
            .write(true)
            .open(local.join(rel))
            .expect("open")
            .set_modified(m)
            .expect("set mtime");
        want_mtime.insert(rel.clone(), m);
    }

    let obscured = std::process::Command::new(&bin)
        .args(["obscure", PW])
        .output()
        .expect("rclone obscure");
    let pass = String::from_utf8(obscured.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    let logs = dir.path().to_path_buf();
    let rclone = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.env("HOME", dir.path())
            .env("RCLONE_CONFIG_DAV_TYPE", "webdav")
            .env(
                "RCLONE_CONFIG_DAV_URL",
                format!("{}/remote.php/dav/files/{MEMBER}/", t.url),
            )
            .env("RCLONE_CONFIG_DAV_VENDOR", vendor)
            .env("RCLONE_CONFIG_DAV_USER", MEMBER)
            .env("RCLONE_CONFIG_DAV_PASS", &pass)
            .arg("--config")
            .arg("/dev/null")
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(args);
        cmd
    };
    let remote = format!("dav:{UPLOAD_FOLDER}/rclone {vendor}");
    let local_s = local.to_string_lossy().into_owned();

    let (rc, out) = run(
        rclone(&["copy", "-v", &local_s, &remote]),
        &logs.join("copy.log"),
    )
    .await;
    assert_eq!(rc, 0, "rclone copy failed:\n{}", tail(&out));
    assert_on_server(
        &t,
        &format!("{UPLOAD_FOLDER}/rclone {vendor}"),
        &files,
        Some(&local),
    )
    .await;

    let (rc, out) = run(
        rclone(&["check", &local_s, &remote]),
        &logs.join("check.log"),
    )
    .await;
    assert_eq!(rc, 0, "rclone check failed:\n{}", tail(&out));
    assert!(
        out.contains("0 differences found"),
        "rclone check found differences:\n{out}"
    );
    assert!(
        out.contains(&format!("{} matching files", files.len())),
        "rclone check did not match every file:\n{out}"
    );
    let check_out = out;

    let (rc, out) = run(
        rclone(&["lsjson", "-R", "--hash", "--files-only", &remote]),
        &logs.join("lsjson.log"),
    )
    .await;
    assert_eq!(rc, 0, "rclone lsjson failed:\n{}", tail(&out));
    let json_start = out.find('[').expect("lsjson output");
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&out[json_start..out.rfind(']').expect("json end") + 1])
            .expect("lsjson json");
    assert_eq!(listed.len(), files.len(), "rclone lsjson:\n{out}");
    for item in &listed {
        let rel = item["Path"].as_str().expect("Path");
        let data = files.get(rel).unwrap_or_else(|| panic!("unexpected {rel}"));
        assert_eq!(
            item["Size"].as_u64(),
            Some(data.len() as u64),
            "size of {rel}"
        );
        let mod_time = item["ModTime"].as_str().expect("ModTime");
        let remote_secs = mod_time
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|e| panic!("rclone ModTime {mod_time:?} of {rel}: {e}"))
            .as_second();
        let want = want_mtime[rel]
            .duration_since(UNIX_EPOCH)
            .expect("after epoch")
            .as_secs() as i64;
        assert_eq!(remote_secs, want, "mtime of {rel}: {mod_time}");
        assert_eq!(
            item["Hashes"]["sha1"].as_str(),
            Some(sha1_hex(data).as_str()),
            "SHA-1 the server reports for {rel}:\n{item}"
        );
    }

    // Last, so that everything else about this vendor profile is known to work when only
    // the checksum comparison fails: rclone compares the first hash both sides support
    // (MD5 before SHA-1 for vendor owncloud) and counts files whose server-side hash is
    // missing as "could not be checked" without reporting a difference.
    assert!(
        !check_out.contains("could not be checked"),
        "rclone check could not compare checksums:\n{check_out}"
    );

    if keep() {
        eprintln!("rclone logs kept in {}", dir.keep().display());
    }
    t.finish().await;
    eprintln!(
        "rclone {vendor} round trip took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_owncloud_copy_and_check() {
    if !prereq::ready(
        concat!(module_path!(), "::rclone_owncloud_copy_and_check"),
        &[rclone()],
    ) {
        return;
    }
    rclone_round_trip("owncloud").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_nextcloud_copy_and_check() {
    if !prereq::ready(
        concat!(module_path!(), "::rclone_nextcloud_copy_and_check"),
        &[rclone()],
    ) {
        return;
    }
    rclone_round_trip("nextcloud").await;
}
