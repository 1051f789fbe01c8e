//! Quarantined uploads for admins: what was kept, from whom, with which finding, and the
//! bytes for inspection. Everyone else gets 404, as for any admin page.

use amtsbote_core::Error;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use tokio_util::io::ReaderStream;

use super::AppState;
use super::admin::member_labels;
use super::auth::AdminUser;
use super::errors::{IdPath, WebError, render};
use super::views::{QuarantinePage, QuarantineRow};

pub async fn list(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let items = st
        .app
        .quarantine_list(&user.actor)
        .await
        .map_err(|e| user.err(e))?;
    let labels = member_labels(&st, &user).await?;
    let rows = items
        .into_iter()
        .map(|q| QuarantineRow {
            member: labels.get(&q.member_id).cloned().unwrap_or_default(),
            at: lang.datetime(q.created_at),
            expires: lang.datetime(q.expires_at),
            size: lang.size(q.size),
            q,
        })
        .collect();
    let c = user.ctx(lang.t("quarantine-title"));
    render(QuarantinePage {
        c,
        rows,
        keeping: st.app.settings.scan.on_infected
            == amtsbote_core::settings::OnInfected::Quarantine,
        days: st.app.settings.scan.quarantine_days.to_string(),
    })
}

pub async fn download(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(id): IdPath<String>,
) -> Result<Response, WebError> {
    let id: i64 = id.parse().map_err(|_| user.err(Error::NotFound))?;
    let (q, reader) = st
        .app
        .quarantine_open(&user.actor, id)
        .await
        .map_err(|e| user.err(e))?;
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_LENGTH, q.size)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(ReaderStream::with_capacity(
            reader,
            256 * 1024,
        )))
        .map_err(|e| WebError::internal(user.lang(), e))?;
    // Malware: never rendered, never sniffed, always saved under a name that says so.
    amtsbote_dav::download::set_file_body_headers(
        resp.headers_mut(),
        &format!("{}.quarantine", q.name),
    );
    Ok(resp)
}
