//! Signing in and out: generic failures, audited; cookie flags; session rotation; the
//! forced password change; CSRF on every form; idle and absolute timeouts; deactivation;
//! server-side logout; the language switch.

use amtsbote::startup::cli_actor;
use amtsbote_core::auth::accounts::{AccountKind, AccountUpdate, NewAccount};
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::helpers::{
    Browser, PW, TestApp, assert_shows, bytes, csrf_of, de, location, session_cookie, signed_in,
    unescape,
};

const MINUTE: i64 = 60_000;

/// The Set-Cookie header for `name`, if the response sets it.
fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// The English text of a message key, from `locales/en/main.ftl`.
fn en(key: &str) -> String {
    const FTL: &str = include_str!("../../locales/en/main.ftl");
    FTL.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no message {key} in en/main.ftl"))
}

/// Fetches the log-in form with `http` and posts the credentials; returns the form's
/// token and the raw response of the POST.
async fn post_login(
    t: &TestApp,
    http: &reqwest::Client,
    login: &str,
    pw: &str,
) -> (String, Response) {
    let page = http
        .get(format!("{}/login", t.url))
        .send()
        .await
        .expect("get login");
    assert_eq!(page.status(), StatusCode::OK);
    let token = csrf_of(&page.text().await.expect("text"));
    let r = http
        .post(format!("{}/login", t.url))
        .form(&[("csrf", token.as_str()), ("login", login), ("password", pw)])
        .send()
        .await
        .expect("post login");
    (token, r)
}

/// Requests `path` and asserts the answer sends the browser to `target`.
#[track_caller]
fn assert_redirect(r: &Response, target: &str) {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "redirect to {target}");
    assert_eq!(location(r), target);
}

async fn account_id(t: &TestApp, login: &str) -> i64 {
    t.app
        .account_by_login(&amtsbote::startup::cli_actor(), login)
        .await
        .expect("account")
        .id
}

#[tokio::test]
async fn failed_logins_are_generic_and_audited() {
    let t = TestApp::spawn().await;
    let wrong_pw = "Falsches-Passwort-7781";
    let (s1, wrong) = t.login_with("user.a", wrong_pw).await.err().expect("fails");
    let (s2, unknown) = t
        .login_with("niemand.hier", wrong_pw)
        .await
        .err()
        .expect("fails");
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert!(de("login-failed").starts_with("Die Anmeldung ist fehlgeschlagen"));
    assert_shows(&wrong, "login-failed");
    assert_shows(&unknown, "login-failed");
    // Apart from the fresh form token and the echoed log-in name, the pages are the
    // same: nothing tells whether the account exists.
    let normalise = |html: &str, login: &str| {
        html.replace(&csrf_of(html), "TOKEN")
            .replace(&format!("value=\"{login}\""), "value=\"LOGIN\"")
    };
    assert_eq!(
        normalise(&wrong, "user.a"),
        normalise(&unknown, "niemand.hier")
    );
    assert!(!wrong.contains(wrong_pw), "the password is never echoed");

    let audit = t.app.audit_recent(50).await.expect("audit");
    let failures: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "login" && a.outcome == "failure")
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    let mut labels: Vec<_> = failures.iter().map(|a| a.actor_label.as_str()).collect();
    labels.sort();
    assert_eq!(labels, vec!["niemand.hier", "user.a"]);
    assert!(failures.iter().all(|a| a.actor_kind == "anonymous"));
    assert!(
        failures
            .iter()
            .all(|a| a.source_ip.as_deref() == Some("127.0.0.1"))
    );

    // A success is audited too; no audit field ever holds a password.
    t.login("user.a").await;
    let audit = t.app.audit_recent(50).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "login"
            && a.outcome == "success"
            && a.actor_label == "Name user.a")
    );
    for a in &audit {
        for field in [&a.actor_label, &a.target, &a.detail] {
            assert!(!field.contains(wrong_pw) && !field.contains(PW), "{a:?}");
        }
    }
    t.finish().await;
}

#[tokio::test]
async fn session_cookie_is_http_only_strict_and_new_at_every_login() {
    let t = TestApp::spawn().await;
    let http = t.client();
    let (prelogin, r) = post_login(&t, &http, "user.a", PW).await;
    assert_redirect(&r, "/");
    let cookie = set_cookie(&r, "amtsbote_session").expect("session cookie");
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attrs.contains(&"HttpOnly"), "{cookie}");
    assert!(attrs.contains(&"SameSite=Strict"), "{cookie}");
    assert!(attrs.contains(&"Path=/"), "{cookie}");
    assert!(
        !attrs.iter().any(|a| a.eq_ignore_ascii_case("secure")),
        "no Secure over plain HTTP: {cookie}"
    );
    assert!(
        !attrs
            .iter()
            .any(|a| a.starts_with("Max-Age") || a.starts_with("Expires")),
        "a browser-session cookie: {cookie}"
    );
    let first = cookie_value(&cookie);
    assert!(first.len() >= 32, "{first}");
    assert_ne!(
        first, prelogin,
        "the pre-login token does not become the session"
    );
    // The pre-login cookie is cleared.
    let cleared = set_cookie(&r, "amtsbote_prelogin").expect("prelogin cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // Logging in again, in the same browser, gives a new session id.
    let (_, r) = post_login(&t, &http, "user.a", PW).await;
    assert_redirect(&r, "/");
    let second = cookie_value(&set_cookie(&r, "amtsbote_session").expect("cookie"));
    assert_ne!(first, second);

    // A session id planted before the log-in (fixation) is never adopted.
    let planted = "a".repeat(43);
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = anon
        .get(format!("{}/login", t.url))
        .send()
        .await
        .expect("page");
    let pre = cookie_value(&set_cookie(&page, "amtsbote_prelogin").expect("prelogin"));
    let token = csrf_of(&page.text().await.expect("text"));
    let r = anon
        .post(format!("{}/login", t.url))
        .header(
            COOKIE,
            format!("amtsbote_prelogin={pre}; amtsbote_session={planted}"),
        )
        .form(&[
            ("csrf", token.as_str()),
            ("login", "user.a"),
            ("password", PW),
        ])
        .send()
        .await
        .expect("login");
    assert_redirect(&r, "/");
    let third = cookie_value(&set_cookie(&r, "amtsbote_session").expect("cookie"));
    assert!(![first.as_str(), second.as_str(), planted.as_str()].contains(&third.as_str()));
    let r = anon
        .get(format!("{}/", t.url))
        .header(COOKIE, format!("amtsbote_session={planted}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
    t.finish().await;
}

#[tokio::test]
async fn one_time_password_forces_a_password_change() {
    let t = TestApp::spawn().await;
    let (account, otp) = t
        .app
        .create_account(
            &cli_actor(),
            NewAccount {
                login: "neu.kollegin".into(),
                display_name: "Neue Kollegin".into(),
                email: "neu.kollegin@example.org".into(),
                kind: AccountKind::MemberUser { member_id: t.a.id },
            },
        )
        .await
        .expect("create");
    assert!(account.must_change_password());

    let http = t.client();
    let (_, r) = post_login(&t, &http, "neu.kollegin", &otp).await;
    assert_redirect(&r, "/password");
    let (_, form) = {
        let r = http
            .get(format!("{}/password", t.url))
            .send()
            .await
            .expect("get");
        (r.status(), r.text().await.expect("text"))
    };
    assert_shows(&form, "password-forced");
    let b = Browser {
        http,
        base: t.url.clone(),
        csrf: csrf_of(&form),
    };

    // Every other page leads to the password change; nothing else can be done.
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    for path in [
        "/".to_string(),
        "/members".to_string(),
        format!("/spaces/{}", t.space_a.id),
        format!("/spaces/{}/folders/{an}", t.space_a.id),
        "/admin/accounts".to_string(),
    ] {
        // The page asked for is kept, to go on there once the password is set.
        let target = if path == "/" {
            "/password".to_string()
        } else {
            format!(
                "/password?next={}",
                percent_encoding::utf8_percent_encode(&path, percent_encoding::NON_ALPHANUMERIC)
            )
        };
        assert_redirect(&b.get(&path).await, &target);
    }
    let r = b
        .post(
            &format!("/spaces/{}/folders/{an}/mkdir", t.space_a.id),
            &[("name", "Vorher")],
        )
        .await;
    assert_redirect(&r, "/password");
    let r = b
        .upload(t.space_a.id, an, &[("Vorher.pdf", bytes(10, 1))])
        .await;
    assert_redirect(&r, "/password");
    assert!(t.names_in(&t.space_a, an).await.is_empty());
    assert_eq!(t.stored_files(), (0, 0));

    let new_pw = "Mein eigenes Passwort 2026";
    let cases: [(&str, &str, &str, &str); 6] = [
        (
            "falsches-Einmalpasswort",
            new_pw,
            new_pw,
            "password-current-wrong",
        ),
        (
            &otp,
            new_pw,
            "Mein eigenes Passwort 2027",
            "password-mismatch",
        ),
        (&otp, "kurz12345", "kurz12345", "err-password-short"),
        (
            &otp,
            "Passwort2026!",
            "Passwort2026!",
            "err-password-common",
        ),
        (
            &otp,
            "Beamtenversorgung 2026",
            "Beamtenversorgung 2026",
            "err-password-is-name",
        ),
        (&otp, &otp, &otp, "err-password-unchanged"),
    ];
    for (current, new, repeat, key) in cases {
        assert_eq!(new.chars().count() == 9, key == "err-password-short");
        let r = b
            .post(
                "/password",
                &[("current", current), ("new", new), ("repeat", repeat)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{key}");
        assert_shows(&r.text().await.expect("text"), key);
        assert_redirect(&b.get("/").await, "/password");
    }

    let r = b
        .post(
            "/password",
            &[
                ("current", otp.as_str()),
                ("new", new_pw),
                ("repeat", new_pw),
            ],
        )
        .await;
    // The first password of one's own: the second factor is offered next.
    assert_redirect(&r, "/security?notice=password-set-offer");
    let (status, offer) = b.page("/security?notice=password-set-offer").await;
    assert_eq!(status, StatusCode::OK);
    assert_shows(&offer, "password-set-offer");
    assert_shows(&offer, "security-start-submit");
    let r = b
        .post(
            &format!("/spaces/{}/folders/{an}/mkdir", t.space_a.id),
            &[("name", "Nachher")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.names_in(&t.space_a, an).await, vec!["Nachher"]);

    // The new password works, the one-time password no longer does.
    let again = t
        .login_with("neu.kollegin", new_pw)
        .await
        .expect("new password");
    assert!(signed_in(&again).await);
    let (status, html) = t
        .login_with("neu.kollegin", &otp)
        .await
        .err()
        .expect("old password fails");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_shows(&html, "login-failed");
    let audit = t.app.audit_recent(50).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "password.change"));
    t.finish().await;
}

#[tokio::test]
async fn forms_without_the_right_token_or_from_another_origin_are_refused() {
    let t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let other = t.login("clerk.a").await;
    let s = t.space_a.id;
    let root = t.space_a.root_id;
    let mkdir = format!("{}/spaces/{s}/folders/{root}/mkdir", t.url);
    let before = t.names_in(&t.space_a, root).await;
    let zeros = "0".repeat(64);

    let forged: [(&str, Vec<(&str, &str)>); 4] = [
        ("no token", vec![("name", "Ohne Token")]),
        ("empty token", vec![("csrf", ""), ("name", "Leeres Token")]),
        (
            "wrong token",
            vec![("csrf", zeros.as_str()), ("name", "Falsches Token")],
        ),
        (
            "token of another session",
            vec![("csrf", other.csrf.as_str()), ("name", "Fremdes Token")],
        ),
    ];
    assert_ne!(clerk.csrf, other.csrf);
    for (what, form) in &forged {
        let r = clerk
            .http
            .post(&mkdir)
            .form(form)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        assert_shows(&r.text().await.expect("text"), "err-csrf");
    }

    // The right token, but sent from another site.
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1.evil.example",
    ] {
        let r = clerk
            .http
            .post(&mkdir)
            .header(ORIGIN, origin)
            .form(&[("csrf", clerk.csrf.as_str()), ("name", "Von woanders")])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
        assert_shows(&r.text().await.expect("text"), "err-csrf");
    }
    // Uploads: no token, or the file before the token, store nothing.
    let upload = format!("{}/spaces/{s}/folders/{root}/upload", t.url);
    let file = || {
        reqwest::multipart::Part::bytes(bytes(100, 1))
            .file_name("Untergeschoben.pdf")
            .mime_str("application/pdf")
            .expect("mime")
    };
    let forms = [
        reqwest::multipart::Form::new().part("files", file()),
        reqwest::multipart::Form::new()
            .part("files", file())
            .text("csrf", clerk.csrf.clone()),
        reqwest::multipart::Form::new()
            .text("csrf", "0".repeat(64))
            .part("files", file()),
    ];
    for form in forms {
        let r = clerk
            .http
            .post(&upload)
            .multipart(form)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_shows(&r.text().await.expect("text"), "err-csrf");
    }
    let r = clerk
        .http
        .post(&upload)
        .header(ORIGIN, "https://evil.example")
        .multipart(
            reqwest::multipart::Form::new()
                .text("csrf", clerk.csrf.clone())
                .part("files", file()),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A logout without the token does not end the session.
    let r = clerk
        .http
        .post(format!("{}/logout", t.url))
        .form(&[("csrf", "0".repeat(64))])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(signed_in(&clerk).await);

    assert_eq!(t.names_in(&t.space_a, root).await, before);
    assert_eq!(t.stored_files(), (0, 0));

    // The same origin with the right token is fine.
    let r = clerk
        .http
        .post(&mkdir)
        .header(ORIGIN, t.url.as_str())
        .form(&[("csrf", clerk.csrf.as_str()), ("name", "Von hier")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    t.finish().await;
}

#[tokio::test]
async fn login_form_needs_its_pre_login_cookie_and_token() {
    let t = TestApp::spawn().await;
    let login = format!("{}/login", t.url);
    let creds = [("login", "user.a"), ("password", PW)];

    // A token from someone else's form page, posted without the matching cookie.
    let (token, _) = post_login(&t, &t.client(), "x", "y").await;
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut with_token = vec![("csrf", token.as_str())];
    with_token.extend_from_slice(&creds);
    let r = bare
        .post(&login)
        .form(&with_token)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "amtsbote_session").is_none());
    assert_shows(&r.text().await.expect("text"), "err-csrf");

    // The cookie, but no token or a wrong one.
    let http = t.client();
    http.get(&login).send().await.expect("page");
    for csrf in [None, Some("0".repeat(32))] {
        let mut form: Vec<(&str, &str)> = creds.to_vec();
        if let Some(c) = &csrf {
            form.push(("csrf", c));
        }
        let r = http.post(&login).form(&form).send().await.expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(set_cookie(&r, "amtsbote_session").is_none());
        assert_shows(&r.text().await.expect("text"), "err-csrf");
    }

    // Cookie and token, but posted from another site.
    let page = http.get(&login).send().await.expect("page");
    let token = csrf_of(&page.text().await.expect("text"));
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(&creds);
    let r = http
        .post(&login)
        .header(ORIGIN, "https://evil.example")
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "amtsbote_session").is_none());

    let audit = t.app.audit_recent(50).await.expect("audit");
    assert!(
        !audit
            .iter()
            .any(|a| a.action == "login" && a.outcome == "success"),
        "no forged attempt got as far as the password check"
    );
    t.finish().await;
}

#[tokio::test]
async fn idle_sessions_expire() {
    let t = TestApp::spawn().await;
    let idle = i64::from(t.app.settings.sessions.idle_timeout_minutes) * MINUTE;
    assert_eq!(idle, 30 * MINUTE, "the default");
    let user = t.login("user.a").await;
    // Activity keeps the session alive...
    for _ in 0..3 {
        t.clock.advance_ms(idle - MINUTE);
        assert!(signed_in(&user).await);
    }
    // ...a pause longer than the idle timeout ends it.
    t.clock.advance_ms(idle + 1000);
    let r = user.get("/").await;
    assert_redirect(&r, "/login?expired=1");
    let (status, page) = user.page("/login?expired=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_shows(&page, "session-expired");
    // It stays ended; a new log-in works.
    t.clock.advance_ms(MINUTE);
    assert_redirect(&user.get("/").await, "/login?expired=1");
    let again = t.login("user.a").await;
    assert!(signed_in(&again).await);
    t.finish().await;
}

#[tokio::test]
async fn sessions_end_after_the_absolute_timeout_however_active() {
    let t = TestApp::spawn().await;
    let absolute = i64::from(t.app.settings.sessions.absolute_timeout_hours) * 60 * MINUTE;
    assert_eq!(absolute, 12 * 60 * MINUTE, "the default");
    let user = t.login("user.a").await;
    let step = 20 * MINUTE;
    let mut elapsed = 0;
    while elapsed <= absolute {
        t.clock.advance_ms(step);
        elapsed += step;
        if elapsed < absolute {
            assert!(signed_in(&user).await, "after {} min", elapsed / MINUTE);
        } else if elapsed > absolute {
            assert_redirect(&user.get("/").await, "/login?expired=1");
        } else {
            user.get("/").await;
        }
    }
    assert!(elapsed > absolute);
    t.finish().await;
}

#[tokio::test]
async fn deactivated_accounts_and_members_lose_access_at_once() {
    let t = TestApp::spawn().await;
    let cli = cli_actor();
    let user = t.login("user.a").await;
    let colleague = t.login("user.a2").await;
    let other = t.login("user.b").await;
    let id = account_id(&t, "user.a").await;
    let update = |active| AccountUpdate {
        display_name: "Name user.a".into(),
        email: "user.a@example.org".into(),
        role: None,
        active,
    };

    t.app
        .update_account(&cli, id, update(false))
        .await
        .expect("deactivate");
    assert!(location(&user.get("/").await).starts_with("/login"));
    assert_eq!(user.get("/").await.status(), StatusCode::SEE_OTHER);
    let (status, html) = t.login_with("user.a", PW).await.err().expect("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_shows(&html, "login-failed");
    assert!(signed_in(&colleague).await);
    t.app
        .update_account(&cli, id, update(true))
        .await
        .expect("reactivate");
    let user = t.login("user.a").await;
    assert!(signed_in(&user).await);

    // A deactivated member: all its users are out, and cannot sign in; others can.
    t.app
        .set_member_active(&cli, "1001", false)
        .await
        .expect("deactivate member");
    for b in [&user, &colleague] {
        let r = b.get("/").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(location(&r).starts_with("/login"));
    }
    for login in ["user.a", "user.a2"] {
        let (status, html) = t.login_with(login, PW).await.err().expect("refused");
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_shows(&html, "login-failed");
    }
    assert!(signed_in(&other).await);
    t.login("user.b").await;
    let audit = t.app.audit_recent(50).await.expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "login" && a.outcome == "failure")
            .count(),
        3
    );
    t.app
        .set_member_active(&cli, "1001", true)
        .await
        .expect("reactivate member");
    t.login("user.a2").await;
    t.finish().await;
}

#[tokio::test]
async fn logout_revokes_the_session_on_the_server() {
    let t = TestApp::spawn().await;
    let (cookie, csrf) = session_cookie(&t, "user.a").await;
    let elsewhere = t.login("user.a").await;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = raw
        .get(format!("{}/", t.url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with("/spaces/"),
        "signed in: into the own space"
    );

    let r = raw
        .post(format!("{}/logout", t.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_redirect(&r, "/login?logged_out=1");
    let cleared = set_cookie(&r, "amtsbote_session").expect("cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let page = raw
        .get(format!("{}/login?logged_out=1", t.url))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert_shows(&page, "logged-out");

    // A fresh client replaying the old cookie gets nowhere, neither to read nor to write.
    let replay = t.client();
    let r = replay
        .get(format!("{}/", t.url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"), "{}", location(&r));
    let r = replay
        .post(format!(
            "{}/spaces/{}/folders/{an}/mkdir",
            t.url, t.space_a.id
        ))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("name", "Nach der Abmeldung")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
    assert!(t.names_in(&t.space_a, an).await.is_empty());

    // Only that session ended.
    assert!(signed_in(&elsewhere).await);
    let audit = t.app.audit_recent(20).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "logout" && a.actor_label == "Name user.a")
    );
    t.finish().await;
}

#[tokio::test]
async fn language_switch_changes_texts_and_never_redirects_off_site() {
    let t = TestApp::spawn().await;
    let http = t.client();
    let r = http
        .get(format!("{}/lang/en?next=/login", t.url))
        .send()
        .await
        .expect("switch");
    assert_redirect(&r, "/login");
    let cookie = set_cookie(&r, "amtsbote_lang").expect("lang cookie");
    assert!(cookie.starts_with("amtsbote_lang=en"), "{cookie}");
    let html = http
        .get(format!("{}/login", t.url))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    let text = unescape(&html);
    assert!(html.contains(r#"<html lang="en">"#));
    assert!(text.contains(&en("login-title")) && text.contains(&en("login-intro")));
    assert!(!text.contains(&de("login-intro")));

    // Error messages follow the language, too.
    let token = csrf_of(&html);
    let r = http
        .post(format!("{}/login", t.url))
        .form(&[
            ("csrf", token.as_str()),
            ("login", "user.a"),
            ("password", "falsch-falsch"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(unescape(&r.text().await.expect("text")).contains(&en("login-failed")));

    // Signed in, pages are English as well; and back to German.
    let user = t.login("user.a").await;
    assert_redirect(&user.get("/lang/en?next=/").await, "/");
    let (_, home) = user.page("/").await;
    assert!(unescape(&home).contains(&en("logout")));
    assert_redirect(&user.get("/lang/de").await, "/");
    let (_, home) = user.page("/").await;
    assert!(home.contains(r#"<html lang="de">"#));
    assert!(unescape(&home).contains(&de("logout")));

    // `next` is a local path or nothing: no way off the site.
    for next in [
        "//evil.example",
        "//evil.example/login",
        "https://evil.example",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "%2F%2Fevil.example",
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%0D%0ASet-Cookie:%20x=y",
        "evil.example",
    ] {
        let r = http
            .get(format!("{}/lang/en?next={next}", t.url))
            .send()
            .await
            .expect("switch");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(location(&r), "/", "{next}");
        assert!(set_cookie(&r, "x").is_none());
    }
    // Local paths with a query are kept.
    let r = http
        .get(format!("{}/lang/de?next=/members%3Fq%3D1001", t.url))
        .send()
        .await
        .expect("switch");
    assert_redirect(&r, "/members?q=1001");
    t.finish().await;
}

/// Behind a reverse proxy that rewrites Host, the browser's Origin is the public base
/// URL: that is our own origin, not a foreign one.
#[tokio::test]
async fn the_public_base_url_counts_as_our_origin() {
    let t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let (s, root) = (t.space_a.id, t.space_a.root_id);
    let r = clerk
        .http
        .post(format!("{}/spaces/{s}/folders/{root}/mkdir", t.url))
        .header(ORIGIN, "https://austausch.example")
        .form(&[("csrf", clerk.csrf.as_str()), ("name", "Hinter Proxy")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = clerk
        .http
        .post(format!("{}/spaces/{s}/folders/{root}/mkdir", t.url))
        .header(ORIGIN, "https://austausch.example.evil.example")
        .form(&[("csrf", clerk.csrf.as_str()), ("name", "Fremd")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let names = t.names_in(&t.space_a, root).await;
    assert!(names.contains(&"Hinter Proxy".to_string()) && !names.contains(&"Fremd".to_string()));
    t.finish().await;
}

/// A password change signs out every other session of the account (perhaps the reason
/// for the change), but not the one it was made from; an operator's set-password ends all.
#[tokio::test]
async fn password_change_ends_the_other_sessions() {
    let t = TestApp::spawn().await;
    let here = t.login("user.a").await;
    let elsewhere = t.login("user.a").await;
    let new_pw = "Ein-ganz-neues-Passwort";
    let r = here
        .post(
            "/password",
            &[("current", PW), ("new", new_pw), ("repeat", new_pw)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        signed_in(&here).await,
        "the session the change came from stays"
    );
    assert!(!signed_in(&elsewhere).await, "the other session has ended");
    t.app
        .set_password(&cli_actor(), "user.a", "Vom-Betrieb-gesetzt-2026")
        .await
        .expect("set");
    assert!(
        !signed_in(&here).await,
        "an operator's new password ends every session"
    );
    t.finish().await;
}
