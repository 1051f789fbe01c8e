//! The second factor through the real server: enrolment with a code computed from the
//! shown secret (by Python's hmac, independently of the server's TOTP code), log-in
//! with password and code, codes that work once, recovery codes, throttling, what it
//! closes (WebDAV with the account password), required enrolment, and the admin reset
//! that tells the holder by e-mail.

use std::process::Command;

use amtsbote_core::settings::{
    MailSecurity, MailSettings, NotifySettings, SecondFactorRequired, SecondFactorSettings,
};
use reqwest::StatusCode;

use crate::helpers::{Browser, Opts, PW, TestApp, csrf_of, form_login, location};
use crate::mail::{SmtpSink, read_mail, sink_needs};
use crate::prereq;

/// RFC 6238 (SHA-1, 6 digits, 30 s) in Python, for the time `ms`.
fn totp_code(secret: &str, ms: i64) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import base64,hmac,hashlib,struct,sys\n\
             s=sys.argv[1]; k=base64.b32decode(s+'='*(-len(s)%8))\n\
             h=hmac.new(k,struct.pack('>Q',int(sys.argv[2])//30),hashlib.sha1).digest()\n\
             o=h[-1]&15\n\
             print('%06d'%((struct.unpack('>I',h[o:o+4])[0]&0x7fffffff)%1000000))",
        )
        .arg(secret)
        .arg((ms / 1000).to_string())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sets up TOTP for a signed-in browser; returns the secret and the recovery codes.
async fn enrol(t: &TestApp, b: &Browser) -> (String, Vec<String>) {
    let r = b.post("/security/totp/start", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, page) = b.page("/security").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("src=\"/security/totp/qr.svg\""), "{page}");
    let secret = regex::Regex::new(r#"<code class="secret">([A-Z2-7 ]+)</code>"#)
        .expect("regex")
        .captures(&page)
        .map(|c| c[1].replace(' ', ""))
        .unwrap_or_else(|| panic!("no secret in {page}"));
    let qr = b.get("/security/totp/qr.svg").await;
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.text().await.expect("svg").contains("<svg"));
    // A wrong code does not switch it on.
    let r = b
        .post("/security/totp/confirm", &[("code", "000000")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = b
        .post(
            "/security/totp/confirm",
            &[("code", &totp_code(&secret, t.app.now()))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("text");
    let codes: Vec<String> = regex::Regex::new(r"<li><code>([a-z0-9-]{19})</code></li>")
        .expect("regex")
        .captures_iter(&page)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    (secret, codes)
}

/// Password step of a log-in: the browser and where it was sent.
async fn password_step(t: &TestApp, login: &str) -> (Browser, String) {
    let http = t.client();
    let r = form_login(&http, &t.url, login, PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    let mut b = Browser {
        http,
        base: t.url.clone(),
        csrf: String::new(),
    };
    let (_, page) = b.page(&to).await;
    b.csrf = csrf_of(&page);
    (b, to)
}

async fn code_step(b: &Browser, code: &str) -> reqwest::Response {
    b.post("/login/second-factor", &[("code", code)]).await
}

#[tokio::test]
async fn log_in_needs_password_and_a_fresh_code() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    let (secret, codes) = enrol(&t, &user).await;
    let audit = t.app.audit_recent(20).await.expect("audit");
    assert!(audit.iter().any(|r| r.action == "second_factor.enable"));

    // The password alone leads to the code page, and nowhere else.
    let (b, to) = password_step(&t, "user.a").await;
    assert_eq!(to, "/login/second-factor");
    let r = b.get(&format!("/spaces/{}", t.space_a.id)).await;
    assert!(
        location(&r).starts_with("/login/second-factor"),
        "{}",
        location(&r)
    );
    assert_eq!(b.get("/sessions").await.status(), StatusCode::SEE_OTHER);
    // The code used to switch it on does not work again (same time step).
    let same = totp_code(&secret, t.app.now());
    let r = code_step(&b, &same).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.expect("text").contains("nicht gültig"));
    t.clock.advance_ms(30_000);
    let fresh = totp_code(&secret, t.app.now());
    let r = code_step(&b, &fresh).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert_eq!(
        b.get("/sessions").await.status(),
        StatusCode::OK,
        "signed in"
    );

    // The same code a second time, in another log-in: refused.
    let (b2, _) = password_step(&t, "user.a").await;
    assert_eq!(
        code_step(&b2, &fresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A recovery code works once.
    let r = code_step(&b2, &codes[0].to_uppercase()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (b3, _) = password_step(&t, "user.a").await;
    assert_eq!(
        code_step(&b3, &codes[0]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, page) = b2.page("/security").await;
    assert!(
        page.contains("Unbenutzte Wiederherstellungscodes: 9."),
        "{page}"
    );

    // Guessing codes is throttled like passwords (one failure above was the replay).
    for _ in 0..2 {
        code_step(&b3, "123456").await;
    }
    let r = code_step(&b3, &totp_code(&secret, t.app.now() + 30_000)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // WebDAV no longer takes the account password (app passwords still work).
    let r = t
        .client()
        .request(
            reqwest::Method::from_bytes(b"PROPFIND").expect("method"),
            format!("{}/remote.php/dav/files/user.a/", t.url),
        )
        .header("Depth", "0")
        .basic_auth("user.a", Some(PW))
        .send()
        .await
        .expect("dav");
    assert!(
        matches!(
            r.status(),
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ),
        "{}",
        r.status()
    );
    t.finish().await;
}

#[tokio::test]
async fn holders_switch_it_off_with_their_password_where_it_is_not_required() {
    let t = TestApp::spawn().await;
    let user = t.login("user.a").await;
    enrol(&t, &user).await;
    let r = user
        .post("/security/totp/disable", &[("password", "falsch-falsch")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = user
        .post("/security/totp/disable", &[("password", PW)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, to) = password_step(&t, "user.a").await;
    assert_eq!(to, "/", "the password alone signs in again");
    t.finish().await;
}

#[tokio::test]
async fn required_second_factor_is_set_up_right_after_log_in() {
    let t = TestApp::spawn_with(Opts {
        second_factor: SecondFactorSettings {
            required: SecondFactorRequired::Staff,
        },
        ..Opts::default()
    })
    .await;
    let clerk = t.login("clerk.a").await;
    let r = clerk.get("/members").await;
    assert_eq!(location(&r), "/security?required=1");
    let (_, page) = clerk.page("/security?required=1").await;
    assert!(page.contains("vorgeschrieben"), "{page}");
    let (secret, _) = enrol(&t, &clerk).await;
    assert_eq!(clerk.get("/members").await.status(), StatusCode::OK);
    // Required: it cannot be switched off.
    let r = clerk
        .post("/security/totp/disable", &[("password", PW)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!secret.is_empty());
    // Member users are not held to it.
    let user = t.login("user.a").await;
    assert_eq!(
        user.get(&format!("/spaces/{}", t.space_a.id))
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "into the own folder, not to /security"
    );
    assert!(!location(&user.get(&format!("/spaces/{}", t.space_a.id)).await).contains("security"));
    t.finish().await;
}

#[tokio::test]
async fn an_admin_reset_tells_the_holder_by_mail() {
    if !prereq::ready(
        concat!(module_path!(), "::an_admin_reset_tells_the_holder_by_mail"),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let t = TestApp::spawn_with(Opts {
        mail: MailSettings {
            host: "127.0.0.1".into(),
            port: sink.port,
            security: MailSecurity::None,
            from: "austausch@kvbbg.example".into(),
            ..MailSettings::default()
        },
        notify: NotifySettings {
            window_seconds: 0,
            ..NotifySettings::default()
        },
        ..Opts::default()
    })
    .await;
    let user = t.login("user.a").await;
    enrol(&t, &user).await;
    let ua = t
        .app
        .account_by_login(&amtsbote::startup::cli_actor(), "user.a")
        .await
        .expect("user.a")
        .id;
    let path = format!("/admin/accounts/{ua}/second-factor/reset");
    let clerk = t.login("clerk.a").await;
    assert_eq!(clerk.post(&path, &[]).await.status(), StatusCode::NOT_FOUND);
    let admin = t.login("admin").await;
    let r = admin.post(&path, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let start = std::time::Instant::now();
    while sink.mails().is_empty() {
        assert!(start.elapsed().as_secs() < 20, "no mail");
        t.app.wake_notifier();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let m = read_mail(&sink.mails()[0]);
    assert_eq!(m.envelope_to, "user.a@example.org");
    assert_eq!(
        m.subject,
        "KVBbg: Ihr zweiter Anmeldefaktor wurde zurückgesetzt"
    );
    assert!(
        m.text.contains("https://austausch.example/security"),
        "{}",
        m.text
    );
    let audit = t.app.audit_recent(50).await.expect("audit");
    assert!(audit.iter().any(|r| r.action == "second_factor.reset"));
    let (_, to) = password_step(&t, "user.a").await;
    assert_eq!(to, "/", "the password alone signs in after the reset");
    // Nothing left to reset.
    assert_eq!(admin.post(&path, &[]).await.status(), StatusCode::NOT_FOUND);
    t.finish().await;
}
