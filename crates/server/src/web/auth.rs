//! Signing in and out, the session extractor, CSRF checks and the password change.

use amtsbote_core::auth::accounts::Account;
use amtsbote_core::{Actor, Error};
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle_eq::ct_eq;

use super::AppState;
use super::cookies;
use super::errors::{WebError, render};
use super::i18n::{LANG_COOKIE, Lang};
use super::views::{Ctx, LoginPage, NavUser, PasswordPage};

mod subtle_eq {
    /// Constant-time comparison for tokens.
    pub fn ct_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A signed-in user. Handlers take this and never read cookies themselves.
pub struct CurrentUser {
    pub account: Account,
    pub actor: Actor,
    pub csrf: String,
    token: String,
    pub ctx: Ctx,
    pub ip: Option<String>,
    /// Password checked, second factor not yet: only the second-factor page opens.
    pub second_factor_pending: bool,
}

/// Where a signed-in password waits for its second factor.
pub const SECOND_FACTOR_PATH: &str = "/login/second-factor";

impl CurrentUser {
    pub fn ctx(&self, title: impl Into<String>) -> Ctx {
        let mut c = self.ctx.clone();
        c.title = title.into();
        c
    }

    pub fn lang(&self) -> Lang {
        self.ctx.lang
    }

    /// The session token of this request (to tell the current session from others).
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn err(&self, e: Error) -> WebError {
        WebError::from_core(e, &self.ctx)
    }
}

/// Warnings that admins see on every page: the TLS certificate about to expire;
/// scanning off, uploads let through unscanned during an outage, the scanner
/// unreachable right now.
fn admin_banners(st: &AppState, lang: Lang) -> Vec<String> {
    use amtsbote_core::scan::ScannerState;
    use amtsbote_core::settings::OnUnavailable;
    let mut out = Vec::new();
    if let Some(days) = st
        .web
        .tls
        .as_ref()
        .and_then(|t| t.expiry_warning(std::time::SystemTime::now()))
    {
        out.push(if days < 0 {
            lang.t("banner-tls-expired")
        } else {
            lang.ta("banner-tls-expiry", &[("when", lang.in_days(days))])
        });
    }
    let state = st.app.scanner.health().state();
    if state == ScannerState::Off {
        out.push(lang.t("banner-scan-off"));
        return out;
    }
    if st.app.settings.scan.on_unavailable == OnUnavailable::Allow {
        out.push(lang.t("banner-scan-fail-open"));
    }
    if let ScannerState::Unavailable { reason } = state {
        let since = st
            .app
            .scanner_state_since()
            .map(|ms| lang.datetime(ms))
            .unwrap_or_default();
        let allowed = st.app.settings.scan.on_unavailable == OnUnavailable::Allow;
        out.push(lang.ta(
            if allowed {
                "banner-scan-unavailable-open"
            } else {
                "banner-scan-unavailable"
            },
            &[("since", since), ("reason", reason)],
        ));
    }
    out
}

pub fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// Context for pages shown without a session (log-in, errors).
pub fn public_ctx(st: &AppState, lang: Lang, path: &str) -> Ctx {
    let a = &st.app.settings.authority;
    Ctx {
        lang,
        title: String::new(),
        authority_name: a.name.clone(),
        authority_display: a.display_name.clone(),
        contact: a.contact.clone(),
        user: None,
        csrf: String::new(),
        admin_banners: Vec::new(),
        path: path.to_string(),
        notice: None,
    }
}

/// Requests from another site carry a foreign Origin; refuse them for every
/// state-changing method, in addition to the token and SameSite=Strict. Our own origin
/// is the request's Host or, behind a reverse proxy that rewrites Host, the origin of
/// `authority.public_base_url`.
/// The host a request was sent to: the `Host` header (HTTP/1.1), or the authority of
/// the request URI (HTTP/2, where browsers send `:authority` and no `Host`).
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a axum::http::Uri) -> &'a str {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default()
}

fn foreign_origin(headers: &HeaderMap, uri: &axum::http::Uri, public_base_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if origin == "null" {
        return true;
    }
    let host = request_host(headers, uri);
    let origin_host = origin.split("://").nth(1).unwrap_or_default();
    let public = public_base_url.trim_end_matches('/');
    let public_origin = match public.find("://").map(|i| i + 3) {
        Some(start) => match public[start..].find('/') {
            Some(slash) => &public[..start + slash],
            None => public,
        },
        None => public,
    };
    origin_host != host && !origin.eq_ignore_ascii_case(public_origin)
}

/// A signed-in admin: the one gate of every admin page and form, so that no admin
/// handler can forget it. The decision is the core's ([`amtsbote_core::spaces::permissions::administer`]);
/// everyone else is told the page does not exist.
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        use amtsbote_core::spaces::permissions::{AdminAct, administer};
        let user = CurrentUser::from_request_parts(parts, st).await?;
        match administer(&user.actor, AdminAct::Accounts) {
            Ok(()) => Ok(AdminUser(user)),
            Err(_) => Err(user.err(Error::NotFound).into_response()),
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let lang = Lang::from_headers(&parts.headers);
        let path = parts.uri.path().to_string();
        let Some(token) =
            cookies::get(&parts.headers, cookies::session_name(st.web.secure_cookies))
        else {
            return Err(login_redirect(parts, false));
        };
        let resolved =
            st.app.resolve_session(&token).await.map_err(|e| {
                WebError::from_core(e, &public_ctx(st, lang, &path)).into_response()
            })?;
        let Some((session, account)) = resolved else {
            return Err(login_redirect(parts, true));
        };
        let Some(actor) = account.actor() else {
            return Err(Redirect::to("/login").into_response());
        };
        // Every state-changing request: our own origin and this session's token
        // (read from the body by `super::csrf::layer`), before any handler runs.
        if super::csrf::changes_state(&parts.method)
            && (foreign_origin(
                &parts.headers,
                &parts.uri,
                &st.app.settings.authority.public_base_url,
            ) || !parts
                .extensions
                .get::<super::csrf::SentToken>()
                .is_some_and(|t| ct_eq(&t.0, &session.csrf_token)))
        {
            let mut c = public_ctx(st, lang, &path);
            c.csrf = session.csrf_token.clone();
            return Err(WebError::csrf(&c).into_response());
        }
        let wanted = || {
            parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .filter(|_| parts.method == Method::GET)
                .and_then(|w| local_path(Some(w)))
                .filter(|w| w != "/")
                .unwrap_or_default()
        };
        // The order of a first log-in: second factor, then a password of one's own,
        // then setting up a second factor where one is required.
        let second_factor_pending = session.second_factor_pending != 0;
        if second_factor_pending {
            if path != SECOND_FACTOR_PATH && path != "/logout" {
                return Err(Redirect::to(&with_next(SECOND_FACTOR_PATH, &wanted())).into_response());
            }
        } else if account.must_change_password() && path != "/password" && path != "/logout" {
            return Err(Redirect::to(&with_next("/password", &wanted())).into_response());
        } else if !path.starts_with("/security")
            && path != "/logout"
            && path != "/password"
            && st.app.second_factor_required(&account)
            && !st
                .app
                .second_factor_enabled(account.id)
                .await
                .map_err(|e| WebError::from_core(e, &public_ctx(st, lang, &path)).into_response())?
        {
            return Err(Redirect::to("/security?required=1").into_response());
        }
        let mut ctx = public_ctx(st, lang, &path);
        ctx.user = Some(NavUser {
            name: account.display_name.clone(),
            is_staff: actor.is_staff(),
            is_admin: actor.is_admin(),
        });
        ctx.csrf = session.csrf_token.clone();
        if actor.is_admin() {
            ctx.admin_banners = admin_banners(st, lang);
        }
        Ok(CurrentUser {
            account,
            actor,
            csrf: session.csrf_token,
            token,
            ctx,
            ip: client_ip(parts),
            second_factor_pending,
        })
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
    logged_out: Option<String>,
    next: Option<String>,
}

pub async fn login_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let mut c = public_ctx(&st, lang, "/login");
    c.title = lang.t("login-title");
    if q.expired.is_some() {
        c.notice = Some(lang.t("session-expired"));
    } else if q.logged_out.is_some() {
        c.notice = Some(lang.t("logged-out"));
    }
    let next = local_path(q.next).unwrap_or_default();
    login_page(&st, c, String::new(), next, None, StatusCode::OK)
}

/// Renders the log-in form with a fresh pre-session CSRF token (double-submit cookie).
fn login_page(
    st: &AppState,
    mut c: Ctx,
    login: String,
    next: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let token = amtsbote_core::ids::token(16);
    c.csrf = token.clone();
    let cookie = cookies::set(
        cookies::prelogin_name(st.web.secure_cookies),
        &token,
        st.web.secure_cookies,
        true,
        Some(3600),
    );
    match render(LoginPage {
        c,
        login,
        next,
        error,
    }) {
        Ok(mut r) => {
            *r.status_mut() = status;
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let mut c = public_ctx(&st, lang, "/login");
    c.title = lang.t("login-title");
    let next = local_path(Some(f.next.clone())).unwrap_or_default();
    let expected =
        cookies::get(&headers, cookies::prelogin_name(st.web.secure_cookies)).unwrap_or_default();
    if expected.is_empty()
        || !ct_eq(&expected, &f.csrf)
        || foreign_origin(&headers, &uri, &st.app.settings.authority.public_base_url)
    {
        return login_page(
            &st,
            c,
            f.login,
            next,
            Some(lang.t("err-csrf")),
            StatusCode::FORBIDDEN,
        );
    }
    let ip = Some(peer.ip().to_string());
    let account = match st.app.authenticate(&f.login, &f.password, ip).await {
        Ok(a) => a,
        Err(Error::AuthFailed) => {
            return login_page(
                &st,
                c,
                f.login,
                next,
                Some(lang.t("login-failed")),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(Error::ActivationExpired) => {
            let message = format!(
                "{} {}",
                lang.t("err-activation-expired"),
                st.app.settings.authority.contact
            );
            return login_page(
                &st,
                c,
                f.login,
                next,
                Some(message),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(e @ Error::TooManyAttempts { .. }) => {
            let mut r = login_page(
                &st,
                c,
                f.login,
                next,
                Some(super::errors::describe(lang, &e)),
                StatusCode::TOO_MANY_REQUESTS,
            );
            if let Some(secs) = e.retry_after() {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return r;
        }
        Err(e) => return WebError::from_core(e, &c).into_response(),
    };
    let origin = amtsbote_core::auth::sessions::Origin {
        ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let second_factor = match st.app.second_factor_enabled(account.id).await {
        Ok(b) => b,
        Err(e) => return WebError::from_core(e, &c).into_response(),
    };
    let session = match st
        .app
        .create_session(account.id, origin, second_factor)
        .await
    {
        Ok(s) => s,
        Err(e) => return WebError::from_core(e, &c).into_response(),
    };
    let secure = st.web.secure_cookies;
    let target = if second_factor {
        with_next(SECOND_FACTOR_PATH, &next)
    } else if account.must_change_password() {
        with_next("/password", &next)
    } else if next.is_empty() {
        "/".to_string()
    } else {
        next
    };
    let mut r = Redirect::to(&target).into_response();
    for cookie in [
        cookies::set(
            cookies::session_name(secure),
            &session.token,
            secure,
            true,
            None,
        ),
        cookies::set(cookies::prelogin_name(secure), "", secure, true, Some(0)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

pub async fn logout(State(st): State<AppState>, user: CurrentUser) -> Result<Response, WebError> {
    st.app
        .end_session(&user.token, &user.account, user.ip.clone())
        .await
        .map_err(|e| user.err(e))?;
    let secure = st.web.secure_cookies;
    let mut r = Redirect::to("/login?logged_out=1").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookies::set(
        cookies::session_name(secure),
        "",
        secure,
        true,
        Some(0),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn password_form(
    user: CurrentUser,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let c = user.ctx(user.lang().t("password-title"));
    render(PasswordPage {
        c,
        forced: user.account.must_change_password(),
        next: local_path(q.next).unwrap_or_default(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    next: String,
}

pub async fn change_password(
    State(st): State<AppState>,
    user: CurrentUser,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let next = local_path(Some(f.next.clone())).unwrap_or_default();
    let page = |key: &str, status: StatusCode| -> Result<Response, WebError> {
        let c = user.ctx(lang.t("password-title"));
        let mut r = render(PasswordPage {
            c,
            forced: user.account.must_change_password(),
            next: next.clone(),
            error: Some(lang.t(key)),
        })?;
        *r.status_mut() = status;
        Ok(r)
    };
    if f.new != f.repeat {
        return page("password-mismatch", StatusCode::BAD_REQUEST);
    }
    match st
        .app
        .change_password(user.account.id, &f.current, &f.new, Some(&user.token))
        .await
    {
        Ok(()) if !next.is_empty() => Ok(Redirect::to(&next).into_response()),
        // The first password of one's own (after the activation code): the second
        // factor is offered next, where the account has none.
        Ok(())
            if user.account.must_change_password()
                && !st
                    .app
                    .second_factor_enabled(user.account.id)
                    .await
                    .map_err(|e| user.err(e))? =>
        {
            Ok(Redirect::to("/security?notice=password-set-offer").into_response())
        }
        Ok(()) => Ok(Redirect::to("/?notice=password-changed").into_response()),
        Err(Error::AuthFailed) => page("password-current-wrong", StatusCode::BAD_REQUEST),
        Err(e @ Error::WeakPassword(_)) => page(e.message_key(), StatusCode::BAD_REQUEST),
        Err(e) => Err(user.err(e)),
    }
}

/// A path on this site to go on to, or None. Only local paths, so that `next` cannot
/// be abused as an open redirect. Control characters are refused too: browsers drop
/// tabs and line breaks from a Location ("/\t/evil.example" becomes "//evil.example"),
/// and a line break cannot go into a header at all (the redirect would fail with a 500).
pub fn local_path(next: Option<String>) -> Option<String> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(char::is_control)
            && n.len() <= 2048
    })
}

/// `path`, carrying on where the user wanted to go (a local path) as `?next=`.
pub fn with_next(path: &str, next: &str) -> String {
    if next.is_empty() {
        return path.to_string();
    }
    format!(
        "{path}?next={}",
        percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// `/login`, remembering where a GET request wanted to go, so that a link from a
/// notification mail leads to its folder after log-in.
fn login_redirect(parts: &Parts, expired: bool) -> Response {
    let mut target = String::from("/login");
    let mut sep = '?';
    if expired {
        target.push_str("?expired=1");
        sep = '&';
    }
    let wanted = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_default();
    if parts.method == Method::GET && wanted != "/" && local_path(Some(wanted.clone())).is_some() {
        target.push(sep);
        target.push_str("next=");
        target.extend(percent_encoding::utf8_percent_encode(
            &wanted,
            percent_encoding::NON_ALPHANUMERIC,
        ));
    }
    Redirect::to(&target).into_response()
}

#[derive(Deserialize)]
pub struct LangQuery {
    next: Option<String>,
}

/// Switches the UI language (a preference, not a security decision, hence GET).
pub async fn switch_language(Path(code): Path<String>, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::De);
    // Only local paths, so the switch cannot be abused as an open redirect. Control
    // characters are refused too: browsers drop tabs and line breaks from a Location
    // ("/\t/evil.example" becomes "//evil.example"), and a line break cannot go into a
    // header at all (the redirect would fail with a 500).
    let next = local_path(q.next).unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookies::set(
        LANG_COOKIE,
        lang.code(),
        false,
        false,
        Some(31_536_000),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
