//! MKCOL: 201; an existing resource is 405 (the clients treat that as success); a missing parent
//! is 409; a body is 415 (we support no extended MKCOL).

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::backend::DavBackend;
use crate::body::has_content;
use crate::context::{Ctx, method_not_allowed};
use crate::error::DavError;
use crate::locks::{Target, check_write};

use super::changed_response;

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>, body: Body) -> Result<Response, DavError> {
    if has_content(body).await? {
        return Err(DavError::unsupported_media_type(
            "MKCOL mit Inhalt wird nicht unterstützt.",
        ));
    }
    if super::resolve(ctx, &ctx.path).await?.is_some() {
        return Err(method_not_allowed("Der Ordner existiert bereits."));
    }
    super::require_parent(ctx, &ctx.path).await?;
    check_write(ctx, &Target::for_write(&ctx.path, true), None).await?;
    let entry = ctx.backend.mkcol(&ctx.principal, &ctx.path).await?;
    let mut resp = changed_response(true, &entry, false);
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn mkcol_rules() {
        let t = TestDav::new();
        let r = t.req("MKCOL", "/d").send().await;
        assert_eq!(r.status, 201);
        assert!(r.header("oc-fileid").is_some());
        assert_eq!(t.req("MKCOL", "/d").send().await.status, 405);
        assert_eq!(t.req("MKCOL", "/x/y").send().await.status, 409);
        assert_eq!(t.req("MKCOL", "/e").body("<x/>").send().await.status, 415);
        t.put("/f", "1").await;
        assert_eq!(t.req("MKCOL", "/f").send().await.status, 405);
        assert_eq!(t.req("MKCOL", "/f/sub").send().await.status, 409);
    }
}
