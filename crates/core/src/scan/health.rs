//! Whether the scanner is reachable, and what it has decided so far. The state lives in a
//! watch channel: the health endpoint and the admin banner read it, and the watcher
//! ([`crate::App::watch_scanner`]) hears each change once, so that an outage leads to
//! one admin notice, not one per refused upload.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerState {
    /// `scan.mode = "off"`.
    Off,
    /// Not yet asked (just after start).
    Unknown,
    Ready,
    /// The last scan or probe failed; uploads are refused (or, with
    /// `scan.on_unavailable = "allow"`, let through unscanned).
    Unavailable {
        reason: String,
    },
}

impl ScannerState {
    /// "off", "unknown", "ready", "unavailable": the health endpoint's wording.
    pub fn label(&self) -> &'static str {
        match self {
            ScannerState::Off => "off",
            ScannerState::Unknown => "unknown",
            ScannerState::Ready => "ready",
            ScannerState::Unavailable { .. } => "unavailable",
        }
    }
}

/// How each scan ended, for the metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    Infected,
    Failed,
    TooLarge,
}

/// After this many failed scans in a row, with clamd still answering PING, clamd counts
/// as unavailable (it answers but fails every scan, e.g. with a full temp directory).
/// One failed stream alone is that upload's problem, not an outage.
const FAILED_SCANS_FOR_OUTAGE: u32 = 3;

#[derive(Debug)]
pub struct ScannerHealth {
    state: watch::Sender<ScannerState>,
    streak: std::sync::Mutex<Streak>,
    clean: AtomicU64,
    infected: AtomicU64,
    failed: AtomicU64,
    too_large: AtomicU64,
    outages: AtomicU64,
}

#[derive(Debug, Default)]
struct Streak {
    failed_scans: u32,
    /// The current outage came from failing scans: only a successful scan ends it, not
    /// a PING.
    scans_failing: bool,
}

/// Counters since start, as the metrics endpoint shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanCounts {
    pub clean: u64,
    pub infected: u64,
    pub failed: u64,
    pub too_large: u64,
    pub outages: u64,
}

impl ScannerHealth {
    pub fn new(initial: ScannerState) -> Self {
        Self {
            state: watch::Sender::new(initial),
            streak: std::sync::Mutex::default(),
            clean: AtomicU64::new(0),
            infected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            too_large: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        }
    }

    pub fn state(&self) -> ScannerState {
        self.state.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<ScannerState> {
        self.state.subscribe()
    }

    pub fn counts(&self) -> ScanCounts {
        ScanCounts {
            clean: self.clean.load(Ordering::Relaxed),
            infected: self.infected.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            too_large: self.too_large.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
        }
    }

    pub fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Clean => &self.clean,
            Outcome::Infected => &self.infected,
            Outcome::Failed => &self.failed,
            Outcome::TooLarge => &self.too_large,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn streak(&self) -> std::sync::MutexGuard<'_, Streak> {
        self.streak
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A scan gave its verdict: whatever was wrong is over.
    pub fn scan_succeeded(&self) {
        *self.streak() = Streak::default();
        self.set_ready();
    }

    /// A scan failed after clamd had accepted the connection. Counts towards an outage
    /// only when it keeps happening.
    pub fn scan_failed(&self, reason: &str) {
        self.count(Outcome::Failed);
        let mut streak = self.streak();
        streak.failed_scans += 1;
        if streak.failed_scans >= FAILED_SCANS_FOR_OUTAGE {
            streak.scans_failing = true;
            drop(streak);
            self.set_unavailable(reason);
        }
    }

    /// clamd could not be reached (connect or PING failed): an outage at once.
    pub fn unreachable(&self, reason: &str) {
        self.set_unavailable(reason);
    }

    /// clamd answered PING. That ends an outage of reachability, not one of failing scans
    /// (a daemon that answers PING may still fail every scan).
    pub fn answered(&self) {
        if !self.streak().scans_failing {
            self.set_ready();
        }
    }

    fn set_ready(&self) {
        self.state.send_if_modified(|s| {
            if *s == ScannerState::Ready {
                return false;
            }
            tracing::info!("virus scanner reachable");
            *s = ScannerState::Ready;
            true
        });
    }

    /// Only the first failure of an outage is news (and logged as an error); later ones
    /// keep the first reason, so that watchers are woken once.
    fn set_unavailable(&self, reason: &str) {
        self.state.send_if_modified(|s| {
            if matches!(s, ScannerState::Unavailable { .. }) {
                return false;
            }
            tracing::error!(
                reason,
                "virus scanner unavailable: uploads are refused until it answers again"
            );
            self.outages.fetch_add(1, Ordering::Relaxed);
            *s = ScannerState::Unavailable {
                reason: reason.to_string(),
            };
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_outage_wakes_watchers_once_and_counts_once() {
        let h = ScannerHealth::new(ScannerState::Unknown);
        let mut rx = h.subscribe();
        rx.mark_unchanged();
        h.unreachable("connection refused");
        h.unreachable("connection refused again");
        h.unreachable("timeout");
        assert!(rx.has_changed().expect("sender alive"));
        assert_eq!(
            *rx.borrow_and_update(),
            ScannerState::Unavailable {
                reason: "connection refused".into()
            }
        );
        assert!(!rx.has_changed().expect("sender alive"));
        assert_eq!(h.counts().outages, 1);
        h.answered();
        h.answered();
        assert!(rx.has_changed().expect("sender alive"));
        assert_eq!(*rx.borrow_and_update(), ScannerState::Ready);
        assert!(!rx.has_changed().expect("sender alive"));
        h.unreachable("down again");
        assert_eq!(h.counts().outages, 2);
    }

    #[test]
    fn single_failed_scans_are_no_outage_but_a_streak_is_until_a_scan_succeeds() {
        let h = ScannerHealth::new(ScannerState::Ready);
        h.scan_failed("broken pipe");
        h.scan_failed("broken pipe");
        h.scan_succeeded();
        h.scan_failed("broken pipe");
        h.scan_failed("broken pipe");
        assert_eq!(h.state(), ScannerState::Ready, "two in a row are no outage");
        h.scan_failed("Can't create temporary file ERROR");
        assert!(matches!(h.state(), ScannerState::Unavailable { .. }));
        assert_eq!(h.counts().failed, 5);
        // PING alone does not end it: clamd answers, but scans fail.
        h.answered();
        assert!(matches!(h.state(), ScannerState::Unavailable { .. }));
        h.scan_succeeded();
        assert_eq!(h.state(), ScannerState::Ready);
        // After that, a PING outage ends with a PING again.
        h.unreachable("refused");
        h.answered();
        assert_eq!(h.state(), ScannerState::Ready);
        assert_eq!(h.counts().outages, 2);
    }
}
