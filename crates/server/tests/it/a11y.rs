//! Accessibility (BITV 2.0 / WCAG 2.1 AA): axe-core in headless Chromium over the real
//! pages. Needs Debian's chromium and nodejs and `npm install` in tests/a11y (done by
//! `.ci/install-peers.sh`). Without them the test is skipped visibly (`prereq::ready`);
//! under AMTSBOTE_REQUIRE_ALL=1 or AMTSBOTE_REQUIRE_A11Y=1 (CI) that is a failure.

use std::path::PathBuf;

use crate::helpers::{PW, TestApp, bytes};
use crate::prereq::{self, Need};

const REQUIRE_A11Y: &str = "AMTSBOTE_REQUIRE_A11Y";
const NPM_INSTALL: &str = "npm install in tests/a11y, or sudo .ci/install-peers.sh";

/// tests/a11y, or AMTSBOTE_A11Y_DIR.
fn audit_dir() -> PathBuf {
    std::env::var("AMTSBOTE_A11Y_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/a11y"))
}

fn needs(dir: &std::path::Path) -> Vec<Need> {
    vec![
        Need::binary("/usr/bin/chromium", "chromium"),
        Need::binary("node", "nodejs"),
        Need::dir(dir.join("node_modules/playwright-core"), NPM_INSTALL),
        Need::dir(dir.join("node_modules/axe-core"), NPM_INSTALL),
    ]
    .into_iter()
    .map(|n| n.required_by(REQUIRE_A11Y))
    .collect()
}

fn run_audit(dir: &std::path::Path, url: &str, login: &str, paths: &[String]) -> (bool, String) {
    let out = std::process::Command::new("node")
        .current_dir(dir)
        .arg("audit.mjs")
        .arg(url)
        .arg(login)
        .arg(PW)
        .args(paths)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.success(), format!("{stdout}\n{stderr}"))
}

#[tokio::test]
async fn pages_have_no_axe_violations() {
    let dir = audit_dir();
    if !prereq::ready(
        concat!(module_path!(), "::pages_have_no_axe_violations"),
        &needs(&dir),
    ) {
        return;
    }
    let t = TestApp::spawn().await;
    let clerk = t.login("clerk.a").await;
    let root = t.space_a.root_id;
    let an = t.folder(&t.space_a, "an_KVBbg").await;
    clerk
        .upload(t.space_a.id, root, &[("Bescheid März.pdf", bytes(2000, 7))])
        .await;
    let user = t.login("user.a").await;
    user.upload(t.space_a.id, an, &[("Antrag.pdf", bytes(1000, 8))])
        .await;
    let doc = crate::helpers::node_id(&t, &t.space_a, root, "Bescheid März.pdf")
        .await
        .expect("stored");
    let user_id = t
        .app
        .account_by_login(&amtsbote::startup::cli_actor(), "user.a")
        .await
        .expect("user")
        .id;

    let admin_pages = vec![
        "/".to_string(),
        "/members".to_string(),
        format!("/spaces/{}/folders/{root}", t.space_a.id),
        format!("/spaces/{}/folders/{an}", t.space_a.id),
        "/admin/members/new".to_string(),
        format!("/admin/members/{}", t.a.id),
        "/admin/accounts".to_string(),
        "/admin/accounts/new".to_string(),
        format!("/admin/accounts/{user_id}"),
        "/password".to_string(),
        format!("/spaces/{}/nodes/{doc}/delete", t.space_a.id),
        "/app-passwords".to_string(),
        "/notifications".to_string(),
        "/admin/mail".to_string(),
        "/admin/locks".to_string(),
        "/admin/audit".to_string(),
        "/admin/audit?kind=documents&from=2000-01-01".to_string(),
        "400:/admin/audit?from=gestern".to_string(),
        "/sessions".to_string(),
        "/security".to_string(),
        "/admin/activation".to_string(),
    ];
    let admin_pages_count = admin_pages.len();
    let (url, d) = (t.url.clone(), dir.clone());
    let (ok, out) = tokio::task::spawn_blocking(move || run_audit(&d, &url, "admin", &admin_pages))
        .await
        .expect("join");
    assert!(ok, "axe found violations or the audit failed:\n{out}");
    assert_eq!(
        out.matches("\"violations\":[]").count(),
        admin_pages_count + 1,
        "every page audited:\n{out}"
    );
    assert!(
        out.contains("\"lang\":\"de\""),
        "German is the default language:\n{out}"
    );

    let member_pages = vec![
        format!("/spaces/{}/folders/{root}", t.space_a.id),
        format!("/spaces/{}/folders/{an}", t.space_a.id),
        "/notifications".to_string(),
    ];
    let url = t.url.clone();
    let (ok, out) =
        tokio::task::spawn_blocking(move || run_audit(&dir, &url, "user.a", &member_pages))
            .await
            .expect("join");
    assert!(ok, "axe found violations in the member view:\n{out}");
    t.finish().await;
}
