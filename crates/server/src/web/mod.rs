//! The browser door: server-rendered pages (askama), German first, no JavaScript needed.

pub mod access_letters;
pub mod admin;
pub mod app_passwords;
pub mod audit_log;
pub mod auth;
pub mod basic;
pub mod cookies;
pub mod csrf;
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
use axum::extract::DefaultBodyLimit;
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
    /// With it, the public port answers `/metrics` and the details of `/readyz`.
    pub metrics_token: Option<crate::monitoring::BearerToken>,
    /// The certificate in use, when this process terminates TLS.
    pub tls: Option<Arc<crate::tls::CertStatus>>,
}

/// The web door's routes; the security headers come around all doors at once
/// (`crate::security_headers`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home::home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/login/second-factor",
            get(second_factor::form).post(second_factor::check),
        )
        .route("/security", get(second_factor::security))
        .route("/security/totp/start", post(second_factor::start))
        .route("/security/totp/qr.svg", get(second_factor::qr))
        .route("/security/totp/confirm", post(second_factor::confirm))
        .route("/security/totp/disable", post(second_factor::disable))
        .route("/security/recovery-codes", post(second_factor::renew_codes))
        .route(
            "/password",
            get(auth::password_form).post(auth::change_password),
        )
        .route("/lang/{code}", get(auth::switch_language))
        .route("/members", get(home::members))
        .route("/spaces/{space}", get(spaces::space_root))
        .route("/spaces/{space}/folders/{folder}", get(spaces::folder))
        .route(
            "/spaces/{space}/folders/{folder}/upload",
            post(spaces::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/spaces/{space}/folders/{folder}/mkdir",
            post(spaces::mkdir),
        )
        .route("/spaces/{space}/files/{node}", get(spaces::download))
        .route(
            "/spaces/{space}/nodes/{node}/delete",
            get(spaces::delete_confirm).post(spaces::delete),
        )
        .route("/spaces/{space}/nodes/{node}/rename", post(spaces::rename))
        .route("/admin/members/new", get(admin::member_new_form))
        .route("/admin/members", post(admin::member_create))
        .route(
            "/admin/members/{member}",
            get(admin::member_edit_form).post(admin::member_update),
        )
        .route("/admin/members/{member}/assign", post(admin::member_assign))
        .route(
            "/admin/accounts",
            get(admin::accounts).post(admin::account_create),
        )
        .route("/admin/accounts/new", get(admin::account_new_form))
        .route(
            "/admin/accounts/{account}",
            get(admin::account_edit_form).post(admin::account_update),
        )
        .route(
            "/admin/accounts/{account}/reset",
            post(admin::account_reset),
        )
        .route(
            "/admin/accounts/{account}/sessions/end",
            post(sessions::end_all_of),
        )
        .route(
            "/admin/accounts/{account}/letter",
            post(access_letters::one),
        )
        .route("/admin/activation", get(access_letters::list))
        .route("/admin/activation/letters", post(access_letters::batch))
        .route(
            "/admin/accounts/{account}/second-factor/reset",
            post(second_factor::admin_reset),
        )
        .route("/sessions", get(sessions::list))
        .route("/sessions/end", post(sessions::end))
        .route("/admin/quarantine", get(quarantine::list))
        .route("/admin/quarantine/{id}", get(quarantine::download))
        .route("/admin/locks", get(locks::list))
        .route("/admin/audit", get(audit_log::list))
        .route("/admin/locks/unlock", post(locks::unlock))
        .route("/admin/mail", get(mail_queue::list))
        .route("/admin/mail/{id}/retry", post(mail_queue::retry))
        .route("/admin/mail/retry-all", post(mail_queue::retry_all))
        .route(
            "/notifications",
            get(notifications::show).post(notifications::save),
        )
        .route(
            "/app-passwords",
            get(app_passwords::list).post(app_passwords::create),
        )
        .route("/app-passwords/{id}/revoke", post(app_passwords::revoke))
        .route("/status.php", get(crate::compat::status))
        .route(
            "/ocs/{version}/cloud/capabilities",
            get(crate::compat::capabilities),
        )
        .route("/ocs/{version}/cloud/user", get(crate::compat::user))
        .route("/static/style.css", get(style))
        .route("/healthz", get(crate::monitoring::healthz))
        .route("/readyz", get(crate::monitoring::public_readyz))
        .route("/metrics", get(crate::monitoring::public_metrics))
        .fallback(errors::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(csrf::layer))
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
