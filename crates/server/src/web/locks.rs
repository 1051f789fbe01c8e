//! "Gesperrte Anmeldungen" for admins: login names and client addresses locked after
//! repeated failed sign-ins, until when, and a button to lift a lock. Everyone else
//! gets 404.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::AdminUser;
use super::errors::{WebError, render};
use super::home::{NoticeQuery, notice_text};
use super::views::{LockRow, LocksPage};

pub async fn list(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let rows = st
        .app
        .locked_subjects(&user.actor)
        .await
        .map_err(|e| user.err(e))?
        .into_iter()
        .map(|l| LockRow {
            kind: lang.t(if l.is_login() {
                "locks-kind-login"
            } else {
                "locks-kind-ip"
            }),
            name: l.name().to_string(),
            until: lang.datetime(l.locked_until),
            failures: l.failures.to_string(),
            subject: l.subject,
        })
        .collect();
    let mut c = user.ctx(lang.t("locks-title"));
    c.notice = notice_text(&user, &q);
    render(LocksPage {
        c,
        rows,
        lock_after: st.app.settings.lockout.lock_after.to_string(),
        minutes: st.app.settings.lockout.lock_minutes.to_string(),
    })
}

#[derive(Deserialize)]
pub struct UnlockForm {
    #[serde(default)]
    subject: String,
}

pub async fn unlock(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    Form(f): Form<UnlockForm>,
) -> Result<Response, WebError> {
    st.app
        .unlock(&user.actor, &f.subject, user.ip.clone())
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to("/admin/locks?notice=unlocked").into_response())
}
