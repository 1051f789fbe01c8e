//! The core's error type. Adapters (web, WebDAV, CLI) map `Error::kind()` to their
//! status codes in exactly one place each; user-facing text comes from the message key.

use crate::spaces::names::NameError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("invalid name: {0}")]
    InvalidName(#[from] NameError),
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    #[error("already exists")]
    AlreadyExists,
    #[error("folder not empty")]
    FolderNotEmpty,
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// The target is not in the state the client expected (`If-Match`, `If-None-Match`).
    #[error("precondition failed")]
    PreconditionFailed,
    /// A WebDAV write lock held by someone else is in the way.
    #[error("locked")]
    Locked,
    #[error("file too large (limit {limit} bytes)")]
    TooLarge { limit: u64 },
    #[error("quota exceeded")]
    QuotaExceeded,
    #[error("upload incomplete: {0}")]
    UploadAborted(String),
    #[error("infected: {name}: {signature}")]
    Infected { name: String, signature: String },
    #[error("virus scanner unavailable: {0}")]
    ScannerUnavailable(String),
    /// Every scan slot stayed busy; not an outage.
    #[error("virus scanner busy")]
    ScannerBusy,
    /// Longer than the scanner accepts: never stored unscanned.
    #[error("file too large to scan (limit {limit} bytes)")]
    TooLargeToScan { limit: u64 },
    #[error("authentication failed")]
    AuthFailed,
    /// A one-time password (activation code) used after it ran out.
    #[error("activation code expired")]
    ActivationExpired,
    /// Too many failed sign-ins for this login name or client address: wait.
    #[error("too many failed attempts (retry in {retry_after} s)")]
    TooManyAttempts { retry_after: u64 },
    #[error("password rejected: {0}")]
    WeakPassword(&'static str),
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("internal: {0}")]
    Internal(String),
}

/// Coarse classes the doors map to HTTP status codes and message keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Forbidden,
    BadInput,
    Conflict,
    PreconditionFailed,
    Locked,
    TooLarge,
    QuotaExceeded,
    Aborted,
    Infected,
    Unavailable,
    Unauthenticated,
    TooManyAttempts,
    InsufficientStorage,
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound => ErrorKind::NotFound,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::InvalidName(_)
            | Error::Invalid(_)
            | Error::WeakPassword(_)
            | Error::ChecksumMismatch => ErrorKind::BadInput,
            Error::AlreadyExists | Error::FolderNotEmpty => ErrorKind::Conflict,
            Error::PreconditionFailed => ErrorKind::PreconditionFailed,
            Error::Locked => ErrorKind::Locked,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::QuotaExceeded => ErrorKind::QuotaExceeded,
            Error::UploadAborted(_) => ErrorKind::Aborted,
            Error::Infected { .. } => ErrorKind::Infected,
            Error::ScannerUnavailable(_) | Error::ScannerBusy => ErrorKind::Unavailable,
            Error::TooLargeToScan { .. } => ErrorKind::TooLarge,
            Error::AuthFailed | Error::ActivationExpired => ErrorKind::Unauthenticated,
            Error::TooManyAttempts { .. } => ErrorKind::TooManyAttempts,
            Error::Storage(e) if is_disk_full(e) => ErrorKind::InsufficientStorage,
            Error::Storage(_) | Error::Db(_) | Error::Migrate(_) | Error::Internal(_) => {
                ErrorKind::Internal
            }
        }
    }

    /// Fluent message key describing the error for end users.
    pub fn message_key(&self) -> &'static str {
        match self {
            Error::NotFound => "err-not-found",
            Error::Forbidden(_) => "err-forbidden",
            Error::InvalidName(e) => e.message_key(),
            Error::Invalid(what) => match *what {
                "login" => "err-field-login",
                "login taken" => "err-login-taken",
                "email" => "err-field-email",
                "display_name" | "member name" | "team name" => "err-field-name",
                "member number" => "err-field-number",
                "self-demotion" => "err-self-demotion",
                "property" => "err-dav-property",
                _ => "err-invalid-input",
            },
            Error::WeakPassword(k) => k,
            Error::AlreadyExists => "err-already-exists",
            Error::FolderNotEmpty => "err-folder-not-empty",
            Error::ChecksumMismatch => "err-checksum-mismatch",
            Error::PreconditionFailed => "err-precondition",
            Error::Locked => "err-locked",
            Error::TooLarge { .. } => "err-too-large",
            Error::QuotaExceeded => "err-quota",
            Error::UploadAborted(_) => "err-upload-aborted",
            Error::Infected { .. } => "err-infected",
            Error::ScannerUnavailable(_) => "err-scanner-unavailable",
            Error::ScannerBusy => "err-scanner-busy",
            Error::TooLargeToScan { .. } => "err-too-large-to-scan",
            Error::AuthFailed => "err-login-failed",
            Error::ActivationExpired => "err-activation-expired",
            Error::TooManyAttempts { .. } => "err-too-many-attempts",
            Error::Storage(e) if is_disk_full(e) => "err-disk-full",
            _ => "err-internal",
        }
    }
}

/// An argument of a user message; sizes are written by the door, in the user's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageArg {
    Text(String),
    Bytes(u64),
    /// A wait, written by the door in the user's language (the same figure as its
    /// `Retry-After`).
    Seconds(u64),
}

impl Error {
    /// The named arguments of the message (see [`Error::message_key`]).
    pub fn message_args(&self) -> Vec<(&'static str, MessageArg)> {
        match self {
            Error::Infected { name, signature } => vec![
                ("name", MessageArg::Text(name.clone())),
                ("finding", MessageArg::Text(signature.clone())),
            ],
            Error::TooLargeToScan { limit } => vec![("limit", MessageArg::Bytes(*limit))],
            Error::TooManyAttempts { retry_after } => {
                vec![("wait", MessageArg::Seconds(*retry_after))]
            }
            _ => Vec::new(),
        }
    }

    /// Seconds after which the client may try again (503 `Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::ScannerUnavailable(_) => Some(60),
            Error::ScannerBusy => Some(10),
            Error::TooManyAttempts { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
