//! The amtsbote server: configuration, start-up, the web door and the admin CLI.

pub mod cli;
pub mod compat;
pub mod config;
pub mod connections;
pub mod dav_door;
pub mod letters;
pub mod monitoring;
pub mod request_id;
pub mod security_headers;
pub mod startup;
pub mod tls;
pub mod web;
