//! Watching the scanner: probes it regularly, and turns each change of its state into one
//! audit entry, and an outage into one admin notice, however many uploads it refuses.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::App;
use crate::audit::{AuditActor, AuditEvent, Outcome};
use crate::error::Result;
use crate::scan::ScannerState;

/// After an outage notice, further outages within this time are audited but not sent.
const NOTICE_QUIET_MS: i64 = 30 * 60 * 1000;

/// Payload of a `scanner_unavailable` event for the admins.
#[derive(Debug, Clone, Serialize)]
pub struct OutageNotice {
    pub scanner: String,
    pub reason: String,
    pub since: i64,
    /// Whether uploads are refused (`reject`) or let through unscanned (`allow`).
    pub on_unavailable: String,
}

impl App {
    /// Since when the scanner has been in its current state, as the watcher saw it.
    pub fn scanner_state_since(&self) -> Option<i64> {
        self.scanner_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|(_, since)| *since)
    }

    /// Runs until the process ends: probes every `interval` (more often during an
    /// outage, so that uploads work again soon after the scanner is back) and records
    /// each change.
    pub async fn watch_scanner(&self, interval: Duration) {
        if self.scanner.health().state() == ScannerState::Off {
            return;
        }
        let mut changes = self.scanner.health().subscribe();
        self.scanner.probe().await;
        loop {
            let state = changes.borrow_and_update().clone();
            if let Err(e) = self.record_scanner_state(&state).await {
                tracing::error!(error = %e, "recording the scanner's state failed");
            }
            let wait = match state {
                ScannerState::Unavailable { .. } => interval / 4,
                _ => interval,
            };
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = crate::clock::pause(wait) => {
                    self.scanner.probe().await;
                }
            }
        }
    }

    /// Audits a change of the scanner's state; an outage also goes to the admins. The
    /// change counts as recorded only once its transaction has committed, so a database
    /// hiccup during an outage delays the notice to the next round instead of losing it.
    async fn record_scanner_state(&self, state: &ScannerState) -> Result<()> {
        let previous = {
            let last = self
                .scanner_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.as_ref().is_some_and(|(s, _)| s == state) {
                return Ok(());
            }
            last.as_ref().map(|(s, _)| s.clone())
        };
        let now = self.now();
        let mut notified = false;
        let mut tx = self.db.begin_write().await?;
        match state {
            ScannerState::Unavailable { reason } => {
                self.audit(
                    &mut *tx,
                    AuditEvent::new(
                        AuditActor::system(),
                        "scanner.unavailable",
                        self.scanner.mode(),
                    )
                    .outcome(Outcome::Failure)
                    .detail(reason.clone()),
                )
                .await?;
                // A scanner that keeps failing and recovering (a crash loop) is one
                // story for the admins, not one e-mail per round.
                let last = self.scanner_notified.load(Ordering::Relaxed);
                if last == 0 || now - last >= NOTICE_QUIET_MS {
                    self.notify_admins(
                        &mut tx,
                        "scanner_unavailable",
                        &OutageNotice {
                            scanner: self.scanner.mode().into(),
                            reason: reason.clone(),
                            since: now,
                            on_unavailable: format!("{:?}", self.settings.scan.on_unavailable)
                                .to_lowercase(),
                        },
                    )
                    .await?;
                    notified = true;
                }
            }
            ScannerState::Ready if matches!(previous, Some(ScannerState::Unavailable { .. })) => {
                self.audit(
                    &mut *tx,
                    AuditEvent::new(
                        AuditActor::system(),
                        "scanner.recovered",
                        self.scanner.mode(),
                    ),
                )
                .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        if notified {
            self.scanner_notified.store(now, Ordering::Relaxed);
            self.wake_notifier();
        }
        *self
            .scanner_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((state.clone(), now));
        Ok(())
    }
}
