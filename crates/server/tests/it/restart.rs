//! Data, accounts and sessions live in the database and the blob store, not in the
//! process: a restart changes nothing a user can notice — and revoked stays revoked.

use amtsbote::startup::cli_actor;
use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::helpers::{
    PW, TestApp, assert_shows, bytes, location, node_id, session_cookie, signed_in,
};

/// GET with a raw `Cookie` header from a client without a cookie jar.
async fn get_with_cookie(t: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    t.client()
        .get(format!("{}{path}", t.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("get")
}

#[tokio::test]
async fn files_accounts_and_sessions_survive_a_restart() {
    let mut t = TestApp::spawn().await;
    let mut clerk = t.login("clerk.a").await;
    let mut user = t.login("user.a").await;
    let root = t.space_a.root_id;
    let doc = bytes(700_000, 1);
    let r = clerk
        .upload(t.space_a.id, root, &[("Bescheid.pdf", doc.clone())])
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // A third session is logged out before the restart.
    let (revoked, revoked_csrf) = session_cookie(&t, "user.a2").await;
    let r = t
        .client()
        .post(format!("{}/logout", t.url))
        .header(COOKIE, &revoked)
        .form(&[("csrf", revoked_csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?logged_out=1");

    let old_url = t.url.clone();
    t.restart().await;
    assert_ne!(t.url, old_url, "a new process on a new port");
    clerk.base = t.url.clone();
    user.base = t.url.clone();

    // The first browser's cookie still works, and so does its CSRF token.
    let (status, listing) = clerk
        .page(&format!("/spaces/{}/folders/{root}", t.space_a.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(listing.contains("Bescheid.pdf"), "{listing}");
    let r = clerk
        .post(
            &format!("/spaces/{}/folders/{root}/mkdir", t.space_a.id),
            &[("name", "Nach dem Neustart")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        t.names_in(&t.space_a, root)
            .await
            .contains(&"Nach dem Neustart".to_string())
    );

    // The second browser downloads the file byte-identical.
    let id = node_id(&t, &t.space_a, root, "Bescheid.pdf")
        .await
        .expect("stored");
    let dl = user.download(t.space_a.id, id).await;
    assert_eq!(dl.status(), StatusCode::OK);
    assert_eq!(dl.bytes().await.expect("body").as_ref(), doc.as_slice());

    // The logged-out session stays revoked.
    for path in ["/", &format!("/spaces/{}/files/{id}", t.space_a.id)] {
        let r = get_with_cookie(&t, &revoked, path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/login"), "{}", location(&r));
    }

    // Accounts survive: the password still works, a wrong one still does not.
    let again = t.login("user.a2").await;
    assert!(signed_in(&again).await);
    let (status, html) = t
        .login_with("user.a2", "kein-richtiges-Passwort")
        .await
        .err()
        .expect("wrong password fails");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_shows(&html, "login-failed");

    // The audit trail from before the restart is still there.
    let audit = t.app.audit_recent(100).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "upload"));
    assert!(audit.iter().any(|a| a.action == "logout"));
    t.finish().await;
}

#[tokio::test]
async fn password_reset_revokes_existing_sessions() {
    let mut t = TestApp::spawn().await;
    let first = t.login("user.a").await;
    let second = t.login("user.a").await;
    let mut other = t.login("user.a2").await;
    let (raw, _) = session_cookie(&t, "user.a").await;
    assert!(signed_in(&first).await);

    let account = t
        .app
        .account_by_login("user.a")
        .await
        .expect("db")
        .expect("account");
    let otp = t
        .app
        .reset_password(&cli_actor(), account.id)
        .await
        .expect("reset");

    for b in [&first, &second] {
        let r = b.get("/").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/login?expired=1");
    }
    // Another account's session is untouched.
    assert!(signed_in(&other).await);

    // Still revoked after a restart; the old password is gone, the one-time password
    // leads straight to the password change.
    t.restart().await;
    other.base = t.url.clone();
    let r = get_with_cookie(&t, &raw, "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
    assert!(signed_in(&other).await);
    let (status, _) = t
        .login_with("user.a", PW)
        .await
        .err()
        .expect("old password");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let fresh = t
        .login_with("user.a", &otp)
        .await
        .expect("one-time password");
    let r = fresh.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/password");
    t.finish().await;
}
