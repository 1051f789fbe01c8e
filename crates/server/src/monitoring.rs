//! What the data centre's monitoring reads: `/healthz` (the process answers), `/readyz`
//! (database and scanner as last seen) and `/metrics` (Prometheus text).
//!
//! Whether virus scanning is off, or why the scanner is down, is for the operators, not
//! for anyone on the public port. There `/readyz` says only ready or not, and `/metrics`
//! is not served; both give everything on the monitoring listener (`metrics.listen`) or
//! to a request with the bearer token of `metrics.token_file`.

use amtsbote_core::App;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::tls::CertStatus;

use crate::web::AppState;

/// The token the monitoring sends as `Authorization: Bearer …`. Never printed.
#[derive(Clone)]
pub struct BearerToken(String);

impl BearerToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// Compares digests, so the time taken tells nothing about the token.
    fn matches(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let a = Sha256::digest(given.trim().as_bytes());
        let b = Sha256::digest(self.0.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

/// The monitoring listener: everything, without a token (it is bound to an address
/// only the monitoring reaches).
pub fn router(app: App, tls: Option<Arc<CertStatus>>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/readyz",
            get(|State(app): State<App>| async move { readyz(&app).await }),
        )
        .route(
            "/metrics",
            get(move |State(app): State<App>| async move { metrics(&app, tls.as_deref()) }),
        )
        .with_state(app)
}

pub async fn healthz() -> &'static str {
    "ok"
}

fn authorized(st: &AppState, headers: &HeaderMap) -> bool {
    st.web
        .metrics_token
        .as_ref()
        .is_some_and(|t| t.matches(headers))
}

/// `/readyz` of the public port: ready or not, details only with the token.
pub async fn public_readyz(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if authorized(&st, &headers) {
        return readyz(&st.app).await;
    }
    let ready = database_ok(&st.app).await;
    let (status, word) = if ready {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (status, axum::Json(serde_json::json!({ "status": word }))).into_response()
}

/// `/metrics` of the public port: only with the token.
pub async fn public_metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if authorized(&st, &headers) {
        return metrics(&st.app, st.web.tls.as_deref());
    }
    if st.web.metrics_token.is_some() {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    StatusCode::NOT_FOUND.into_response()
}

async fn database_ok(app: &App) -> bool {
    app.count_accounts().await.is_ok()
}

/// Readiness, and why not: the database, and the scanner as last seen (by the watcher's
/// probe every 30 s, or by the last upload). A scanner outage does not make the node
/// unready: downloads keep working, uploads are refused with a clear message, and the
/// body says why. No request here reaches clamd, so this answers at once.
async fn readyz(app: &App) -> Response {
    let db_ok = database_ok(app).await;
    let state = app.scanner.health().state();
    let mut body = serde_json::json!({
        "status": if db_ok { "ok" } else { "unavailable" },
        "database": if db_ok { "ok" } else { "error" },
        "scanner": app.scanner.mode(),
        "scanner_state": state.label(),
    });
    if let amtsbote_core::scan::ScannerState::Unavailable { reason } = &state {
        body["scanner_reason"] = reason.clone().into();
        body["uploads"] = match app.settings.scan.on_unavailable {
            amtsbote_core::settings::OnUnavailable::Reject => "refused",
            amtsbote_core::settings::OnUnavailable::Allow => "accepted unscanned",
        }
        .into();
    }
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Prometheus text format: the scanner's state and verdicts, the password checks since
/// start, and the days left of the TLS certificate. Counters only, nothing about files or people.
fn metrics(app: &App, tls: Option<&CertStatus>) -> Response {
    use std::fmt::Write;
    let health = app.scanner.health();
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
        app.scanner.mode()
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
    let _ = writeln!(
        out,
        "# HELP amtsbote_password_checks_total Argon2id password checks since start (sign-ins of every door)."
    );
    let _ = writeln!(out, "# TYPE amtsbote_password_checks_total counter");
    let _ = writeln!(
        out,
        "amtsbote_password_checks_total {}",
        app.password_checks()
    );
    if let Some(left) = tls.and_then(|t| t.seconds_left(std::time::SystemTime::now())) {
        let _ = writeln!(
            out,
            "# HELP amtsbote_tls_certificate_expiry_seconds Seconds until the TLS certificate in use expires (negative: expired)."
        );
        let _ = writeln!(out, "# TYPE amtsbote_tls_certificate_expiry_seconds gauge");
        let _ = writeln!(out, "amtsbote_tls_certificate_expiry_seconds {left}");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
