//! The core's tree operations for the WebDAV door (`spaces/tree.rs`): resolving paths,
//! moving nodes and deleting whole folders, with the default KVBbg template.

use amtsbote::startup::cli_actor;
use amtsbote_core::Error;
use amtsbote_core::spaces::SpaceAccess;
use amtsbote_core::spaces::nodes::Node;
use amtsbote_core::storage::ingest::Upload;

use crate::helpers::{TestApp, actor, body, bytes};

/// Space A as `login` sees it.
async fn access(t: &TestApp, login: &str) -> SpaceAccess {
    t.app
        .open_space(&actor(t, login).await, t.space_a.id)
        .await
        .expect("open space a")
}

/// Creates (or with `overwrite` replaces) a file in space A through the ingest pipeline.
async fn put(
    t: &TestApp,
    login: &str,
    folder: i64,
    name: &str,
    content: Vec<u8>,
    overwrite: bool,
) -> Node {
    t.app
        .ingest(
            &access(t, login).await,
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
        .expect("ingest")
        .node
}

async fn mkdir(t: &TestApp, login: &str, parent: i64, name: &str) -> Node {
    t.app
        .create_folder(&access(t, login).await, parent, name)
        .await
        .expect("mkdir")
}

/// A node of space A straight from the core (as the service staff would see it).
async fn get(t: &TestApp, id: i64) -> Result<Node, Error> {
    let access = t.app.open_space(&cli_actor(), t.space_a.id).await?;
    t.app.node(&access, id).await
}

async fn etag(t: &TestApp, id: i64) -> String {
    get(t, id).await.expect("node").etag
}

async fn used_a(t: &TestApp) -> i64 {
    t.app
        .space_of_member(&amtsbote::startup::cli_actor(), t.a.id)
        .await
        .expect("space")
        .used_bytes
}

async fn audited(t: &TestApp, action: &str) -> Vec<String> {
    t.app
        .audit_recent(500)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.action == action)
        .map(|r| r.target)
        .collect()
}

/// Puts a folder into a policy area the template no longer has (as after removing it
/// from the configuration): readable and deletable by the authority only.
async fn orphan(t: &TestApp, id: i64) {
    t.app
        .db
        .q("UPDATE nodes SET policy_key = 'nicht-mehr-konfiguriert' WHERE id = ?")
        .bind(id)
        .execute(t.app.db.pool())
        .await
        .expect("update");
}

#[tokio::test]
async fn resolve_walks_names_case_insensitively_and_hides_what_is_unreadable() {
    let t = TestApp::spawn().await;
    let root = t.space_a.root_id;
    let akten = mkdir(&t, "clerk.a", root, "Akten").await;
    let jahr = mkdir(&t, "clerk.a", akten.id, "2026").await;
    let doc = put(
        &t,
        "clerk.a",
        jahr.id,
        "Bescheid_März.pdf",
        bytes(500, 1),
        false,
    )
    .await;
    let user = access(&t, "user.a").await;

    assert_eq!(t.app.resolve_path(&user, &[]).await.expect("root").id, root);
    let found = t
        .app
        .resolve_path(&user, &["AKTEN", "2026", "bescheid_MÄRZ.PDF"])
        .await
        .expect("nested");
    assert_eq!(found.id, doc.id);
    // The same name in decomposed form (as macOS clients send it) is the same name.
    let found = t
        .app
        .resolve_path(&user, &["akten", "2026", "Bescheid_Ma\u{0308}rz.pdf"])
        .await
        .expect("nfd");
    assert_eq!(found.id, doc.id);
    assert_eq!(
        t.app
            .resolve_path(&user, &["an_kvbbg"])
            .await
            .expect("template folder")
            .name,
        "an_KVBbg"
    );
    for missing in [
        vec!["Akten", "2025"],
        vec!["Akten", "2026", "Bescheid_März.pdf", "x"],
        vec!["Akten", "", "2026"],
        vec!["Akten", "..", "Akten"],
        vec!["Akten", "."],
    ] {
        assert!(
            matches!(
                t.app.resolve_path(&user, &missing).await,
                Err(Error::NotFound)
            ),
            "{missing:?}"
        );
    }

    // A folder the member may not read is "not found", it and everything below it.
    orphan(&t, jahr.id).await;
    for path in [
        vec!["Akten", "2026"],
        vec!["Akten", "2026", "Bescheid_März.pdf"],
    ] {
        assert!(matches!(
            t.app.resolve_path(&user, &path).await,
            Err(Error::NotFound)
        ));
    }
    let clerk = access(&t, "clerk.a").await;
    assert_eq!(
        t.app
            .resolve_path(&clerk, &["Akten", "2026"])
            .await
            .expect("staff reads it")
            .id,
        jahr.id
    );

    // Another member's tree is out of reach: B's names do not resolve in A, and B's
    // user cannot open A at all.
    let access_b = t
        .app
        .open_space(&cli_actor(), t.space_b.id)
        .await
        .expect("open b");
    t.app
        .create_folder(&access_b, t.space_b.root_id, "Nur_B")
        .await
        .expect("mkdir b");
    assert!(matches!(
        t.app.resolve_path(&user, &["Nur_B"]).await,
        Err(Error::NotFound)
    ));
    let user_b = t
        .app
        .open_space(&actor(&t, "user.b").await, t.space_b.id)
        .await
        .expect("own space");
    assert!(matches!(
        t.app.resolve_path(&user_b, &["Akten"]).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        t.app
            .open_space(&actor(&t, "user.b").await, t.space_a.id)
            .await,
        Err(Error::NotFound)
    ));
    t.finish().await;
}

#[tokio::test]
async fn move_renames_and_reparents_keeping_the_id_and_propagating_etags() {
    let t = TestApp::spawn().await;
    let root = t.space_a.root_id;
    let out = t.folder(&t.space_a, "Postausgang").await;
    let akten = mkdir(&t, "clerk.a", root, "Akten").await;
    let sub = mkdir(&t, "clerk.a", akten.id, "Alt").await;
    let doc = put(
        &t,
        "clerk.a",
        sub.id,
        "Bescheid.pdf",
        bytes(3_000, 2),
        false,
    )
    .await;
    let used = used_a(&t).await;
    let clerk = access(&t, "clerk.a").await;

    // Rename in place.
    let (root_e, akten_e, sub_e) = (
        etag(&t, root).await,
        etag(&t, akten.id).await,
        etag(&t, sub.id).await,
    );
    let (moved, replaced) = t
        .app
        .move_node(&clerk, doc.id, sub.id, "Bescheid 2026.pdf", false)
        .await
        .expect("rename");
    assert!(!replaced);
    assert_eq!(moved.id, doc.id);
    assert_eq!(moved.name, "Bescheid 2026.pdf");
    assert_eq!(moved.sha256, doc.sha256, "content untouched");
    assert_ne!(moved.etag, doc.etag);
    assert_ne!(etag(&t, sub.id).await, sub_e);
    assert_ne!(etag(&t, akten.id).await, akten_e);
    assert_ne!(etag(&t, root).await, root_e);
    assert_eq!(t.names_in(&t.space_a, sub.id).await, ["Bescheid 2026.pdf"]);

    // Only the case changes: still the same node, no conflict with itself.
    let (moved, _) = t
        .app
        .move_node(&clerk, doc.id, sub.id, "BESCHEID 2026.pdf", false)
        .await
        .expect("case-only rename");
    assert_eq!(moved.name, "BESCHEID 2026.pdf");

    // Reparent into another template folder: the file takes its policy area.
    let (root_e, akten_e, sub_e, out_e) = (
        etag(&t, root).await,
        etag(&t, akten.id).await,
        etag(&t, sub.id).await,
        etag(&t, out).await,
    );
    let before = moved.etag.clone();
    let (moved, _) = t
        .app
        .move_node(&clerk, doc.id, out, "Bescheid.pdf", false)
        .await
        .expect("reparent");
    assert_eq!(moved.id, doc.id, "sync clients keep the file id");
    assert_eq!(moved.parent_id, Some(out));
    assert_eq!(moved.policy_key, "postausgang");
    assert_ne!(moved.etag, before);
    assert_ne!(etag(&t, sub.id).await, sub_e, "old parent");
    assert_ne!(etag(&t, akten.id).await, akten_e, "old grandparent");
    assert_ne!(etag(&t, out).await, out_e, "new parent");
    assert_ne!(etag(&t, root).await, root_e, "root");
    assert!(t.names_in(&t.space_a, sub.id).await.is_empty());
    assert_eq!(t.names_in(&t.space_a, out).await, ["Bescheid.pdf"]);

    // A folder moves with its content within its policy area.
    let inner = put(&t, "clerk.a", sub.id, "Anlage.pdf", bytes(700, 3), false).await;
    let archiv = mkdir(&t, "clerk.a", root, "Archiv").await;
    let used = used + 700;
    let (moved_sub, _) = t
        .app
        .move_node(&clerk, sub.id, archiv.id, "Alt 2025", false)
        .await
        .expect("move folder");
    assert_eq!(moved_sub.id, sub.id);
    let user = access(&t, "user.a").await;
    assert_eq!(
        t.app
            .resolve_path(&user, &["archiv", "alt 2025", "anlage.pdf"])
            .await
            .expect("moved content")
            .id,
        inner.id
    );
    assert!(t.names_in(&t.space_a, akten.id).await.is_empty());

    // Moving changes no byte count, and the same name at the same place is a no-op.
    assert_eq!(used_a(&t).await, used);
    let same = get(&t, sub.id).await.expect("node");
    let (again, replaced) = t
        .app
        .move_node(&clerk, sub.id, archiv.id, "Alt 2025", false)
        .await
        .expect("no-op");
    assert!(!replaced);
    assert_eq!(again.etag, same.etag);

    let moves = audited(&t, "node.move").await;
    assert_eq!(moves.len(), 4, "{moves:?}");
    assert!(
        moves
            .iter()
            .any(|m| m.contains(&format!("node:{}", doc.id)) && m.contains("-> Bescheid.pdf")),
        "{moves:?}"
    );
    t.finish().await;
}

#[tokio::test]
async fn move_replaces_only_when_asked_and_frees_the_replaced_file_exactly() {
    let t = TestApp::spawn().await;
    let root = t.space_a.root_id;
    let out = t.folder(&t.space_a, "Postausgang").await;
    let a = put(&t, "clerk.a", root, "a.pdf", bytes(1_000, 4), false).await;
    // The target has a kept version, which goes (and is freed) with it.
    put(&t, "clerk.a", out, "b.pdf", bytes(2_000, 5), false).await;
    let b = put(&t, "clerk.a", out, "b.pdf", bytes(3_000, 6), true).await;
    assert_eq!(used_a(&t).await, 6_000);
    assert_eq!(t.stored_files().0, 3);
    let clerk = access(&t, "clerk.a").await;

    assert!(matches!(
        t.app.move_node(&clerk, a.id, out, "B.PDF", false).await,
        Err(Error::AlreadyExists)
    ));
    assert_eq!(
        t.names_in(&t.space_a, root).await.len(),
        4,
        "a.pdf still in root"
    );
    assert_eq!(get(&t, b.id).await.expect("b intact").size, 3_000);

    let (moved, replaced) = t
        .app
        .move_node(&clerk, a.id, out, "b.pdf", true)
        .await
        .expect("replace");
    assert!(replaced);
    assert_eq!(moved.id, a.id);
    assert_eq!(moved.size, 1_000);
    assert!(matches!(get(&t, b.id).await, Err(Error::NotFound)));
    assert_eq!(t.names_in(&t.space_a, out).await, ["b.pdf"]);
    assert_eq!(used_a(&t).await, 1_000, "content and version of b freed");
    assert_eq!(t.stored_files(), (1, 0), "b's blobs removed");
    let deletes = audited(&t, "node.delete").await;
    assert_eq!(deletes, [format!("node:{} name:b.pdf", b.id)]);

    // A folder in the way is never replaced by a move.
    let x = put(&t, "clerk.a", root, "x", bytes(10, 7), false).await;
    mkdir(&t, "clerk.a", out, "X").await;
    assert!(matches!(
        t.app.move_node(&clerk, x.id, out, "x", true).await,
        Err(Error::AlreadyExists)
    ));

    // The member may replace its own delivery, but not the authority's document.
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let first = put(&t, "user.a", an, "Antrag.pdf", bytes(400, 8), false).await;
    let second = put(&t, "user.a", an, "Antrag_neu.pdf", bytes(500, 9), false).await;
    let user = access(&t, "user.a").await;
    let (moved, replaced) = t
        .app
        .move_node(&user, second.id, an, "Antrag.pdf", true)
        .await
        .expect("member replaces own");
    assert!(replaced);
    assert_eq!(moved.id, second.id);
    assert!(matches!(get(&t, first.id).await, Err(Error::NotFound)));
    t.finish().await;
}

#[tokio::test]
async fn move_refuses_cycles_template_folders_and_policy_violations() {
    let t = TestApp::spawn().await;
    let root = t.space_a.root_id;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let out = t.folder(&t.space_a, "Postausgang").await;
    let clerk = access(&t, "clerk.a").await;
    let user = access(&t, "user.a").await;
    let admin = access(&t, "admin").await;

    // A folder into itself or below itself.
    let akten = mkdir(&t, "clerk.a", root, "Akten").await;
    let tief = mkdir(&t, "clerk.a", akten.id, "Tief").await;
    let tiefer = mkdir(&t, "clerk.a", tief.id, "Tiefer").await;
    for dest in [akten.id, tief.id, tiefer.id] {
        assert!(
            matches!(
                t.app
                    .move_node(&clerk, akten.id, dest, "Akten", false)
                    .await,
                Err(Error::Invalid(_))
            ),
            "into {dest}"
        );
    }
    assert_eq!(
        get(&t, akten.id).await.expect("akten").parent_id,
        Some(root)
    );

    // Template folders and the root stay where they are, for everyone.
    for who in [&clerk, &admin] {
        assert!(matches!(
            t.app
                .move_node(who, out, akten.id, "Postausgang", false)
                .await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            t.app.move_node(who, out, root, "Ausgang", false).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            t.app.move_node(who, root, akten.id, "Wurzel", false).await,
            Err(Error::Forbidden(_))
        ));
    }
    assert!(matches!(
        t.app.move_node(&user, an, root, "Lieferungen", false).await,
        Err(Error::Forbidden(_))
    ));

    // A folder does not leave its policy area (its content would change rules).
    assert!(matches!(
        t.app.move_node(&clerk, akten.id, out, "Akten", false).await,
        Err(Error::Forbidden(_))
    ));

    // The member cannot move (nor rename) what the authority provided.
    let doc = put(&t, "clerk.a", root, "Bescheid.pdf", bytes(900, 10), false).await;
    for (dest, name) in [(an, "Bescheid.pdf"), (root, "Meins.pdf")] {
        assert!(matches!(
            t.app.move_node(&user, doc.id, dest, name, false).await,
            Err(Error::Forbidden(_))
        ));
    }
    // The authority cannot move (nor rename) a member's delivery, nor put its own
    // documents where only the member writes.
    let delivery = put(&t, "user.a", an, "Antrag.pdf", bytes(800, 11), false).await;
    for (dest, name) in [(root, "Antrag.pdf"), (an, "Umbenannt.pdf")] {
        for who in [&clerk, &admin] {
            assert!(matches!(
                t.app.move_node(who, delivery.id, dest, name, false).await,
                Err(Error::Forbidden(_))
            ));
        }
    }
    assert!(matches!(
        t.app
            .move_node(&clerk, doc.id, an, "Bescheid.pdf", false)
            .await,
        Err(Error::Forbidden(_))
    ));
    // ...and the member cannot take its delivery out of its folder.
    assert!(matches!(
        t.app
            .move_node(&user, delivery.id, root, "Antrag.pdf", false)
            .await,
        Err(Error::Forbidden(_))
    ));
    // A member folder stays in the member's area, too.
    let eigen = mkdir(&t, "user.a", an, "Eigen").await;
    assert!(matches!(
        t.app.move_node(&user, eigen.id, out, "Eigen", false).await,
        Err(Error::Forbidden(_))
    ));
    // Onto a file, or with a hostile name, is no move either.
    assert!(matches!(
        t.app
            .move_node(&user, delivery.id, delivery.id, "x.pdf", false)
            .await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        t.app
            .move_node(&user, delivery.id, an, "../x.pdf", false)
            .await,
        Err(Error::InvalidName(_))
    ));

    // Another space's folder is not there at all.
    let b_root = t.space_b.root_id;
    assert!(matches!(
        t.app
            .move_node(&admin, doc.id, b_root, "Bescheid.pdf", false)
            .await,
        Err(Error::NotFound)
    ));
    // Nothing changed, nothing moved.
    assert_eq!(get(&t, doc.id).await.expect("doc").parent_id, Some(root));
    assert_eq!(
        get(&t, delivery.id).await.expect("delivery").name,
        "Antrag.pdf"
    );
    assert!(audited(&t, "node.move").await.is_empty());
    assert_eq!(used_a(&t).await, 1_700);
    t.finish().await;
}

#[tokio::test]
async fn delete_tree_removes_everything_below_and_frees_exactly() {
    let t = TestApp::spawn().await;
    let root = t.space_a.root_id;
    let keep = put(&t, "clerk.a", root, "Bleibt.pdf", bytes(100, 12), false).await;
    let akten = mkdir(&t, "clerk.a", root, "Akten").await;
    let sub = mkdir(&t, "clerk.a", akten.id, "2026").await;
    mkdir(&t, "clerk.a", sub.id, "Leer").await;
    let f1 = put(&t, "clerk.a", akten.id, "eins.pdf", bytes(1_000, 13), false).await;
    put(&t, "clerk.a", sub.id, "zwei.pdf", bytes(2_000, 14), false).await;
    // An overwrite keeps a version, which is freed with the file.
    let f2 = put(&t, "clerk.a", sub.id, "zwei.pdf", bytes(4_000, 15), true).await;
    assert_eq!(used_a(&t).await, 7_100);
    assert_eq!(t.stored_files(), (4, 0));
    let root_e = etag(&t, root).await;

    // Neither the member nor anyone for a template folder or the root.
    let user = access(&t, "user.a").await;
    assert!(matches!(
        t.app.delete_tree(&user, akten.id).await,
        Err(Error::Forbidden(_))
    ));
    let admin = access(&t, "admin").await;
    for structural in [root, t.folder(&t.space_a, "Postausgang").await] {
        assert!(matches!(
            t.app.delete_tree(&admin, structural).await,
            Err(Error::Forbidden(_))
        ));
    }
    assert_eq!(used_a(&t).await, 7_100);

    let clerk = access(&t, "clerk.a").await;
    t.app.delete_tree(&clerk, akten.id).await.expect("delete");
    assert_eq!(used_a(&t).await, 100, "exactly the subtree freed");
    assert_eq!(t.stored_files(), (1, 0), "blobs of the subtree removed");
    assert_eq!(
        t.names_in(&t.space_a, root).await,
        [
            "an_KVBbg",
            "KVBBG-SB-Posteingang",
            "Postausgang",
            "Bleibt.pdf"
        ]
    );
    for gone in [akten.id, sub.id, f1.id, f2.id] {
        assert!(matches!(get(&t, gone).await, Err(Error::NotFound)));
    }
    let versions: i64 = t
        .app
        .db
        .qs::<i64>("SELECT COUNT(*) FROM node_versions")
        .fetch_one(t.app.db.pool())
        .await
        .expect("count");
    assert_eq!(versions, 0);
    assert_ne!(etag(&t, root).await, root_e);
    assert!(get(&t, keep.id).await.is_ok());
    let deletes = audited(&t, "node.delete").await;
    assert_eq!(deletes.len(), 5, "two files and three folders: {deletes:?}");
    assert!(deletes.contains(&format!("node:{} name:eins.pdf", f1.id)));
    assert!(deletes.contains(&format!("node:{} name:zwei.pdf", f2.id)));

    // A single file is a subtree too.
    t.app.delete_tree(&clerk, keep.id).await.expect("file");
    assert_eq!(used_a(&t).await, 0);
    assert_eq!(t.stored_files(), (0, 0));
    t.finish().await;
}

#[tokio::test]
async fn delete_tree_is_all_or_nothing() {
    let t = TestApp::spawn().await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let lieferung = mkdir(&t, "user.a", an, "Lieferung").await;
    let inner = mkdir(&t, "user.a", lieferung.id, "Anlagen").await;
    put(
        &t,
        "user.a",
        lieferung.id,
        "Antrag.pdf",
        bytes(1_000, 16),
        false,
    )
    .await;
    let foreign = put(
        &t,
        "user.a",
        inner.id,
        "Bescheid.pdf",
        bytes(2_000, 17),
        false,
    )
    .await;
    // An authority document deep in the member's folder (as a configuration where both
    // sides write there would allow): the member may never delete it.
    t.app
        .db
        .q("UPDATE nodes SET origin = 'authority' WHERE id = ?")
        .bind(foreign.id)
        .execute(t.app.db.pool())
        .await
        .expect("update");
    let user = access(&t, "user.a").await;
    let names_before = t.names_in(&t.space_a, lieferung.id).await;
    let etag_before = etag(&t, t.space_a.root_id).await;

    assert!(matches!(
        t.app.delete_tree(&user, lieferung.id).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(t.names_in(&t.space_a, lieferung.id).await, names_before);
    assert_eq!(t.names_in(&t.space_a, inner.id).await, ["Bescheid.pdf"]);
    assert_eq!(used_a(&t).await, 3_000);
    assert_eq!(t.stored_files(), (2, 0));
    assert_eq!(etag(&t, t.space_a.root_id).await, etag_before);
    assert!(audited(&t, "node.delete").await.is_empty());

    // The authority may delete member and authority items there, so it may.
    let clerk = access(&t, "clerk.a").await;
    t.app
        .delete_tree(&clerk, lieferung.id)
        .await
        .expect("staff");
    assert_eq!(used_a(&t).await, 0);
    assert_eq!(t.stored_files(), (0, 0));
    t.finish().await;
}

#[tokio::test]
async fn concurrent_delete_tree_frees_once() {
    let t = TestApp::spawn().await;
    let root = t.space_a.root_id;
    let keep = put(&t, "clerk.a", root, "Bleibt.pdf", bytes(50, 18), false).await;
    let akten = mkdir(&t, "clerk.a", root, "Akten").await;
    let sub = mkdir(&t, "clerk.a", akten.id, "Sub").await;
    for (i, folder) in [akten.id, akten.id, sub.id].into_iter().enumerate() {
        put(
            &t,
            "clerk.a",
            folder,
            &format!("d{i}.pdf"),
            bytes(1_000 * (i + 1), 20 + i as u64),
            false,
        )
        .await;
    }
    assert_eq!(used_a(&t).await, 6_050);
    let clerk = access(&t, "clerk.a").await;
    let admin = access(&t, "admin").await;

    let (r1, r2) = tokio::join!(
        t.app.delete_tree(&clerk, akten.id),
        t.app.delete_tree(&admin, akten.id)
    );
    let ok = [&r1, &r2].iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one wins: {r1:?} {r2:?}");
    let loser = if r1.is_ok() { r2 } else { r1 };
    assert!(matches!(loser, Err(Error::NotFound)), "{loser:?}");
    assert_eq!(used_a(&t).await, 50, "freed once");
    assert_eq!(t.stored_files(), (1, 0));
    assert_eq!(audited(&t, "node.delete").await.len(), 5);
    assert!(get(&t, keep.id).await.is_ok());
    t.finish().await;
}
