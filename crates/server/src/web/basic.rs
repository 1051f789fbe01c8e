//! The Basic-auth extractor for the client doors (OCS API, later WebDAV). Handlers take
//! `BasicUser` and never read the Authorization header themselves.

use amtsbote_core::auth::accounts::Account;
use amtsbote_core::{Actor, Error};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::AppState;
use super::auth::client_ip;

pub struct BasicUser {
    pub account: Account,
    pub actor: Actor,
}

/// 401 with the Basic challenge, so clients ask for (or send) credentials.
pub fn challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            r#"Basic realm="amtsbote", charset="UTF-8""#,
        )],
        "Anmeldung erforderlich / authentication required",
    )
        .into_response()
}

/// The (login, secret) pair of a Basic Authorization header, if well-formed.
pub fn credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, secret) = text.split_once(':')?;
    Some((login.to_string(), secret.to_string()))
}

impl FromRequestParts<AppState> for BasicUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let Some((login, secret)) = credentials(&parts.headers) else {
            return Err(challenge());
        };
        match st
            .app
            .authenticate_basic(&login, &secret, client_ip(parts))
            .await
        {
            Ok(account) => match account.actor() {
                Some(actor) => Ok(BasicUser { account, actor }),
                None => Err(challenge()),
            },
            Err(Error::AuthFailed) => Err(challenge()),
            Err(e @ Error::TooManyAttempts { .. }) => {
                let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
                if let Some(secs) = e.retry_after() {
                    r.headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, secs.into());
                }
                Err(r)
            }
            Err(e) => {
                tracing::error!(error = %e, "basic authentication failed");
                Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
            }
        }
    }
}
