//! The WebDAV door over real HTTP, as the ownCloud/Nextcloud clients and rclone use it
//! (client-protocol §9): the views of members and staff, the properties the clients
//! cannot do without, recursive ETags, the upload headers, the folder policy, locks,
//! both chunking protocols, Basic authentication, and hostile input.

use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Opts, PW, T0, TestApp, bytes, de, node_id, unescape, versions_of};

const WEBDAV: &str = "/remote.php/webdav";
const XML: &str = "application/xml; charset=utf-8";
/// Staff's folder names of the two members of the test world (numbers and names come
/// from `helpers.rs`).
const FOLDER_A: &str = "1001 Stadt Musterstadt";
const FOLDER_B: &str = "1002 Gemeinde Beispielheim";

/// Characters left as they are in a path segment; everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

fn files(login: &str) -> String {
    format!("/remote.php/dav/files/{login}")
}

fn uploads(login: &str) -> String {
    format!("/remote.php/dav/uploads/{login}")
}

/// `base` plus the segments, each percent-encoded.
fn at(base: &str, segments: &[&str]) -> String {
    let mut out = base.trim_end_matches('/').to_string();
    for s in segments {
        out.push('/');
        out.extend(utf8_percent_encode(s, SEGMENT));
    }
    out
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// Everything that asks for a property the clients need; `oc:downloadURL` is one the
/// server does not support (it must come back in a 404 propstat).
const ALL_PROPS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">
 <d:prop>
  <d:resourcetype/><d:getetag/><d:getlastmodified/><d:getcontentlength/>
  <oc:id/><oc:fileid/><oc:permissions/><oc:size/><oc:checksums/>
  <d:quota-used-bytes/><d:quota-available-bytes/><oc:data-fingerprint/>
  <d:lockdiscovery/><oc:downloadURL/>
  <x:farbe xmlns:x="urn:amtsbote-test"/>
 </d:prop>
</d:propfind>"#;

/// One `<d:response>` of a multistatus.
#[derive(Debug)]
struct Resp {
    /// As sent (percent-encoded).
    raw_href: String,
    /// Percent-decoded.
    href: String,
    /// The props of the 200 propstat.
    ok: String,
    /// The props of the 404 propstat.
    missing: String,
}

fn tag_re(tag: &str) -> regex::Regex {
    let t = regex::escape(tag);
    regex::Regex::new(&format!(r"(?s)<{t}(?:\s[^>]*)?(?:/>|>(.*?)</{t}>)")).expect("regex")
}

impl Resp {
    /// The (unescaped) value of a property in the 200 propstat; `Some("")` when empty.
    fn prop(&self, tag: &str) -> Option<String> {
        tag_re(tag).captures(&self.ok).map(|c| {
            unescape(c.get(1).map(|m| m.as_str()).unwrap_or_default())
                .trim()
                .to_string()
        })
    }

    #[track_caller]
    fn need(&self, tag: &str) -> String {
        self.prop(tag)
            .unwrap_or_else(|| panic!("{} has no {tag}: {}", self.href, self.ok))
    }

    fn is_missing(&self, tag: &str) -> bool {
        tag_re(tag).is_match(&self.missing)
    }

    /// The ETag without quotes.
    fn etag(&self) -> String {
        self.need("d:getetag").trim_matches('"').to_string()
    }
}

#[derive(Debug)]
struct Multi {
    responses: Vec<Resp>,
}

impl Multi {
    fn parse(body: &str) -> Multi {
        let resp = regex::Regex::new(r"(?s)<d:response><d:href>(.*?)</d:href>(.*?)</d:response>")
            .expect("regex");
        let stat = regex::Regex::new(
            r"(?s)<d:propstat><d:prop>(.*?)</d:prop><d:status>HTTP/1\.1 (\d+)[^<]*</d:status></d:propstat>",
        )
        .expect("regex");
        let responses = resp
            .captures_iter(body)
            .map(|c| {
                let raw_href = unescape(&c[1]);
                let mut r = Resp {
                    href: percent_decode_str(&raw_href)
                        .decode_utf8()
                        .expect("utf-8 href")
                        .into_owned(),
                    raw_href,
                    ok: String::new(),
                    missing: String::new(),
                };
                for s in stat.captures_iter(&c[2]) {
                    match &s[2] {
                        "200" => r.ok.push_str(&s[1]),
                        "404" => r.missing.push_str(&s[1]),
                        other => panic!("unexpected propstat status {other}"),
                    }
                }
                r
            })
            .collect();
        Multi { responses }
    }

    /// The response whose decoded href is `href`.
    #[track_caller]
    fn get(&self, href: &str) -> &Resp {
        self.responses
            .iter()
            .find(|r| r.href == href)
            .unwrap_or_else(|| {
                panic!(
                    "no response for {href} among {:?}",
                    self.responses.iter().map(|r| &r.href).collect::<Vec<_>>()
                )
            })
    }

    /// The last segment of every href, sorted; the requested resource itself (the first
    /// response) gives "".
    fn names(&self) -> Vec<String> {
        let first = self.responses.first().map(|r| r.href.clone());
        let mut v: Vec<String> = self
            .responses
            .iter()
            .map(|r| {
                if Some(&r.href) == first.as_ref() {
                    String::new()
                } else {
                    last(&r.href)
                }
            })
            .collect();
        v.sort();
        v
    }
}

fn last(href: &str) -> String {
    href.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A WebDAV client with Basic credentials, as the sync clients send them on every request.
struct Dav<'a> {
    t: &'a TestApp,
    http: reqwest::Client,
    login: String,
    password: String,
}

impl<'a> Dav<'a> {
    fn new(t: &'a TestApp, login: &str) -> Self {
        Self::with_password(t, login, PW)
    }

    fn with_password(t: &'a TestApp, login: &str, password: &str) -> Self {
        Dav {
            t,
            http: t.client(),
            login: login.into(),
            password: password.into(),
        }
    }

    fn req(&self, method: &str, path: &str) -> RequestBuilder {
        self.http
            .request(
                Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", self.t.url),
            )
            .basic_auth(&self.login, Some(&self.password))
    }

    async fn send(&self, method: &str, path: &str) -> Response {
        self.req(method, path).send().await.expect("send")
    }

    /// PROPFIND with the client properties; asserts the 207 and the exact content type.
    async fn propfind(&self, path: &str, depth: &str) -> Multi {
        let r = self.propfind_raw(path, depth).await;
        assert_eq!(r.status(), StatusCode::MULTI_STATUS, "PROPFIND {path}");
        assert_eq!(
            r.headers()["content-type"],
            XML,
            "owncloudcmd accepts only this content type"
        );
        Multi::parse(&r.text().await.expect("body"))
    }

    async fn propfind_raw(&self, path: &str, depth: &str) -> Response {
        self.req("PROPFIND", path)
            .header("Depth", depth)
            .header("Content-Type", "application/xml")
            .body(ALL_PROPS)
            .send()
            .await
            .expect("propfind")
    }

    /// PROPFIND Depth 0 of one resource.
    async fn stat(&self, path: &str) -> Resp {
        let mut m = self.propfind(path, "0").await;
        assert_eq!(m.responses.len(), 1, "Depth 0 answers for {path} only");
        m.responses.remove(0)
    }

    async fn put(&self, path: &str, data: Vec<u8>) -> Response {
        self.req("PUT", path).body(data).send().await.expect("put")
    }

    async fn put_ok(&self, path: &str, data: Vec<u8>) -> Response {
        let r = self.put(path, data).await;
        assert!(
            r.status() == StatusCode::CREATED || r.status() == StatusCode::NO_CONTENT,
            "PUT {path}: {}",
            r.status()
        );
        r
    }

    async fn mkcol(&self, path: &str) -> StatusCode {
        self.send("MKCOL", path).await.status()
    }

    async fn get(&self, path: &str) -> Vec<u8> {
        let r = self.send("GET", path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.bytes().await.expect("body").to_vec()
    }

    async fn status_of(&self, path: &str) -> StatusCode {
        self.propfind_raw(path, "0").await.status()
    }
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// id, space, parent, name, ETag, size, SHA-256, blob, modified at.
type NodeRow = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    i64,
);

/// Everything stored about files: every node, version, dead property, lock and blob.
#[derive(Debug, PartialEq)]
struct State {
    nodes: Vec<NodeRow>,
    versions: i64,
    props: i64,
    locks: i64,
    blobs: (usize, usize),
}

async fn state(t: &TestApp) -> State {
    let db = &t.app.db;
    State {
        nodes: db
            .qa::<NodeRow>("SELECT id, space_id, parent_id, name, etag, size, sha256, blob_id, modified_at FROM nodes ORDER BY id")
            .fetch_all(db.pool())
            .await
            .expect("nodes"),
        versions: db
            .qs::<i64>("SELECT COUNT(*) FROM node_versions")
            .fetch_one(db.pool())
            .await
            .expect("versions"),
        props: db
            .qs::<i64>("SELECT COUNT(*) FROM dav_props")
            .fetch_one(db.pool())
            .await
            .expect("props"),
        locks: db
            .qs::<i64>("SELECT COUNT(*) FROM dav_locks")
            .fetch_one(db.pool())
            .await
            .expect("locks"),
        blobs: t.stored_files(),
    }
}

async fn count_uploads(t: &TestApp) -> (i64, i64) {
    let db = &t.app.db;
    (
        db.qs::<i64>("SELECT COUNT(*) FROM dav_uploads")
            .fetch_one(db.pool())
            .await
            .expect("uploads"),
        db.qs::<i64>("SELECT COUNT(*) FROM dav_upload_chunks")
            .fetch_one(db.pool())
            .await
            .expect("chunks"),
    )
}

/// The German refusal of a policy decision reaches the user both ways the clients read.
async fn assert_german_refusal(r: Response, key: &str, what: &str) {
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
    let text = de(key);
    assert_eq!(header(&r, "oc-errorstring"), text, "{what}: OC-ErrorString");
    let body = r.text().await.expect("body");
    assert!(
        unescape(&body).contains(&format!("<s:message>{text}</s:message>")),
        "{what}: s:message in {body}"
    );
}

// ---------------------------------------------------------------------------------------
// Views and properties
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn member_propfind_on_both_mounts() {
    let t = TestApp::spawn_with(Opts {
        quota: 1_000_000,
        ..Opts::default()
    })
    .await;
    let a = Dav::new(&t, "user.a");
    let (eins, zwei, drei) = (bytes(1_000, 1), bytes(2_345, 2), bytes(500, 3));
    assert_eq!(
        a.mkcol(&at(WEBDAV, &["an_KVBbg", "Akte"])).await,
        StatusCode::CREATED
    );
    a.put_ok(&at(WEBDAV, &["an_KVBbg", "Akte", "eins.pdf"]), eins.clone())
        .await;
    a.put_ok(&at(WEBDAV, &["an_KVBbg", "Akte", "zwei.pdf"]), zwei.clone())
        .await;
    a.put_ok(&at(WEBDAV, &["an_KVBbg", "drei.pdf"]), drei.clone())
        .await;
    let total = (eins.len() + zwei.len() + drei.len()) as u64;
    let an_id = t.folder(&t.space_a, "an_KVBbg").await;
    let akte_id = node_id(&t, &t.space_a, an_id, "Akte")
        .await
        .expect("Akte stored");
    let eins_id = node_id(&t, &t.space_a, akte_id, "eins.pdf")
        .await
        .expect("eins stored");

    for base in [WEBDAV.to_string(), files("user.a")] {
        let root = format!("{base}/");
        let m = a.propfind(&root, "0").await;
        assert_eq!(m.responses.len(), 1, "Depth 0 on {root}");
        let r = &m.responses[0];
        assert_eq!(r.raw_href, root, "the collection itself, absolute path");
        assert_eq!(r.prop("oc:data-fingerprint").as_deref(), Some(""));
        assert_eq!(r.need("oc:size"), total.to_string(), "recursive size");
        assert_eq!(r.need("d:quota-used-bytes"), total.to_string());
        assert_eq!(
            r.need("d:quota-available-bytes"),
            (1_000_000 - total).to_string()
        );
        assert!(r.need("d:resourcetype").contains("<d:collection"));
        let root_perms = r.need("oc:permissions");
        assert!(
            !root_perms.contains('C') && !root_perms.contains('K'),
            "members do not write into the root: {root_perms}"
        );
        assert!(r.is_missing("oc:downloadURL"), "unsupported prop in 404");

        let m = a.propfind(&root, "1").await;
        assert_eq!(
            m.responses[0].raw_href, root,
            "the first response is the folder itself"
        );
        for r in &m.responses {
            assert!(
                r.raw_href.starts_with(&root),
                "href {} is an absolute path under {root}",
                r.raw_href
            );
            for p in ["d:getetag", "oc:id", "oc:fileid", "oc:permissions"] {
                assert!(r.prop(p).is_some(), "{} lacks {p}", r.href);
            }
        }
        assert_eq!(
            m.names(),
            vec!["", "KVBBG-SB-Posteingang", "Postausgang", "an_KVBbg"]
        );
        let an = m.get(&format!("{root}an_KVBbg/"));
        assert_eq!(an.need("oc:fileid"), an_id.to_string());
        assert!(an.need("oc:id").contains(&an_id.to_string()));
        assert_eq!(an.need("oc:size"), total.to_string());
        let perms = an.need("oc:permissions");
        assert!(perms.contains('C') && perms.contains('K'), "{perms}");
        for ro in ["Postausgang", "KVBBG-SB-Posteingang"] {
            let perms = m.get(&format!("{root}{ro}/")).need("oc:permissions");
            assert!(
                !perms.contains('C') && !perms.contains('K'),
                "{ro}: {perms}"
            );
        }

        let akte = format!("{root}an_KVBbg/Akte/");
        let m = a.propfind(&akte, "1").await;
        assert_eq!(
            m.get(&akte).need("oc:size"),
            (eins.len() + zwei.len()).to_string()
        );
        let f = m.get(&format!("{akte}eins.pdf"));
        assert_eq!(f.need("d:getcontentlength"), "1000");
        assert_eq!(f.need("oc:fileid"), eins_id.to_string());
        assert!(
            f.need("oc:checksums")
                .contains(&format!("SHA1:{}", sha1_hex(&eins))),
            "{}",
            f.ok
        );
        let g = m.get(&format!("{akte}zwei.pdf"));
        assert!(
            g.need("oc:checksums")
                .contains(&format!("SHA1:{}", sha1_hex(&zwei)))
        );
        let perms = f.need("oc:permissions");
        assert!(
            perms.contains('W') && perms.contains('D') && perms.contains('N'),
            "own delivery: {perms}"
        );
        assert!(
            f.need("d:getlastmodified").ends_with(" GMT"),
            "RFC 1123 date"
        );

        let r = a
            .req("PROPFIND", &root)
            .header("Depth", "infinity")
            .send()
            .await
            .expect("propfind");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()["content-type"], XML);
        assert!(
            r.text()
                .await
                .expect("body")
                .contains("propfind-finite-depth")
        );
    }
    t.finish().await;
}

#[tokio::test]
async fn staff_see_one_folder_per_visible_member() {
    let t = TestApp::spawn_with(Opts {
        clerks_see_all: false,
        ..Opts::default()
    })
    .await;
    let clerk = Dav::new(&t, "clerk.a");
    let admin = Dav::new(&t, "admin");

    let m = clerk.propfind(&format!("{WEBDAV}/"), "1").await;
    assert_eq!(m.names(), vec!["", FOLDER_A], "clerk.a looks after A only");
    let m = admin.propfind(&format!("{WEBDAV}/"), "1").await;
    assert_eq!(m.names(), vec!["", FOLDER_A, FOLDER_B], "admins see all");
    let top = m.get(&format!("{WEBDAV}/"));
    let perms = top.need("oc:permissions");
    assert!(
        !perms.contains('C') && !perms.contains('K'),
        "top level: {perms}"
    );
    let fa = m.get(&format!("{WEBDAV}/{FOLDER_A}/"));
    assert_eq!(fa.need("oc:fileid"), t.space_a.root_id.to_string());
    assert!(
        fa.need("oc:permissions").contains('C'),
        "the authority drops into a member's root"
    );

    // Below the member folder: the member's space, on the other mount as well.
    let base = at(&files("clerk.a"), &[FOLDER_A]);
    let m = clerk.propfind(&format!("{base}/"), "1").await;
    assert_eq!(
        m.names(),
        vec!["", "KVBBG-SB-Posteingang", "Postausgang", "an_KVBbg"]
    );
    for r in &m.responses {
        assert!(
            r.raw_href.starts_with(&format!("{base}/")),
            "{}",
            r.raw_href
        );
    }
    let an = m
        .get(&format!("{}/{FOLDER_A}/an_KVBbg/", files("clerk.a")))
        .need("oc:permissions");
    assert!(!an.contains('C'), "staff do not upload into an_KVBbg: {an}");

    // The authority's document reaches the member, who may not alter or delete it.
    let doc = bytes(3_000, 7);
    clerk
        .put_ok(&at(&base, &["Bescheid.pdf"]), doc.clone())
        .await;
    let a = Dav::new(&t, "user.a");
    assert_eq!(a.get(&at(WEBDAV, &["Bescheid.pdf"])).await, doc);
    let mine = a.stat(&at(WEBDAV, &["Bescheid.pdf"])).await;
    let perms = mine.need("oc:permissions");
    assert!(
        !perms.contains('D') && !perms.contains('W') && !perms.contains('N'),
        "member on the authority's document: {perms}"
    );
    let theirs = clerk.stat(&at(&base, &["Bescheid.pdf"])).await;
    let perms = theirs.need("oc:permissions");
    assert!(perms.contains('D') && perms.contains('W'), "{perms}");

    // clerk.a does not see B, by any spelling of B's folder.
    for name in [FOLDER_B, "1002", "1002 gemeinde beispielheim"] {
        assert_eq!(
            clerk.status_of(&format!("{}/", at(WEBDAV, &[name]))).await,
            StatusCode::NOT_FOUND,
            "{name}"
        );
    }
    // A's number with a wrong name is not A's folder.
    assert_eq!(
        clerk.status_of(&at(WEBDAV, &["1001 Falsch"])).await,
        StatusCode::NOT_FOUND
    );
    t.finish().await;
}

#[tokio::test]
async fn etags_propagate_up_to_the_root() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let admin = Dav::new(&t, "admin");
    assert_eq!(
        a.mkcol(&at(WEBDAV, &["an_KVBbg", "Akte"])).await,
        StatusCode::CREATED
    );
    a.put_ok(
        &at(WEBDAV, &["an_KVBbg", "Akte", "eins.pdf"]),
        bytes(100, 1),
    )
    .await;

    struct Tags {
        root: String,
        an: String,
        akte: String,
        out: String,
        eins: String,
        staff_top: String,
        staff_a: String,
        staff_b: String,
    }
    let tags = || async {
        let root = a.propfind(&format!("{WEBDAV}/"), "1").await;
        let akte = a
            .propfind(&format!("{}/", at(WEBDAV, &["an_KVBbg", "Akte"])), "1")
            .await;
        let staff = admin.propfind(&format!("{WEBDAV}/"), "1").await;
        Tags {
            root: root.get(&format!("{WEBDAV}/")).etag(),
            an: root.get(&format!("{WEBDAV}/an_KVBbg/")).etag(),
            out: root.get(&format!("{WEBDAV}/Postausgang/")).etag(),
            akte: akte.get(&format!("{WEBDAV}/an_KVBbg/Akte/")).etag(),
            eins: akte.get(&format!("{WEBDAV}/an_KVBbg/Akte/eins.pdf")).etag(),
            staff_top: staff.get(&format!("{WEBDAV}/")).etag(),
            staff_a: staff.get(&format!("{WEBDAV}/{FOLDER_A}/")).etag(),
            staff_b: staff.get(&format!("{WEBDAV}/{FOLDER_B}/")).etag(),
        }
    };
    #[track_caller]
    fn changed(before: &Tags, after: &Tags, what: &str) {
        assert_ne!(before.akte, after.akte, "{what}: Akte");
        assert_ne!(before.an, after.an, "{what}: an_KVBbg");
        assert_ne!(before.root, after.root, "{what}: member root");
        assert_ne!(before.staff_top, after.staff_top, "{what}: staff top level");
        assert_ne!(before.staff_a, after.staff_a, "{what}: staff folder of A");
        // Nothing below these changed: clients would rescan them for nothing.
        assert_eq!(before.out, after.out, "{what}: Postausgang");
        assert_eq!(before.staff_b, after.staff_b, "{what}: staff folder of B");
    }

    let t0 = tags().await;
    // Unchanged tree, unchanged tags (else every poll rescans everything).
    let again = tags().await;
    assert_eq!(
        (&t0.root, &t0.an, &t0.akte, &t0.staff_top),
        (&again.root, &again.an, &again.akte, &again.staff_top)
    );

    a.put_ok(
        &at(WEBDAV, &["an_KVBbg", "Akte", "zwei.pdf"]),
        bytes(200, 2),
    )
    .await;
    let t1 = tags().await;
    changed(&t0, &t1, "new file");
    assert_eq!(t0.eins, t1.eins, "a sibling's ETag stays");

    a.put_ok(
        &at(WEBDAV, &["an_KVBbg", "Akte", "eins.pdf"]),
        bytes(100, 3),
    )
    .await;
    let t2 = tags().await;
    changed(&t1, &t2, "overwrite");
    assert_ne!(t1.eins, t2.eins, "new content, new ETag");

    let r = a
        .send("DELETE", &at(WEBDAV, &["an_KVBbg", "Akte", "zwei.pdf"]))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let t3 = tags().await;
    changed(&t2, &t3, "delete");
    t.finish().await;
}

// ---------------------------------------------------------------------------------------
// Uploads and downloads
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn put_honours_the_client_headers() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let path = at(&files("user.a"), &["an_KVBbg", "Antrag.pdf"]);
    let data = bytes(10_000, 11);

    // X-OC-Mtime and a correct checksum.
    let r = a
        .req("PUT", &path)
        .header("X-OC-Mtime", "1700000000")
        .header("OC-Checksum", format!("SHA1:{}", sha1_hex(&data)))
        .body(data.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "x-oc-mtime"), "accepted");
    let etag = header(&r, "etag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(header(&r, "oc-etag"), etag);
    let oc_id = header(&r, "oc-fileid");
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let id = node_id(&t, &t.space_a, an, "Antrag.pdf")
        .await
        .expect("stored");
    let s = a.stat(&path).await;
    assert_eq!(s.need("oc:id"), oc_id);
    assert_eq!(s.need("oc:fileid"), id.to_string());
    assert_eq!(
        format!("\"{}\"", s.etag()),
        etag,
        "PUT and PROPFIND report the same ETag"
    );
    // 1700000000 is Tuesday, 14 November 2023, 22:13:20 UTC.
    assert_eq!(s.need("d:getlastmodified"), "Tue, 14 Nov 2023 22:13:20 GMT");

    // A wrong checksum stores nothing.
    let before = state(&t).await;
    let other = at(&files("user.a"), &["an_KVBbg", "Falsch.pdf"]);
    let r = a
        .req("PUT", &other)
        .header(
            "OC-Checksum",
            format!("SHA1:{}", sha1_hex(b"etwas anderes")),
        )
        .body(data.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(a.status_of(&other).await, StatusCode::NOT_FOUND);
    assert_eq!(state(&t).await, before, "nothing kept of a corrupt upload");

    // Preconditions.
    let newer = bytes(10_000, 12);
    let r = a
        .req("PUT", &path)
        .header("If-Match", "\"nicht-das-etag\"")
        .body(newer.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = a
        .req("PUT", &path)
        .header("If-None-Match", "*")
        .body(newer.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(a.get(&path).await, data, "refused writes changed nothing");
    assert_eq!(state(&t).await, before);

    // Overwrite with the right ETag: same file id, the old content kept as a version.
    let r = a
        .req("PUT", &path)
        .header("If-Match", &etag)
        .body(newer.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&r, "oc-fileid"),
        oc_id,
        "overwrite keeps the file id"
    );
    assert_ne!(header(&r, "etag"), etag);
    assert_eq!(versions_of(&t, id).await, 1);
    assert_eq!(a.get(&path).await, newer);

    // GET: ETag, checksum, ranges.
    let r = a.send("GET", &path).await;
    let current = a.stat(&path).await.etag();
    assert_eq!(
        header(&r, "etag"),
        format!("\"{current}\""),
        "GET carries the ETag PROPFIND reports"
    );
    assert_eq!(
        header(&r, "oc-checksum"),
        format!("SHA1:{}", sha1_hex(&newer))
    );
    assert_eq!(header(&r, "content-length"), newer.len().to_string());
    let r = a
        .req("GET", &path)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-range"), "bytes 100-199/10000");
    assert_eq!(r.bytes().await.expect("body").as_ref(), &newer[100..200]);
    let r = a
        .req("GET", &path)
        .header("Range", "bytes=9990-")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &newer[9990..]);

    // A rename keeps the file id (clients detect moves by it).
    let dest = at(&files("user.a"), &["an_KVBbg", "Antrag umbenannt.pdf"]);
    let r = a
        .req("MOVE", &path)
        .header("Destination", &dest)
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "oc-fileid"), oc_id);
    assert_eq!(a.stat(&dest).await.need("oc:fileid"), id.to_string());
    assert_eq!(a.status_of(&path).await, StatusCode::NOT_FOUND);
    assert_eq!(a.get(&dest).await, newer);
    t.finish().await;
}

#[tokio::test]
async fn folder_policy_refuses_in_german_and_changes_nothing() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let clerk = Dav::new(&t, "clerk.a");
    let doc = at(WEBDAV, &[FOLDER_A, "Postausgang", "Bescheid.pdf"]);
    clerk.put_ok(&doc, bytes(2_000, 5)).await;
    clerk
        .put_ok(
            &at(WEBDAV, &[FOLDER_A, "Rundschreiben.pdf"]),
            bytes(2_000, 6),
        )
        .await;
    let before = state(&t).await;

    for path in [
        at(WEBDAV, &["Neu.pdf"]),
        at(WEBDAV, &["Postausgang", "Neu.pdf"]),
        at(&files("user.a"), &["KVBBG-SB-Posteingang", "Neu.pdf"]),
    ] {
        let r = a.put(&path, bytes(500, 9)).await;
        assert_german_refusal(r, "err-forbidden", &format!("member PUT {path}")).await;
    }
    let r = a.send("MKCOL", &at(WEBDAV, &["Postausgang", "Neu"])).await;
    assert_german_refusal(r, "err-forbidden", "member MKCOL in Postausgang").await;
    for path in [
        at(WEBDAV, &["Postausgang", "Bescheid.pdf"]),
        at(WEBDAV, &["Rundschreiben.pdf"]),
    ] {
        let r = a.send("DELETE", &path).await;
        assert_german_refusal(r, "err-forbidden", &format!("member DELETE {path}")).await;
        let r = a.put(&path, bytes(500, 9)).await;
        assert_german_refusal(r, "err-forbidden", &format!("member overwrite {path}")).await;
    }
    // The template folders themselves stay.
    let r = a.send("DELETE", &at(WEBDAV, &["an_KVBbg"])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = a
        .req("MOVE", &at(WEBDAV, &["an_KVBbg"]))
        .header("Destination", at(WEBDAV, &["an_KVBbg umbenannt"]))
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Staff: nothing on the top level.
    let r = clerk.put(&at(WEBDAV, &["Neu.pdf"]), bytes(500, 9)).await;
    assert_german_refusal(r, "err-dav-staff-root", "staff PUT on the top level").await;
    let r = clerk.send("MKCOL", &at(WEBDAV, &["Neu"])).await;
    assert_german_refusal(r, "err-dav-staff-root", "staff MKCOL on the top level").await;
    let r = clerk.send("DELETE", &at(WEBDAV, &[FOLDER_A])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a member folder stays");
    // Staff do not upload into the member's an_KVBbg.
    let r = clerk
        .put(&at(WEBDAV, &[FOLDER_A, "an_KVBbg", "x.pdf"]), bytes(500, 9))
        .await;
    assert_german_refusal(r, "err-forbidden", "staff PUT into an_KVBbg").await;

    assert_eq!(state(&t).await, before, "refusals changed nothing");
    // Control: the member's own folder takes uploads.
    a.put_ok(&at(WEBDAV, &["an_KVBbg", "Neu.pdf"]), bytes(500, 9))
        .await;
    t.finish().await;
}

#[tokio::test]
async fn mkcol_copy_delete_and_properties() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let base = files("user.a");
    let tree = at(&base, &["an_KVBbg", "Baum"]);
    assert_eq!(a.mkcol(&tree).await, StatusCode::CREATED);
    assert_eq!(
        a.mkcol(&tree).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "exists"
    );
    assert_eq!(
        a.mkcol(&at(&base, &["an_KVBbg", "fehlt", "x"])).await,
        StatusCode::CONFLICT,
        "no parent"
    );
    assert_eq!(
        a.mkcol(&at(&base, &["an_KVBbg", "Baum", "Ast"])).await,
        StatusCode::CREATED
    );
    let data = bytes(4_000, 21);
    let file = at(&base, &["an_KVBbg", "Baum", "Ast", "Blatt.pdf"]);
    a.put_ok(&file, data.clone()).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let baum = node_id(&t, &t.space_a, an, "Baum").await.expect("Baum");

    // COPY: a new file with its own id and the same content.
    let copy = at(&base, &["an_KVBbg", "Kopie.pdf"]);
    let r = a
        .req("COPY", &file)
        .header("Destination", &copy)
        .send()
        .await
        .expect("copy");
    assert_eq!(r.status(), StatusCode::CREATED);
    let orig_id = a.stat(&file).await.need("oc:fileid");
    let copy_id = a.stat(&copy).await.need("oc:fileid");
    assert_ne!(orig_id, copy_id, "a copy is a new file");
    assert_eq!(a.get(&copy).await, data);
    assert_eq!(
        node_id(&t, &t.space_a, an, "Kopie.pdf")
            .await
            .map(|i| i.to_string()),
        Some(copy_id.clone())
    );

    // Dead properties: set, read, survive a MOVE, remove.
    let set = r#"<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><x:farbe xmlns:x="urn:amtsbote-test">blau</x:farbe></d:prop></d:set></d:propertyupdate>"#;
    let r = a
        .req("PROPPATCH", &copy)
        .body(set)
        .send()
        .await
        .expect("proppatch");
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body = r.text().await.expect("body");
    assert!(body.contains("HTTP/1.1 200"), "{body}");
    assert_eq!(a.stat(&copy).await.need("farbe"), "blau");
    let moved = at(&base, &["an_KVBbg", "Baum", "Kopie verschoben.pdf"]);
    let r = a
        .req("MOVE", &copy)
        .header("Destination", &moved)
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), StatusCode::CREATED);
    let s = a.stat(&moved).await;
    assert_eq!(s.need("farbe"), "blau", "a dead property moves along");
    assert_eq!(s.need("oc:fileid"), copy_id);
    let remove = r#"<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:remove><d:prop><x:farbe xmlns:x="urn:amtsbote-test"/></d:prop></d:remove></d:propertyupdate>"#;
    let r = a
        .req("PROPPATCH", &moved)
        .body(remove)
        .send()
        .await
        .expect("proppatch");
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let s = a.stat(&moved).await;
    assert!(s.prop("farbe").is_none() && s.is_missing("farbe"), "{s:?}");

    // rclone sets the mtime with PROPPATCH of DAV:lastmodified (seconds).
    let mtime = r#"<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:lastmodified>1600000000</d:lastmodified></d:prop></d:set></d:propertyupdate>"#;
    let r = a
        .req("PROPPATCH", &file)
        .body(mtime)
        .send()
        .await
        .expect("proppatch");
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("lastmodified") && body.contains("HTTP/1.1 200"),
        "{body}"
    );
    // 1600000000 is Sunday, 13 September 2020, 12:26:40 UTC.
    assert_eq!(
        a.stat(&file).await.need("d:getlastmodified"),
        "Sun, 13 Sep 2020 12:26:40 GMT"
    );

    // DELETE of the whole tree.
    let r = a.send("DELETE", &tree).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.status_of(&format!("{tree}/")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(a.status_of(&file).await, StatusCode::NOT_FOUND);
    assert!(node_id(&t, &t.space_a, an, "Baum").await.is_none());
    let left = t
        .app
        .db
        .qs::<i64>("SELECT COUNT(*) FROM nodes WHERE parent_id = ?")
        .bind(baum)
        .fetch_one(t.app.db.pool())
        .await
        .expect("count");
    assert_eq!(left, 0, "no orphaned children of the deleted folder");
    t.finish().await;
}

/// MOVE and COPY with `Overwrite: T` onto an existing folder: the folder must be removed
/// only when the transfer itself is allowed. A refused transfer leaves it as it was.
#[tokio::test]
async fn refused_overwriting_transfer_keeps_the_destination() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let clerk = Dav::new(&t, "clerk.a");
    assert_eq!(
        a.mkcol(&at(WEBDAV, &["an_KVBbg", "Akte"])).await,
        StatusCode::CREATED
    );
    a.put_ok(
        &at(WEBDAV, &["an_KVBbg", "Akte", "Inhalt.pdf"]),
        bytes(900, 81),
    )
    .await;
    clerk
        .put_ok(&at(WEBDAV, &[FOLDER_A, "Bescheid.pdf"]), bytes(800, 82))
        .await;
    for f in ["Postausgang", "KVBBG-SB-Posteingang"] {
        assert_eq!(
            clerk.mkcol(&at(WEBDAV, &[FOLDER_A, f, "Mappe"])).await,
            StatusCode::CREATED
        );
    }
    clerk
        .put_ok(
            &at(
                WEBDAV,
                &[FOLDER_A, "KVBBG-SB-Posteingang", "Mappe", "Brief.pdf"],
            ),
            bytes(700, 83),
        )
        .await;
    let before = state(&t).await;

    let cases = [
        // Staff may delete in an_KVBbg, but not put anything there.
        (
            &clerk,
            "MOVE",
            at(WEBDAV, &[FOLDER_A, "Bescheid.pdf"]),
            at(WEBDAV, &[FOLDER_A, "an_KVBbg", "Akte"]),
        ),
        (
            &clerk,
            "COPY",
            at(WEBDAV, &[FOLDER_A, "Bescheid.pdf"]),
            at(WEBDAV, &[FOLDER_A, "an_KVBbg", "Akte"]),
        ),
        // A member may not move the authority's document.
        (
            &a,
            "MOVE",
            at(WEBDAV, &["Bescheid.pdf"]),
            at(WEBDAV, &["an_KVBbg", "Akte"]),
        ),
        // Folders do not move between policy areas.
        (
            &clerk,
            "MOVE",
            at(WEBDAV, &[FOLDER_A, "Postausgang", "Mappe"]),
            at(WEBDAV, &[FOLDER_A, "KVBBG-SB-Posteingang", "Mappe"]),
        ),
    ];
    for (who, method, from, to) in cases {
        let r = who
            .req(method, &from)
            .header("Destination", &to)
            .header("Overwrite", "T")
            .send()
            .await
            .expect("transfer");
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{method} {from} -> {to} as {}",
            who.login
        );
        assert_eq!(
            state(&t).await,
            before,
            "{method} {from} -> {to} as {}: the destination must survive",
            who.login
        );
    }
    t.finish().await;
}

// ---------------------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------------------

const LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype><d:owner>Schreibtisch von user.a</d:owner></d:lockinfo>"#;

async fn take_lock(d: &Dav<'_>, path: &str, seconds: u64) -> String {
    let r = d
        .req("LOCK", path)
        .header("Timeout", format!("Second-{seconds}"))
        .header("Depth", "0")
        .body(LOCKINFO)
        .send()
        .await
        .expect("lock");
    assert_eq!(r.status(), StatusCode::OK, "LOCK {path}");
    let token = header(&r, "lock-token");
    assert!(token.starts_with("<opaquelocktoken:"), "{token}");
    token
}

#[tokio::test]
async fn locks_hold_across_users_until_unlocked_or_expired() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let a2 = Dav::new(&t, "user.a2");
    let path = at(WEBDAV, &["an_KVBbg", "Gemeinsam.pdf"]);
    a.put_ok(&path, bytes(1_000, 31)).await;

    let token = take_lock(&a, &path, 600).await;
    let bare = token
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    let stored = t
        .app
        .db
        .qa::<(String, Option<i64>)>("SELECT token, expires_at FROM dav_locks")
        .fetch_all(t.app.db.pool())
        .await
        .expect("locks");
    assert_eq!(stored.len(), 1, "the lock lives in the database");
    assert_eq!(stored[0].0, bare, "the token handed out is the one stored");
    assert_eq!(stored[0].1, Some(T0 + 600_000), "expiry from the clock");

    // The other user of the same member sees the lock and cannot write.
    let s = a2.stat(&path).await;
    let disc = s.need("d:lockdiscovery");
    assert!(
        disc.contains("activelock") && disc.contains("Schreibtisch von user.a"),
        "{disc}"
    );
    let r = a2.put(&path, bytes(1_000, 32)).await;
    assert_eq!(r.status(), StatusCode::LOCKED);
    let r = a2.send("DELETE", &path).await;
    assert_eq!(r.status(), StatusCode::LOCKED);
    // Nor can the other user lift it.
    let r = a2
        .req("UNLOCK", &path)
        .header("Lock-Token", &token)
        .send()
        .await
        .expect("unlock");
    assert!(
        r.status().is_client_error(),
        "UNLOCK by another user: {}",
        r.status()
    );
    assert_eq!(
        a2.put(&path, bytes(1_000, 32)).await.status(),
        StatusCode::LOCKED,
        "the lock survived the attempt"
    );
    // The holder writes with the token.
    let r = a
        .req("PUT", &path)
        .header("If", format!("({token})"))
        .body(bytes(1_000, 33))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let r = a
        .req("UNLOCK", &path)
        .header("Lock-Token", &token)
        .send()
        .await
        .expect("unlock");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(state(&t).await.locks, 0);
    let r = a2.put(&path, bytes(1_000, 34)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "unlocked");

    // A lock lapses with the injected clock.
    take_lock(&a, &path, 60).await;
    assert_eq!(
        a2.put(&path, bytes(1_000, 35)).await.status(),
        StatusCode::LOCKED
    );
    t.clock.advance_ms(59_000);
    assert_eq!(
        a2.put(&path, bytes(1_000, 35)).await.status(),
        StatusCode::LOCKED,
        "not yet expired"
    );
    t.clock.advance_ms(2_000);
    assert_eq!(
        a2.put(&path, bytes(1_000, 36)).await.status(),
        StatusCode::NO_CONTENT,
        "expired"
    );
    assert_eq!(a.get(&path).await, bytes(1_000, 36));
    t.finish().await;
}

// ---------------------------------------------------------------------------------------
// Chunked uploads
// ---------------------------------------------------------------------------------------

/// Chunk names and their parts of `data`, in numeric order: "1" < "9" < "10", which
/// sorts differently as text.
fn three_chunks(data: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let third = data.len() / 3;
    vec![
        ("1", data[..third].to_vec()),
        ("9", data[third..2 * third].to_vec()),
        ("10", data[2 * third..].to_vec()),
    ]
}

async fn ng_upload(a: &Dav<'_>, session: &str, data: &[u8]) {
    let dir = at(&uploads("user.a"), &[session]);
    let r = a
        .req("MKCOL", &dir)
        .header("OC-Total-Length", data.len().to_string())
        .send()
        .await
        .expect("mkcol");
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the client needs exactly 201"
    );
    let mut chunks = three_chunks(data);
    // Sent as "10", "1", "9": neither the arrival order nor the text order is right.
    chunks.swap(0, 2);
    chunks.swap(1, 2);
    for (name, part) in chunks {
        let r = a.put(&at(&dir, &[name]), part).await;
        assert_eq!(r.status(), StatusCode::CREATED, "chunk {name}");
    }
}

async fn ng_finish(a: &Dav<'_>, session: &str, dest: &str, data: &[u8]) -> Response {
    a.req("MOVE", &at(&uploads("user.a"), &[session, ".file"]))
        .header("Destination", dest)
        .header("OC-Total-Length", data.len().to_string())
        .header("OC-Checksum", format!("SHA1:{}", sha1_hex(data)))
        .header("X-OC-Mtime", "1700000000")
        .send()
        .await
        .expect("move")
}

#[tokio::test]
async fn chunking_ng_assembles_in_numeric_order() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let data = bytes(300_001, 41);
    let dest = at(&files("user.a"), &["an_KVBbg", "big.bin"]);
    let staging_before = t.stored_files().1;

    ng_upload(&a, "4711", &data).await;
    // Resume: the session lists its chunks with their sizes.
    let m = a
        .propfind(&format!("{}/", at(&uploads("user.a"), &["4711"])), "1")
        .await;
    assert_eq!(m.names(), vec!["", "1", "10", "9"]);
    assert_eq!(
        m.get(&format!("{}/10", at(&uploads("user.a"), &["4711"])))
            .need("d:getcontentlength"),
        (data.len() - 2 * (data.len() / 3)).to_string()
    );
    assert_eq!(
        a.status_of(&dest).await,
        StatusCode::NOT_FOUND,
        "nothing visible before the MOVE"
    );
    assert_eq!(count_uploads(&t).await, (1, 3));

    // A wrong total is refused and keeps the session.
    let r = a
        .req("MOVE", &at(&uploads("user.a"), &["4711", ".file"]))
        .header("Destination", &dest)
        .header("OC-Total-Length", (data.len() + 1).to_string())
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(a.status_of(&dest).await, StatusCode::NOT_FOUND);
    assert_eq!(
        count_uploads(&t).await,
        (1, 3),
        "the client may still resume"
    );

    let r = ng_finish(&a, "4711", &dest, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let file_id = header(&r, "oc-fileid");
    assert!(!file_id.is_empty(), "the client needs OC-FileId");
    assert!(!header(&r, "oc-etag").is_empty(), "and an ETag");
    assert_eq!(header(&r, "x-oc-mtime"), "accepted");
    assert_eq!(a.get(&dest).await, data, "byte-identical, in numeric order");
    assert_eq!(count_uploads(&t).await, (0, 0), "the session is gone");
    assert_eq!(
        a.status_of(&at(&uploads("user.a"), &["4711"])).await,
        StatusCode::NOT_FOUND
    );

    // Onto the existing file: the same file, new content, the old one a version.
    let newer = bytes(200_000, 42);
    ng_upload(&a, "4712", &newer).await;
    let r = ng_finish(&a, "4712", &dest, &newer).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "oc-fileid"), file_id, "overwrite keeps the id");
    assert_eq!(a.get(&dest).await, newer);
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let id = node_id(&t, &t.space_a, an, "big.bin").await.expect("file");
    assert_eq!(versions_of(&t, id).await, 1);
    assert_eq!(count_uploads(&t).await, (0, 0));
    assert_eq!(t.stored_files().1, staging_before, "no staging files left");

    // The uploads area of another login.
    let r = a.send("MKCOL", &at(&uploads("user.b"), &["4713"])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(count_uploads(&t).await, (0, 0));
    t.finish().await;
}

#[tokio::test]
async fn abandoned_chunk_sessions_are_purged() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let dir = at(&uploads("user.a"), &["815"]);
    assert_eq!(a.mkcol(&dir).await, StatusCode::CREATED);
    let r = a.put(&at(&dir, &["1"]), bytes(10_000, 51)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let blobs_with_chunk = t.stored_files().0;

    // A session still in use is kept.
    t.clock.advance_ms(23 * 3_600_000);
    let report = t.app.cleanup_storage(0).await.expect("cleanup");
    assert_eq!(report.uploads_removed, 0);
    assert_eq!(count_uploads(&t).await, (1, 1));
    assert_eq!(t.stored_files().0, blobs_with_chunk, "the chunk is kept");

    t.clock.advance_ms(2 * 3_600_000);
    let report = t.app.cleanup_storage(0).await.expect("cleanup");
    assert_eq!(report.uploads_removed, 1);
    assert_eq!(count_uploads(&t).await, (0, 0));
    assert_eq!(
        t.stored_files().0,
        blobs_with_chunk - 1,
        "the chunk's blob is gone"
    );
    assert_eq!(a.status_of(&dir).await, StatusCode::NOT_FOUND);
    t.finish().await;
}

#[tokio::test]
async fn chunking_v1_assembles_when_all_chunks_are_in() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let data = bytes(250_000, 61);
    let size = 100_000;
    let parts: Vec<&[u8]> = data.chunks(size).collect();
    assert_eq!(parts.len(), 3);
    let mut completing = None;
    // The last index first: the server must not assume it arrives last.
    for index in [2usize, 0, 1] {
        let name = format!("v1.bin-chunking-987654-3-{index}");
        let r = a
            .req("PUT", &at(WEBDAV, &["an_KVBbg", &name]))
            .header("OC-Chunked", "1")
            .header("OC-Chunk-Size", size.to_string())
            .header("OC-Total-Length", data.len().to_string())
            .header("X-OC-Mtime", "1700000000")
            .body(parts[index].to_vec())
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), StatusCode::CREATED, "chunk {index}");
        if header(&r, "etag").is_empty() {
            assert!(completing.is_none(), "no ETag after the file was complete");
            assert_eq!(
                a.status_of(&at(WEBDAV, &["an_KVBbg", "v1.bin"])).await,
                StatusCode::NOT_FOUND,
                "nothing visible before the last chunk"
            );
        } else {
            completing = Some((index, header(&r, "oc-fileid")));
        }
    }
    let (index, file_id) = completing.expect("the completing chunk carries the ETag");
    assert_eq!(index, 1, "the request that completed the set");
    assert!(!file_id.is_empty());
    assert_eq!(a.get(&at(WEBDAV, &["an_KVBbg", "v1.bin"])).await, data);
    let m = a.propfind(&format!("{WEBDAV}/an_KVBbg/"), "1").await;
    assert_eq!(m.names(), vec!["", "v1.bin"], "no chunk is ever listed");
    assert_eq!(count_uploads(&t).await, (0, 0));
    t.finish().await;
}

// ---------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn basic_auth_with_passwords_and_app_passwords() {
    let t = TestApp::spawn().await;
    let root = format!("{WEBDAV}/");

    let r = t
        .client()
        .request(
            Method::from_bytes(b"PROPFIND").expect("method"),
            format!("{}{root}", t.url),
        )
        .header("Depth", "0")
        .send()
        .await
        .expect("propfind");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        header(&r, "www-authenticate").starts_with("Basic "),
        "{}",
        header(&r, "www-authenticate")
    );
    assert!(!header(&r, "www-authenticate").contains("earer"));

    let wrong = Dav::with_password(&t, "user.a", "falsch-falsch-falsch");
    let r = wrong.propfind_raw(&root, "0").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&r, "www-authenticate").starts_with("Basic "));
    let failed = t
        .app
        .audit_recent(20)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| {
            e.action == "login.basic" && e.outcome == "failure" && e.target.contains("user.a")
        })
        .count();
    assert_eq!(failed, 1, "the failed log-in is audited");
    let unknown = Dav::with_password(&t, "niemand", PW);
    assert_eq!(
        unknown.propfind_raw(&root, "0").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The account password and an app password both work.
    Dav::new(&t, "user.a").propfind(&root, "0").await;
    let account = t
        .app
        .account_by_login(&amtsbote::startup::cli_actor(), "user.a")
        .await
        .expect("account");
    let (_, secret) = t
        .app
        .create_app_password(&account, "Laptop")
        .await
        .expect("app password");
    let app = Dav::with_password(&t, "user.a", &secret);
    let m = app.propfind(&format!("{}/", files("user.a")), "1").await;
    assert!(m.names().contains(&"an_KVBbg".to_string()));

    // Someone else's tree, with valid credentials.
    let r = app
        .propfind_raw(&format!("{}/", files("user.b")), "0")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = Dav::new(&t, "user.a")
        .put(&at(&files("user.b"), &["an_KVBbg", "x.pdf"]), bytes(10, 1))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        node_id(
            &t,
            &t.space_b,
            t.folder(&t.space_b, "an_KVBbg").await,
            "x.pdf"
        )
        .await
        .is_none()
    );
    t.finish().await;
}

// ---------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------

/// One request exactly as written over a fresh TCP connection, with user.a's Basic
/// credentials, so that no client normalises the path. Returns status and body.
async fn raw(t: &TestApp, method: &str, target: &str, extra: &str, body: &[u8]) -> (u16, String) {
    use base64::Engine as _;
    let host = t.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("user.a:{PW}"));
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nConnection: close\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    parse_answer(&buf, target)
}

fn parse_answer(buf: &[u8], what: &str) -> (u16, String) {
    let text = String::from_utf8_lossy(buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no status line for {what}: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The server still answers a normal request.
async fn responsive(t: &TestApp) {
    let m = Dav::new(t, "user.a")
        .propfind(&format!("{WEBDAV}/"), "1")
        .await;
    assert_eq!(m.responses.len(), 4);
}

#[tokio::test]
async fn hostile_xml_bodies_are_refused() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let before = state(&t).await;

    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&lol9;</d:displayname></d:prop></d:propfind>"#;
    let external = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><d:propfind xmlns:d="DAV:"><d:prop><x:y xmlns:x="urn:x">&xxe;</x:y></d:prop></d:propfind>"#;
    let deep = format!(
        r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:">{}{}</d:propfind>"#,
        "<d:prop>".repeat(10_000),
        "</d:prop>".repeat(10_000)
    );
    for (what, body, method) in [
        ("billion laughs", laughs.to_string(), "PROPFIND"),
        ("external entity", external.to_string(), "PROPFIND"),
        ("10,000-deep nesting", deep.clone(), "PROPFIND"),
        (
            "billion laughs in PROPPATCH",
            laughs.replace("propfind", "propertyupdate"),
            "PROPPATCH",
        ),
        ("deep LOCK", deep.replace("propfind", "lockinfo"), "LOCK"),
    ] {
        let started = Instant::now();
        let r = a
            .req(method, &format!("{WEBDAV}/an_KVBbg/"))
            .header("Depth", "0")
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        let text = r.text().await.expect("body");
        assert!(!text.contains("lollol"), "{what}: entities were expanded");
        assert!(!text.contains("root:"), "{what}: a file was read");
        assert!(started.elapsed() < Duration::from_secs(5), "{what}: slow");
        responsive(&t).await;
    }

    // 100 MB of XML, announced: refused without reading it.
    let hundred_mb = 100 * 1024 * 1024;
    let started = Instant::now();
    let (status, _) = announced_but_unsent(&t, hundred_mb).await;
    assert_eq!(status, 413, "a 100 MB PROPFIND body is refused");
    assert!(started.elapsed() < Duration::from_secs(5));
    responsive(&t).await;

    // 100 MB of XML, streamed without a length: refused once past the cap.
    let started = Instant::now();
    let status = streamed_xml(&t, hundred_mb).await;
    assert_eq!(status, 413, "a streamed 100 MB PROPFIND body is refused");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refused without reading 100 MB"
    );
    responsive(&t).await;

    assert_eq!(state(&t).await, before);
    t.finish().await;
}

/// A PROPFIND announcing `len` bytes of body, of which only the start is sent.
async fn announced_but_unsent(t: &TestApp, len: usize) -> (u16, String) {
    use base64::Engine as _;
    let host = t.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("user.a:{PW}"));
    let head = format!(
        "PROPFIND {WEBDAV}/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nDepth: 1\r\nContent-Type: application/xml\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\"><d:prop>"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("answered before the body arrived")
        .expect("read");
    parse_answer(&buf[..n], "100 MB announced")
}

/// A PROPFIND whose body streams `len` bytes with chunked transfer coding; returns the
/// status, read while the body is still being written.
async fn streamed_xml(t: &TestApp, len: usize) -> u16 {
    use base64::Engine as _;
    let host = t.url.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("user.a:{PW}"));
    let writer = tokio::spawn(async move {
        let head = format!(
            "PROPFIND {WEBDAV}/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nDepth: 1\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        wr.write_all(head.as_bytes()).await?;
        let piece = format!(
            "<d:propfind xmlns:d=\"DAV:\"><d:prop>{}",
            "<d:displayname/>".repeat(4_000)
        );
        let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
        let mut sent = 0;
        while sent < len {
            wr.write_all(chunk.as_bytes()).await?;
            sent += piece.len();
        }
        wr.write_all(b"0\r\n\r\n").await?;
        Ok::<_, std::io::Error>(sent)
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf))
        .await
        .expect("answered in time")
        .expect("read");
    writer.abort();
    parse_answer(&buf[..n], "streamed XML").0
}

#[tokio::test]
async fn hostile_paths_and_destinations_are_refused() {
    let t = TestApp::spawn().await;
    let a = Dav::new(&t, "user.a");
    let b = Dav::new(&t, "user.b");
    let mine = at(WEBDAV, &["an_KVBbg", "Meins.pdf"]);
    a.put_ok(&mine, bytes(1_000, 71)).await;
    b.put_ok(&at(WEBDAV, &["an_KVBbg", "Geheim-B.pdf"]), bytes(1_000, 72))
        .await;
    let before = state(&t).await;
    let host = t.url.trim_start_matches("http://").to_string();

    // Paths: `..` plain and encoded, an encoded slash, NUL, control characters.
    let paths = [
        format!("{WEBDAV}/an_KVBbg/../../dav/files/user.b/an_KVBbg/Geheim-B.pdf"),
        format!("{WEBDAV}/../dav/files/user.b/"),
        format!("{WEBDAV}/%2e%2e/%2e%2e/dav/files/user.b/"),
        format!("{WEBDAV}/an_KVBbg/%2E%2E/%2E%2E/etc/passwd"),
        format!("{WEBDAV}/an_KVBbg/..%2f..%2fPostausgang"),
        format!("{WEBDAV}/an_KVBbg%2f..%2fPostausgang/x.pdf"),
        format!("{WEBDAV}/an_KVBbg/a%2fb.pdf"),
        format!("{WEBDAV}/an_KVBbg/a%5cb.pdf"),
        format!("{WEBDAV}/an_KVBbg/x%00.pdf"),
        format!("{WEBDAV}/an_KVBbg/x%0d%0aSet-Cookie:%20a=b.pdf"),
        format!("{WEBDAV}/an_KVBbg/./x.pdf"),
        format!("{WEBDAV}/an_KVBbg/%ff.pdf"),
        "/remote.php/dav/files/user.a/../user.b/an_KVBbg/".to_string(),
        "/remote.php/dav/files/user.a%2f..%2fuser.b/an_KVBbg/".to_string(),
        "/remote.php/dav/files/%2e%2e/user.b/".to_string(),
        "/remote.php/dav/uploads/user.a/../user.b/1".to_string(),
    ];
    for p in &paths {
        for method in ["PROPFIND", "GET", "PUT", "MKCOL", "DELETE"] {
            let body: &[u8] = if method == "PUT" { b"boese" } else { b"" };
            let (status, body) = raw(&t, method, p, "Depth: 0\r\n", body).await;
            assert!(
                matches!(status, 400 | 403 | 404 | 409),
                "{method} {p}: {status} {body:.200}"
            );
            assert!(!body.contains("Geheim-B"), "{method} {p} leaked B");
        }
    }

    // Destinations outside the mount, on another host, into someone else's tree.
    let dests = [
        (format!("http://evil.example{WEBDAV}/an_KVBbg/x.pdf"), 502),
        (
            format!("http://{host}/remote.php/dav/files/user.b/an_KVBbg/x.pdf"),
            403,
        ),
        (
            "/remote.php/dav/files/user.b/an_KVBbg/x.pdf".to_string(),
            403,
        ),
        ("/remote.php/dav/uploads/user.a/1/x.pdf".to_string(), 403),
        ("/etc/passwd".to_string(), 403),
        (format!("{WEBDAV}/../dav/files/user.b/an_KVBbg/x.pdf"), 400),
        (format!("{WEBDAV}/an_KVBbg/%2e%2e/%2e%2e/x.pdf"), 400),
        (format!("{WEBDAV}/an_KVBbg/a%2fb.pdf"), 400),
        (format!("{WEBDAV}/an_KVBbg/x%00.pdf"), 400),
    ];
    for (dest, expected) in &dests {
        for method in ["MOVE", "COPY"] {
            let (status, body) = raw(
                &t,
                method,
                &mine,
                &format!("Destination: {dest}\r\nOverwrite: T\r\n"),
                b"",
            )
            .await;
            assert_eq!(
                status, *expected,
                "{method} to {dest}: {status} {body:.200}"
            );
        }
    }
    assert_eq!(state(&t).await, before, "nothing changed");
    responsive(&t).await;
    t.finish().await;
}
