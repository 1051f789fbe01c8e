//! Helpers for the per-method unit tests: the routers mounted as the host will mount them, with
//! the memory backend, driven through `tower::ServiceExt::oneshot`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::memory::{MemoryBackend, MemoryPrincipal};
use crate::{FilesMount, MountPrefix};

pub const FILES: &str = "/remote.php/dav/files/alice";
pub const UPLOADS: &str = "/remote.php/dav/uploads/alice";

pub struct TestDav {
    #[allow(dead_code)]
    pub backend: Arc<MemoryBackend>,
    app: Router,
}

pub struct TestReq<'a> {
    t: &'a TestDav,
    builder: axum::http::request::Builder,
    body: Body,
    principal: bool,
    mount_prefix: bool,
    mount: &'static str,
}

pub struct TestResp {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl TestResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestDav {
    pub fn new() -> Self {
        Self::with_backend(MemoryBackend::new())
    }

    pub fn with_backend(backend: MemoryBackend) -> Self {
        let backend = Arc::new(backend);
        let app = Router::new()
            .nest_service(FILES, crate::router(backend.clone()))
            .nest_service(UPLOADS, crate::uploads_router(backend.clone()));
        TestDav { backend, app }
    }

    /// A request on the files tree; `path` is relative to the mount.
    pub fn req(&self, method: &str, path: &str) -> TestReq<'_> {
        self.request(method, FILES, path)
    }

    /// A PROPFIND on the files tree with an explicit `Depth`.
    pub fn propfind(&self, path: &str, depth: &str) -> TestReq<'_> {
        self.req("PROPFIND", path).header("depth", depth)
    }

    /// A request on the uploads tree.
    pub fn upload(&self, method: &str, path: &str) -> TestReq<'_> {
        self.request(method, UPLOADS, path)
    }

    fn request(&self, method: &str, mount: &'static str, path: &str) -> TestReq<'_> {
        let builder = Request::builder()
            .method(method)
            .uri(format!("{mount}{path}"))
            .header("host", "localhost");
        TestReq {
            t: self,
            builder,
            body: Body::empty(),
            principal: true,
            mount_prefix: true,
            mount,
        }
    }

    pub async fn put(&self, path: &str, data: &'static str) {
        let r = self.req("PUT", path).body(data).send().await;
        assert!(
            r.status == 201 || r.status == 204,
            "PUT {path}: {} {}",
            r.status,
            r.body
        );
    }

    pub async fn mkcol(&self, path: &str) {
        let r = self.req("MKCOL", path).send().await;
        assert_eq!(r.status, 201, "MKCOL {path}: {}", r.body);
    }

    pub async fn get(&self, path: &str) -> String {
        let r = self.req("GET", path).send().await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }
}

impl TestReq<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Leaves out the [`MountPrefix`] extension, so the engine has to derive it.
    pub fn without_mount_prefix(mut self) -> Self {
        self.mount_prefix = false;
        self
    }

    pub fn anonymous(mut self) -> Self {
        self.principal = false;
        self
    }

    pub async fn send(self) -> TestResp {
        let mut req = self.builder.body(self.body).expect("request");
        if self.principal {
            req.extensions_mut().insert(MemoryPrincipal("alice".into()));
        }
        req.extensions_mut()
            .insert(MountPrefix(self.mount.to_owned()));
        req.extensions_mut().insert(FilesMount(FILES.to_owned()));
        let resp = self.t.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        TestResp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}
