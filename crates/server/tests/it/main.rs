//! Integration tests: the real server over HTTP on an ephemeral port.
//! New routes must join the isolation table in `isolation.rs`.

mod helpers;
// Prerequisites (peers, files, databases): a missing one is a visible skip.
#[path = "../../../../tests/prereq.rs"]
mod prereq;

mod a11y;
mod admin_gate;
mod audit;
mod auth;
mod clamd;
mod cli;
mod clients;
mod copy;
mod csrf;
mod dav;
mod headers;
mod hostile;
mod isolation;
mod letters;
mod lockout;
mod log_secrets;
mod mail;
mod monitoring;
mod notify;
mod policy;
mod restart;
mod scan;
mod second_factor;
mod sessions;
mod slow_clients;
mod tls;
mod tls_profile;
mod tree;
mod workflow;
