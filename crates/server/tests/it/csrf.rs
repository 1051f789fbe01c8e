//! CSRF cannot be forgotten: the route table of the web door is walked, and every
//! state-changing route refuses a signed-in request without the session's token, or
//! with a foreign Origin, before its handler runs — also routes added later, since the
//! table is read from the router's source (`crate::isolation::web_routes`).

use reqwest::StatusCode;

use crate::helpers::{TestApp, de};
use crate::isolation::web_routes;

#[tokio::test]
async fn every_state_changing_web_route_refuses_a_request_without_the_token() {
    let t = TestApp::spawn().await;
    let admin = t.login("admin").await;
    let routes: Vec<(String, String)> = web_routes()
        .into_iter()
        .filter(|(m, _)| matches!(m.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .collect();
    assert!(routes.len() > 25, "the route table was read: {routes:?}");
    let refused = de("err-csrf");
    let any_id = regex::Regex::new(r"\{[^}]+\}").expect("regex");
    for (method, pattern) in &routes {
        // Ids of the test world where a pattern asks for one (any value will do: the
        // refusal comes before the path is looked at).
        let path = any_id.replace_all(pattern, "1").to_string();
        let url = format!("{}{path}", t.url);
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        for (what, rq) in [
            (
                "no token",
                admin
                    .http
                    .request(m.clone(), &url)
                    .form(&[("name", "x"), ("label", "x")]),
            ),
            (
                "a wrong token",
                admin
                    .http
                    .request(m.clone(), &url)
                    .form(&[("csrf", "falsch"), ("name", "x")]),
            ),
            (
                "a foreign origin",
                admin
                    .http
                    .request(m.clone(), &url)
                    .header("origin", "https://boese.example")
                    .form(&[("csrf", admin.csrf.as_str()), ("name", "x")]),
            ),
            (
                "a multipart body without the token first",
                admin.http.request(m.clone(), &url).multipart(
                    reqwest::multipart::Form::new()
                        .text("name", "x")
                        .text("csrf", admin.csrf.clone()),
                ),
            ),
        ] {
            let r = rq.send().await.expect("send");
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            // The log-in form takes no multipart body at all (its double-submit token is
            // checked for the forms it does take).
            if pattern == "/login" && what.starts_with("a multipart") {
                assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
                continue;
            }
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {pattern} with {what}: {body}"
            );
            assert!(
                body.contains(&refused),
                "{method} {pattern} with {what}: {body}"
            );
        }
    }
    // The same session with its token is not refused as forged (here: log-out works).
    let r = admin.post("/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    t.finish().await;
}
