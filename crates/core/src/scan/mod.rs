//! Virus scanning. The ingest pipeline feeds every upload through a [`Scanner`] while it
//! streams in and makes the file visible only after a clean verdict. The ClamAV client
//! implements this trait; until it is configured, `scan.mode = "off"` is the only mode
//! and admins see a permanent warning.

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Scanning is switched off; the file was not checked.
    NotScanned,
    Infected(String),
    /// The scanner failed; the upload must be refused (fail-closed).
    Failed(String),
}

#[async_trait]
pub trait ScanSession: Send {
    /// Feeds the next chunk; an error means the scanner is unusable for this upload.
    async fn feed(&mut self, chunk: &[u8]) -> Result<(), String>;
    async fn finish(self: Box<Self>) -> Verdict;
}

#[async_trait]
pub trait Scanner: Send + Sync + 'static {
    /// "off", "clamd", …: shown on the health endpoint and in the admin banner.
    fn mode(&self) -> &'static str;
    async fn begin(&self) -> Result<Box<dyn ScanSession>, String>;
}

/// `scan.mode = "off"`.
#[derive(Debug, Default)]
pub struct ScanOff;

struct OffSession;

#[async_trait]
impl ScanSession for OffSession {
    async fn feed(&mut self, _chunk: &[u8]) -> Result<(), String> {
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
    async fn begin(&self) -> Result<Box<dyn ScanSession>, String> {
        Ok(Box::new(OffSession))
    }
}
