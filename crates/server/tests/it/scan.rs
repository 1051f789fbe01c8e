//! Virus scanning with a real clamd (Debian's clamav-daemon with a test signature database
//! of our own, as there is no internet for the official ones): infected files are refused
//! at every door and leave nothing behind, clean ones pass, an outage refuses uploads
//! (fail-closed) until clamd is back, and files over clamd's stream limit are refused up
//! front. Each test starts its own clamd on an ephemeral port.
//!
//! Without clamd on the machine these tests are skipped visibly (`prereq::ready`), or
//! fail under `AMTSBOTE_REQUIRE_ALL=1` (as in CI).

use std::time::Duration;

use crate::clamd::{CLAM_ZIP, Clamd, clam_zip, eicar};
use crate::helpers::{METRICS_TOKEN, Opts, PW, TestApp, bytes, node_id, unescape};
use crate::prereq::{self, Need};
use amtsbote_core::settings::{OnInfected, OnUnavailable, ScanMode, ScanSettings};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

/// Python 3 for [`zip_of`].
fn python3() -> Need {
    Need::binary("/usr/bin/python3", "python3").required_by("AMTSBOTE_REQUIRE_PEERS")
}

/// A zip of the given files, deflated, made by Python's zipfile (the project has no zip
/// writer of its own). The test checks [`python3`] first.
fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tmp");
    let mut args = vec![dir.path().join("out.zip").display().to_string()];
    for (name, data) in files {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        args.push(p.display().to_string());
    }
    let status = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg("import sys, zipfile, os\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    [z.write(f, os.path.basename(f)) for f in sys.argv[2:]]")
        .args(&args)
        .status()
        .expect("python3");
    assert!(status.success());
    std::fs::read(dir.path().join("out.zip")).expect("zip")
}

async fn app_with(settings: ScanSettings) -> TestApp {
    TestApp::spawn_with(Opts {
        max_upload: 1 << 30,
        scan: settings,
        ..Opts::default()
    })
    .await
}

fn dav(t: &TestApp, login: &str, method: &str, path: &str) -> RequestBuilder {
    t.client()
        .request(
            Method::from_bytes(method.as_bytes()).expect("method"),
            format!("{}{path}", t.url),
        )
        .basic_auth(login, Some(PW))
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

const AN: &str = "/remote.php/dav/files/user.a/an_KVBbg";
const UPLOADS: &str = "/remote.php/dav/uploads/user.a";

/// What an infected upload may leave behind: nothing but its audit entry and the
/// admins' notice.
struct Trace {
    blobs: usize,
    staging: usize,
    infected_audits: usize,
    infected_notices: usize,
}

async fn trace(t: &TestApp) -> Trace {
    let (blobs, staging) = t.stored_files();
    let audit = t.app.audit_recent(1000).await.expect("audit");
    let outbox = t.app.outbox_recent(1000).await.expect("outbox");
    Trace {
        blobs,
        staging,
        infected_audits: audit
            .iter()
            .filter(|r| r.action == "upload.infected" && r.outcome == "denied")
            .count(),
        infected_notices: outbox
            .iter()
            .filter(|o| o.kind == "upload_infected")
            .count(),
    }
}

/// One more refusal: no new blob or staging file, one more audit entry and notice.
async fn assert_refused_cleanly(t: &TestApp, before: &Trace, what: &str) -> Trace {
    let now = trace(t).await;
    assert_eq!(now.blobs, before.blobs, "{what}: a blob was left behind");
    assert_eq!(now.staging, 0, "{what}: a staging file was left behind");
    assert_eq!(
        now.infected_audits,
        before.infected_audits + 1,
        "{what}: one audit entry"
    );
    assert_eq!(
        now.infected_notices,
        before.infected_notices + 1,
        "{what}: one admin notice"
    );
    now
}

async fn names_in_an(t: &TestApp) -> Vec<String> {
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    t.names_in(&t.space_a, an).await
}

/// A WebDAV refusal as the sync clients need it: 415 (set aside, not retried in a loop),
/// the German message naming file and finding in `OC-ErrorString` and `s:message`.
async fn assert_dav_infected(r: Response, name: &str, finding: &str) {
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}");
    let oc = header(&r, "oc-errorstring");
    let body = r.text().await.expect("body");
    for text in [&oc, &body] {
        assert!(text.contains("Schadsoftware"), "{name}: {text}");
        assert!(text.contains(name), "{name}: names the file: {text}");
        assert!(text.contains(finding), "{name}: names the finding: {text}");
    }
    assert!(body.contains("<s:message>"), "{body}");
}

#[tokio::test]
async fn infected_uploads_are_refused_at_every_door_and_leave_nothing() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::infected_uploads_are_refused_at_every_door_and_leave_nothing"
        ),
        &[crate::clamd::needs(), clam_zip(), python3()],
    ) {
        return;
    }
    let clamd = Clamd::start("300M").await;
    let t = app_with(clamd.settings()).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let user = t.login("user.a").await;
    let mut before = trace(&t).await;

    // Web form, several files at once: the infected one is refused with a message next
    // to it, the others are stored.
    let clean = bytes(200_000, 7);
    let r = user
        .upload(
            t.space_a.id,
            an,
            &[
                ("Antrag.pdf", clean.clone()),
                ("eicar.com", eicar()),
                ("Anlage.pdf", bytes(3_000, 8)),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = unescape(&r.text().await.expect("page"));
    assert!(
        page.contains(
            "In der Datei „eicar.com“ wurde Schadsoftware gefunden (Eicar-Test-Signature"
        ),
        "{page}"
    );
    assert_eq!(names_in_an(&t).await, vec!["Anlage.pdf", "Antrag.pdf"]);
    before.blobs += 2;
    before = assert_refused_cleanly(&t, &before, "web form").await;
    let outbox = t.app.outbox_recent(10).await.expect("outbox");
    let notice = outbox
        .iter()
        .find(|o| o.kind == "upload_infected")
        .expect("admin notice");
    assert!(
        notice.payload.contains("eicar.com") && notice.payload.contains("1001"),
        "{}",
        notice.payload
    );

    // WebDAV PUT.
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/virus.txt"))
        .body(eicar())
        .send()
        .await
        .expect("put");
    assert_dav_infected(r, "virus.txt", "Eicar-Test-Signature").await;
    before = assert_refused_cleanly(&t, &before, "PUT").await;

    // EICAR in the middle of 50 MiB.
    let mut big = bytes(50 * 1024 * 1024, 9);
    let mid = big.len() / 2;
    big[mid..mid + 68].copy_from_slice(&eicar());
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/gross.bin"))
        .body(big)
        .send()
        .await
        .expect("put");
    assert_dav_infected(r, "gross.bin", "Eicar-Test-Signature").await;
    before = assert_refused_cleanly(&t, &before, "EICAR inside 50 MiB").await;

    // EICAR compressed inside a zip, among other files.
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/unterlagen.zip"))
        .body(zip_of(&[
            ("brief.txt", bytes(5_000, 12)),
            ("eicar.com", eicar()),
        ]))
        .send()
        .await
        .expect("put");
    assert_dav_infected(r, "unterlagen.zip", "Eicar-Test-Signature").await;
    before = assert_refused_cleanly(&t, &before, "EICAR in a zip").await;

    // The ClamAV test file inside a zip (clamav-testfiles).
    let zip = std::fs::read(CLAM_ZIP).expect("clam.zip");
    let r = user.upload(t.space_a.id, an, &[("archiv.zip", zip)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = unescape(&r.text().await.expect("page"));
    assert!(
        page.contains("„archiv.zip“") && page.contains("ClamAV-Test-File"),
        "{page}"
    );
    before = assert_refused_cleanly(&t, &before, "zip").await;

    // Chunking NG, EICAR split across two chunks: refused at the final MOVE, and the
    // session with its chunks is gone.
    let e = eicar();
    let session = format!("{UPLOADS}/8812");
    let r = dav(&t, "user.a", "MKCOL", &session)
        .send()
        .await
        .expect("mkcol");
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut first = bytes(10_000, 10);
    first.extend_from_slice(&e[..30]);
    let mut second = e[30..].to_vec();
    second.extend_from_slice(&bytes(10_000, 11));
    for (n, part) in [("00001", first), ("00002", second)] {
        let r = dav(&t, "user.a", "PUT", &format!("{session}/{n}"))
            .body(part)
            .send()
            .await
            .expect("chunk");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = dav(&t, "user.a", "MOVE", &format!("{session}/.file"))
        .header("Destination", format!("{}{AN}/geteilt.bin", t.url))
        .send()
        .await
        .expect("move");
    assert_dav_infected(r, "geteilt.bin", "Eicar-Test-Signature").await;
    before = assert_refused_cleanly(&t, &before, "chunking NG").await;
    assert_eq!(
        session_status(&t, &session).await,
        StatusCode::NOT_FOUND,
        "the session is removed"
    );

    // Chunking v1: the request that completes the set is refused.
    let parts = [e[..40].to_vec(), e[40..].to_vec()];
    let mut last = None;
    for (i, part) in parts.iter().enumerate() {
        let r = dav(
            &t,
            "user.a",
            "PUT",
            &format!("/remote.php/webdav/an_KVBbg/alt.com-chunking-4242-2-{i}"),
        )
        .header("OC-Chunked", "1")
        .body(part.clone())
        .send()
        .await
        .expect("v1 chunk");
        last = Some(r);
    }
    assert_dav_infected(last.expect("last"), "alt.com", "Eicar-Test-Signature").await;
    before = assert_refused_cleanly(&t, &before, "chunking v1").await;

    // Staff drop into A's root through WebDAV: the same pipeline for the other side.
    let r = dav(
        &t,
        "clerk.a",
        "PUT",
        "/remote.php/webdav/1001%20Stadt%20Musterstadt/Bescheid.pdf",
    )
    .body(eicar())
    .send()
    .await
    .expect("put");
    assert_dav_infected(r, "Bescheid.pdf", "Eicar-Test-Signature").await;
    assert_refused_cleanly(&t, &before, "staff PUT").await;

    assert_eq!(names_in_an(&t).await, vec!["Anlage.pdf", "Antrag.pdf"]);
    let metrics = metrics(&t).await;
    assert!(
        metrics.contains("amtsbote_scans_total{result=\"infected\"} 8"),
        "{metrics}"
    );
    assert!(
        metrics.contains("amtsbote_scanner_up{scanner=\"clamd\"} 1"),
        "{metrics}"
    );
    t.finish().await;
}

#[tokio::test]
async fn clean_200_mib_passes_every_door() {
    if !prereq::ready(
        concat!(module_path!(), "::clean_200_mib_passes_every_door"),
        &[crate::clamd::needs()],
    ) {
        return;
    }
    let clamd = Clamd::start("300M").await;
    let t = app_with(clamd.settings()).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let data = bytes(200 * 1024 * 1024, 21);

    let user = t.login("user.a").await;
    let r = user
        .upload(t.space_a.id, an, &[("web.bin", data.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = dav(&t, "user.a", "PUT", &format!("{AN}/put.bin"))
        .body(data.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);

    let session = format!("{UPLOADS}/9001");
    let r = dav(&t, "user.a", "MKCOL", &session)
        .send()
        .await
        .expect("mkcol");
    assert_eq!(r.status(), StatusCode::CREATED);
    for (i, part) in data.chunks(50 * 1024 * 1024).enumerate() {
        let r = dav(&t, "user.a", "PUT", &format!("{session}/{:05}", i + 1))
            .body(part.to_vec())
            .send()
            .await
            .expect("chunk");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = dav(&t, "user.a", "MOVE", &format!("{session}/.file"))
        .header("Destination", format!("{}{AN}/chunked.bin", t.url))
        .header("OC-Total-Length", data.len().to_string())
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), StatusCode::CREATED);

    // Chunking v1 (the older clients): four chunks of 50 MiB.
    let parts: Vec<&[u8]> = data.chunks(50 * 1024 * 1024).collect();
    let mut last = StatusCode::OK;
    for (i, part) in parts.iter().enumerate() {
        last = dav(
            &t,
            "user.a",
            "PUT",
            &format!(
                "/remote.php/webdav/an_KVBbg/v1.bin-chunking-5150-{}-{i}",
                parts.len()
            ),
        )
        .header("OC-Chunked", "1")
        .body(part.to_vec())
        .send()
        .await
        .expect("v1 chunk")
        .status();
    }
    assert_eq!(last, StatusCode::CREATED);

    for name in ["web.bin", "put.bin", "chunked.bin", "v1.bin"] {
        let id = node_id(&t, &t.space_a, an, name).await.expect(name);
        let r = user.download(t.space_a.id, id).await;
        assert_eq!(r.status(), StatusCode::OK);
        let got = r.bytes().await.expect("bytes");
        assert!(got.len() == data.len() && got[..] == data[..], "{name}");
    }
    let audit = t.app.audit_recent(20).await.expect("audit");
    let uploads: Vec<_> = audit.iter().filter(|r| r.action == "upload").collect();
    assert_eq!(uploads.len(), 4);
    assert!(
        uploads.iter().all(|r| r.detail.contains("scanned=true")),
        "every upload was scanned"
    );
    t.finish().await;
}

#[tokio::test]
async fn an_outage_refuses_uploads_until_clamd_is_back_without_restart() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::an_outage_refuses_uploads_until_clamd_is_back_without_restart"
        ),
        &[crate::clamd::needs()],
    ) {
        return;
    }
    let mut clamd = Clamd::start("100M").await;
    let t = app_with(clamd.settings()).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/vorher.pdf"))
        .body(bytes(5_000, 30))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    let ready = readyz(&t).await;
    assert_eq!(ready["scanner_state"], "ready", "{ready}");

    clamd.stop();
    let (blobs, _) = t.stored_files();
    // Several refused uploads through both doors ...
    for i in 0..3 {
        let r = dav(&t, "user.a", "PUT", &format!("{AN}/waehrend-{i}.pdf"))
            .body(bytes(5_000, 31 + i))
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&r, "retry-after"), "60");
        let body = r.text().await.expect("body");
        assert!(
            body.contains("Virenprüfung ist derzeit nicht erreichbar"),
            "{body}"
        );
        assert!(
            !body.contains("ServiceUnavailable"),
            "no maintenance mode for the whole account: {body}"
        );
    }
    let user = t.login("user.a").await;
    let r = user
        .upload(t.space_a.id, an, &[("web.pdf", bytes(1_000, 40))])
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&r, "retry-after"), "60");
    assert!(
        unescape(&r.text().await.expect("page"))
            .contains("Die Virenprüfung ist derzeit nicht erreichbar")
    );
    assert_eq!(t.stored_files(), (blobs, 0), "nothing stored");
    assert_eq!(names_in_an(&t).await, vec!["vorher.pdf"]);

    // ... while downloads keep working.
    let id = node_id(&t, &t.space_a, an, "vorher.pdf").await.expect("id");
    assert_eq!(
        user.download(t.space_a.id, id).await.status(),
        StatusCode::OK
    );

    // The health endpoint says why; the metrics count one outage; the admins hear of it
    // once and see a banner.
    let ready = readyz(&t).await;
    assert_eq!(ready["scanner_state"], "unavailable", "{ready}");
    assert_eq!(ready["uploads"], "refused");
    assert!(
        ready["scanner_reason"]
            .as_str()
            .is_some_and(|r| r.contains("refused") && !r.contains(&clamd.port.to_string())),
        "why, without the internal address: {ready}"
    );
    let metrics = metrics(&t).await;
    assert!(
        metrics.contains("amtsbote_scanner_outages_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("amtsbote_scanner_up{scanner=\"clamd\"} 0"),
        "{metrics}"
    );
    wait_for_notices(&t, "scanner_unavailable", 1).await;
    let admin = t.login("admin").await;
    let (_, page) = admin.page("/").await;
    assert!(
        unescape(&page).contains("Die Virenprüfung ist seit"),
        "admin banner: {page}"
    );
    let (_, page) = user.page("/").await;
    assert!(
        !unescape(&page).contains("Die Virenprüfung ist seit"),
        "members see no banner"
    );

    // Back again: uploads work without restarting the server.
    clamd.restart().await;
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/nachher.pdf"))
        .body(bytes(5_000, 50))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(readyz(&t).await["scanner_state"], "ready");
    wait_for_audit(&t, "scanner.recovered").await;
    // Still one notice for the one outage.
    assert_eq!(count_notices(&t, "scanner_unavailable").await, 1);
    t.finish().await;
}

async fn metrics(t: &TestApp) -> String {
    t.client()
        .get(format!("{}/metrics", t.url))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// Whether a chunk upload session still exists.
async fn session_status(t: &TestApp, session: &str) -> StatusCode {
    dav(t, "user.a", "PROPFIND", session)
        .header("Depth", "0")
        .send()
        .await
        .expect("propfind")
        .status()
}

async fn readyz(t: &TestApp) -> serde_json::Value {
    let r = t
        .client()
        .get(format!("{}/readyz", t.url))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a scanner outage keeps the node ready for downloads"
    );
    r.json().await.expect("json")
}

async fn count_notices(t: &TestApp, kind: &str) -> usize {
    t.app
        .outbox_recent(1000)
        .await
        .expect("outbox")
        .iter()
        .filter(|o| o.kind == kind)
        .count()
}

/// The watcher records changes in the background: wait a little for it.
async fn wait_for_notices(t: &TestApp, kind: &str, n: usize) {
    for _ in 0..100 {
        if count_notices(t, kind).await >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count_notices(t, kind).await, n, "{kind} notices");
}

async fn wait_for_audit(t: &TestApp, action: &str) {
    for _ in 0..100 {
        let audit = t.app.audit_recent(500).await.expect("audit");
        if audit.iter().any(|r| r.action == action) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no audit entry {action}");
}

#[tokio::test]
async fn files_over_the_stream_limit_are_refused_up_front() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::files_over_the_stream_limit_are_refused_up_front"
        ),
        &[crate::clamd::needs()],
    ) {
        return;
    }
    let clamd = Clamd::start("1M").await;
    let t = app_with(clamd.settings()).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let (blobs, _) = t.stored_files();
    let data = bytes(2 * 1024 * 1024, 60);

    // With Content-Length: refused before a byte is stored.
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/lang.bin"))
        .body(data.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("größer, als die Virenprüfung annehmen kann (1,0 MiB)"),
        "{body}"
    );

    // Without a length (chunked transfer): refused once the limit is passed.
    let stream = futures_util::stream::iter(
        data.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/lang2.bin"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Through the web form (no length per file).
    let user = t.login("user.a").await;
    let r = user
        .upload(t.space_a.id, an, &[("lang3.bin", data.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(unescape(&r.text().await.expect("page")).contains("(1,0 MiB)"));

    // A chunked WebDAV upload announcing its total is refused before the first chunk ...
    let r = dav(&t, "user.a", "MKCOL", &format!("{UPLOADS}/776"))
        .header("OC-Total-Length", data.len().to_string())
        .send()
        .await
        .expect("mkcol");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // ... one that does not, at the chunk that crosses the limit, and its chunks go.
    let session = format!("{UPLOADS}/777");
    dav(&t, "user.a", "MKCOL", &session)
        .send()
        .await
        .expect("mkcol");
    let halves: Vec<&[u8]> = data.chunks(1024 * 1024).collect();
    let r = dav(&t, "user.a", "PUT", &format!("{session}/00001"))
        .body(halves[0].to_vec())
        .send()
        .await
        .expect("chunk");
    assert_eq!(r.status(), StatusCode::CREATED, "1 MiB fits");
    let r = dav(&t, "user.a", "PUT", &format!("{session}/00002"))
        .body(halves[1].to_vec())
        .send()
        .await
        .expect("chunk");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        session_status(&t, &session).await,
        StatusCode::NOT_FOUND,
        "the chunks are gone"
    );
    // Chunking v1 without a total: the same at the crossing chunk.
    let mut last = StatusCode::OK;
    for (i, half) in halves.iter().enumerate() {
        last = dav(
            &t,
            "user.a",
            "PUT",
            &format!("/remote.php/webdav/an_KVBbg/lang5.bin-chunking-99-2-{i}"),
        )
        .header("OC-Chunked", "1")
        .body(half.to_vec())
        .send()
        .await
        .expect("v1 chunk")
        .status();
    }
    assert_eq!(last, StatusCode::PAYLOAD_TOO_LARGE);

    // Just under the limit passes.
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/passt.bin"))
        .body(bytes(1024 * 1024, 61))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(names_in_an(&t).await, vec!["passt.bin"]);
    assert_eq!(t.stored_files(), (blobs + 1, 0));
    t.finish().await;
}

#[tokio::test]
async fn quarantine_keeps_infected_files_for_admins_only_and_for_a_while() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::quarantine_keeps_infected_files_for_admins_only_and_for_a_while"
        ),
        &[crate::clamd::needs()],
    ) {
        return;
    }
    let clamd = Clamd::start("100M").await;
    // Over clamd's Unix socket, as on a Debian server.
    let t = app_with(ScanSettings {
        on_infected: OnInfected::Quarantine,
        quarantine_days: 10,
        ..clamd.unix_settings()
    })
    .await;
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/befall.doc"))
        .body(eicar())
        .send()
        .await
        .expect("put");
    assert_dav_infected(r, "befall.doc", "Eicar-Test-Signature").await;
    assert!(
        names_in_an(&t).await.is_empty(),
        "never visible in the space"
    );

    let admin = t.login("admin").await;
    let (status, page) = admin.page("/admin/quarantine").await;
    assert_eq!(status, StatusCode::OK);
    let page = unescape(&page);
    assert!(
        page.contains("befall.doc") && page.contains("Eicar-Test-Signature"),
        "{page}"
    );
    assert!(page.contains("1001 Stadt Musterstadt"));
    let list = t
        .app
        .quarantine_list(&crate::helpers::actor(&t, "admin").await)
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    let path = format!("/admin/quarantine/{}", list[0].id);
    let r = admin.get(&path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "application/octet-stream");
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), eicar());
    for login in ["user.a", "clerk.a"] {
        let b = t.login(login).await;
        assert_eq!(
            b.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{login}"
        );
        assert_eq!(
            b.get("/admin/quarantine").await.status(),
            StatusCode::NOT_FOUND,
            "{login}"
        );
    }
    let audit = t.app.audit_recent(20).await.expect("audit");
    assert!(audit.iter().any(|r| r.action == "upload.infected"
        && r.detail.contains(&format!("quarantine={}", list[0].id))));
    assert!(audit.iter().any(|r| r.action == "quarantine.download"));

    // Kept for the configured days, then removed with its bytes.
    let (blobs, _) = t.stored_files();
    t.clock.advance_ms(9 * 86_400_000);
    let report = t.app.cleanup_storage(0).await.expect("cleanup");
    assert_eq!(report.quarantine_removed, 0);
    assert_eq!(
        report.blobs_removed, 0,
        "the orphan sweep leaves quarantined bytes alone"
    );
    assert_eq!(t.stored_files().0, blobs);
    let admin = t.login("admin").await;
    assert_eq!(
        admin
            .get(&path)
            .await
            .bytes()
            .await
            .expect("bytes")
            .to_vec(),
        eicar()
    );
    t.clock.advance_ms(2 * 86_400_000);
    let report = t.app.cleanup_storage(0).await.expect("cleanup");
    assert_eq!(report.quarantine_removed, 1);
    assert_eq!(t.stored_files().0, blobs - 1);
    // (The session of before has long expired.)
    let admin = t.login("admin").await;
    assert_eq!(admin.get(&path).await.status(), StatusCode::NOT_FOUND);
    t.finish().await;
}

#[tokio::test]
async fn fail_open_is_explicit_loud_and_still_refuses_what_it_scans() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::fail_open_is_explicit_loud_and_still_refuses_what_it_scans"
        ),
        &[crate::clamd::needs()],
    ) {
        return;
    }
    let mut clamd = Clamd::start("100M").await;
    let t = app_with(ScanSettings {
        on_unavailable: OnUnavailable::Allow,
        ..clamd.settings()
    })
    .await;
    let admin = t.login("admin").await;
    let (_, page) = admin.page("/").await;
    assert!(
        unescape(&page).contains("scan.on_unavailable = \"allow\""),
        "{page}"
    );

    let r = dav(&t, "user.a", "PUT", &format!("{AN}/virus.txt"))
        .body(eicar())
        .send()
        .await
        .expect("put");
    assert_eq!(
        r.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "a finding is a finding"
    );

    clamd.stop();
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/ungeprueft.pdf"))
        .body(bytes(4_000, 70))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    let audit = t.app.audit_recent(5).await.expect("audit");
    let upload = audit
        .iter()
        .find(|r| r.action == "upload")
        .expect("upload audited");
    assert!(upload.detail.contains("scanned=false"), "{}", upload.detail);
    assert_eq!(readyz(&t).await["uploads"], "accepted unscanned");
    let (_, page) = admin.page("/").await;
    assert!(unescape(&page).contains("UNGEPRÜFT"), "{page}");
    t.finish().await;
}

#[tokio::test]
async fn without_clamd_the_default_still_starts_and_refuses_uploads() {
    // The default configuration, on a machine without clamd at the configured socket.
    let dir = tempfile::tempdir().expect("tmp");
    let t = app_with(ScanSettings {
        clamd: format!("unix://{}", dir.path().join("clamd.ctl").display()),
        clamd_config: dir.path().join("clamd.conf"),
        ..ScanSettings::default()
    })
    .await;
    assert_eq!(
        t.cfg.scan.mode,
        ScanMode::Clamd,
        "scanning is on by default"
    );
    let r = dav(&t, "user.a", "PUT", &format!("{AN}/brief.pdf"))
        .body(bytes(1_000, 80))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready = readyz(&t).await;
    assert_eq!(ready["scanner"], "clamd");
    assert_eq!(ready["scanner_state"], "unavailable");
    assert!(
        ready["scanner_reason"]
            .as_str()
            .is_some_and(|r| r.contains("No such file")),
        "{ready}"
    );
    let admin = t.login("admin").await;
    let (_, page) = admin.page("/").await;
    assert!(
        unescape(&page).contains("Die Virenprüfung ist seit"),
        "{page}"
    );
    assert!(names_in_an(&t).await.is_empty());
    t.finish().await;
}

/// A "clamd" that accepts connections and reads whatever comes, but never answers: the
/// scan's timeouts and slots, not clamd, decide what the uploader sees.
async fn silent_clamd() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 64 * 1024];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_silent_scanner_times_out_and_busy_slots_refuse_even_when_failing_open() {
    let (port, task) = silent_clamd().await;
    for on_unavailable in [OnUnavailable::Reject, OnUnavailable::Allow] {
        let t = app_with(ScanSettings {
            mode: ScanMode::Clamd,
            clamd: format!("tcp://127.0.0.1:{port}"),
            stream_max_bytes: Some(10 * 1024 * 1024),
            timeout_seconds: 2,
            max_concurrent: 1,
            on_unavailable,
            ..ScanSettings::default()
        })
        .await;
        // The health endpoint answers at once, whatever clamd does.
        let started = std::time::Instant::now();
        readyz(&t).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );

        // Upload A holds the only scan slot while it trickles in (a byte every 300 ms,
        // within the idle limit) ...
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
        let slow = tokio::spawn({
            let req = dav(&t, "user.a", "PUT", &format!("{AN}/langsam.pdf"));
            async move {
                req.body(reqwest::Body::wrap_stream(tokio_stream_from(rx)))
                    .send()
                    .await
                    .expect("slow put")
                    .status()
            }
        });
        let feeder = tokio::spawn(async move {
            for _ in 0..14 {
                if tx.send(Ok(bytes::Bytes::from_static(b"x"))).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        // ... so B waits for a slot as long as the timeout, then is told "busy".
        let r = dav(&t, "user.a", "PUT", &format!("{AN}/wartend.pdf"))
            .body(bytes(1_000, 90))
            .send()
            .await
            .expect("put");
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{on_unavailable:?}"
        );
        assert_eq!(header(&r, "retry-after"), "10");
        let body = r.text().await.expect("body");
        assert!(body.contains("derzeit ausgelastet"), "{body}");
        feeder.await.expect("feeder");
        // A's bytes went to a clamd that never gives a verdict: refused after the timeout
        // (or, failing open, stored unscanned).
        let a = slow.await.expect("slow");
        match on_unavailable {
            OnUnavailable::Reject => assert_eq!(a, StatusCode::SERVICE_UNAVAILABLE),
            OnUnavailable::Allow => assert_eq!(a, StatusCode::CREATED),
        }
        let names = names_in_an(&t).await;
        assert!(
            !names.contains(&"wartend.pdf".to_string()),
            "busy is never unscanned"
        );
        t.finish().await;
    }
    task.abort();
}

/// An mpsc receiver as a stream (reqwest wants a `Stream` body).
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
