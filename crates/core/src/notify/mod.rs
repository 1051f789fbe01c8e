//! Notifications: events in the outbox, fanned out into mails (one per recipient, space
//! and window), rendered from templates and sent by a background worker with leases,
//! retries and dead letters.

pub mod deliver;
pub mod fanout;
pub mod mail;
pub mod outbox;
pub mod prefs;
pub mod recipients;
pub mod templates;
pub mod worker;
