pub mod mail;
pub mod outbox;
