//! The account holder's app passwords: one per device or program, shown once at
//! creation, revocable at any time.

use amtsbote_core::{Error, ErrorKind};
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::CurrentUser;
use super::errors::{IdPath, WebError, render, status_for};
use super::home::{NoticeQuery, notice_text};
use super::views::AppPasswordsPage;

async fn page(
    st: &AppState,
    user: &CurrentUser,
    new_token: Option<(String, String)>,
    error: Option<String>,
    notice: Option<String>,
) -> Result<AppPasswordsPage, WebError> {
    let list = st
        .app
        .app_passwords(user.account.id)
        .await
        .map_err(|e| user.err(e))?;
    let mut c = user.ctx(user.lang().t("app-passwords-title"));
    c.notice = notice;
    Ok(AppPasswordsPage {
        c,
        login: user.account.login.clone(),
        dav_url: format!(
            "{}/remote.php/dav/files/{}/",
            st.app
                .settings
                .authority
                .public_base_url
                .trim_end_matches('/'),
            user.account.login
        ),
        list,
        new_token,
        error,
    })
}

pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
    axum::extract::Query(q): axum::extract::Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let notice = notice_text(&user, &q);
    render(page(&st, &user, None, None, notice).await?)
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    label: String,
}

pub async fn create(
    State(st): State<AppState>,
    user: CurrentUser,
    Form(f): Form<CreateForm>,
) -> Result<Response, WebError> {
    match st.app.create_app_password(&user.account, &f.label).await {
        // Shown on this response only; it is stored hashed and cannot be shown again.
        Ok((pw, token)) => render(page(&st, &user, Some((pw.label, token)), None, None).await?),
        Err(e) if e.kind() == ErrorKind::BadInput => {
            let mut r = render(
                page(
                    &st,
                    &user,
                    None,
                    Some(user.lang().t("err-app-password-label")),
                    None,
                )
                .await?,
            )?;
            *r.status_mut() = status_for(e.kind());
            Ok(r)
        }
        Err(e) => Err(user.err(e)),
    }
}

pub async fn revoke(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath(id): IdPath<String>,
) -> Result<Response, WebError> {
    let id = id.parse::<i64>().map_err(|_| user.err(Error::NotFound))?;
    st.app
        .revoke_app_password(&user.account, id)
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to("/app-passwords?notice=app-password-revoked").into_response())
}
