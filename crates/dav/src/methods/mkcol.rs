//! MKCOL: 201; an existing resource is 405 (the clients treat that as success); a missing parent
//! is 409; a body is 415 (we support no extended MKCOL).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::DavBackend;
use crate::body::has_content;
use crate::context::{ALLOW, Ctx};
use crate::error::DavError;
use crate::locks::{Target, check_write};

use super::set_oc_headers;

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>, body: Body) -> Result<Response, DavError> {
    if has_content(body).await? {
        return Err(DavError::unsupported_media_type(
            "MKCOL mit Inhalt wird nicht unterstützt.",
        ));
    }
    if super::resolve(ctx, &ctx.path).await?.is_some() {
        return Err(
            DavError::method_not_allowed("Der Ordner existiert bereits.")
                .with_header(header::ALLOW, HeaderValue::from_static(ALLOW)),
        );
    }
    super::require_parent(ctx, &ctx.path).await?;
    let mut targets = vec![Target::one(&ctx.path)];
    targets.extend(Target::parent_of(&ctx.path));
    check_write(ctx, &targets, None).await?;
    let entry = ctx.backend.mkcol(&ctx.principal, &ctx.path).await?;
    let mut resp = StatusCode::CREATED.into_response();
    set_oc_headers(&mut resp, &entry, false);
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
