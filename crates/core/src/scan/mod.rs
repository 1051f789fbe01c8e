//! Virus scanning. The ingest pipeline feeds every upload through a [`Scanner`] while it
//! streams in and makes the file visible only after a clean verdict. [`clamd::Clamd`]
//! speaks ClamAV's INSTREAM protocol; [`ScanOff`] (`scan.mode = "off"`) exists for
//! development only and shows admins a permanent warning.
//!
//! What happens on a verdict (discard, quarantine, refuse, let through unscanned) is
//! decided in one place, the ingest pipeline; a scanner only reports.

use async_trait::async_trait;

pub mod clamd;
pub mod health;
pub mod quarantine;
pub mod watch;

pub use health::{ScannerHealth, ScannerState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Scanning is switched off; the file was not checked.
    NotScanned,
    /// Malware found; the signature name as the scanner reports it.
    Infected(String),
    /// No verdict: the upload must not become visible unchecked.
    Error(ScanError),
}

/// Why a scan gave no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The scanner could not be reached, timed out or answered with an error: an outage
    /// (fail-closed: the upload is refused and may be retried later).
    #[error("{0}")]
    Unavailable(String),
    /// Every scan slot stayed busy for the whole timeout: not an outage, just load.
    #[error("all {0} scan slots busy")]
    Busy(usize),
    /// The stream is longer than the scanner accepts (clamd's `StreamMaxLength`): such
    /// a file can never be scanned, so it is refused and never stored unscanned.
    #[error("longer than the scanner's limit of {0} bytes")]
    LimitExceeded(u64),
}

#[async_trait]
pub trait ScanSession: Send {
    /// Feeds the next chunk; an error ends this scan without a verdict.
    async fn feed(&mut self, chunk: &[u8]) -> Result<(), ScanError>;
    async fn finish(self: Box<Self>) -> Verdict;
}

#[async_trait]
pub trait Scanner: Send + Sync + 'static {
    /// "off", "clamd", …: shown on the health endpoint and in the admin banner.
    fn mode(&self) -> &'static str;
    async fn begin(&self) -> Result<Box<dyn ScanSession>, ScanError>;
    /// The longest stream the scanner accepts, if it has a limit.
    fn stream_limit(&self) -> Option<u64> {
        None
    }
    /// Reachability, outages and verdict counts.
    fn health(&self) -> &ScannerHealth;
    /// Asks the scanner whether it is there (clamd: `PING`) and records the answer.
    async fn probe(&self) {}
}

/// `scan.mode = "off"`.
#[derive(Debug)]
pub struct ScanOff {
    health: ScannerHealth,
}

impl Default for ScanOff {
    fn default() -> Self {
        Self {
            health: ScannerHealth::new(ScannerState::Off),
        }
    }
}

struct OffSession;

#[async_trait]
impl ScanSession for OffSession {
    async fn feed(&mut self, _chunk: &[u8]) -> Result<(), ScanError> {
        Ok(())
    }
    async fn finish(self: Box<Self>) -> Verdict {
        Verdict::NotScanned
    }
}

#[async_trait]
impl Scanner for ScanOff {
    fn mode(&self) -> &'static str {
        "off"
    }
    async fn begin(&self) -> Result<Box<dyn ScanSession>, ScanError> {
        Ok(Box::new(OffSession))
    }
    fn health(&self) -> &ScannerHealth {
        &self.health
    }
}
