//! The one error type of the engine and the backend, rendered the way Sabre (ownCloud/Nextcloud's
//! WebDAV library) does, because the desktop clients parse exactly that shape (client-protocol §4.7).

use std::borrow::Cow;
use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::xml::write::escape;

/// Result alias used across the engine and the backend trait.
pub type DavResult<T> = Result<T, DavError>;

/// An HTTP error with a Sabre exception class and a human message.
///
/// The message is meant for people: the backend supplies German text; it is sent both in
/// `<s:message>` and in the `OC-ErrorString` header, which the ownCloud client shows verbatim.
/// Choose the status by how the clients should retry (client-protocol §4.7): 403 → retried
/// hourly, 415/413 → blacklisted for 24 h, 412/423/502 → soft, 503 with `ServiceUnavailable`
/// → maintenance mode for the whole account. Never use 500/502 for policy refusals.
#[derive(Debug, Clone)]
pub struct DavError {
    status: StatusCode,
    exception: Option<Cow<'static, str>>,
    message: String,
    /// A DAV precondition element such as `propfind-finite-depth`, rendered as `<d:NAME/>`.
    condition: Option<&'static str>,
    /// Extra headers, e.g. `Allow` on 405.
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl DavError {
    /// An error with the default Sabre exception class for its status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        DavError {
            status,
            exception: default_exception(status).map(Cow::Borrowed),
            message: message.into(),
            condition: None,
            headers: Vec::new(),
        }
    }

    /// Replaces the Sabre exception class, e.g. `OCA\DAV\Connector\Sabre\Exception\Forbidden`.
    pub fn with_exception(mut self, exception: impl Into<Cow<'static, str>>) -> Self {
        self.exception = Some(exception.into());
        self
    }

    /// Adds a DAV precondition/postcondition element (RFC 4918 §16) to the body.
    pub fn with_condition(mut self, condition: &'static str) -> Self {
        self.condition = Some(condition);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn exception(&self) -> Option<&str> {
        self.exception.as_deref()
    }

    pub fn condition(&self) -> Option<&'static str> {
        self.condition
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }
    pub fn locked(message: impl Into<String>) -> Self {
        Self::new(StatusCode::LOCKED, message)
    }
    pub fn insufficient_storage(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    /// The request needs an authenticated principal and the host supplied none.
    pub fn not_authenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Keine Anmeldung vorhanden.")
    }

    /// The Sabre-style XML body.
    pub fn body(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        out.push_str("<d:error xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\">");
        if let Some(cond) = self.condition {
            out.push_str("<d:");
            out.push_str(cond);
            out.push_str("/>");
        }
        if let Some(exc) = &self.exception {
            out.push_str("<s:exception>");
            out.push_str(&escape(exc));
            out.push_str("</s:exception>");
        }
        out.push_str("<s:message>");
        out.push_str(&escape(&self.message));
        out.push_str("</s:message></d:error>\n");
        out
    }
}

/// The exception classes Sabre uses for each status.
fn default_exception(status: StatusCode) -> Option<&'static str> {
    Some(match status.as_u16() {
        400 => "Sabre\\DAV\\Exception\\BadRequest",
        401 => "Sabre\\DAV\\Exception\\NotAuthenticated",
        403 => "Sabre\\DAV\\Exception\\Forbidden",
        404 => "Sabre\\DAV\\Exception\\NotFound",
        405 => "Sabre\\DAV\\Exception\\MethodNotAllowed",
        409 => "Sabre\\DAV\\Exception\\Conflict",
        412 => "Sabre\\DAV\\Exception\\PreconditionFailed",
        413 => "Sabre\\DAV\\Exception\\RequestedEntityTooLarge",
        415 => "Sabre\\DAV\\Exception\\UnsupportedMediaType",
        416 => "Sabre\\DAV\\Exception\\RequestedRangeNotSatisfiable",
        423 => "Sabre\\DAV\\Exception\\Locked",
        501 => "Sabre\\DAV\\Exception\\NotImplemented",
        502 => "Sabre\\DAV\\Exception\\BadGateway",
        503 => "Sabre\\DAV\\Exception\\ServiceUnavailable",
        507 => "Sabre\\DAV\\Exception\\InsufficientStorage",
        _ => "Sabre\\DAV\\Exception",
    })
}

/// Header values must not contain control characters; everything else (including UTF-8 umlauts,
/// which the clients read as UTF-8) is passed through.
fn header_text(message: &str) -> Option<HeaderValue> {
    let cleaned: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(trimmed.as_bytes()).ok()
}

impl IntoResponse for DavError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut resp = (self.status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::XML_CONTENT_TYPE),
        );
        if let Some(v) = header_text(&self.message) {
            headers.insert("oc-errorstring", v);
        }
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        resp
    }
}

impl fmt::Display for DavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for DavError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sabre_body() {
        let e = DavError::forbidden("Hochladen in diesen Ordner ist nicht erlaubt <x>")
            .with_condition("propfind-finite-depth");
        let body = e.body();
        assert!(body.contains("<d:propfind-finite-depth/>"));
        assert!(body.contains("<s:exception>Sabre\\DAV\\Exception\\Forbidden</s:exception>"));
        assert!(body.contains("nicht erlaubt &lt;x&gt;"));
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            resp.headers()
                .get("oc-errorstring")
                .map(|v| v.as_bytes().to_vec()),
            Some(
                "Hochladen in diesen Ordner ist nicht erlaubt <x>"
                    .as_bytes()
                    .to_vec()
            )
        );
        assert_eq!(
            resp.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes().to_vec()),
            Some(b"application/xml; charset=utf-8".to_vec())
        );
    }
}
