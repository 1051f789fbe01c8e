//! Shared by the property tests: the engine's routers mounted as the server mounts them, over
//! the in-memory backend, driven synchronously (one current-thread runtime per test thread), so
//! a property can send requests from inside a proptest case.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::sync::Arc;

use amtsbote_dav::memory::{MemoryBackend, MemoryPrincipal};
use amtsbote_dav::{FilesMount, MountPrefix};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const FILES: &str = "/remote.php/dav/files/alice";
pub const UPLOADS: &str = "/remote.php/dav/uploads/alice";

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    static SHARED: Dav = Dav::new();
    static COUNTER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static BATCH: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// This thread's engine, kept across cases (building the router costs more than most
/// requests). Properties that change the tree work below [`unique`] paths.
pub fn shared() -> Dav {
    SHARED.with(Dav::clone)
}

/// For resources reused across cases: which batch of `size` calls on this thread this call
/// belongs to, and whether it is the first of its batch (time to create them).
pub fn batch(size: u64) -> (u64, bool) {
    BATCH.with(|c| {
        let n = c.get();
        c.set(n + 1);
        (n / size, n % size == 0)
    })
}

/// A name no earlier call on this thread returned, e.g. `p17`.
pub fn unique(prefix: &str) -> String {
    COUNTER.with(|c| {
        c.set(c.get() + 1);
        format!("{prefix}{}", c.get())
    })
}

/// Runs a future to completion on this thread's runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RT.with(|rt| rt.block_on(f))
}

/// An engine over an in-memory tree. Cloning shares the tree.
#[derive(Clone)]
pub struct Dav {
    pub backend: Arc<MemoryBackend>,
    app: Router,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Default for Dav {
    fn default() -> Self {
        Self::new()
    }
}

impl Dav {
    /// A fresh engine with an empty tree.
    pub fn new() -> Self {
        let backend = Arc::new(MemoryBackend::new());
        let app = Router::new()
            .nest_service(FILES, amtsbote_dav::router(backend.clone()))
            .nest_service(UPLOADS, amtsbote_dav::uploads_router(backend.clone()));
        Dav { backend, app }
    }

    /// A request on the files tree; `path` is the (encoded) path below the mount.
    pub fn files(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Resp {
        self.send(
            method,
            &format!("{FILES}{path}"),
            FILES,
            headers,
            body.into(),
        )
    }

    /// A request on the chunking-NG uploads tree.
    pub fn uploads(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Resp {
        self.send(
            method,
            &format!("{UPLOADS}{path}"),
            UPLOADS,
            headers,
            body.into(),
        )
    }

    fn send(
        &self,
        method: &str,
        uri: &str,
        mount: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .body(body)
            .expect("request");
        let h = req.headers_mut();
        h.insert("host", HeaderValue::from_static("localhost"));
        for (name, value) in headers {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        req.extensions_mut()
            .insert(MemoryPrincipal("alice".to_owned()));
        req.extensions_mut().insert(MountPrefix(mount.to_owned()));
        req.extensions_mut().insert(FilesMount(FILES.to_owned()));
        let app = self.app.clone();
        block_on(async move {
            let resp = app.oneshot(req).await.expect("infallible");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes().to_vec())
                .expect("body");
            Resp {
                status,
                headers,
                body,
            }
        })
    }
}
