//! amtsbote's application core: members, accounts, spaces, the permission function,
//! the ingest pipeline, outbox and audit. No HTTP in here; the doors (web UI, later
//! WebDAV) and the admin CLI call the use-cases on [`App`].

pub mod audit;
pub mod auth;
pub mod clock;
pub mod db;
pub mod error;
pub mod ids;
pub mod members;
pub mod notify;
pub mod scan;
pub mod settings;
pub mod spaces;
pub mod storage;

use std::sync::Arc;

pub use auth::actor::{Actor, StaffRole};
pub use error::{Error, ErrorKind, Result};
pub use settings::{Settings, Side};

use clock::Clock;
use db::Db;
use scan::Scanner;
use storage::blob::BlobStore;

/// The application: everything a use-case needs, cheap to clone.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub blobs: Arc<dyn BlobStore>,
    pub scanner: Arc<dyn Scanner>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    pub(crate) basic_cache: Arc<auth::basic::BasicCache>,
    /// The scanner state last recorded by the watcher, and since when (epoch ms).
    pub(crate) scanner_seen: Arc<std::sync::Mutex<Option<(scan::ScannerState, clock::Millis)>>>,
    /// When the admins were last told of a scanner outage (epoch ms, 0 = never).
    pub(crate) scanner_notified: Arc<std::sync::atomic::AtomicI64>,
    /// The notification worker of this process: woken when an event is written or an
    /// admin retries a mail; its name holds leases in the database.
    pub(crate) notifier: Arc<notify::worker::NotifierHandle>,
    /// Argon2id password checks made by this process (sign-ins of every door).
    pub(crate) password_checks: Arc<std::sync::atomic::AtomicU64>,
    /// The key that signs the audit checkpoints (none: the chain is kept, not sealed).
    pub(crate) audit_signer: Option<Arc<audit::seal::Signer>>,
}

impl App {
    pub fn new(
        db: Db,
        blobs: Arc<dyn BlobStore>,
        scanner: Arc<dyn Scanner>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            db,
            blobs,
            scanner,
            clock,
            settings: Arc::new(settings),
            basic_cache: Arc::default(),
            scanner_seen: Arc::default(),
            scanner_notified: Arc::default(),
            notifier: Arc::default(),
            password_checks: Arc::default(),
            audit_signer: None,
        }
    }

    /// Signs the audit checkpoints with `signer`.
    pub fn with_audit_signer(mut self, signer: audit::seal::Signer) -> Self {
        self.audit_signer = Some(Arc::new(signer));
        self
    }

    /// The verifier key of the audit checkpoints, for auditors.
    pub fn audit_verifier_key(&self) -> Option<String> {
        self.audit_signer.as_ref().map(|s| s.verifier_key())
    }

    /// How many Argon2id password checks this process has made: each costs the same,
    /// so a count per attempt shows that failures of every kind take the same work.
    pub fn password_checks(&self) -> u64 {
        self.password_checks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn now(&self) -> clock::Millis {
        self.clock.now_ms()
    }
}
