//! One gate for every admin act: the route table is walked, and every `/admin/…` route,
//! page or form, answers a clerk and a member user as if it did not exist (404), with
//! their own valid CSRF token, and changes nothing; an admin gets through.

use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::isolation::web_routes;

#[tokio::test]
async fn every_admin_route_is_closed_to_everyone_but_admins() {
    let t = TestApp::spawn().await;
    let routes: Vec<(String, String)> = web_routes()
        .into_iter()
        .filter(|(_, p)| p.starts_with("/admin"))
        .collect();
    assert!(routes.len() >= 15, "the route table was read: {routes:?}");
    let audit_before = t.app.audit_recent(1000).await.expect("audit").len();
    let any_id = regex::Regex::new(r"\{[^}]+\}").expect("regex");
    for login in ["clerk.a", "user.a"] {
        let b = t.login(login).await;
        for (method, pattern) in &routes {
            let path = any_id.replace_all(pattern, "1").to_string();
            let r = match method.as_str() {
                "GET" => b.get(&path).await,
                _ => b.post(&path, &[("name", "x"), ("number", "9999")]).await,
            };
            assert_eq!(
                r.status(),
                StatusCode::NOT_FOUND,
                "{login}: {method} {pattern}"
            );
        }
    }
    let audit_after = t.app.audit_recent(1000).await.expect("audit").len();
    // Only the two log-ins were recorded: no admin act went through.
    assert_eq!(audit_after - audit_before, 2, "nothing was done");
    let admin = t.login("admin").await;
    for path in [
        "/admin/accounts",
        "/admin/locks",
        "/admin/audit",
        "/admin/mail",
        "/admin/quarantine",
        "/admin/activation",
    ] {
        assert_eq!(admin.get(path).await.status(), StatusCode::OK, "{path}");
    }
    t.finish().await;
}
