//! UNLOCK (RFC 4918 §9.11): removes the lock named by `Lock-Token`, which must apply to the
//! request URI (409 otherwise) and belong to the requesting principal (403 otherwise).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::backend::DavBackend;
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers;
use crate::locks::live_locks;

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>) -> Result<Response, DavError> {
    let token = headers::lock_token(&ctx.headers)?
        .ok_or_else(|| DavError::bad_request("Der Lock-Token-Header fehlt."))?;
    if super::resolve(ctx, &ctx.path).await?.is_none() {
        return Err(super::not_found());
    }
    let locks = live_locks(ctx, &ctx.path, false).await?;
    let lock = locks
        .iter()
        .find(|l| l.token == token && l.covers(&ctx.path))
        .ok_or_else(|| {
            DavError::conflict("Diese Sperre gilt nicht für diese Ressource.")
                .with_condition("lock-token-matches-request-uri")
        })?;
    if lock.principal != ctx.backend.principal_key(&ctx.principal) {
        return Err(DavError::forbidden("Diese Sperre gehört jemand anderem."));
    }
    ctx.backend.lock_remove(&ctx.principal, &token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
