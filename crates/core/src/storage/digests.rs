//! The checksums computed while an upload streams in: SHA-256 (our own integrity record,
//! in the audit trail), SHA-1 (what the ownCloud/Nextcloud clients compare) and MD5 (what
//! rclone's owncloud profile compares first).

use bytes::Bytes;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgo {
    Sha1,
    Md5,
    Sha256,
}

/// A checksum the client sent with its upload (`OC-Checksum: SHA1:…`); the upload is
/// refused when the bytes do not match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedChecksum {
    pub algo: ChecksumAlgo,
    /// Lowercase hex.
    pub hex: String,
}

impl ClaimedChecksum {
    /// Parses the `OC-Checksum` form `ALGO:hex` (`SHA1`, `MD5`, `SHA256`; case-insensitive).
    pub fn parse(header: &str) -> Option<Self> {
        let (algo, hex) = header.trim().split_once(':')?;
        let algo = match algo.to_ascii_uppercase().as_str() {
            "SHA1" => ChecksumAlgo::Sha1,
            "MD5" => ChecksumAlgo::Md5,
            "SHA256" => ChecksumAlgo::Sha256,
            _ => return None,
        };
        let hex = hex.trim().to_ascii_lowercase();
        let len = match algo {
            ChecksumAlgo::Sha1 => 40,
            ChecksumAlgo::Md5 => 32,
            ChecksumAlgo::Sha256 => 64,
        };
        (hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(Self { algo, hex })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigests {
    pub sha256: String,
    pub sha1: String,
    pub md5: Option<String>,
}

impl FileDigests {
    pub fn matches(&self, claim: &ClaimedChecksum) -> bool {
        match claim.algo {
            ChecksumAlgo::Sha256 => self.sha256 == claim.hex,
            ChecksumAlgo::Sha1 => self.sha1 == claim.hex,
            ChecksumAlgo::Md5 => self.md5.as_deref() == Some(claim.hex.as_str()),
        }
    }
}

/// Past this many bytes, MD5 moves to a thread of its own: MD5 has no hardware support and
/// is the slowest of the three, so a large upload is hashed on two cores. Small uploads stay
/// on one thread, where starting another would cost more than it saves.
const MD5_THREAD_AFTER: u64 = 4 * 1024 * 1024;

enum Md5Lane {
    Inline(Md5),
    Thread {
        tx: tokio::sync::mpsc::Sender<Bytes>,
        done: tokio::sync::oneshot::Receiver<Md5>,
    },
}

/// Running hashes over the bytes of one upload.
pub struct Digests {
    sha256: Sha256,
    sha1: Sha1,
    md5: Md5Lane,
    seen: u64,
}

impl Default for Digests {
    fn default() -> Self {
        Self::new()
    }
}

impl Digests {
    pub fn new() -> Self {
        Self {
            sha256: Sha256::new(),
            sha1: Sha1::new(),
            md5: Md5Lane::Inline(Md5::new()),
            seen: 0,
        }
    }

    pub async fn update(&mut self, chunk: &Bytes) {
        self.sha256.update(chunk);
        self.sha1.update(chunk);
        self.seen += chunk.len() as u64;
        if let Md5Lane::Inline(m) = &mut self.md5 {
            if self.seen <= MD5_THREAD_AFTER {
                m.update(chunk);
                return;
            }
            let mut m = std::mem::take(m);
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
            let (done_tx, done) = tokio::sync::oneshot::channel();
            tokio::task::spawn_blocking(move || {
                while let Some(c) = rx.blocking_recv() {
                    m.update(&c);
                }
                let _ = done_tx.send(m);
            });
            self.md5 = Md5Lane::Thread { tx, done };
        }
        if let Md5Lane::Thread { tx, .. } = &self.md5 {
            // A send fails only if the thread is gone; `finish` then reports no MD5.
            let _ = tx.send(chunk.clone()).await;
        }
    }

    pub async fn finish(self) -> FileDigests {
        let md5 = match self.md5 {
            Md5Lane::Inline(m) => Some(m),
            Md5Lane::Thread { tx, done } => {
                drop(tx);
                done.await.ok()
            }
        };
        FileDigests {
            sha256: hex::encode(self.sha256.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            md5: md5.map(|m| hex::encode(m.finalize())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn known_values_and_claims() {
        let claim = ClaimedChecksum::parse("MD5:900150983CD24FB0D6963F7D28E17F72").expect("md5");
        let mut d = Digests::new();
        d.update(&Bytes::from_static(b"a")).await;
        d.update(&Bytes::from_static(b"bc")).await;
        let f = d.finish().await;
        assert_eq!(f.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            f.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(f.matches(&claim));
        assert!(f.matches(
            &ClaimedChecksum::parse("sha1:A9993E364706816ABA3E25717850C26C9CD0D89D").expect("sha1")
        ));
        assert!(!f.matches(
            &ClaimedChecksum::parse("SHA1:a9993e364706816aba3e25717850c26c9cd0d89e").expect("sha1")
        ));
        assert_eq!(ClaimedChecksum::parse("ADLER32:12345678"), None);
        assert_eq!(ClaimedChecksum::parse("SHA1:xyz"), None);
        assert_eq!(ClaimedChecksum::parse("SHA1"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_upload_hashed_on_two_threads_gives_the_same_digests() {
        // Bytes past the point where MD5 moves to its own thread, in uneven pieces.
        let data: Vec<u8> = (0..(MD5_THREAD_AFTER as usize * 3 + 12_345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut d = Digests::new();
        for piece in data.chunks(100_003) {
            d.update(&Bytes::copy_from_slice(piece)).await;
        }
        let split = d.finish().await;
        let whole = FileDigests {
            sha256: hex::encode(Sha256::digest(&data)),
            sha1: hex::encode(Sha1::digest(&data)),
            md5: Some(hex::encode(Md5::digest(&data))),
        };
        assert_eq!(split, whole);
    }
}
