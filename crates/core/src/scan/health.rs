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

#[derive(Debug)]
pub struct ScannerHealth {
    state: watch::Sender<ScannerState>,
    clean: AtomicU64,
    infected: AtomicU64,
    failed: AtomicU64,
    too_large: AtomicU64,
    outages: AtomicU64,
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

    /// The scanner answered.
    pub fn ready(&self) {
        self.state.send_if_modified(|s| {
            if *s == ScannerState::Ready {
                return false;
            }
            tracing::info!("virus scanner reachable");
            *s = ScannerState::Ready;
            true
        });
    }

    /// The scanner failed. Only the first failure of an outage is news (and logged as an
    /// error); later ones keep the first reason, so that watchers are woken once.
    pub fn unavailable(&self, reason: &str) {
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
        h.unavailable("connection refused");
        h.unavailable("connection refused again");
        h.unavailable("timeout");
        assert!(rx.has_changed().expect("sender alive"));
        assert_eq!(
            *rx.borrow_and_update(),
            ScannerState::Unavailable {
                reason: "connection refused".into()
            }
        );
        assert!(!rx.has_changed().expect("sender alive"));
        assert_eq!(h.counts().outages, 1);
        h.ready();
        h.ready();
        assert!(rx.has_changed().expect("sender alive"));
        assert_eq!(*rx.borrow_and_update(), ScannerState::Ready);
        assert!(!rx.has_changed().expect("sender alive"));
        h.unavailable("down again");
        assert_eq!(h.counts().outages, 2);
    }
}
