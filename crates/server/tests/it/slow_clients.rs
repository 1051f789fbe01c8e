//! Slow and greedy clients (finding 4 of the penetration test): a client that trickles
//! its headers or its body, or keeps a connection idle, is cut off after the configured
//! time, and one address cannot hold more than its share of connections, while everyone
//! else is served. Short timeouts here; the bounds below are generous for a loaded CI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amtsbote::startup::{self, Running};
use amtsbote_core::clock::SystemClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{Opts, config};

async fn server(dir: &std::path::Path, max_per_address: usize) -> Running {
    let db = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let mut cfg = config(dir, &db, &Opts::default());
    cfg.server.header_timeout_seconds = 1;
    cfg.server.body_timeout_seconds = 1;
    cfg.server.max_connections_per_address = max_per_address;
    let app = startup::build_app(&cfg, Arc::new(SystemClock))
        .await
        .expect("app");
    startup::start(&cfg, app, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start")
}

/// Reads until the server closes the connection (or `limit` passes); all that came.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

async fn healthz_from(addr: SocketAddr, source: [u8; 4]) -> std::io::Result<String> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let mut s = socket.connect(addr).await?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .map_err(|_| std::io::Error::other("no answer"))??;
    Ok(out)
}

#[tokio::test]
async fn trickled_headers_and_idle_connections_are_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let running = server(dir.path(), 0).await;
    let addr = running.addr;

    // Headers, one byte at a time: never a whole request.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let trickle = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if slow.write_all(b"X").await.is_err() {
                break;
            }
        }
    };
    let others = async {
        // Served meanwhile.
        tokio::time::sleep(Duration::from_millis(300)).await;
        healthz_from(addr, [127, 0, 0, 1]).await.expect("served")
    };
    let ((), answer) = tokio::join!(trickle, others);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let closed = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the trickling client is cut off");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "cut off after {:?}",
        started.elapsed()
    );

    // A kept-alive connection that sends no new request is closed.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let got = read_until_closed(&mut idle, Duration::from_secs(8))
        .await
        .expect("closed after the idle time");
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "the request itself was answered"
    );
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_stalled_body_is_ended() {
    let dir = tempfile::tempdir().expect("tmp");
    let running = server(dir.path(), 0).await;
    let mut s = TcpStream::connect(running.addr).await.expect("connect");
    // The login form takes a body; announce 100 bytes, send 10, then nothing.
    s.write_all(
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nlogin=abcd",
    )
    .await
    .expect("write");
    let started = Instant::now();
    let got = read_until_closed(&mut s, Duration::from_secs(8)).await;
    assert!(got.is_some(), "the stalled body is ended");
    let text = String::from_utf8_lossy(got.as_deref().unwrap_or_default()).to_string();
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "a refusal, never a success: {text}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_connections() {
    let dir = tempfile::tempdir().expect("tmp");
    let running = server(dir.path(), 3).await;
    let addr = running.addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("answered in time")
            .expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    // The fourth from the same address is closed before any HTTP.
    let mut fourth = TcpStream::connect(addr).await.expect("tcp accepts");
    let _ = fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let got = read_until_closed(&mut fourth, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // Another address is served.
    let answer = healthz_from(addr, [127, 0, 0, 2])
        .await
        .expect("other address");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A freed place can be taken again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = healthz_from(addr, [127, 0, 0, 1])
        .await
        .expect("place freed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    running.stop().await.expect("stop");
}
