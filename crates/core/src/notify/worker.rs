//! The background worker of each node: files new events into mails and sends the due
//! ones, every few seconds or at once when woken (a new event, an admin's retry).

use std::sync::Arc;
use std::time::Duration;

use crate::App;
use crate::ids;
use crate::notify::mail::Mailer;
use crate::notify::templates::Texts;

/// This process's part in the notification machinery.
#[derive(Debug)]
pub struct NotifierHandle {
    /// Names this node in the leases it holds.
    pub(crate) node: String,
    /// One fan-out at a time within this process (across processes: the lease).
    pub(crate) fanout: tokio::sync::Mutex<()>,
    pub(crate) wake: tokio::sync::Notify,
    /// Set on shutdown: the worker finishes the mail in hand and stops.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
}

impl Default for NotifierHandle {
    fn default() -> Self {
        Self {
            node: format!("node-{}-{}", std::process::id(), ids::token(6)),
            fanout: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl App {
    /// Asks the worker for a round now instead of at its next tick.
    pub fn wake_notifier(&self) {
        self.notifier.wake.notify_one();
    }

    /// After an event was committed: with a window, the worker's next tick is soon
    /// enough (and a burst of uploads is not met by a round per file); without one,
    /// the mail goes out now.
    pub(crate) fn event_written(&self) {
        if self.settings.notify.window_seconds == 0 {
            self.wake_notifier();
        }
    }

    /// Asks the worker to stop after the mail in hand (a mail the server accepted is
    /// recorded as sent, so nobody sends it again after the restart).
    pub fn stop_notifier(&self) {
        self.notifier
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake_notifier();
    }

    /// Runs until `stop_notifier`. Without a mailer (no `mail.host`) events are still
    /// filed, and the mails wait until a mail server is configured.
    pub async fn run_notifier(&self, mailer: Option<Mailer>, texts: Arc<Texts>, tick: Duration) {
        let stopping = || {
            self.notifier
                .stopping
                .load(std::sync::atomic::Ordering::SeqCst)
        };
        while !stopping() {
            self.notify_round(mailer.as_ref(), &texts).await;
            if stopping() {
                break;
            }
            tokio::select! {
                () = self.notifier.wake.notified() => {}
                () = crate::clock::pause(tick) => {}
            }
        }
    }

    /// One round: file, then send. Errors are logged and the next round tries again
    /// (the database or the mail server may be back by then).
    pub async fn notify_round(&self, mailer: Option<&Mailer>, texts: &Texts) {
        // Filing may take several rounds of BATCH events; keep going while there is work.
        loop {
            match self.fan_out().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "filing notifications failed");
                    break;
                }
            }
        }
        let Some(mailer) = mailer else {
            return;
        };
        match self.send_due(mailer, texts).await {
            Ok(r) if r != Default::default() => tracing::info!(
                sent = r.sent,
                failed = r.failed,
                dead = r.dead,
                obsolete = r.obsolete,
                "notifications"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sending notifications failed"),
        }
    }
}
