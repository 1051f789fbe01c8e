//! The one place that reads wall-clock time, so expiry and timeouts are testable.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one reading of the wall clock (crates/core/clippy.toml forbids it elsewhere).
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> Millis {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A pause in real time that has nothing to do with domain time: a backoff before a
/// retry, the tick of a background loop. Expiry, lock-outs and retention never wait
/// here; they compare against the clock.
#[allow(clippy::disallowed_methods)]
pub async fn pause(d: std::time::Duration) {
    tokio::time::sleep(d).await;
}

/// A clock tests can move forward.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}
