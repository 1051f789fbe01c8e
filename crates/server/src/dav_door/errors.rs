//! Core errors as WebDAV answers: the one mapping of this door. The status decides how the
//! sync clients retry (client-protocol §4.7); the German text reaches the user through
//! `s:message` and `OC-ErrorString`. Internal details go to the log only.

use amtsbote_core::{Error, ErrorKind};
use amtsbote_dav::DavError;
use axum::http::StatusCode;

use crate::web::errors::{describe, status_for};
use crate::web::i18n::Lang;

pub fn to_dav(e: Error) -> DavError {
    let status = match e.kind() {
        // 415 makes the desktop client set the file aside for a day instead of
        // uploading the same infected bytes again and again.
        ErrorKind::Infected => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        kind => status_for(kind),
    };
    let mut message = describe(Lang::De, &e);
    if e.kind() == ErrorKind::Internal {
        // The number in the log line and in the client's message; no detail leaves.
        let number = crate::web::errors::incident_number();
        tracing::error!(incident = %number, error = %e, "WebDAV request failed");
        message = format!(
            "{message} {}",
            Lang::De.ta("err-incident", &[("number", number)])
        );
    } else if status.is_server_error() {
        tracing::error!(error = %e, "WebDAV request failed");
    }
    let mut err = DavError::new(status, message);
    if let Some(secs) = e.retry_after() {
        err = err.with_header(axum::http::header::RETRY_AFTER, secs.into());
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Sabre's ServiceUnavailable would put the client into maintenance mode for the
        // whole account; a scanner outage is an error of this one upload.
        err.with_exception("Sabre\\DAV\\Exception")
    } else {
        err
    }
}

/// A German message by key, for refusals the door itself decides.
pub fn forbidden(key: &str) -> DavError {
    DavError::forbidden(Lang::De.t(key))
}
