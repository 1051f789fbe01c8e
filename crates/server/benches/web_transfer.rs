//! Benchmark (not a test): one large upload and its download through the web door of
//! the real server binary, with the server's peak RSS, against `dd` writing the same
//! amount to the same disk with fsync.
//!
//!   cargo bench -p amtsbote --bench web_transfer
//!   AMTSBOTE_BENCH_MIB=4096 cargo bench -p amtsbote --bench web_transfer
//!
//! Prints a table and one JSON line with all figures.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

const PW: &str = "Benchmark-Passwort-2026";

fn cli(bin: &str, data: &std::path::Path, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run amtsbote");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    assert!(
        child.wait().expect("wait").success(),
        "amtsbote {args:?} failed"
    );
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn dd_fsync_mib_s(dir: &std::path::Path, mib: u64) -> f64 {
    let target = dir.join("dd.bin");
    let start = Instant::now();
    let status = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", target.display()))
        .args(["bs=1M", &format!("count={mib}"), "conv=fsync"])
        .stderr(Stdio::null())
        .status()
        .expect("dd");
    assert!(status.success());
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(target);
    mib as f64 / secs
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::var("AMTSBOTE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let bin = env!("CARGO_BIN_EXE_amtsbote");
    let tmp = std::env::temp_dir().join(format!("amtsbote-bench-{}", std::process::id()));
    let data = tmp.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");

    // dd before and after the server run; the faster of the two is the baseline, so
    // that a disk still busy with earlier writes never flatters the ratio.
    let dd_before = dd_fsync_mib_s(&tmp, mib);
    cli(
        bin,
        &data,
        &[
            "staff",
            "add",
            "--login",
            "bench",
            "--email",
            "bench@example.org",
            "--name",
            "Bench",
            "--admin",
        ],
        None,
    );
    cli(
        bin,
        &data,
        &["user", "set-password", "bench", "--password-stdin"],
        Some(PW),
    );
    cli(
        bin,
        &data,
        &["member", "add", "--number", "9001", "--name", "Benchmark"],
        None,
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = Command::new(bin)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env(
            "AMTSBOTE_LIMITS__MAX_UPLOAD_BYTES",
            (64u64 << 30).to_string(),
        )
        .env("AMTSBOTE_LOG", "warn")
        // The transfer path alone; the scanner has its own benchmark (bench/scanbench.sh).
        .env("AMTSBOTE_SCAN__MODE", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut ready = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not start");
    let idle_kib = vm_hwm_kib(server.id());

    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]+)""#).expect("re");
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("text");
    let token = re
        .captures(&page)
        .and_then(|c| c.get(1))
        .expect("csrf")
        .as_str()
        .to_string();
    let r = http
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", token.as_str()),
            ("login", "bench"),
            ("password", PW),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let page = http
        .get(format!("{base}/members"))
        .send()
        .await
        .expect("members")
        .text()
        .await
        .expect("text");
    let csrf = re
        .captures(&page)
        .and_then(|c| c.get(1))
        .expect("csrf")
        .as_str()
        .to_string();
    let space_re = regex::Regex::new(r#"href="/spaces/(\d+)""#).expect("re");
    let space: String = space_re
        .captures(&page)
        .and_then(|c| c.get(1))
        .expect("space")
        .as_str()
        .into();
    let loc = http
        .get(format!("{base}/spaces/{space}"))
        .send()
        .await
        .expect("space");
    let folder_path = loc.headers()["location"].to_str().expect("loc").to_string();

    // 1 MiB of varied bytes, sent `mib` times: the server hashes and stores every byte.
    let chunk: bytes::Bytes = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into();
    let body_stream =
        futures_util::stream::iter((0..mib).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let part = reqwest::multipart::Part::stream_with_length(
        reqwest::Body::wrap_stream(body_stream),
        mib << 20,
    )
    .file_name("gross.bin")
    .mime_str("application/octet-stream")
    .expect("mime");
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .part("files", part);
    let start = Instant::now();
    let r = http
        .post(format!("{base}{folder_path}/upload"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = r.status();
    let upload_page = r.text().await.expect("text");
    let up_secs = start.elapsed().as_secs_f64();
    assert_eq!(status, 200, "upload failed: {upload_page}");
    let hwm_after_upload = vm_hwm_kib(server.id());

    let file_re =
        regex::Regex::new(r#"href="(/spaces/\d+/files/\d+)" download><bdi>gross.bin</bdi>"#)
            .expect("re");
    let file_path = file_re
        .captures(&upload_page)
        .and_then(|c| c.get(1))
        .expect("file link")
        .as_str()
        .to_string();
    let start = Instant::now();
    let r = http
        .get(format!("{base}{file_path}"))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut got: u64 = 0;
    while let Some(c) = stream.next().await {
        got += c.expect("chunk").len() as u64;
    }
    let down_secs = start.elapsed().as_secs_f64();
    assert_eq!(got, mib << 20, "downloaded size");
    let hwm = vm_hwm_kib(server.id());

    let _ = server.kill();
    let _ = server.wait();
    let dd_after = dd_fsync_mib_s(&tmp, mib);
    let dd = dd_before.max(dd_after);
    let _ = std::fs::remove_dir_all(&tmp);

    let up = mib as f64 / up_secs;
    let down = mib as f64 / down_secs;
    println!("web door, {mib} MiB, scan.mode = off, SQLite + local disk");
    println!("  upload:    {up:8.1} MiB/s ({up_secs:.2} s)");
    println!("  download:  {down:8.1} MiB/s ({down_secs:.2} s)");
    println!("  dd fsync:  {dd:8.1} MiB/s (same disk; before {dd_before:.1}, after {dd_after:.1})");
    println!("  upload/dd: {:8.1} %", 100.0 * up / dd);
    println!(
        "  server peak RSS: {:.1} MiB (idle {:.1} MiB, after upload {:.1} MiB)",
        hwm as f64 / 1024.0,
        idle_kib as f64 / 1024.0,
        hwm_after_upload as f64 / 1024.0
    );
    println!(
        "{{\"mib\":{mib},\"dd_before\":{dd_before:.1},\"dd_after\":{dd_after:.1},\"upload_mib_s\":{up:.1},\"download_mib_s\":{down:.1},\"dd_fsync_mib_s\":{dd:.1},\"upload_vs_dd\":{:.3},\"peak_rss_mib\":{:.1},\"idle_rss_mib\":{:.1}}}",
        up / dd,
        hwm as f64 / 1024.0,
        idle_kib as f64 / 1024.0
    );
}
