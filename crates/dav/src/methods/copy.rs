//! COPY: 201 when created, 204 when an existing destination was replaced; copies get new ids.

use axum::response::Response;

use crate::backend::DavBackend;
use crate::context::Ctx;
use crate::error::DavError;

use super::transfer::{Kind, transfer};

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>) -> Result<Response, DavError> {
    transfer(ctx, Kind::Copy).await
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn copy_rules() {
        let t = TestDav::new();
        t.mkcol("/d").await;
        t.put("/d/f", "1").await;
        let r = t
            .req("COPY", "/d")
            .header("destination", "/remote.php/dav/files/alice/e")
            .send()
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(t.get("/e/f").await, "1");
        let r = t
            .req("COPY", "/d/f")
            .header(
                "destination",
                "http://localhost/remote.php/dav/files/alice/e/f",
            )
            .header("overwrite", "F")
            .send()
            .await;
        assert_eq!(r.status, 412);
        let r = t
            .req("COPY", "/d/f")
            .header(
                "destination",
                "http://localhost/remote.php/dav/files/alice/e/f",
            )
            .header("x-oc-mtime", "1600000000")
            .send()
            .await;
        assert_eq!(r.status, 204);
        assert_eq!(r.header("x-oc-mtime"), Some("accepted"));
        let r = t
            .req("COPY", "/d/f")
            .header(
                "destination",
                "http://elsewhere/remote.php/dav/files/alice/g",
            )
            .send()
            .await;
        assert_eq!(r.status, 502);
        let r = t
            .req("COPY", "/d/f")
            .header("destination", "/remote.php/dav/files/bob/g")
            .send()
            .await;
        assert_eq!(r.status, 403);
        let r = t
            .req("COPY", "/d/f")
            .header("destination", "/remote.php/dav/files/alice/nope/g")
            .send()
            .await;
        assert_eq!(r.status, 409);
        let r = t
            .req("COPY", "/d")
            .header("destination", "/remote.php/dav/files/alice/d/sub")
            .send()
            .await;
        assert_eq!(r.status, 403);
        let r = t
            .req("COPY", "/d/f")
            .header("destination", "/remote.php/dav/files/alice/d/f")
            .send()
            .await;
        assert_eq!(r.status, 403);
        let r = t
            .req("COPY", "/d")
            .header("destination", "/remote.php/dav/files/alice/z")
            .header("depth", "0")
            .send()
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(t.req("GET", "/z/f").send().await.status, 404);
        let r = t
            .req("COPY", "/d/f")
            .header("destination", "/remote.php/dav/files/alice/%2e%2e/x")
            .send()
            .await;
        assert_eq!(r.status, 400);
    }
}
