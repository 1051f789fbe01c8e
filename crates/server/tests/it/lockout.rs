//! Brute-force protection through the real server: growing delays and a lock per login
//! name and per client address, for the web log-in and WebDAV Basic; answers that do
//! not tell whether a login exists; locks that expire under the test's clock, and that
//! admins see and lift.

use std::time::{Duration, Instant};

use amtsbote_core::settings::LockoutSettings;
use reqwest::StatusCode;

use crate::helpers::{Opts, PW, TestApp, csrf_of, form_login, location};

/// One log-in attempt through the form; the status and the page without its tokens.
async fn attempt(t: &TestApp, login: &str, password: &str) -> (StatusCode, String, Duration) {
    let http = t.client();
    let start = Instant::now();
    let r = form_login(&http, &t.url, login, password).await;
    let took = start.elapsed();
    let status = r.status();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let body = r.text().await.expect("text");
    // The tokens differ on every page; everything else must be the same.
    let token = csrf_of(&body);
    let body = body.replace(&token, "TOKEN");
    (status, format!("{body}\nretry-after: {retry:?}"), took)
}

fn without_login(body: &str, login: &str) -> String {
    body.replace(&format!("value=\"{login}\""), "value=\"LOGIN\"")
}

#[tokio::test]
async fn wrong_passwords_slow_down_then_lock_a_login_until_the_lock_expires() {
    let t = TestApp::spawn().await;
    // Three failures are free; the fourth attempt within a second must wait.
    for i in 0..3 {
        let (status, _, _) = attempt(&t, "user.a", "falsch-falsch-falsch").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    let (status, body, _) = attempt(&t, "user.a", PW).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(
        body.contains("Zu viele fehlgeschlagene Anmeldeversuche"),
        "{body}"
    );
    assert!(body.contains("retry-after: Some(\"1\")"), "{body}");
    // The page says what Retry-After says, in proper German.
    assert!(body.contains("in 1 Sekunde erneut"), "{body}");
    // Waiting out each delay, up to ten failures in all: then the login is locked.
    for _ in 3..10 {
        t.clock.advance_ms(61_000);
        let (status, _, _) = attempt(&t, "user.a", "falsch-falsch-falsch").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    t.clock.advance_ms(61_000);
    let (status, body, _) = attempt(&t, "user.a", PW).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "locked");
    // 15 minutes less the 61 s since the lock: 839 s, "14 Minuten" rounded up.
    assert!(body.contains("in 14 Minuten erneut"), "{body}");
    assert!(body.contains("retry-after: Some(\"839\")"), "{body}");
    let locks = t
        .app
        .audit_recent(200)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.action == "auth.lock")
        .map(|r| r.target)
        .collect::<Vec<_>>();
    assert_eq!(locks, vec!["login:user.a"], "the lock is audited once");
    // Other accounts are not affected.
    assert!(t.login_with("user.a2", PW).await.is_ok());
    // The lock expires under the injected clock; the right password works again.
    t.clock.advance_ms(15 * 60_000);
    assert!(t.login_with("user.a", PW).await.is_ok());
    // A success starts the count again.
    let (status, _, _) = attempt(&t, "user.a", "falsch-falsch-falsch").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    t.finish().await;
}

#[tokio::test]
async fn answers_do_not_tell_whether_a_login_exists() {
    let t = TestApp::spawn().await;
    let mut existing = Vec::new();
    let mut unknown = Vec::new();
    for round in 0..6 {
        let (s1, b1, d1) = attempt(&t, "user.a", "falsch-falsch-falsch").await;
        let (s2, b2, d2) = attempt(&t, "niemand.hier", "falsch-falsch-falsch").await;
        assert_eq!(s1, s2, "round {round}");
        assert_eq!(
            without_login(&b1, "user.a"),
            without_login(&b2, "niemand.hier"),
            "round {round}: the same page"
        );
        existing.push(d1);
        unknown.push(d2);
        t.clock.advance_ms(61_000);
    }
    // The same timing class: both check a password hash (or neither, when waiting).
    existing.sort();
    unknown.sort();
    let (a, b) = (existing[3], unknown[3]);
    assert!(
        a < b * 3 && b < a * 3,
        "median {a:?} for an existing login, {b:?} for an unknown one"
    );
    // One more failure each, and both must wait alike.
    for login in ["user.a", "niemand.hier"] {
        let (status, _, _) = attempt(&t, login, "x-falsch-falsch").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (s1, b1, _) = attempt(&t, "user.a", "x-falsch-falsch").await;
    let (s2, b2, _) = attempt(&t, "niemand.hier", "x-falsch-falsch").await;
    assert_eq!(
        (s1, s2),
        (StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(
        without_login(&b1, "user.a"),
        without_login(&b2, "niemand.hier")
    );
    t.finish().await;
}

#[tokio::test]
async fn webdav_basic_is_throttled_too_and_app_passwords_keep_working() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let r = user.post("/app-passwords", &[("label", "Büro-PC")]).await;
    let page = r.text().await.expect("text");
    let token = regex::Regex::new(r"<code>([^<]+)</code>")
        .expect("regex")
        .captures(&page)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| panic!("no app password in {page}"));
    let dav = |secret: &str| {
        t.client()
            .request(
                reqwest::Method::from_bytes(b"PROPFIND").expect("method"),
                format!("{}/remote.php/dav/files/user.a/", t.url),
            )
            .header("Depth", "0")
            .basic_auth("user.a", Some(secret.to_string()))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            dav("falsch-falsch-falsch").await.expect("dav").status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = dav(PW).await.expect("dav");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    // The sync client's app password is not held up by someone guessing the password.
    assert_eq!(
        dav(&token).await.expect("dav").status(),
        StatusCode::MULTI_STATUS
    );
    // The web log-in shares the count: the same login name waits there too.
    let (status, _, _) = attempt(&t, "user.a", PW).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    t.clock.advance_ms(2_000);
    assert_eq!(
        dav(PW).await.expect("dav").status(),
        StatusCode::MULTI_STATUS
    );
    t.finish().await;
}

#[tokio::test]
async fn one_address_trying_many_logins_is_locked() {
    let t = TestApp::spawn_with(Opts {
        lockout: LockoutSettings {
            ip_lock_after: 8,
            ..LockoutSettings::default()
        },
        ..Opts::default()
    })
    .await;
    for i in 0..8 {
        // A different name each time: no login name reaches its own threshold.
        let (status, _, _) = attempt(&t, &format!("rate{i}"), "falsch-falsch-falsch").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
        t.clock.advance_ms(61_000);
    }
    let (status, _, _) = attempt(&t, "user.a", PW).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is locked"
    );
    let audit = t.app.audit_recent(100).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|r| r.action == "auth.lock" && r.target == "ip:127.0.0.1")
    );
    t.clock.advance_ms(15 * 60_000);
    assert!(t.login_with("user.a", PW).await.is_ok(), "the lock expired");
    t.finish().await;
}

#[tokio::test]
async fn admins_see_locks_and_lift_them() {
    let t = TestApp::spawn().await;
    let admin = t.login("admin").await;
    for _ in 0..10 {
        attempt(&t, "user.a", "falsch-falsch-falsch").await;
        t.clock.advance_ms(61_000);
    }
    let (status, _, _) = attempt(&t, "user.a", PW).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, page) = admin.page("/admin/locks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("user.a") && page.contains("Sperre aufheben"),
        "{page}"
    );
    for login in ["clerk.a", "user.b"] {
        let b = t.login(login).await;
        assert_eq!(b.get("/admin/locks").await.status(), StatusCode::NOT_FOUND);
        let r = b
            .post("/admin/locks/unlock", &[("subject", "login:user.a")])
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let forged = admin
        .http
        .post(format!("{}/admin/locks/unlock", t.url))
        .form(&[("csrf", "00"), ("subject", "login:user.a")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let r = admin
        .post("/admin/locks/unlock", &[("subject", "login:user.a")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/locks?notice=unlocked");
    assert!(t.login_with("user.a", PW).await.is_ok(), "unlocked");
    let audit = t.app.audit_recent(200).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|r| r.action == "auth.unlock" && r.target == "login:user.a")
    );
    // Nothing locked: unlocking is a 404, not a silent success.
    let r = admin
        .post("/admin/locks/unlock", &[("subject", "login:user.a")])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    t.finish().await;
}

#[tokio::test]
async fn operators_lift_a_lock_from_the_command_line() {
    let t = TestApp::spawn().await;
    // The command runs on the real clock: a lock that lasts beyond it.
    t.app
        .db
        .q("INSERT INTO auth_failures (subject, failures, last_failure_at, locked_until) VALUES ('login:user.a', 10, 0, 9000000000000)")
        .execute(t.app.db.pool())
        .await
        .expect("lock");
    let (ok, out, err) = crate::cli::amtsbote(&t, &["user", "unlock", "User.A"], None).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("User.A unlocked"), "{out}");
    let (ok, _, err) = crate::cli::amtsbote(&t, &["user", "unlock", "user.a"], None).await;
    assert!(!ok && err.contains("user.a is not locked"), "{err}");
    let audit = t.app.audit_recent(20).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|r| r.action == "auth.unlock" && r.target == "login:user.a")
    );
    t.finish().await;
}

/// A PROPFIND over WebDAV with Basic credentials, as a sync client sends it.
async fn propfind(t: &TestApp, login: &str, secret: &str) -> StatusCode {
    t.client()
        .request(
            reqwest::Method::from_bytes(b"PROPFIND").expect("method"),
            format!("{}/remote.php/dav/files/{login}/", t.url),
        )
        .header("Depth", "0")
        .basic_auth(login, Some(secret.to_string()))
        .send()
        .await
        .expect("dav")
        .status()
}

/// Finding 1 of the penetration test: once the password had been used over WebDAV, its
/// remembered check answered 207 while the login was throttled or locked, so guesses
/// could be tested at hundreds per second. The throttle now decides first, every time.
#[tokio::test]
async fn a_remembered_webdav_password_does_not_pass_a_throttled_or_locked_login() {
    let t = TestApp::spawn().await;
    assert_eq!(propfind(&t, "user.a", PW).await, StatusCode::MULTI_STATUS);
    let mut statuses = Vec::new();
    for i in 0..20 {
        statuses.push(propfind(&t, "user.a", &format!("falsch-{i}-falsch")).await);
    }
    assert_eq!(
        &statuses[..4],
        &[
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // The right password, remembered a moment ago, waits like every other attempt.
    assert_eq!(
        propfind(&t, "user.a", PW).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Once the wait is over it opens again, ends the count and says so in the log.
    t.clock.advance_ms(2_000);
    let before = t.app.password_checks();
    assert_eq!(propfind(&t, "user.a", PW).await, StatusCode::MULTI_STATUS);
    assert_eq!(
        t.app.password_checks(),
        before,
        "the remembered check is still used: no Argon2 for a sync client"
    );
    let audit = t.app.audit_recent(20).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "login.basic"
            && a.outcome == "success"
            && a.detail.contains("after failed attempts")),
        "{audit:?}"
    );
    for i in 0..3 {
        assert_eq!(
            propfind(&t, "user.a", &format!("wieder-{i}-falsch")).await,
            StatusCode::UNAUTHORIZED,
            "the count started again after the success"
        );
    }

    // Locked (10 failures): the right password is refused until the lock ends.
    for i in 0..7 {
        t.clock.advance_ms(61_000);
        assert_eq!(
            propfind(&t, "user.a", &format!("mehr-{i}-falsch")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(
        t.app
            .audit_recent(20)
            .await
            .expect("audit")
            .iter()
            .any(|a| a.action == "auth.lock")
    );
    t.clock.advance_ms(61_000);
    assert_eq!(
        propfind(&t, "user.a", PW).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    t.clock.advance_ms(15 * 60_000);
    assert_eq!(propfind(&t, "user.a", PW).await, StatusCode::MULTI_STATUS);
    t.finish().await;
}

/// Finding 5: a deactivated account was answered in 3–5 ms, a wrong password in 31–34
/// ms. Every failed Basic attempt now makes exactly one Argon2id check, whatever the
/// reason; counted, not timed, so the proof does not depend on the machine's load.
#[tokio::test]
async fn every_failed_basic_attempt_costs_one_password_check() {
    use amtsbote_core::auth::accounts::AccountUpdate;
    let t = TestApp::spawn().await;
    let cli = amtsbote::startup::cli_actor();
    let user_a2 = t
        .app
        .account_by_login(&amtsbote::startup::cli_actor(), "user.a2")
        .await
        .expect("user.a2");
    t.app
        .update_account(
            &cli,
            user_a2.id,
            AccountUpdate {
                display_name: user_a2.display_name.clone(),
                email: user_a2.email.clone(),
                role: None,
                active: false,
            },
        )
        .await
        .expect("deactivate");
    t.app
        .set_member_active(&cli, "1002", false)
        .await
        .expect("deactivate member");
    for (login, secret, why) in [
        ("niemand", PW, "unknown login"),
        ("user.a2", PW, "deactivated account, right password"),
        ("user.b", PW, "deactivated member, right password"),
        ("user.a", "falsch-falsch-falsch", "wrong password"),
    ] {
        let before = t.app.password_checks();
        assert_eq!(
            propfind(&t, login, secret).await,
            StatusCode::UNAUTHORIZED,
            "{why}"
        );
        assert_eq!(t.app.password_checks() - before, 1, "{why}");
    }
    // Something shaped like an app password is looked up, never hashed with Argon2,
    // for an unknown login as for a known one.
    for login in ["niemand", "user.a"] {
        let before = t.app.password_checks();
        assert_eq!(
            propfind(&t, login, "abcde-fghjk-mnpqr-stuvw-xyz23").await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(t.app.password_checks(), before, "{login}");
    }
    t.finish().await;
}
