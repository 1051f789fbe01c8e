//! The browser door: server-rendered pages (askama), German first, no JavaScript needed.

pub mod access_letters;
pub mod admin;
pub mod app_passwords;
pub mod auth;
pub mod basic;
pub mod cookies;
pub mod errors;
pub mod home;
pub mod i18n;
pub mod locks;
pub mod mail_queue;
pub mod notifications;
pub mod quarantine;
pub mod second_factor;
pub mod sessions;
pub mod spaces;
pub mod views;

use std::sync::Arc;

use amtsbote_core::App;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub web: Arc<WebSettings>,
}

#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Cookies get `Secure` and the `__Host-` prefix.
    pub secure_cookies: bool,
}

/// The web door's routes; the security headers come around all doors at once
/// (`crate::security_headers`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home::home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/login/second-factor", get(second_factor::form).post(second_factor::check))
        .route("/security", get(second_factor::security))
        .route("/security/totp/start", post(second_factor::start))
        .route("/security/totp/qr.svg", get(second_factor::qr))
        .route("/security/totp/confirm", post(second_factor::confirm))
        .route("/security/totp/disable", post(second_factor::disable))
        .route("/security/recovery-codes", post(second_factor::renew_codes))
        .route("/password", get(auth::password_form).post(auth::change_password))
        .route("/lang/{code}", get(auth::switch_language))
        .route("/members", get(home::members))
        .route("/spaces/{space}", get(spaces::space_root))
        .route("/spaces/{space}/folders/{folder}", get(spaces::folder))
        .route(
            "/spaces/{space}/folders/{folder}/upload",
            post(spaces::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/spaces/{space}/folders/{folder}/mkdir", post(spaces::mkdir))
        .route("/spaces/{space}/files/{node}", get(spaces::download))
        .route(
            "/spaces/{space}/nodes/{node}/delete",
            get(spaces::delete_confirm).post(spaces::delete),
        )
        .route("/spaces/{space}/nodes/{node}/rename", post(spaces::rename))
        .route("/admin/members/new", get(admin::member_new_form))
        .route("/admin/members", post(admin::member_create))
        .route("/admin/members/{member}", get(admin::member_edit_form).post(admin::member_update))
        .route("/admin/members/{member}/assign", post(admin::member_assign))
        .route("/admin/accounts", get(admin::accounts).post(admin::account_create))
        .route("/admin/accounts/new", get(admin::account_new_form))
        .route("/admin/accounts/{account}", get(admin::account_edit_form).post(admin::account_update))
        .route("/admin/accounts/{account}/reset", post(admin::account_reset))
        .route("/admin/accounts/{account}/sessions/end", post(sessions::end_all_of))
        .route("/admin/accounts/{account}/letter", post(access_letters::one))
        .route("/admin/activation", get(access_letters::list))
        .route("/admin/activation/letters", post(access_letters::batch))
        .route("/admin/accounts/{account}/second-factor/reset", post(second_factor::admin_reset))
        .route("/sessions", get(sessions::list))
        .route("/sessions/end", post(sessions::end))
        .route("/admin/quarantine", get(quarantine::list))
        .route("/admin/quarantine/{id}", get(quarantine::download))
        .route("/admin/locks", get(locks::list))
        .route("/admin/locks/unlock", post(locks::unlock))
        .route("/admin/mail", get(mail_queue::list))
        .route("/admin/mail/{id}/retry", post(mail_queue::retry))
        .route("/admin/mail/retry-all", post(mail_queue::retry_all))
        .route("/notifications", get(notifications::show).post(notifications::save))
        .route("/app-passwords", get(app_passwords::list).post(app_passwords::create))
        .route("/app-passwords/{id}/revoke", post(app_passwords::revoke))
        .route("/status.php", get(crate::compat::status))
        .route("/ocs/{version}/cloud/capabilities", get(crate::compat::capabilities))
        .route("/ocs/{version}/cloud/user", get(crate::compat::user))
        .route("/static/style.css", get(style))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(errors::not_found)
        .with_state(state)
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
}

/// Prometheus text format: the scanner's state and verdicts since start. Counters only,
/// nothing about files or people.
async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write;
    let health = st.app.scanner.health();
    let c = health.counts();
    let up = match health.state() {
        amtsbote_core::scan::ScannerState::Ready => 1,
        _ => 0,
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP amtsbote_scanner_up Whether the virus scanner answered last time (0 also when scanning is off)."
    );
    let _ = writeln!(out, "# TYPE amtsbote_scanner_up gauge");
    let _ = writeln!(
        out,
        "amtsbote_scanner_up{{scanner=\"{}\"}} {up}",
        st.app.scanner.mode()
    );
    let _ = writeln!(
        out,
        "# HELP amtsbote_scanner_outages_total Outages of the virus scanner since start."
    );
    let _ = writeln!(out, "# TYPE amtsbote_scanner_outages_total counter");
    let _ = writeln!(out, "amtsbote_scanner_outages_total {}", c.outages);
    let _ = writeln!(
        out,
        "# HELP amtsbote_scans_total Upload scans since start, by result."
    );
    let _ = writeln!(out, "# TYPE amtsbote_scans_total counter");
    for (result, n) in [
        ("clean", c.clean),
        ("infected", c.infected),
        ("error", c.failed),
        ("too_large", c.too_large),
    ] {
        let _ = writeln!(out, "amtsbote_scans_total{{result=\"{result}\"}} {n}");
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

async fn healthz() -> &'static str {
    "ok"
}

/// Readiness, and why not: the database, and the scanner as last seen (by the watcher's
/// probe every 30 s, or by the last upload). A scanner outage does not make the node
/// unready: downloads keep working, uploads are refused with a clear message, and the
/// body says why. No request here reaches clamd, so this answers at once.
async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    let db_ok = st.app.count_accounts().await.is_ok();
    let state = st.app.scanner.health().state();
    let mut body = serde_json::json!({
        "database": if db_ok { "ok" } else { "error" },
        "scanner": st.app.scanner.mode(),
        "scanner_state": state.label(),
    });
    if let amtsbote_core::scan::ScannerState::Unavailable { reason } = &state {
        body["scanner_reason"] = reason.clone().into();
        body["uploads"] = match st.app.settings.scan.on_unavailable {
            amtsbote_core::settings::OnUnavailable::Reject => "refused",
            amtsbote_core::settings::OnUnavailable::Allow => "accepted unscanned",
        }
        .into();
    }
    let status = if db_ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}
