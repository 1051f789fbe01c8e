//! Integration tests: the real server over HTTP on an ephemeral port.
//! New routes must join the isolation table in `isolation.rs`.

mod helpers;

mod a11y;
mod auth;
mod clamd;
mod cli;
mod clients;
mod copy;
mod dav;
mod headers;
mod hostile;
mod isolation;
mod letters;
mod lockout;
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
mod tree;
mod workflow;
