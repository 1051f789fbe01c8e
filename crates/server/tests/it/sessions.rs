//! Sessions as their holders and admins see them: where and when, ended one by one or
//! all at once, effective with the next request.

use reqwest::StatusCode;
use reqwest::redirect::Policy;

use crate::helpers::{Browser, PW, TestApp, csrf_of, form_login, location};

/// A browser that identifies itself, signed in as `login`.
async fn browser(t: &TestApp, login: &str, agent: &str) -> Browser {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .user_agent(agent)
        .build()
        .expect("client");
    let r = form_login(&http, &t.url, login, PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut b = Browser {
        http,
        base: t.url.clone(),
        csrf: String::new(),
    };
    let (_, html) = b.page("/sessions").await;
    b.csrf = csrf_of(&html);
    b
}

const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn session_ids(html: &str) -> Vec<String> {
    regex::Regex::new(r#"name="id" value="([0-9a-f]+)""#)
        .expect("regex")
        .captures_iter(html)
        .map(|c| c[1].to_string())
        .collect()
}

async fn signed_in(b: &Browser) -> bool {
    b.get("/sessions").await.status() == StatusCode::OK
}

#[tokio::test]
async fn holders_see_their_sessions_and_end_them() {
    let t = TestApp::spawn().await;
    let office = browser(&t, "user.a", FIREFOX).await;
    t.clock.advance_ms(60_000);
    let laptop = browser(&t, "user.a", SAFARI).await;
    let other_user = browser(&t, "user.a2", CHROME).await;

    let (status, page) = office.page("/sessions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Firefox (Windows)"), "{page}");
    assert!(page.contains("Safari (macOS)"), "{page}");
    assert!(page.contains("127.0.0.1"));
    assert!(!page.contains("Chrome"), "only the own sessions: {page}");
    assert_eq!(page.matches("Diese Sitzung").count(), 1);
    let ids = session_ids(&page);
    assert_eq!(ids.len(), 1, "an end button for the other session only");

    // user.a2 cannot end user.a's session by its id.
    let r = other_user.post("/sessions/end", &[("id", &ids[0])]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(signed_in(&laptop).await);

    // Ending it signs the laptop out at its next request.
    let r = office.post("/sessions/end", &[("id", &ids[0])]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/sessions?notice=sessions-ended");
    let r = laptop.get("/sessions").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"), "{}", location(&r));
    assert!(signed_in(&office).await, "the own session stays");
    // Without the form's token nothing ends.
    let forged = office
        .http
        .post(format!("{}/sessions/end", t.url))
        .form(&[("csrf", "00")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // "All others": two more sessions end, the current one stays.
    let a = browser(&t, "user.a", CHROME).await;
    let b = browser(&t, "user.a", SAFARI).await;
    let r = office.post("/sessions/end", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!signed_in(&a).await && !signed_in(&b).await);
    assert!(signed_in(&office).await);
    assert!(signed_in(&other_user).await, "another account is untouched");
    let audit = t.app.audit_recent(50).await.expect("audit");
    assert_eq!(
        audit.iter().filter(|r| r.action == "session.end").count(),
        2
    );
    t.finish().await;
}

#[tokio::test]
async fn admins_end_all_sessions_of_an_account() {
    let t = TestApp::spawn().await;
    let one = browser(&t, "user.a", FIREFOX).await;
    let two = browser(&t, "user.a", SAFARI).await;
    let admin = t.login("admin").await;
    let ua = t
        .app
        .account_by_login(&amtsbote::startup::cli_actor(), "user.a")
        .await
        .expect("user.a")
        .id;
    let (status, page) = admin.page(&format!("/admin/accounts/{ua}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Firefox (Windows)") && page.contains("Safari (macOS)"),
        "{page}"
    );
    let path = format!("/admin/accounts/{ua}/sessions/end");
    let clerk = t.login("clerk.a").await;
    assert_eq!(clerk.post(&path, &[]).await.status(), StatusCode::NOT_FOUND);
    assert!(signed_in(&one).await);
    let r = admin.post(&path, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!signed_in(&one).await && !signed_in(&two).await);
    assert!(signed_in(&admin).await);
    let (_, page) = admin.page(&format!("/admin/accounts/{ua}")).await;
    assert!(page.contains("derzeit nirgends angemeldet"), "{page}");
    t.finish().await;
}
