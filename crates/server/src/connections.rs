//! What a client may hold of the server: connections per address, and how long a
//! connection may idle or trickle. Without these, 25 connections sending one byte every
//! 5 s stayed open for good (finding 4 of the penetration test).
//!
//! - headers must arrive within `server.header_timeout_seconds`, and a kept-alive
//!   connection without a new request is closed after the same time (hyper's header
//!   timer runs from the moment the connection waits for the next request);
//! - a request body that sends nothing for `server.body_timeout_seconds` is ended;
//! - an address holds at most `server.max_connections_per_address` connections; more
//!   are closed at once, before TLS or HTTP.
//!
//! TLS handshakes are bounded by axum-server (10 s).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum_server::accept::Accept;
use std::future::Future as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Counts open connections per client address and refuses those over the limit.
#[derive(Clone)]
pub struct PerAddressLimit {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddressLimit {
    /// `limit` 0: no limit.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Arc::default(),
        }
    }

    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if self.limit > 0 && *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Slot {
            ip,
            open: self.open.clone(),
        })
    }
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(n) = open.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A TCP stream that holds its address's slot while it is open.
pub struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl<S> Accept<TcpStream, S> for PerAddressLimit {
    type Stream = Counted;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.admit(peer.ip()));
        std::future::ready(match admitted {
            Some(slot) => {
                // Small answers (PROPFIND, 201) go out at once.
                let _ = stream.set_nodelay(true);
                Ok((
                    Counted {
                        stream,
                        _slot: slot,
                    },
                    service,
                ))
            }
            None => {
                tracing::warn!("connection refused: too many open connections from one address");
                Err(io::Error::other("too many connections from this address"))
            }
        })
    }
}

/// Ends request bodies that send nothing for `idle` (each wait for the next piece
/// counts on its own, so a slow but steady upload goes on).
pub fn body_timeout(idle: Duration) -> impl Fn(Request) -> std::future::Ready<Request> + Clone {
    move |req: Request| {
        std::future::ready(req.map(|b| {
            Body::new(IdleTimeoutBody {
                inner: b,
                idle,
                sleep: None,
            })
        }))
    }
}

/// A body that fails when its next piece takes longer than `idle` once asked for. The
/// clock runs only while the reader waits (a reader busy with the last piece is no
/// stall), and the end of the body and its size are passed on unchanged: hyper and the
/// multipart reader rely on them.
struct IdleTimeoutBody {
    inner: Body,
    idle: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

#[derive(Debug)]
struct BodyStalled;

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body sent nothing within server.body_timeout_seconds")
    }
}

impl std::error::Error for BodyStalled {}

impl http_body::Body for IdleTimeoutBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// hyper's timeouts for headers and kept-alive connections, and pings on HTTP/2.
pub fn configure(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(header)
        .keep_alive_timeout(header);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back() {
        let limit = PerAddressLimit::new(2);
        let ip: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        let a = limit.admit(ip).expect("first");
        let b = limit.admit(ip).expect("second");
        assert!(limit.admit(ip).is_none(), "third refused");
        assert!(
            limit.admit(other).is_some(),
            "other addresses are not affected"
        );
        drop(a);
        let c = limit.admit(ip).expect("a place is free again");
        drop((b, c));
        assert!(limit.open.lock().expect("lock").is_empty());
        let unlimited = PerAddressLimit::new(0);
        let many: Vec<_> = (0..1000).filter_map(|_| unlimited.admit(ip)).collect();
        assert_eq!(many.len(), 1000);
    }
}
