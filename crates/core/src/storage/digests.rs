//! The checksums computed while an upload streams in: SHA-256 (our own integrity record,
//! in the audit trail), SHA-1 (what the ownCloud/Nextcloud clients and rclone compare),
//! and MD5 only when a client claims one, to verify it.

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

/// Running hashes over the bytes of one upload.
pub struct Digests {
    sha256: Sha256,
    sha1: Sha1,
    md5: Option<Md5>,
}

impl Digests {
    pub fn new(claim: Option<&ClaimedChecksum>) -> Self {
        let want_md5 = claim.is_some_and(|c| c.algo == ChecksumAlgo::Md5);
        Self {
            sha256: Sha256::new(),
            sha1: Sha1::new(),
            md5: want_md5.then(Md5::new),
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.sha256.update(chunk);
        self.sha1.update(chunk);
        if let Some(m) = self.md5.as_mut() {
            m.update(chunk);
        }
    }

    pub fn finish(self) -> FileDigests {
        FileDigests {
            sha256: hex::encode(self.sha256.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            md5: self.md5.map(|m| hex::encode(m.finalize())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_claims() {
        let claim = ClaimedChecksum::parse("MD5:900150983CD24FB0D6963F7D28E17F72").expect("md5");
        let mut d = Digests::new(Some(&claim));
        d.update(b"a");
        d.update(b"bc");
        let f = d.finish();
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
        // Without an MD5 claim no MD5 is computed (it costs CPU on every byte).
        let mut d = Digests::new(None);
        d.update(b"abc");
        assert_eq!(d.finish().md5, None);
    }
}
