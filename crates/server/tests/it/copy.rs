//! Ranged reads and copies in the core, the two capabilities the WebDAV door builds on:
//! a range is decided by the permission function and audited apart from a whole
//! download; a copy is new content that goes through the ingest pipeline like any
//! upload.

use amtsbote_core::Error;
use amtsbote_core::spaces::SpaceAccess;
use amtsbote_core::spaces::nodes::Node;
use amtsbote_core::storage::ingest::Upload;
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::helpers::{Opts, TestApp, actor, bytes, versions_of};

async fn space(t: &TestApp, login: &str, space_id: i64) -> SpaceAccess {
    t.app
        .open_space(&actor(t, login).await, space_id)
        .await
        .expect("open space")
}

/// Creates `name` in `folder` through the ingest pipeline, as `access`'s actor.
async fn put(access: &SpaceAccess, t: &TestApp, folder: i64, name: &str, content: &[u8]) -> Node {
    t.app
        .ingest(
            access,
            Upload {
                folder_id: folder,
                name: name.into(),
                content_type: Some("application/pdf".into()),
                overwrite: false,
                declared_size: None,
                mtime: Some(1_700_000_000_000),
                checksum: None,
                precondition: Default::default(),
            },
            futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(
                content.to_vec(),
            ))]),
        )
        .await
        .expect("ingest")
        .node
}

async fn range(
    t: &TestApp,
    access: &SpaceAccess,
    node: i64,
    start: u64,
    len: Option<u64>,
) -> Result<Vec<u8>, Error> {
    let (_, mut reader) = t.app.open_download_range(access, node, start, len).await?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.expect("read");
    Ok(out)
}

async fn download(t: &TestApp, access: &SpaceAccess, node: i64) -> Vec<u8> {
    let (_, mut reader) = t.app.open_download(access, node).await.expect("download");
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.expect("read");
    out
}

async fn used_bytes(t: &TestApp) -> i64 {
    t.app
        .space_of_member(&amtsbote::startup::cli_actor(), t.a.id)
        .await
        .expect("space")
        .used_bytes
}

/// Audit rows of one action about one node (by its `node:<id>` target), newest first.
async fn audited(t: &TestApp, action: &str, node: i64) -> Vec<amtsbote_core::audit::AuditRow> {
    let needle = format!("node:{node} ");
    t.app
        .audit_recent(200)
        .await
        .expect("audit")
        .into_iter()
        .filter(|a| a.action == action && a.target.starts_with(&needle))
        .collect()
}

#[tokio::test]
async fn ranged_reads_are_exact_checked_and_audited_apart_from_downloads() {
    let t = TestApp::spawn().await;
    let clerk = space(&t, "clerk.a", t.space_a.id).await;
    let content = bytes(10_000, 7);
    let doc = put(&clerk, &t, t.space_a.root_id, "Bescheid.pdf", &content).await;
    let user = space(&t, "user.a", t.space_a.id).await;

    assert_eq!(
        range(&t, &user, doc.id, 0, Some(100)).await.expect("range"),
        &content[..100]
    );
    assert_eq!(
        range(&t, &user, doc.id, 4_000, Some(1_000))
            .await
            .expect("range"),
        &content[4_000..5_000]
    );
    assert_eq!(
        range(&t, &user, doc.id, 9_990, None).await.expect("range"),
        &content[9_990..]
    );
    assert_eq!(
        range(&t, &user, doc.id, 9_999, Some(1))
            .await
            .expect("range"),
        &content[9_999..]
    );
    // A length past the end is cut at the end; the size itself is an empty range.
    assert_eq!(
        range(&t, &user, doc.id, 9_990, Some(500))
            .await
            .expect("range"),
        &content[9_990..]
    );
    assert!(
        range(&t, &user, doc.id, 10_000, None)
            .await
            .expect("range")
            .is_empty()
    );
    assert!(matches!(
        range(&t, &user, doc.id, 10_001, None).await,
        Err(Error::Invalid("range"))
    ));

    let ranges = audited(&t, "download.range", doc.id).await;
    assert_eq!(ranges.len(), 6, "every part read is audited: {ranges:?}");
    assert!(ranges.iter().all(|a| a.actor_label == "Name user.a"));
    assert!(ranges.iter().all(|a| a.member_id == Some(t.a.id)));
    assert!(
        ranges
            .iter()
            .any(|a| a.detail.starts_with("offset=4000 length=1000 size=10000")),
        "{ranges:?}"
    );
    assert!(
        ranges
            .iter()
            .any(|a| a.detail.starts_with("offset=9990 length=10 size=10000")),
        "cut length recorded: {ranges:?}"
    );
    assert!(audited(&t, "download", doc.id).await.is_empty());

    // The whole file, however asked for, is a download.
    assert_eq!(
        range(&t, &user, doc.id, 0, None).await.expect("range"),
        content
    );
    assert_eq!(
        range(&t, &user, doc.id, 0, Some(10_000))
            .await
            .expect("range"),
        content
    );
    assert_eq!(
        range(&t, &user, doc.id, 0, Some(99_999))
            .await
            .expect("range"),
        content
    );
    let downloads = audited(&t, "download", doc.id).await;
    assert_eq!(downloads.len(), 3, "{downloads:?}");
    assert!(
        downloads
            .iter()
            .all(|a| a.detail
                == format!("size=10000 sha256={}", doc.sha256.clone().expect("sha256")))
    );
    assert_eq!(audited(&t, "download.range", doc.id).await.len(), 6);

    // A folder is nothing to download.
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    assert!(matches!(
        range(&t, &user, an, 0, None).await,
        Err(Error::NotFound)
    ));
    // A's file through B's space, or B's user through A's space: not found.
    let user_b = space(&t, "user.b", t.space_b.id).await;
    assert!(matches!(
        range(&t, &user_b, doc.id, 0, Some(10)).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        t.app
            .open_space(&actor(&t, "user.b").await, t.space_a.id)
            .await,
        Err(Error::NotFound)
    ));
    let admin_b = space(&t, "admin", t.space_b.id).await;
    assert!(matches!(
        range(&t, &admin_b, doc.id, 0, None).await,
        Err(Error::NotFound)
    ));
    t.finish().await;
}

#[tokio::test]
async fn a_copied_file_is_new_content_with_its_own_blob_and_quota() {
    let t = TestApp::spawn_with(Opts {
        quota: 25_000,
        ..Opts::default()
    })
    .await;
    let user = space(&t, "user.a", t.space_a.id).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let content = bytes(10_000, 11);
    let original = put(&user, &t, an, "Antrag.pdf", &content).await;
    assert_eq!(t.stored_files(), (1, 0));

    let copy = t
        .app
        .copy_node(&user, original.id, an, "Antrag Kopie.pdf", false)
        .await
        .expect("copy");
    assert_ne!(copy.id, original.id);
    assert_eq!(copy.name, "Antrag Kopie.pdf");
    assert_eq!(copy.parent_id, Some(an));
    assert_eq!(copy.size, original.size);
    assert_eq!(copy.sha256, original.sha256);
    assert_eq!(copy.sha1, original.sha1);
    assert_eq!(copy.content_type, original.content_type);
    assert_eq!(copy.mtime, original.mtime, "the source's mtime is kept");
    assert_eq!(copy.origin, "member");
    assert_ne!(copy.blob_id, original.blob_id, "a blob of its own");
    assert_eq!(download(&t, &user, copy.id).await, content);
    assert_eq!(t.stored_files(), (2, 0));
    assert_eq!(used_bytes(&t).await, 20_000, "both count towards the quota");
    // Audited like any upload, and tied to its source.
    assert_eq!(audited(&t, "upload", copy.id).await.len(), 1);
    let tie = audited(&t, "node.copy", original.id).await;
    assert_eq!(tie.len(), 1);
    assert!(
        tie[0].detail.contains(&format!("to node:{}", copy.id)),
        "{tie:?}"
    );

    // A third copy would exceed the quota: refused before anything is stored.
    assert!(matches!(
        t.app
            .copy_node(&user, original.id, an, "Noch eine.pdf", false)
            .await,
        Err(Error::QuotaExceeded)
    ));
    assert_eq!(t.stored_files(), (2, 0));
    assert_eq!(
        t.names_in(&t.space_a, an).await,
        ["Antrag Kopie.pdf", "Antrag.pdf"]
    );

    // Deleting the copy gives its bytes back and leaves the original intact.
    t.app
        .delete_node(&user, copy.id)
        .await
        .expect("delete copy");
    assert_eq!(download(&t, &user, original.id).await, content);
    assert_eq!(used_bytes(&t).await, 10_000);
    assert_eq!(t.stored_files(), (1, 0));
    t.finish().await;
}

#[tokio::test]
async fn a_copy_needs_the_write_rules_of_its_destination() {
    let t = TestApp::spawn().await;
    let user = space(&t, "user.a", t.space_a.id).await;
    let clerk = space(&t, "clerk.a", t.space_a.id).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let post = t.folder(&t.space_a, "Postausgang").await;
    let delivery = put(&user, &t, an, "Antrag.pdf", &bytes(3_000, 21)).await;
    let letter = put(
        &clerk,
        &t,
        t.space_a.root_id,
        "Bescheid.pdf",
        &bytes(4_000, 22),
    )
    .await;
    let before = t.stored_files();
    let used = used_bytes(&t).await;

    // The member reads the root and Postausgang but writes neither.
    for folder in [t.space_a.root_id, post] {
        assert!(matches!(
            t.app
                .copy_node(&user, delivery.id, folder, "Kopie.pdf", false)
                .await,
            Err(Error::Forbidden(_))
        ));
    }
    // The authority reads an_KVBbg but does not write there.
    assert!(matches!(
        t.app
            .copy_node(&clerk, letter.id, an, "Kopie.pdf", false)
            .await,
        Err(Error::Forbidden(_))
    ));
    // A file is no destination folder; an unknown or foreign one is not found.
    assert!(matches!(
        t.app
            .copy_node(&user, delivery.id, delivery.id, "Kopie.pdf", false)
            .await,
        Err(Error::NotFound)
    ));
    let b_root = t.space_b.root_id;
    assert!(matches!(
        t.app
            .copy_node(&user, delivery.id, b_root, "Kopie.pdf", false)
            .await,
        Err(Error::NotFound)
    ));
    let user_b = space(&t, "user.b", t.space_b.id).await;
    let an_b = t.folder(&t.space_b, "an_KVBbg").await;
    assert!(matches!(
        t.app
            .copy_node(&user_b, delivery.id, an_b, "Kopie.pdf", false)
            .await,
        Err(Error::NotFound)
    ));
    // Bad names are refused as in any upload.
    assert!(matches!(
        t.app
            .copy_node(&user, delivery.id, an, "../x.pdf", false)
            .await,
        Err(Error::InvalidName(_))
    ));
    assert_eq!(t.stored_files(), before, "nothing was stored");
    assert_eq!(used_bytes(&t).await, used);
    assert_eq!(t.names_in(&t.space_a, an).await, ["Antrag.pdf"]);
    assert_eq!(t.names_in(&t.space_a, post).await, Vec::<String>::new());

    // Reading what the other side provided is enough to copy it into one's own folder:
    // the copy is the copier's.
    let mine = t
        .app
        .copy_node(&user, letter.id, an, "Bescheid.pdf", false)
        .await
        .expect("member copies the authority's letter into an_KVBbg");
    assert_eq!(mine.origin, "member");
    assert_eq!(mine.policy_key, delivery.policy_key);
    assert_eq!(download(&t, &user, mine.id).await, bytes(4_000, 22));
    t.finish().await;
}

#[tokio::test]
async fn replacing_by_a_copy_keeps_the_old_content_as_a_version() {
    let t = TestApp::spawn().await;
    let user = space(&t, "user.a", t.space_a.id).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let draft = put(&user, &t, an, "Entwurf.pdf", &bytes(2_000, 31)).await;
    let final_ = put(&user, &t, an, "Final.pdf", &bytes(3_000, 32)).await;

    assert!(matches!(
        t.app
            .copy_node(&user, final_.id, an, "Entwurf.pdf", false)
            .await,
        Err(Error::AlreadyExists)
    ));
    // The name comparison ignores case, as everywhere.
    assert!(matches!(
        t.app
            .copy_node(&user, final_.id, an, "ENTWURF.pdf", false)
            .await,
        Err(Error::AlreadyExists)
    ));
    assert_eq!(download(&t, &user, draft.id).await, bytes(2_000, 31));

    let replaced = t
        .app
        .copy_node(&user, final_.id, an, "Entwurf.pdf", true)
        .await
        .expect("replace");
    assert_eq!(replaced.id, draft.id, "the same file, new content");
    assert_eq!(download(&t, &user, draft.id).await, bytes(3_000, 32));
    assert_eq!(versions_of(&t, draft.id).await, 1, "old content kept");
    assert_eq!(used_bytes(&t).await, 2_000 + 3_000 + 3_000);
    assert_eq!(audited(&t, "upload.replace", draft.id).await.len(), 1);

    // Nothing is copied onto itself, with or without replace.
    for replace in [false, true] {
        assert!(matches!(
            t.app
                .copy_node(&user, final_.id, an, "Final.pdf", replace)
                .await,
            Err(Error::Forbidden(_))
        ));
    }
    // A folder is never replaced by a file (nor the other way round).
    let folder = t
        .app
        .create_folder(&user, an, "Ordner")
        .await
        .expect("mkdir");
    assert!(matches!(
        t.app.copy_node(&user, final_.id, an, "Ordner", true).await,
        Err(Error::AlreadyExists)
    ));
    assert!(matches!(
        t.app
            .copy_node(&user, folder.id, an, "Final.pdf", true)
            .await,
        Err(Error::AlreadyExists)
    ));
    assert_eq!(download(&t, &user, final_.id).await, bytes(3_000, 32));
    t.finish().await;
}

/// Names and contents below a folder, depth-first, as `(path, bytes)`; folders with
/// `None`.
async fn tree(t: &TestApp, access: &SpaceAccess, folder: i64) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![(folder, String::new())];
    while let Some((id, prefix)) = stack.pop() {
        let (_, children) = t.app.list_folder(access, id).await.expect("list");
        for c in children {
            let path = format!("{prefix}/{}", c.name);
            if c.is_folder() {
                out.push((path.clone(), None));
                stack.push((c.id, path));
            } else {
                out.push((path, Some(download(t, access, c.id).await)));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_folder_tree_is_copied_with_structure_and_bytes() {
    let t = TestApp::spawn().await;
    let clerk = space(&t, "clerk.a", t.space_a.id).await;
    let root = t.space_a.root_id;
    let akte = t
        .app
        .create_folder(&clerk, root, "Akte")
        .await
        .expect("mkdir");
    let unter = t
        .app
        .create_folder(&clerk, akte.id, "Unterlagen")
        .await
        .expect("mkdir");
    t.app
        .create_folder(&clerk, unter.id, "Leer")
        .await
        .expect("mkdir");
    put(&clerk, &t, akte.id, "Deckblatt.pdf", &bytes(1_500, 41)).await;
    put(&clerk, &t, unter.id, "Anlage 1.pdf", &bytes(2_500, 42)).await;
    put(&clerk, &t, unter.id, "Anlage 2.pdf", &bytes(0, 43)).await;
    let original = tree(&t, &clerk, akte.id).await;
    assert_eq!(original.len(), 5);
    let blobs = t.stored_files().0;
    let used = used_bytes(&t).await;

    let copy = t
        .app
        .copy_node(&clerk, akte.id, root, "Akte (Kopie)", false)
        .await
        .expect("copy tree");
    assert!(copy.is_folder());
    assert_ne!(copy.id, akte.id);
    // Every created item is audited (3 folders, 3 files),
    // then the copy as a whole; checked before the reads below add downloads.
    let audit = t.app.audit_recent(50).await.expect("audit");
    assert_eq!(audit[0].action, "node.copy");
    assert_eq!(
        audit[1..=6]
            .iter()
            .filter(|a| a.action == "folder.create")
            .count(),
        3,
        "{audit:?}"
    );
    assert_eq!(
        audit[1..=6].iter().filter(|a| a.action == "upload").count(),
        3,
        "{audit:?}"
    );

    assert_eq!(tree(&t, &clerk, copy.id).await, original);
    assert_eq!(
        tree(&t, &clerk, akte.id).await,
        original,
        "source unchanged"
    );
    assert_eq!(t.stored_files().0, blobs + 3, "every file has its own blob");
    assert_eq!(used_bytes(&t).await, 2 * used);
    // Into another folder under the same name, and by the other side: the member copies
    // the authority's file into its own folder, and the copy is the member's.
    let user = space(&t, "user.a", t.space_a.id).await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let member_copy = t
        .app
        .copy_node(&user, akte.id, an, "Akte", false)
        .await
        .expect("member copies the tree into an_KVBbg");
    assert_eq!(tree(&t, &user, member_copy.id).await, original);
    let (_, kids) = t
        .app
        .list_folder(&user, member_copy.id)
        .await
        .expect("list");
    assert!(
        kids.iter()
            .all(|k| k.origin == "member" && k.policy_key == member_copy.policy_key)
    );
    // The member may not copy it where it may not write; the first error stops it.
    assert!(matches!(
        t.app.copy_node(&user, akte.id, root, "Akte 2", false).await,
        Err(Error::Forbidden(_))
    ));
    t.finish().await;
}

#[tokio::test]
async fn a_folder_is_never_copied_into_itself() {
    let t = TestApp::spawn().await;
    let clerk = space(&t, "clerk.a", t.space_a.id).await;
    let root = t.space_a.root_id;
    let akte = t
        .app
        .create_folder(&clerk, root, "Akte")
        .await
        .expect("mkdir");
    let unter = t
        .app
        .create_folder(&clerk, akte.id, "Unterlagen")
        .await
        .expect("mkdir");
    let tief = t
        .app
        .create_folder(&clerk, unter.id, "Tief")
        .await
        .expect("mkdir");
    put(&clerk, &t, unter.id, "Anlage.pdf", &bytes(1_000, 51)).await;
    let before = tree(&t, &clerk, root).await;
    let blobs = t.stored_files();

    for dest in [akte.id, unter.id, tief.id] {
        assert!(
            matches!(
                t.app.copy_node(&clerk, akte.id, dest, "Kopie", false).await,
                Err(Error::Forbidden(_))
            ),
            "into {dest}"
        );
    }
    // Nor the root anywhere (everything is below it), nor a folder onto itself.
    assert!(matches!(
        t.app.copy_node(&clerk, root, akte.id, "Alles", false).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        t.app.copy_node(&clerk, akte.id, root, "akte", true).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(tree(&t, &clerk, root).await, before, "nothing created");
    assert_eq!(t.stored_files(), blobs);

    // A sibling or a parent is a fine destination.
    let copy = t
        .app
        .copy_node(&clerk, unter.id, akte.id, "Unterlagen 2", false)
        .await
        .expect("copy next to itself");
    assert_eq!(
        tree(&t, &clerk, copy.id).await,
        tree(&t, &clerk, unter.id).await
    );
    t.app
        .copy_node(&clerk, tief.id, root, "Tief", false)
        .await
        .expect("copy up");
    t.finish().await;
}

#[tokio::test]
async fn a_failed_folder_copy_stops_at_the_first_error_and_keeps_what_was_made() {
    let t = TestApp::spawn_with(Opts {
        quota: 10_000,
        ..Opts::default()
    })
    .await;
    let clerk = space(&t, "clerk.a", t.space_a.id).await;
    let root = t.space_a.root_id;
    let akte = t
        .app
        .create_folder(&clerk, root, "Akte")
        .await
        .expect("mkdir");
    put(&clerk, &t, akte.id, "A.pdf", &bytes(3_000, 61)).await;
    put(&clerk, &t, akte.id, "B.pdf", &bytes(3_000, 62)).await;

    // Room for one more file of 3 000 bytes, not two: the second one fails the quota.
    assert!(matches!(
        t.app.copy_node(&clerk, akte.id, root, "Kopie", false).await,
        Err(Error::QuotaExceeded)
    ));
    // Not atomic (as in any WebDAV server): the folder and the first file stay, each
    // audited as it was created; the copy as a whole is not recorded as done.
    let kopie = crate::helpers::node_id(&t, &t.space_a, root, "Kopie")
        .await
        .expect("partial copy kept");
    assert_eq!(t.names_in(&t.space_a, kopie).await, ["A.pdf"]);
    assert_eq!(used_bytes(&t).await, 9_000);
    assert_eq!(t.stored_files(), (3, 0), "the refused file left nothing");
    assert!(audited(&t, "node.copy", akte.id).await.is_empty());
    t.finish().await;
}
