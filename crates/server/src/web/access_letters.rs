//! Credential letters for admins: one for an account (on its page), or one PDF for
//! every member user who has not activated their access yet ("Zugänge"). Each letter
//! carries a new activation code, so the PDF can be downloaded only as it is made.

use amtsbote_core::Error;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::admin::admin_form_for;
use super::auth::{AdminUser, CurrentUser};
use super::errors::{IdPath, WebError, render};
use super::views::{ActivationPage, ActivationRow};

fn pdf_response(name: &str, pdf: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        pdf,
    )
        .into_response()
}

fn letter_error(user: &CurrentUser, e: Error) -> WebError {
    match e {
        Error::Invalid("letters.return_address") => WebError {
            status: StatusCode::CONFLICT,
            key: "err-letters-unconfigured",
            args: Vec::new(),
            retry_after: None,
            ctx: Some(Box::new(user.ctx.clone())),
            lang: user.lang(),
            incident: None,
        },
        e => user.err(e),
    }
}

pub async fn one(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(account): IdPath<String>,
) -> Result<Response, WebError> {
    let aid = admin_form_for(&user, &account)?;
    let issued = st
        .app
        .issue_access_letters(&user.actor, &[aid])
        .await
        .map_err(|e| letter_error(&user, e))?;
    let name = issued
        .first()
        .map(|i| format!("Zugangsbrief-{}.pdf", i.account.login))
        .unwrap_or_else(|| "Zugangsbrief.pdf".into());
    Ok(pdf_response(
        &name,
        crate::letters::pdf(&st.app.settings, &issued, st.app.now()),
    ))
}

pub async fn list(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let accounts = st
        .app
        .unactivated_accounts(&user.actor)
        .await
        .map_err(|e| user.err(e))?;
    let labels = super::admin::member_labels(&st, &user).await?;
    let rows = accounts
        .into_iter()
        .map(|a| ActivationRow {
            member: a
                .member_id
                .and_then(|m| labels.get(&m).cloned())
                .unwrap_or_default(),
            since: lang.datetime(a.created_at),
            expires: a
                .activation_expires_at
                .map(|e| lang.datetime(e))
                .unwrap_or_default(),
            expired: a.activation_expires_at.is_some_and(|e| e < st.app.now()),
            account: a,
        })
        .collect();
    render(ActivationPage {
        c: user.ctx(lang.t("activation-title")),
        rows,
        configured: !st.app.settings.letters.return_address.trim().is_empty(),
    })
}

pub async fn batch(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
) -> Result<Response, WebError> {
    let ids: Vec<i64> = st
        .app
        .unactivated_accounts(&user.actor)
        .await
        .map_err(|e| user.err(e))?
        .iter()
        .map(|a| a.id)
        .collect();
    if ids.is_empty() {
        return Err(user.err(Error::NotFound));
    }
    let issued = st
        .app
        .issue_access_letters(&user.actor, &ids)
        .await
        .map_err(|e| letter_error(&user, e))?;
    Ok(pdf_response(
        "Zugangsbriefe.pdf",
        crate::letters::pdf(&st.app.settings, &issued, st.app.now()),
    ))
}
