//! The exchange as the process documents describe it, end to end over HTTP.

use reqwest::StatusCode;

use crate::helpers::{TestApp, bytes, filed_mails, node_id};

#[tokio::test]
async fn authority_to_member_and_back() {
    let t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let user = t.login("user.a").await;
    let root = t.space_a.root_id;
    let an = t.folder(&t.space_a, "an_KVBbg").await;

    // The clerk drops a document into member A's root.
    let doc = bytes(300_000, 1);
    let r = clerk
        .upload(
            t.space_a.id,
            root,
            &[("Gehaltsmitteilung_März.pdf", doc.clone())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("erfolgreich hochgeladen")
    );

    // The member user sees it in the listing and downloads it byte-identical.
    let (status, listing) = user.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(listing.contains("Gehaltsmitteilung_März.pdf"), "{listing}");
    assert!(listing.contains("Name clerk.a"), "uploader is shown");
    let id = node_id(&t, &t.space_a, root, "Gehaltsmitteilung_März.pdf")
        .await
        .expect("stored");
    let dl = user.download(t.space_a.id, id).await;
    assert_eq!(dl.status(), StatusCode::OK);
    let disposition = dl.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''Gehaltsmitteilung_M%C3%A4rz.pdf"),
        "{disposition}"
    );
    assert_eq!(dl.headers()["x-content-type-options"], "nosniff");
    assert_eq!(dl.bytes().await.expect("body").as_ref(), doc.as_slice());

    // The user delivers into an_KVBbg; the clerk finds it on the start page.
    t.clock.advance_ms(60_000);
    let reply = bytes(123_456, 2);
    let r = user
        .upload(
            t.space_a.id,
            an,
            &[
                ("Antrag Müller.pdf", reply.clone()),
                ("Anlage.pdf", bytes(10, 3)),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, home) = clerk.page("/").await;
    assert!(home.contains("Antrag Müller.pdf"), "{home}");
    assert!(home.contains("1001 Stadt Musterstadt"));
    assert!(
        home.contains(r#"class="new""#),
        "deliveries since the last visit are marked"
    );
    let (_, again) = clerk.page("/").await;
    assert!(
        !again.contains(r#"class="new""#),
        "seen deliveries are no longer new"
    );
    let rid = node_id(&t, &t.space_a, an, "Antrag Müller.pdf")
        .await
        .expect("stored");
    let dl = clerk.download(t.space_a.id, rid).await;
    assert_eq!(dl.status(), StatusCode::OK);
    assert_eq!(dl.bytes().await.expect("body").as_ref(), reply.as_slice());

    // Outbox: one event per file, in the upload's transaction; filed into one mail per
    // recipient: the member's users and contact address for the drop, the assigned
    // clerk for both deliveries together.
    let outbox = t.app.outbox_recent(10).await.expect("outbox");
    assert_eq!(outbox.len(), 3, "{outbox:?}");
    assert!(outbox.iter().all(|o| o.kind == "new_document"));
    let to_member = outbox
        .iter()
        .find(|o| o.payload.contains("Gehaltsmitteilung"))
        .expect("member event");
    assert!(to_member.payload.contains(&format!("\"folder_id\":{root}")));
    assert_eq!(
        filed_mails(&t).await,
        vec![
            "authority_documents clerk.a@example.org",
            "member_documents post@musterstadt.example",
            "member_documents user.a2@example.org",
            "member_documents user.a@example.org",
        ],
        "only the assigned clerk hears of the deliveries; nobody of their own upload"
    );
    let outbox = t.app.outbox_recent(10).await.expect("outbox");
    assert!(outbox.iter().all(|o| o.status == "done"), "{outbox:?}");

    // Audit: uploads and downloads are recorded with actor and member.
    let audit = t.app.audit_recent(50).await.expect("audit");
    let uploads: Vec<_> = audit.iter().filter(|a| a.action == "upload").collect();
    assert_eq!(uploads.len(), 3);
    assert!(uploads.iter().all(|a| a.member_id == Some(t.a.id)));
    let downloads: Vec<_> = audit.iter().filter(|a| a.action == "download").collect();
    assert_eq!(downloads.len(), 2);
    assert!(downloads.iter().any(|a| a.actor_label == "Name user.a"));
    assert!(
        audit.iter().any(|a| a.action == "login"
            && a.outcome == "success"
            && a.actor_label == "Name clerk.a")
    );
    t.finish().await;
}

#[tokio::test]
async fn staff_find_members_and_create_folders() {
    let t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let (s, list) = clerk.page("/members?q=muster").await;
    assert_eq!(s, StatusCode::OK);
    assert!(list.contains("Stadt Musterstadt"));
    assert!(!list.contains("Beispielheim"));
    let (_, by_number) = clerk.page("/members?q=1002").await;
    assert!(by_number.contains("Beispielheim") && !by_number.contains("Musterstadt"));
    // LIKE wildcards in the search are literal.
    let (_, wild) = clerk.page("/members?q=%25").await;
    assert!(!wild.contains("Beispielheim"));

    let r = clerk
        .post(
            &format!(
                "/spaces/{}/folders/{}/mkdir",
                t.space_a.id, t.space_a.root_id
            ),
            &[("name", "Bescheide 2026")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        t.names_in(&t.space_a, t.space_a.root_id)
            .await
            .contains(&"Bescheide 2026".to_string())
    );
    let r = clerk
        .post(
            &format!(
                "/spaces/{}/folders/{}/mkdir",
                t.space_a.id, t.space_a.root_id
            ),
            &[("name", "bescheide 2026")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "duplicate without regard to case"
    );
    t.finish().await;
}

#[tokio::test]
async fn folder_etags_change_up_to_the_root() {
    let t = TestApp::spawn().await;
    let cli = amtsbote::startup::cli_actor();
    let access = t.app.open_space(&cli, t.space_a.id).await.expect("open");
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let post = t.folder(&t.space_a, "Postausgang").await;
    let etag = |id: i64| {
        let app = t.app.clone();
        let access = access.clone();
        async move { app.node(&access, id).await.expect("node").etag }
    };
    let (root0, an0, post0) = (
        etag(t.space_a.root_id).await,
        etag(an).await,
        etag(post).await,
    );
    let user = t.login("user.a").await;
    let r = user
        .post(
            &format!("/spaces/{}/folders/{an}/mkdir", t.space_a.id),
            &[("name", "2026")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let sub = crate::helpers::node_id(&t, &t.space_a, an, "2026")
        .await
        .expect("sub-folder");
    let (root1, an1, sub1) = (
        etag(t.space_a.root_id).await,
        etag(an).await,
        etag(sub).await,
    );
    assert_ne!(root0, root1);
    assert_ne!(an0, an1);
    let r = user
        .upload(t.space_a.id, sub, &[("Antrag.pdf", bytes(100, 9))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (root2, an2, sub2) = (
        etag(t.space_a.root_id).await,
        etag(an).await,
        etag(sub).await,
    );
    assert!(
        root2 != root1 && an2 != an1 && sub2 != sub1,
        "every folder up to the root changed"
    );
    assert_eq!(etag(post).await, post0, "a sibling folder is untouched");
    // A file's id stays when it is renamed; its ETag changes.
    let file = crate::helpers::node_id(&t, &t.space_a, sub, "Antrag.pdf")
        .await
        .expect("file");
    let before = etag(file).await;
    let r = user
        .post(
            &format!("/spaces/{}/nodes/{file}/rename", t.space_a.id),
            &[("name", "Antrag 2026.pdf")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        crate::helpers::node_id(&t, &t.space_a, sub, "Antrag 2026.pdf").await,
        Some(file)
    );
    assert_ne!(etag(file).await, before);
    assert_ne!(etag(t.space_a.root_id).await, root2);
    t.finish().await;
}

/// Many uploads at once into one folder: distinct names all land, and of several
/// uploads of the same name exactly one wins; the others get 409 and leave nothing.
#[tokio::test]
async fn concurrent_uploads_keep_the_folder_consistent() {
    let t = TestApp::spawn().await;
    let user = std::sync::Arc::new(t.login("user.a").await);
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let space = t.space_a.id;
    let mut tasks = Vec::new();
    for i in 0..12u64 {
        let u = user.clone();
        tasks.push(tokio::spawn(async move {
            u.upload(
                space,
                an,
                &[(format!("Datei {i}.pdf").as_str(), bytes(50_000, i))],
            )
            .await
            .status()
        }));
    }
    for i in 0..6u64 {
        let u = user.clone();
        tasks.push(tokio::spawn(async move {
            u.upload(space, an, &[("Gleich.pdf", bytes(40_000, 100 + i))])
                .await
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("join"));
    }
    assert!(
        statuses[..12].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let same = &statuses[12..];
    assert_eq!(
        same.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{same:?}"
    );
    assert_eq!(
        same.iter().filter(|s| **s == StatusCode::CONFLICT).count(),
        5,
        "{same:?}"
    );
    let names = t.names_in(&t.space_a, an).await;
    assert_eq!(names.len(), 13, "{names:?}");
    let (blobs, staging) = t.stored_files();
    assert_eq!(
        (blobs, staging),
        (13, 0),
        "losers' blobs are removed at once"
    );
    let space_row = t
        .app
        .space_of_member(&amtsbote::startup::cli_actor(), t.a.id)
        .await
        .expect("space");
    assert_eq!(
        space_row.used_bytes,
        12 * 50_000 + 40_000,
        "quota accounting stays exact"
    );
    t.finish().await;
}

/// Deleting asks first (WCAG 2.1 SC 3.3.4): the listing links to a confirmation page,
/// which only offers what the policy allows.
#[tokio::test]
async fn deletion_is_confirmed_first() {
    let t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let user = t.login("user.a").await;
    let root = t.space_a.root_id;
    let s = t.space_a.id;
    clerk
        .upload(s, root, &[("Bescheid.pdf", bytes(100, 1))])
        .await;
    let id = crate::helpers::node_id(&t, &t.space_a, root, "Bescheid.pdf")
        .await
        .expect("stored");
    let (_, listing) = clerk.page(&format!("/spaces/{s}/folders/{root}")).await;
    assert!(
        listing.contains(&format!(r#"href="/spaces/{s}/nodes/{id}/delete""#)),
        "{listing}"
    );
    let (status, confirm) = clerk.page(&format!("/spaces/{s}/nodes/{id}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        confirm.contains("Möchten Sie „Bescheid.pdf“ endgültig löschen?"),
        "{confirm}"
    );
    assert!(confirm.contains(&format!(r#"action="/spaces/{s}/nodes/{id}/delete""#)));
    assert!(
        crate::helpers::node_id(&t, &t.space_a, root, "Bescheid.pdf")
            .await
            .is_some(),
        "asking deletes nothing"
    );
    // The member may read the document but not delete it: no confirmation either.
    let r = user.get(&format!("/spaces/{s}/nodes/{id}/delete")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, member_listing) = user.page(&format!("/spaces/{s}/folders/{root}")).await;
    assert!(
        !member_listing.contains(&format!("/nodes/{id}/delete")),
        "no delete control for the member"
    );
    let r = clerk
        .post(&format!("/spaces/{s}/nodes/{id}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        crate::helpers::node_id(&t, &t.space_a, root, "Bescheid.pdf")
            .await
            .is_none()
    );
    t.finish().await;
}

/// HEAD tells size and ETag without counting as a download in the audit trail.
#[tokio::test]
async fn head_is_not_a_download() {
    let t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let (s, root) = (t.space_a.id, t.space_a.root_id);
    clerk.upload(s, root, &[("Kopf.pdf", bytes(4321, 5))]).await;
    let id = crate::helpers::node_id(&t, &t.space_a, root, "Kopf.pdf")
        .await
        .expect("stored");
    let r = clerk
        .http
        .head(format!("{}/spaces/{s}/files/{id}", t.url))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "4321");
    assert!(r.headers().contains_key("etag"));
    let downloads = |audit: &[amtsbote_core::audit::AuditRow]| {
        audit.iter().filter(|a| a.action == "download").count()
    };
    assert_eq!(downloads(&t.app.audit_recent(50).await.expect("audit")), 0);
    let r = clerk.download(s, id).await;
    assert_eq!(r.bytes().await.expect("body").len(), 4321);
    assert_eq!(downloads(&t.app.audit_recent(50).await.expect("audit")), 1);
    t.finish().await;
}
