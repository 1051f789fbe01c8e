//! Identifier and secret generation. Row ids are random positive integers below 2^53 so
//! that they are portable across the three databases (no RETURNING / last-insert-id
//! dialects), safe in JavaScript, usable as `oc:fileid`, and not enumerable.

use rand::Rng;
use rand::rngs::OsRng;

pub fn new_id() -> i64 {
    OsRng.gen_range(1_000_000..(1_i64 << 53))
}

/// Random token of `bytes` bytes, hex-encoded (session ids, CSRF tokens, ETags).
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill(buf.as_mut_slice());
    hex::encode(buf)
}

/// Opaque storage key for a blob; never derived from user input and never reused.
pub fn blob_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn etag() -> String {
    token(10)
}
