//! MOVE: keeps file ids (the clients detect renames by `oc:id`); 201, or 204 on overwrite.

use axum::response::Response;

use crate::backend::DavBackend;
use crate::context::Ctx;
use crate::error::DavError;

use super::transfer::{Kind, transfer};

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>) -> Result<Response, DavError> {
    transfer(ctx, Kind::Move).await
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn move_keeps_id() {
        let t = TestDav::new();
        let id = t
            .req("PUT", "/a")
            .body("1")
            .send()
            .await
            .header("oc-fileid")
            .map(str::to_owned);
        let r = t
            .req("MOVE", "/a")
            .header("destination", "/remote.php/dav/files/alice/b%20c")
            .send()
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.header("oc-fileid").map(str::to_owned), id);
        assert!(r.header("etag").is_some());
        assert_eq!(t.req("GET", "/a").send().await.status, 404);
        assert_eq!(t.get("/b%20c").await, "1");
        t.put("/x", "2").await;
        let r = t
            .req("MOVE", "/x")
            .header("destination", "/remote.php/dav/files/alice/b%20c")
            .header("overwrite", "F")
            .send()
            .await;
        assert_eq!(r.status, 412);
        let r = t
            .req("MOVE", "/x")
            .header("destination", "/remote.php/dav/files/alice/b%20c")
            .header("overwrite", "T")
            .send()
            .await;
        assert_eq!(r.status, 204);
        assert_eq!(t.get("/b%20c").await, "2");
        assert_eq!(
            t.req("MOVE", "/")
                .header("destination", "/remote.php/dav/files/alice/q")
                .send()
                .await
                .status,
            403
        );
        assert_eq!(t.req("MOVE", "/b%20c").send().await.status, 400);
    }
}
