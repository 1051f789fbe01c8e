//! XML in and out. Request bodies are parsed into a small owned tree with hard limits
//! ([`parse`]); responses are written as strings by hand ([`write`]), which is faster than an
//! event writer for the 10,000-entry listings the sync clients ask for.

pub mod parse;
pub mod write;

pub use parse::{Attr, Element, Node, parse_body};

/// The DAV: namespace.
pub const DAV: &str = "DAV:";
/// ownCloud's namespace, also used by Nextcloud clients.
pub const OC: &str = "http://owncloud.org/ns";
/// Nextcloud's namespace.
pub const NC: &str = "http://nextcloud.org/ns";
/// Sabre's namespace (error bodies).
pub const SABRE: &str = "http://sabredav.org/ns";
