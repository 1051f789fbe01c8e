//! The second factor in the browser: the code after the password at log-in, and
//! "Anmeldung absichern" (`/security`): setting up an authenticator app (QR code and
//! secret, confirmed with a first code), recovery codes shown once, switching it off
//! where it is not required. Admins reset it for a holder who lost the phone.

use amtsbote_core::Error;
use amtsbote_core::auth::sessions::Origin;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::admin::admin_form_for;
use super::auth::{AdminUser, CurrentUser, local_path, with_next};
use super::cookies;
use super::errors::{IdPath, WebError, describe, render};
use super::home::{NoticeQuery, notice_text};
use super::views::{SecondFactorPage, SecurityPage};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn form(user: CurrentUser, Query(q): Query<NextQuery>) -> Result<Response, WebError> {
    if !user.second_factor_pending {
        return Ok(Redirect::to("/").into_response());
    }
    let c = user.ctx(user.lang().t("second-factor-title"));
    render(SecondFactorPage {
        c,
        next: local_path(q.next).unwrap_or_default(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

pub async fn check(
    State(st): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<CodeForm>,
) -> Result<Response, WebError> {
    if !user.second_factor_pending {
        return Ok(Redirect::to("/").into_response());
    }
    let lang = user.lang();
    let next = local_path(Some(f.next.clone())).unwrap_or_default();
    let page = |message: String, status: StatusCode| -> Result<Response, WebError> {
        let c = user.ctx(lang.t("second-factor-title"));
        let mut r = render(SecondFactorPage {
            c,
            next: next.clone(),
            error: Some(message),
        })?;
        *r.status_mut() = status;
        Ok(r)
    };
    match st
        .app
        .check_second_factor(&user.account, &f.code, user.ip.clone())
        .await
    {
        Ok(()) => {}
        Err(Error::AuthFailed) => {
            return page(lang.t("second-factor-wrong"), StatusCode::UNAUTHORIZED);
        }
        Err(e @ Error::TooManyAttempts { .. }) => {
            let mut r = page(describe(lang, &e), StatusCode::TOO_MANY_REQUESTS)?;
            if let Some(secs) = e.retry_after() {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return Ok(r);
        }
        Err(e) => return Err(user.err(e)),
    }
    let origin = Origin {
        ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let session = st
        .app
        .complete_second_factor(user.token(), user.account.id, origin)
        .await
        .map_err(|e| user.err(e))?;
    let target = if user.account.must_change_password() {
        with_next("/password", &next)
    } else if next.is_empty() {
        "/".to_string()
    } else {
        next
    };
    let secure = st.web.secure_cookies;
    let mut r = Redirect::to(&target).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookies::set(
        cookies::session_name(secure),
        &session.token,
        secure,
        true,
        None,
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[derive(Deserialize)]
pub struct SecurityQuery {
    required: Option<String>,
    notice: Option<String>,
}

async fn security_page(
    st: &AppState,
    user: &CurrentUser,
    codes: Option<Vec<String>>,
    error: Option<String>,
    notice: Option<String>,
) -> Result<SecurityPage, WebError> {
    let lang = user.lang();
    let enabled = st
        .app
        .second_factor_enabled(user.account.id)
        .await
        .map_err(|e| user.err(e))?;
    let pending = if enabled {
        None
    } else {
        st.app
            .pending_totp(&user.account)
            .await
            .map_err(|e| user.err(e))?
    };
    let codes_left = if enabled {
        st.app
            .recovery_codes_left(user.account.id)
            .await
            .map_err(|e| user.err(e))?
    } else {
        0
    };
    let mut c = user.ctx(lang.t("security-title"));
    c.notice = notice;
    Ok(SecurityPage {
        c,
        enabled,
        required: st.app.second_factor_required(&user.account),
        secret: pending.map(|p| {
            p.secret
                .as_bytes()
                .chunks(4)
                .map(|g| String::from_utf8_lossy(g).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        }),
        codes,
        codes_left: codes_left.to_string(),
        error,
    })
}

/// The security page with an error, and its status.
async fn security_error(
    st: &AppState,
    user: &CurrentUser,
    message: String,
    status: StatusCode,
) -> Result<Response, WebError> {
    let mut r = render(security_page(st, user, None, Some(message), None).await?)?;
    *r.status_mut() = status;
    Ok(r)
}

pub async fn security(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<SecurityQuery>,
) -> Result<Response, WebError> {
    let notice = if q.required.is_some() {
        Some(user.lang().t("security-required-notice"))
    } else {
        notice_text(&user, &NoticeQuery { notice: q.notice })
    };
    render(security_page(&st, &user, None, None, notice).await?)
}

pub async fn start(State(st): State<AppState>, user: CurrentUser) -> Result<Response, WebError> {
    st.app
        .start_totp(&user.account)
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to("/security").into_response())
}

/// The QR code of the enrolment under way, as SVG (an image of our own origin, which
/// the Content-Security-Policy allows; no script, no data URL).
pub async fn qr(State(st): State<AppState>, user: CurrentUser) -> Result<Response, WebError> {
    let pending = st
        .app
        .pending_totp(&user.account)
        .await
        .map_err(|e| user.err(e))?
        .ok_or_else(|| user.err(Error::NotFound))?;
    let code = qrcode::QrCode::new(pending.url.as_bytes())
        .map_err(|e| WebError::internal(user.lang(), e))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

pub async fn confirm(
    State(st): State<AppState>,
    user: CurrentUser,
    Form(f): Form<CodeForm>,
) -> Result<Response, WebError> {
    match st
        .app
        .confirm_totp(&user.account, &f.code, user.ip.clone())
        .await
    {
        Ok(codes) => render(
            security_page(
                &st,
                &user,
                Some(codes),
                None,
                Some(user.lang().t("security-enabled-notice")),
            )
            .await?,
        ),
        Err(Error::Invalid(_)) => {
            security_error(
                &st,
                &user,
                user.lang().t("second-factor-wrong"),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(user.err(e)),
    }
}

pub async fn renew_codes(
    State(st): State<AppState>,
    user: CurrentUser,
    Form(f): Form<CodeForm>,
) -> Result<Response, WebError> {
    match st
        .app
        .renew_recovery_codes(&user.account, &f.code, user.ip.clone())
        .await
    {
        Ok(codes) => render(security_page(&st, &user, Some(codes), None, None).await?),
        Err(e @ (Error::AuthFailed | Error::TooManyAttempts { .. })) => {
            let msg = match e {
                Error::AuthFailed => user.lang().t("second-factor-wrong"),
                ref e => describe(user.lang(), e),
            };
            security_error(&st, &user, msg, super::errors::status_for(e.kind())).await
        }
        Err(e) => Err(user.err(e)),
    }
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    password: String,
}

pub async fn disable(
    State(st): State<AppState>,
    user: CurrentUser,
    Form(f): Form<DisableForm>,
) -> Result<Response, WebError> {
    match st
        .app
        .disable_totp(&user.account, &f.password, user.ip.clone())
        .await
    {
        Ok(()) => Ok(Redirect::to("/security?notice=second-factor-disabled").into_response()),
        Err(Error::AuthFailed) => {
            let msg = user.lang().t("password-current-wrong");
            security_error(&st, &user, msg, StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(user.err(e)),
    }
}

/// Admin: removes an account's second factor; the holder is told by e-mail.
pub async fn admin_reset(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(account): IdPath<String>,
) -> Result<Response, WebError> {
    let aid = admin_form_for(&user, &account)?;
    st.app
        .reset_second_factor(&user.actor, aid, user.ip.clone())
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to(&format!("/admin/accounts/{aid}?notice=second-factor-reset")).into_response())
}
