//! What the ownCloud/Nextcloud clients ask first (status.php, OCS capabilities and
//! user) and the credentials they use: app passwords, or the account password.

use amtsbote::startup::cli_actor;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PW, TestApp, signed_in};

async fn ocs(
    t: &TestApp,
    path: &str,
    auth: Option<(&str, &str)>,
) -> (StatusCode, Option<Value>, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new()
        .get(format!("{}{path}?format=json", t.url))
        .header("OCS-APIREQUEST", "true");
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().await.expect("ocs");
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("text");
    (status, serde_json::from_str(&text).ok(), headers)
}

#[tokio::test]
async fn discovery_answers_like_owncloud_10() {
    let t = TestApp::spawn().await;
    let r = reqwest::get(format!("{}/status.php", t.url))
        .await
        .expect("status");
    assert_eq!(r.status(), StatusCode::OK);
    let status: Value = r.json().await.expect("json");
    assert_eq!(status["installed"], true);
    assert_eq!(status["maintenance"], false);
    assert_eq!(status["version"], "10.11.0.0");
    assert_eq!(status["productname"], "ownCloud");

    for (version, code) in [("v1.php", 100), ("v2.php", 200)] {
        let (s, body, _) = ocs(&t, &format!("/ocs/{version}/cloud/capabilities"), None).await;
        assert_eq!(s, StatusCode::OK);
        let body = body.expect("json");
        assert_eq!(body["ocs"]["meta"]["statuscode"], code);
        let caps = &body["ocs"]["data"]["capabilities"];
        assert_eq!(caps["core"]["status"]["version"], "10.11.0.0");
        assert_eq!(caps["dav"]["chunking"], "1.0");
        assert_eq!(caps["checksums"]["preferredUploadType"], "SHA1");
        assert!(
            caps["files"].get("tus_support").is_none(),
            "no TUS: not implemented"
        );
        assert!(
            caps["dav"].get("bulkupload").is_none(),
            "no bulk upload: not implemented"
        );
    }
    let raw = reqwest::get(format!(
        "{}/ocs/v1.php/cloud/capabilities?format=json",
        t.url
    ))
    .await
    .expect("caps")
    .text()
    .await
    .expect("text");
    assert!(
        raw.contains(r#""statuscode":100,"#),
        "the client finds statuscode with a regex expecting a comma: {raw}"
    );
    let (s, _, _) = ocs(&t, "/ocs/v3.php/cloud/capabilities", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    t.finish().await;
}

#[tokio::test]
async fn app_passwords_are_shown_once_and_work_until_revoked() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let r = user.post("/app-passwords", &[("label", "Büro-PC")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("text");
    let re = regex::Regex::new(r"<code>([a-zA-Z2-9]{5}(?:-[a-zA-Z2-9]{5}){4})</code>").expect("re");
    let token = re
        .captures(&page)
        .and_then(|c| c.get(1))
        .expect("token shown")
        .as_str()
        .to_string();
    assert!(
        page.contains("/remote.php/dav/files/user.a/"),
        "the page names the server address"
    );
    let (_, list) = user.page("/app-passwords").await;
    assert!(
        list.contains("Büro-PC") && !list.contains(&token),
        "listed by label, never shown again"
    );
    assert!(list.contains("noch nie"), "not used yet");

    let (s, body, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a", &token))).await;
    assert_eq!(s, StatusCode::OK);
    let data = &body.expect("json")["ocs"]["data"];
    assert_eq!(data["id"], "user.a");
    assert_eq!(data["display-name"], "Name user.a");
    assert_eq!(
        data["quota"]["total"], -3,
        "unlimited quota in ownCloud's words"
    );
    let (_, list) = user.page("/app-passwords").await;
    assert!(!list.contains("noch nie"), "last use recorded");

    // Only for its own account.
    let (s, _, h) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a2", &token))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        h["www-authenticate"]
            .to_str()
            .expect("hdr")
            .starts_with("Basic ")
    );

    let id_re = regex::Regex::new(r#"action="/app-passwords/(\d+)/revoke""#).expect("re");
    let id = id_re
        .captures(&list)
        .and_then(|c| c.get(1))
        .expect("revoke form")
        .as_str()
        .to_string();
    let r = user.post(&format!("/app-passwords/{id}/revoke"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a", &token))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked at once");
    let r = user.post(&format!("/app-passwords/{id}/revoke"), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "revoked is gone");
    let r = user.post("/app-passwords", &[("label", "")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let audit = t.app.audit_recent(50).await.expect("audit");
    for action in ["app_password.create", "app_password.revoke"] {
        assert!(
            audit
                .iter()
                .any(|a| a.action == action && a.actor_label == "Name user.a"),
            "{action}"
        );
    }
    assert!(
        audit
            .iter()
            .all(|a| !a.detail.contains(&token) && !a.target.contains(&token))
    );
    t.finish().await;
}

#[tokio::test]
async fn basic_with_the_account_password_and_its_failures() {
    let t = TestApp::spawn().await;
    let (s, body, _) = ocs(&t, "/ocs/v2.php/cloud/user", Some(("USER.A", PW))).await;
    assert_eq!(s, StatusCode::OK, "login names are case-insensitive");
    assert_eq!(body.expect("json")["ocs"]["meta"]["statuscode"], 200);

    for (login, pw, why) in [
        ("user.a", "falsch-falsch", "wrong password"),
        ("niemand", PW, "unknown login"),
        ("user.a", "", "empty"),
    ] {
        let (s, _, h) = ocs(&t, "/ocs/v1.php/cloud/user", Some((login, pw))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            h["www-authenticate"],
            r#"Basic realm="amtsbote", charset="UTF-8""#
        );
    }
    let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Wrong credentials on the public capabilities are reported too.
    let (s, _, _) = ocs(
        &t,
        "/ocs/v1.php/cloud/capabilities",
        Some(("user.a", "falsch-falsch")),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let audit = t.app.audit_recent(50).await.expect("audit");
    let failures: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "login.basic" && a.outcome == "failure")
        .collect();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(
        failures.iter().all(|a| !a.detail.contains("falsch")),
        "no secret in the audit"
    );
    // The failures under user.a's name make even the remembered password wait (the
    // throttle decides before the cache is looked at).
    let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a", PW))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    t.clock.advance_ms(61_000);
    // Then it opens again from the cache: audited once, as the success that ends the
    // failures; further requests are answered by the cache without another entry.
    for _ in 0..3 {
        let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a", PW))).await;
        assert_eq!(s, StatusCode::OK);
    }
    let audit = t.app.audit_recent(50).await.expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "login.basic" && a.outcome == "success")
            .count(),
        2,
        "the first verification and the success after the failures"
    );

    // A password change takes effect at once, cache or not. (The failures above make
    // the next uncached sign-in of user.a wait a moment: brute-force protection.)
    t.clock.advance_ms(61_000);
    let browser = t.login("user.a").await;
    let new_pw = "Neues-Passwort-fuer-Sync";
    let r = browser
        .post(
            "/password",
            &[("current", PW), ("new", new_pw), ("repeat", new_pw)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(signed_in(&browser).await);
    let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a", PW))).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the old password no longer works"
    );
    let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a", new_pw))).await;
    assert_eq!(s, StatusCode::OK);
    // And the cache expires.
    t.clock
        .advance_ms(amtsbote_core::auth::basic::CACHE_TTL_MS + 1);
    let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a", new_pw))).await;
    assert_eq!(s, StatusCode::OK);
    let audit = t.app.audit_recent(80).await.expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "login.basic" && a.outcome == "success")
            .count(),
        4
    );

    // Deactivation: refused at once, even with a cached password.
    let a = t
        .app
        .account_by_login(&amtsbote::startup::cli_actor(), "user.a")
        .await
        .expect("a");
    t.app
        .update_account(
            &cli_actor(),
            a.id,
            amtsbote_core::auth::accounts::AccountUpdate {
                display_name: a.display_name.clone(),
                email: a.email.clone(),
                role: None,
                active: false,
            },
        )
        .await
        .expect("deactivate");
    let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.a", new_pw))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    t.finish().await;
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_in_the_browser_first() {
    let t = TestApp::spawn().await;
    let otp = t
        .app
        .reset_password(
            &cli_actor(),
            t.app
                .account_by_login(&amtsbote::startup::cli_actor(), "user.b")
                .await
                .expect("b")
                .id,
        )
        .await
        .expect("reset");
    let (s, _, _) = ocs(&t, "/ocs/v1.php/cloud/user", Some(("user.b", &otp))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let audit = t.app.audit_recent(10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "login.basic" && a.detail.contains("one-time password"))
    );
    t.finish().await;
}
