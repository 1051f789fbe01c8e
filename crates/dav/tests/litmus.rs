//! Runs the `litmus` WebDAV compliance suite (Debian package `litmus`) against the engine with the
//! in-memory backend, mounted the way the server mounts it, behind a trivial Basic-auth layer.
//! Every group must run its tests and fail none. Skipped visibly (`prereq::ready`) when litmus is
//! missing; a failure under `AMTSBOTE_REQUIRE_ALL=1` or `AMTSBOTE_REQUIRE_LITMUS=1` (CI).

// Prerequisites: a missing peer is a visible skip (allows dead code itself).
#[path = "../../../tests/prereq.rs"]
mod prereq;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amtsbote_dav::memory::{MemoryBackend, MemoryPrincipal};
use amtsbote_dav::{MountPrefix, router};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

const GROUPS: [&str; 5] = ["basic", "copymove", "props", "locks", "http"];
const MOUNT: &str = "/remote.php/dav/files/litmus";
/// `litmus:secret`, base64-encoded.
const CREDENTIALS: &str = "Basic bGl0bXVzOnNlY3JldA==";

fn litmus() -> prereq::Need {
    prereq::Need::binary("litmus", "litmus").required_by("AMTSBOTE_REQUIRE_LITMUS")
}

/// Stands in for the host's authentication: checks the credentials and hands the engine its
/// principal and mount prefix.
async fn basic_auth(mut req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == CREDENTIALS.as_bytes());
    if !ok {
        let mut resp = StatusCode::UNAUTHORIZED.into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"amtsbote\", charset=\"UTF-8\""),
        );
        return resp;
    }
    req.extensions_mut()
        .insert(MemoryPrincipal("litmus".to_owned()));
    req.extensions_mut().insert(MountPrefix(MOUNT.to_owned()));
    next.run(req).await
}

#[derive(Debug)]
struct Summary {
    group: String,
    run: u32,
    passed: u32,
    failed: u32,
}

/// Parses lines like ``<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%``.
fn parse_summaries(out: &str) -> Vec<Summary> {
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
            res.push(Summary {
                group: group.to_owned(),
                run,
                passed,
                failed,
            });
        }
    }
    res
}

fn temp_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("amtsbote-litmus-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

async fn run_litmus(bin: &Path, url: &str, dir: &Path) -> String {
    let child = tokio::process::Command::new(bin)
        .arg("-k")
        .arg(url)
        .arg("litmus")
        .arg("secret")
        .env("TESTS", GROUPS.join(" "))
        .current_dir(dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), child)
        .await
        .expect("litmus timed out")
        .expect("litmus runs");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litmus_passes_all_groups() {
    if !prereq::ready(
        concat!(module_path!(), "::litmus_passes_all_groups"),
        &[litmus()],
    ) {
        return;
    }
    let bin = prereq::find_binary("litmus").expect("litmus, checked above");
    let backend = Arc::new(MemoryBackend::new());
    let app = Router::new()
        .nest_service(MOUNT, router(backend))
        .layer(middleware::from_fn(basic_auth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = temp_dir();
    let url = format!("http://{addr}{MOUNT}/");
    let out = run_litmus(&bin, &url, &dir).await;
    server.abort();
    if std::env::var_os("AMTSBOTE_LITMUS_KEEP").is_some() {
        eprintln!("litmus logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }

    if std::env::var_os("AMTSBOTE_LITMUS_VERBOSE").is_some() {
        eprintln!("{out}");
    }
    let summaries = parse_summaries(&out);
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
}
