//! The folder policy through the web door (and, for overwrites, through the core's
//! ingest pipeline that every door shares), with the default KVBbg template:
//! root, KVBBG-SB-Posteingang and Postausgang are written by the authority, an_KVBbg by
//! the member; nobody alters what the other side provided.

use amtsbote_core::Error;
use amtsbote_core::storage::ingest::Upload;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::{
    Browser, Opts, TestApp, actor, body, bytes, filed_mails, node_id, versions_of,
};

/// Overwrites (or creates) `name` in `folder` through the core's ingest pipeline.
async fn ingest(
    t: &TestApp,
    login: &str,
    folder: i64,
    name: &str,
    content: Vec<u8>,
    overwrite: bool,
) -> Result<amtsbote_core::storage::ingest::Ingested, Error> {
    let access = t
        .app
        .open_space(&actor(t, login).await, t.space_a.id)
        .await?;
    t.app
        .ingest(
            &access,
            Upload {
                folder_id: folder,
                name: name.into(),
                content_type: Some("application/pdf".into()),
                overwrite,
                declared_size: None,
                mtime: None,
                checksum: None,
                precondition: Default::default(),
            },
            body(content),
        )
        .await
}

/// Downloads a file of A as `who` and returns status and bytes.
async fn fetch(who: &Browser, t: &TestApp, node: i64) -> (StatusCode, Vec<u8>) {
    let r = who.download(t.space_a.id, node).await;
    let s = r.status();
    (s, r.bytes().await.expect("body").to_vec())
}

fn delete_path(t: &TestApp, node: i64) -> String {
    format!("/spaces/{}/nodes/{node}/delete", t.space_a.id)
}

fn rename_path(t: &TestApp, node: i64) -> String {
    format!("/spaces/{}/nodes/{node}/rename", t.space_a.id)
}

fn mkdir_path(t: &TestApp, folder: i64) -> String {
    format!("/spaces/{}/folders/{folder}/mkdir", t.space_a.id)
}

const TEMPLATE: [&str; 3] = ["an_KVBbg", "KVBBG-SB-Posteingang", "Postausgang"];

#[tokio::test]
async fn member_cannot_write_where_the_authority_writes() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let root = t.space_a.root_id;
    for (label, folder) in [
        ("root", root),
        (
            "KVBBG-SB-Posteingang",
            t.folder(&t.space_a, "KVBBG-SB-Posteingang").await,
        ),
        ("Postausgang", t.folder(&t.space_a, "Postausgang").await),
    ] {
        let before = t.names_in(&t.space_a, folder).await;
        let r = user
            .upload(t.space_a.id, folder, &[("Versuch.pdf", bytes(1_000, 1))])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "upload into {label}");
        let r = user
            .post(&mkdir_path(&t, folder), &[("name", "Eigener Ordner")])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "mkdir in {label}");
        assert_eq!(
            t.names_in(&t.space_a, folder).await,
            before,
            "{label} unchanged"
        );
    }
    assert_eq!(t.names_in(&t.space_a, root).await, TEMPLATE);
    let (blobs, staging) = t.stored_files();
    assert_eq!((blobs, staging), (0, 0), "nothing was stored");
    t.finish().await;
}

#[tokio::test]
async fn member_cannot_alter_authority_documents() {
    let t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let user = t.login("user.a").await;
    let root = t.space_a.root_id;
    let out = t.folder(&t.space_a, "Postausgang").await;
    let doc = bytes(20_000, 10);
    let circular = bytes(8_000, 11);
    assert_eq!(
        clerk
            .upload(t.space_a.id, root, &[("Bescheid.pdf", doc.clone())])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        clerk
            .upload(
                t.space_a.id,
                out,
                &[("Rundschreiben.pdf", circular.clone())]
            )
            .await
            .status(),
        StatusCode::OK
    );
    let r = clerk
        .post(&mkdir_path(&t, root), &[("name", "Bescheide 2026")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let doc_id = node_id(&t, &t.space_a, root, "Bescheid.pdf")
        .await
        .expect("doc");
    let circ_id = node_id(&t, &t.space_a, out, "Rundschreiben.pdf")
        .await
        .expect("circular");
    let dir_id = node_id(&t, &t.space_a, root, "Bescheide 2026")
        .await
        .expect("folder");

    for (label, id) in [
        ("document in root", doc_id),
        ("document in Postausgang", circ_id),
        ("authority folder in root", dir_id),
    ] {
        let r = user.post(&delete_path(&t, id), &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "member deletes {label}");
        let r = user
            .post(&rename_path(&t, id), &[("name", "Umbenannt.pdf")])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "member renames {label}");
    }
    // Authority folders carry the root's policy: no member uploads there either.
    let r = user
        .upload(t.space_a.id, dir_id, &[("Versuch.pdf", bytes(100, 12))])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "upload into authority folder"
    );

    // Same name as the authority's document, in any case spelling: refused.
    for name in ["Bescheid.pdf", "bescheid.PDF", "BESCHEID.pdf"] {
        let r = user
            .upload(t.space_a.id, root, &[(name, bytes(20_000, 13))])
            .await;
        assert!(
            matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::CONFLICT),
            "member uploads {name} over the authority's document: {}",
            r.status()
        );
    }
    // Also with an explicit overwrite through the core (as WebDAV PUT would).
    let e = ingest(&t, "user.a", root, "Bescheid.pdf", bytes(5, 14), true)
        .await
        .expect_err("member overwrites an authority document");
    assert!(
        matches!(e, Error::Forbidden(_) | Error::NotFound),
        "member overwrite refused: {e:?}"
    );

    // Everything is still there, byte for byte.
    assert_eq!(
        t.names_in(&t.space_a, root).await,
        [
            "an_KVBbg",
            "Bescheide 2026",
            "KVBBG-SB-Posteingang",
            "Postausgang",
            "Bescheid.pdf"
        ]
    );
    assert_eq!(t.names_in(&t.space_a, out).await, ["Rundschreiben.pdf"]);
    assert_eq!(fetch(&user, &t, doc_id).await, (StatusCode::OK, doc));
    assert_eq!(fetch(&user, &t, circ_id).await, (StatusCode::OK, circular));
    assert_eq!(versions_of(&t, doc_id).await, 0, "no version was made");
    assert!(
        !t.app
            .audit_recent(100)
            .await
            .expect("audit")
            .iter()
            .any(|a| a.actor_label == "Name user.a"
                && matches!(
                    a.action.as_str(),
                    "node.delete" | "node.rename" | "upload" | "upload.replace"
                )),
        "no member act on authority documents was recorded as done"
    );
    t.finish().await;
}

#[tokio::test]
async fn template_folders_are_never_renamed_or_deleted() {
    let t = TestApp::spawn().await;
    let root = t.space_a.root_id;
    let mut rows = 0;
    for login in ["user.a", "clerk.a", "admin"] {
        let who = t.login(login).await;
        for name in ["", "an_KVBbg", "KVBBG-SB-Posteingang", "Postausgang"] {
            let id = t.folder(&t.space_a, name).await;
            let label = if name.is_empty() { "root" } else { name };
            let r = who.post(&delete_path(&t, id), &[]).await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{login} deletes template folder {label}"
            );
            let r = who.post(&rename_path(&t, id), &[("name", "Anders")]).await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{login} renames template folder {label}"
            );
            rows += 2;
        }
    }
    assert_eq!(rows, 24);
    assert_eq!(t.names_in(&t.space_a, root).await, TEMPLATE);
    t.finish().await;
}

#[tokio::test]
async fn authority_cannot_write_into_or_alter_member_deliveries() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let antrag = bytes(30_000, 20);
    assert_eq!(
        user.upload(t.space_a.id, an, &[("Antrag.pdf", antrag.clone())])
            .await
            .status(),
        StatusCode::OK
    );
    let r = user
        .post(&mkdir_path(&t, an), &[("name", "Unterlagen")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let antrag_id = node_id(&t, &t.space_a, an, "Antrag.pdf")
        .await
        .expect("delivery");
    let sub = node_id(&t, &t.space_a, an, "Unterlagen")
        .await
        .expect("sub-folder");

    for login in ["clerk.a", "admin"] {
        let staff = t.login(login).await;
        for (label, folder) in [("an_KVBbg", an), ("member's sub-folder", sub)] {
            let r = staff
                .upload(t.space_a.id, folder, &[("Nachtrag.pdf", bytes(100, 21))])
                .await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{login} uploads into {label}"
            );
            let r = staff
                .post(&mkdir_path(&t, folder), &[("name", "Behördenordner")])
                .await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{login} mkdir in {label}"
            );
        }
        // The same name as the delivery: refused, nothing replaced.
        let r = staff
            .upload(t.space_a.id, an, &[("Antrag.pdf", bytes(30_000, 22))])
            .await;
        assert!(
            matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::CONFLICT),
            "{login} uploads over the delivery: {}",
            r.status()
        );
        for (label, id) in [("delivery", antrag_id), ("member's sub-folder", sub)] {
            let r = staff
                .post(&rename_path(&t, id), &[("name", "Umbenannt.pdf")])
                .await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{login} renames the {label}"
            );
        }
        let e = ingest(&t, login, an, "Antrag.pdf", bytes(7, 23), true)
            .await
            .expect_err("authority overwrites a member delivery");
        assert!(
            matches!(e, Error::Forbidden(_) | Error::NotFound),
            "{login} overwrite refused: {e:?}"
        );
        // Reading is allowed: the authority receives the delivery unaltered.
        assert_eq!(
            fetch(&staff, &t, antrag_id).await,
            (StatusCode::OK, antrag.clone())
        );
    }
    assert_eq!(
        t.names_in(&t.space_a, an).await,
        ["Unterlagen", "Antrag.pdf"]
    );
    assert!(t.names_in(&t.space_a, sub).await.is_empty());
    assert_eq!(versions_of(&t, antrag_id).await, 0);
    t.finish().await;
}

#[tokio::test]
async fn authority_deletes_a_member_delivery_and_it_is_audited() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let clerk = t.login("clerk.a").await;
    let admin = t.login("admin").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let r = user
        .upload(
            t.space_a.id,
            an,
            &[
                ("Irrläufer.pdf", bytes(4_000, 30)),
                ("Doppelt.pdf", bytes(5_000, 31)),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for (who, login, name) in [
        (&clerk, "clerk.a", "Irrläufer.pdf"),
        (&admin, "admin", "Doppelt.pdf"),
    ] {
        let id = node_id(&t, &t.space_a, an, name).await.expect("delivery");
        let r = who.post(&delete_path(&t, id), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{login} deletes {name}");
        assert_eq!(
            r.headers()["location"],
            format!("/spaces/{}/folders/{an}?notice=node-deleted", t.space_a.id).as_str()
        );
        assert!(
            node_id(&t, &t.space_a, an, name).await.is_none(),
            "{name} gone"
        );
        let audit = t.app.audit_recent(20).await.expect("audit");
        let row = audit
            .iter()
            .find(|a| a.action == "node.delete" && a.target.contains(&format!("node:{id}")))
            .unwrap_or_else(|| panic!("deletion of {name} audited: {audit:?}"));
        assert_eq!(row.actor_label, format!("Name {login}"));
        assert_eq!(row.member_id, Some(t.a.id));
        assert_eq!(row.outcome, "success");
        assert!(row.target.contains(name), "{}", row.target);
    }
    assert!(t.names_in(&t.space_a, an).await.is_empty());
    let space = t
        .app
        .space_of_member(&amtsbote::startup::cli_actor(), t.a.id)
        .await
        .expect("space");
    assert_eq!(space.used_bytes, 0, "the quota is given back");
    t.finish().await;
}

#[tokio::test]
async fn member_deletes_and_renames_own_delivery() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let r = user
        .upload(
            t.space_a.id,
            an,
            &[
                ("Entwurf.pdf", bytes(3_000, 40)),
                ("Antrag.pdf", bytes(3_000, 41)),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let draft = node_id(&t, &t.space_a, an, "Entwurf.pdf")
        .await
        .expect("draft");
    let r = user.post(&delete_path(&t, draft), &[]).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "member deletes own delivery"
    );
    assert!(node_id(&t, &t.space_a, an, "Entwurf.pdf").await.is_none());
    assert!(
        t.app
            .audit_recent(10)
            .await
            .expect("audit")
            .iter()
            .any(|a| a.action == "node.delete" && a.actor_label == "Name user.a")
    );
    let antrag = node_id(&t, &t.space_a, an, "Antrag.pdf")
        .await
        .expect("antrag");
    let r = user
        .post(&rename_path(&t, antrag), &[("name", "Antrag final.pdf")])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "member renames own delivery"
    );
    assert_eq!(t.names_in(&t.space_a, an).await, ["Antrag final.pdf"]);
    t.finish().await;
}

#[tokio::test]
async fn member_subfolder_in_an_kvbbg_notifies_the_authority() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let clerk = t.login("clerk.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let r = user
        .post(&mkdir_path(&t, an), &[("name", "Anträge 2026")])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "member creates a sub-folder"
    );
    let sub = node_id(&t, &t.space_a, an, "Anträge 2026")
        .await
        .expect("sub-folder");
    let outbox_before = t.app.outbox_recent(100).await.expect("outbox").len();
    let content = bytes(12_345, 50);
    let r = user
        .upload(t.space_a.id, sub, &[("Antrag Nr. 1.pdf", content.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::OK, "upload into the sub-folder");
    let file = node_id(&t, &t.space_a, sub, "Antrag Nr. 1.pdf")
        .await
        .expect("stored");

    let outbox = t.app.outbox_recent(100).await.expect("outbox");
    assert_eq!(outbox.len(), outbox_before + 1, "one event: {outbox:?}");
    let event = outbox
        .iter()
        .find(|o| o.payload.contains("Antrag Nr. 1.pdf"))
        .expect("event for the new file");
    assert_eq!(event.kind, "new_document");
    assert!(
        event.payload.contains(&format!("\"folder_id\":{sub}")),
        "{}",
        event.payload
    );
    assert!(
        filed_mails(&t)
            .await
            .contains(&"authority_documents clerk.a@example.org".to_string()),
        "the assigned clerk is told"
    );
    assert!(event.payload.contains(&format!("\"node_id\":{file}")));

    // The clerk finds it on the start page and receives it unaltered.
    let (_, home) = clerk.page("/").await;
    assert!(home.contains("Antrag Nr. 1.pdf"), "{home}");
    assert_eq!(fetch(&clerk, &t, file).await, (StatusCode::OK, content));
    // The member's own folder can be renamed by the member, not by the authority.
    let r = clerk
        .post(&rename_path(&t, sub), &[("name", "Umbenannt")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = user
        .post(
            &rename_path(&t, sub),
            &[("name", "Anträge 2026 (erledigt)")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        t.names_in(&t.space_a, an).await,
        ["Anträge 2026 (erledigt)"]
    );
    t.finish().await;
}

#[tokio::test]
async fn non_empty_folders_are_not_deleted() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let clerk = t.login("clerk.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let r = user
        .post(&mkdir_path(&t, an), &[("name", "Sammlung")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let dir = node_id(&t, &t.space_a, an, "Sammlung")
        .await
        .expect("folder");
    let r = user.post(&mkdir_path(&t, dir), &[("name", "Leer")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let empty = node_id(&t, &t.space_a, dir, "Leer").await.expect("empty");
    let content = bytes(9_000, 60);
    assert_eq!(
        user.upload(t.space_a.id, dir, &[("Beleg.pdf", content.clone())])
            .await
            .status(),
        StatusCode::OK
    );
    let file = node_id(&t, &t.space_a, dir, "Beleg.pdf")
        .await
        .expect("file");

    for (who, login) in [(&user, "user.a"), (&clerk, "clerk.a")] {
        let r = who.post(&delete_path(&t, dir), &[]).await;
        assert_eq!(
            r.status(),
            StatusCode::CONFLICT,
            "{login} deletes a non-empty folder"
        );
    }
    assert_eq!(t.names_in(&t.space_a, an).await, ["Sammlung"]);
    assert_eq!(t.names_in(&t.space_a, dir).await, ["Leer", "Beleg.pdf"]);
    assert_eq!(fetch(&user, &t, file).await, (StatusCode::OK, content));

    // Emptied, it goes.
    for id in [file, empty] {
        assert_eq!(
            user.post(&delete_path(&t, id), &[]).await.status(),
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        user.post(&delete_path(&t, dir), &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert!(t.names_in(&t.space_a, an).await.is_empty());
    t.finish().await;
}

#[tokio::test]
async fn same_side_overwrite_keeps_a_version() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let clerk = t.login("clerk.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let root = t.space_a.root_id;

    // Member side: a delivery replaced by the member.
    let v1 = bytes(10_000, 70);
    let v2 = bytes(11_000, 71);
    assert_eq!(
        user.upload(t.space_a.id, an, &[("Antrag.pdf", v1.clone())])
            .await
            .status(),
        StatusCode::OK
    );
    let id = node_id(&t, &t.space_a, an, "Antrag.pdf")
        .await
        .expect("stored");
    // The web form never replaces silently.
    let r = user
        .upload(t.space_a.id, an, &[("Antrag.pdf", bytes(10_000, 72))])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "same name without overwrite"
    );
    let e = ingest(&t, "user.a", an, "Antrag.pdf", bytes(10, 73), false)
        .await
        .expect_err("no overwrite asked");
    assert!(matches!(e, Error::AlreadyExists), "{e:?}");
    assert_eq!(versions_of(&t, id).await, 0);

    let done = ingest(&t, "user.a", an, "Antrag.pdf", v2.clone(), true)
        .await
        .expect("member overwrites own delivery");
    assert!(done.replaced);
    assert_eq!(done.node.id, id, "the node keeps its id");
    assert_eq!(node_id(&t, &t.space_a, an, "Antrag.pdf").await, Some(id));
    assert_eq!(fetch(&user, &t, id).await, (StatusCode::OK, v2.clone()));
    assert_eq!(versions_of(&t, id).await, 1, "the old content is kept");
    let (size, sha) = t
        .app
        .db
        .qa::<(i64, String)>("SELECT size, sha256 FROM node_versions WHERE node_id = ?")
        .bind(id)
        .fetch_one(t.app.db.pool())
        .await
        .expect("version");
    assert_eq!(size, v1.len() as i64);
    assert_eq!(sha, hex::encode(Sha256::digest(&v1)), "the version is v1");
    assert!(
        t.app
            .audit_recent(10)
            .await
            .expect("audit")
            .iter()
            .any(|a| a.action == "upload.replace" && a.target.contains(&format!("node:{id}")))
    );

    // The authority may not replace it.
    for login in ["clerk.a", "admin"] {
        let e = ingest(&t, login, an, "Antrag.pdf", bytes(10, 74), true)
            .await
            .expect_err("authority overwrites a delivery");
        assert!(
            matches!(e, Error::Forbidden(_) | Error::NotFound),
            "{login}: {e:?}"
        );
    }
    assert_eq!(fetch(&clerk, &t, id).await, (StatusCode::OK, v2));
    assert_eq!(versions_of(&t, id).await, 1);

    // Authority side: a document replaced by the authority, not by the member.
    let d1 = bytes(6_000, 75);
    let d2 = bytes(6_500, 76);
    assert_eq!(
        clerk
            .upload(t.space_a.id, root, &[("Bescheid.pdf", d1)])
            .await
            .status(),
        StatusCode::OK
    );
    let doc = node_id(&t, &t.space_a, root, "Bescheid.pdf")
        .await
        .expect("doc");
    let done = ingest(&t, "clerk.a", root, "Bescheid.pdf", d2.clone(), true)
        .await
        .expect("authority overwrites own document");
    assert!(done.replaced && done.node.id == doc);
    assert_eq!(versions_of(&t, doc).await, 1);
    let e = ingest(&t, "user.a", root, "Bescheid.pdf", bytes(10, 77), true)
        .await
        .expect_err("member overwrites the authority's document");
    assert!(matches!(e, Error::Forbidden(_) | Error::NotFound), "{e:?}");
    assert_eq!(fetch(&user, &t, doc).await, (StatusCode::OK, d2));
    assert_eq!(versions_of(&t, doc).await, 1);
    t.finish().await;
}

#[tokio::test]
async fn unassigned_clerk_sees_nothing_of_a() {
    let t = TestApp::spawn_with(Opts {
        clerks_see_all: false,
        ..Opts::default()
    })
    .await;
    let user = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    assert_eq!(
        user.upload(t.space_a.id, an, &[("Antrag.pdf", bytes(2_000, 80))])
            .await
            .status(),
        StatusCode::OK
    );
    let file = node_id(&t, &t.space_a, an, "Antrag.pdf")
        .await
        .expect("stored");
    let other = actor(&t, "clerk.other").await;
    let assigned = actor(&t, "clerk.a").await;

    // Core: the space does not open, the member is not listed, deliveries are hidden.
    assert!(matches!(
        t.app.open_space(&other, t.space_a.id).await,
        Err(Error::NotFound)
    ));
    assert!(t.app.open_space(&assigned, t.space_a.id).await.is_ok());
    assert!(
        !t.app
            .visible_members(&other, "")
            .await
            .expect("members")
            .iter()
            .any(|m| m.id == t.a.id)
    );
    assert!(
        t.app
            .recent_deliveries(&other, 100)
            .await
            .expect("deliveries")
            .is_empty()
    );
    assert_eq!(
        t.app
            .recent_deliveries(&assigned, 100)
            .await
            .expect("deliveries")
            .len(),
        1
    );
    let e = ingest(
        &t,
        "clerk.other",
        t.space_a.root_id,
        "X.pdf",
        bytes(5, 81),
        false,
    )
    .await
    .expect_err("no space access");
    assert!(matches!(e, Error::NotFound), "{e:?}");

    // Web: the same refusals as for an id that does not exist.
    let web = t.login("clerk.other").await;
    let sa = t.space_a.id;
    for path in [
        format!("/spaces/{sa}"),
        format!("/spaces/{sa}/folders/{}", t.space_a.root_id),
        format!("/spaces/{sa}/folders/{an}"),
        format!("/spaces/{sa}/files/{file}"),
    ] {
        assert_eq!(
            web.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "GET {path} as clerk.other"
        );
    }
    let r = web
        .upload(sa, t.space_a.root_id, &[("Bescheid.pdf", bytes(100, 82))])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "upload as clerk.other");
    let r = web.post(&delete_path(&t, file), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "delete as clerk.other");
    let (_, list) = web.page("/members?q=").await;
    assert!(!list.contains("Musterstadt"), "{list}");
    let (_, home) = web.page("/").await;
    assert!(!home.contains("Antrag.pdf"), "{home}");
    assert_eq!(t.names_in(&t.space_a, t.space_a.root_id).await, TEMPLATE);
    assert_eq!(t.names_in(&t.space_a, an).await, ["Antrag.pdf"]);
    t.finish().await;
}

/// With clerks_see_all = false and nobody assigned to a member, its deliveries are
/// announced to the admins only: clerks must not learn of members they do not see.
#[tokio::test]
async fn unassigned_member_deliveries_go_to_admins_only() {
    let t = TestApp::spawn_with(Opts {
        clerks_see_all: false,
        ..Opts::default()
    })
    .await;
    let user_b = t.login("user.b").await;
    let an_b = t.folder(&t.space_b, "an_KVBbg").await;
    let r = user_b
        .upload(t.space_b.id, an_b, &[("Antrag.pdf", bytes(100, 1))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let outbox = t.app.outbox_recent(5).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        filed_mails(&t).await,
        vec!["authority_documents admin@example.org"]
    );
    t.finish().await;
}

/// Many deletes of one file at once: one succeeds, the quota is freed exactly once, and
/// exactly one deletion is audited.
#[tokio::test]
async fn concurrent_deletes_free_the_quota_once() {
    let t = TestApp::spawn_with(Opts {
        quota: 10_000_000,
        ..Opts::default()
    })
    .await;
    let user = std::sync::Arc::new(t.login("user.a").await);
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let r = user
        .upload(t.space_a.id, an, &[("Einmal.pdf", bytes(1_000_000, 1))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = node_id(&t, &t.space_a, an, "Einmal.pdf")
        .await
        .expect("stored");
    let s = t.space_a.id;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let u = user.clone();
        tasks.push(tokio::spawn(async move {
            u.post(&format!("/spaces/{s}/nodes/{id}/delete"), &[])
                .await
                .status()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let status = task.await.expect("join");
        assert!(
            status == StatusCode::SEE_OTHER || status == StatusCode::NOT_FOUND,
            "{status}"
        );
        ok += usize::from(status == StatusCode::SEE_OTHER);
    }
    assert_eq!(ok, 1, "exactly one delete succeeds");
    let space = t
        .app
        .space_of_member(&amtsbote::startup::cli_actor(), t.a.id)
        .await
        .expect("space");
    assert_eq!(space.used_bytes, 0);
    let audit = t.app.audit_recent(100).await.expect("audit");
    assert_eq!(
        audit.iter().filter(|a| a.action == "node.delete").count(),
        1
    );
    t.finish().await;
}

/// What the sync clients send with an upload: a checksum that must match (else nothing
/// is stored) and the file's modification time, both kept on the node.
#[tokio::test]
async fn claimed_checksums_are_verified_and_client_mtimes_kept() {
    use amtsbote_core::storage::digests::ClaimedChecksum;
    let t = TestApp::spawn().await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let access = t
        .app
        .open_space(&actor(&t, "user.a").await, t.space_a.id)
        .await
        .expect("open");
    let content = bytes(70_000, 9);
    // Computed independently of the server's code.
    let sha1: String = sha1::Sha1::digest(&content)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    let upload = |name: &str, claim: &str, mtime: Option<i64>| Upload {
        folder_id: an,
        name: name.into(),
        content_type: None,
        overwrite: false,
        declared_size: Some(content.len() as u64),
        mtime,
        checksum: ClaimedChecksum::parse(claim),
        precondition: Default::default(),
    };
    let wrong = format!("SHA1:{}", "0".repeat(40));
    let err = t
        .app
        .ingest(
            &access,
            upload("Falsch.pdf", &wrong, None),
            body(content.clone()),
        )
        .await
        .expect_err("mismatch");
    assert!(matches!(err, Error::ChecksumMismatch), "{err:?}");
    assert_eq!(err.kind(), amtsbote_core::ErrorKind::BadInput);
    assert_eq!(
        t.stored_files(),
        (0, 0),
        "nothing kept of a mismatching upload"
    );
    assert!(node_id(&t, &t.space_a, an, "Falsch.pdf").await.is_none());

    let mtime = 1_600_000_000_000;
    let ok = t
        .app
        .ingest(
            &access,
            upload(
                "Richtig.pdf",
                &format!("sha1:{}", sha1.to_uppercase()),
                Some(mtime),
            ),
            body(content.clone()),
        )
        .await
        .expect("matching checksum");
    assert_eq!(ok.node.sha1.as_deref(), Some(sha1.as_str()));
    assert_eq!(ok.node.mtime, Some(mtime));
    assert_eq!(
        ok.node.sha256.as_deref(),
        Some(hex_sha256(&content).as_str())
    );
    let md5_wrong = format!("MD5:{}", "f".repeat(32));
    let err = t
        .app
        .ingest(
            &access,
            upload("Md5.pdf", &md5_wrong, None),
            body(content.clone()),
        )
        .await
        .expect_err("md5 mismatch");
    assert!(matches!(err, Error::ChecksumMismatch));
    t.finish().await;
}

fn hex_sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}
