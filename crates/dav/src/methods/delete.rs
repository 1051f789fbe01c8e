//! DELETE: recursive, 204. Locks rooted at or below the deleted path go with it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::backend::DavBackend;
use crate::context::Ctx;
use crate::error::DavError;
use crate::locks::{Target, check_write, drop_locks_below};

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>) -> Result<Response, DavError> {
    if ctx.path.is_root() {
        return Err(DavError::forbidden(
            "Das Wurzelverzeichnis kann nicht gelöscht werden.",
        ));
    }
    let entry = super::resolve(ctx, &ctx.path)
        .await?
        .ok_or_else(super::not_found)?;
    super::write_preconditions(&ctx.headers, Some(&entry))?;
    let mut targets = vec![Target::tree(&ctx.path)];
    targets.extend(Target::parent_of(&ctx.path));
    check_write(ctx, &targets, Some(&entry)).await?;
    ctx.backend.delete(&ctx.principal, &ctx.path).await?;
    drop_locks_below(ctx, &ctx.path).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn delete_recursive() {
        let t = TestDav::new();
        t.mkcol("/d").await;
        t.put("/d/f", "1").await;
        assert_eq!(t.req("DELETE", "/d").send().await.status, 204);
        assert_eq!(t.req("GET", "/d/f").send().await.status, 404);
        assert_eq!(t.req("DELETE", "/d").send().await.status, 404);
        assert_eq!(t.req("DELETE", "/").send().await.status, 403);
    }
}
