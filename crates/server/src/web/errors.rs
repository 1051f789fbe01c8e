//! The one place where core errors become HTTP status codes and error pages.

use amtsbote_core::error::MessageArg;
use amtsbote_core::{Error, ErrorKind};
use askama::Template;
use axum::extract::path::ErrorKind as PathErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::i18n::Lang;
use super::views::{Ctx, ErrorPage};

pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::BadInput => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Locked => StatusCode::LOCKED,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::QuotaExceeded | ErrorKind::InsufficientStorage => {
            StatusCode::INSUFFICIENT_STORAGE
        }
        ErrorKind::Aborted => StatusCode::BAD_REQUEST,
        ErrorKind::Infected => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error shown as a page in the user's language. Internal details go to the log,
/// never to the page.
pub struct WebError {
    pub status: StatusCode,
    pub key: &'static str,
    /// Named arguments of the message (the file and the finding of an infected upload).
    pub args: Vec<(&'static str, String)>,
    /// `Retry-After` seconds (503 while the scanner is unavailable).
    pub retry_after: Option<u64>,
    pub ctx: Option<Box<Ctx>>,
    pub lang: Lang,
    /// For a failure of ours: the number the log line carries, shown on the page so that
    /// the service desk finds the one line without the user seeing any detail.
    pub incident: Option<String>,
}

/// A new incident number: short enough to read out on the phone, random so that it
/// tells nothing about the server.
pub fn incident_number() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    let code: String = (0..8)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("{}-{}", &code[..4], &code[4..])
}

/// The user's text for a core error, with its arguments.
pub fn describe(lang: Lang, e: &Error) -> String {
    lang.ta(e.message_key(), &message_args(lang, e))
}

fn message_args(lang: Lang, e: &Error) -> Vec<(&'static str, String)> {
    e.message_args()
        .into_iter()
        .map(|(name, arg)| {
            let text = match arg {
                MessageArg::Text(t) => t,
                MessageArg::Bytes(b) => lang.size(i64::try_from(b).unwrap_or(i64::MAX)),
                MessageArg::Seconds(s) => lang.wait(s),
            };
            (name, text)
        })
        .collect()
}

impl WebError {
    pub fn from_core(e: Error, ctx: &Ctx) -> Self {
        let kind = e.kind();
        let incident = (kind == ErrorKind::Internal).then(|| {
            let number = incident_number();
            tracing::error!(incident = %number, error = %e, "request failed");
            number
        });
        Self {
            status: status_for(kind),
            key: e.message_key(),
            args: message_args(ctx.lang, &e),
            retry_after: e.retry_after(),
            ctx: Some(Box::new(ctx.clone())),
            lang: ctx.lang,
            incident,
        }
    }
    pub fn csrf(ctx: &Ctx) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            key: "err-csrf",
            args: Vec::new(),
            retry_after: None,
            ctx: Some(Box::new(ctx.clone())),
            lang: ctx.lang,
            incident: None,
        }
    }
    pub fn internal(lang: Lang, e: impl std::fmt::Display) -> Self {
        let number = incident_number();
        tracing::error!(incident = %number, error = %e, "request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            key: "err-internal",
            args: Vec::new(),
            retry_after: None,
            ctx: None,
            lang,
            incident: Some(number),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut c = self
            .ctx
            .map(|b| *b)
            .unwrap_or_else(|| anonymous_ctx(self.lang));
        c.title = self.lang.t(if self.status == StatusCode::NOT_FOUND {
            "title-not-found"
        } else {
            "title-error"
        });
        c.notice = None;
        let message = self.lang.ta(self.key, &self.args);
        let incident = self
            .incident
            .as_ref()
            .map(|n| self.lang.ta("err-incident", &[("number", n.clone())]));
        let page = ErrorPage {
            message: message.clone(),
            status: self.status.as_u16(),
            incident,
            c,
        };
        let mut response = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, message).into_response(),
        };
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::internal(Lang::De, e)
    }
}

/// A minimal context for pages outside a session.
pub fn anonymous_ctx(lang: Lang) -> Ctx {
    Ctx {
        lang,
        title: String::new(),
        authority_name: String::new(),
        authority_display: String::new(),
        contact: String::new(),
        user: None,
        csrf: String::new(),
        admin_banners: Vec::new(),
        path: "/".into(),
        notice: None,
    }
}

pub async fn not_found(
    axum::extract::State(st): axum::extract::State<super::AppState>,
    headers: HeaderMap,
) -> Response {
    not_found_page(&st, &headers)
}

fn not_found_page(st: &super::AppState, headers: &HeaderMap) -> Response {
    let lang = Lang::from_headers(headers);
    let ctx = super::auth::public_ctx(st, lang, "/");
    WebError {
        status: StatusCode::NOT_FOUND,
        key: "err-not-found",
        args: Vec::new(),
        retry_after: None,
        ctx: Some(Box::new(ctx)),
        lang,
        incident: None,
    }
    .into_response()
}

/// Path parameters that name records by id. Axum's `Path` answers a segment that is not
/// valid UTF-8 with its own plain-text 400; such a segment names nothing, so it is simply
/// not found, with the same page as any other id that does not exist.
pub struct IdPath<T>(pub T);

impl<T> FromRequestParts<super::AppState> for IdPath<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &super::AppState) -> Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, st).await {
            Ok(Path(v)) => Ok(IdPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e))
                if matches!(e.kind(), PathErrorKind::InvalidUtf8InPathParam { .. }) =>
            {
                Err(not_found_page(st, &parts.headers))
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

pub fn render<T: Template>(page: T) -> Result<Response, WebError> {
    Ok(Html(page.render()?).into_response())
}
