//! Signed checkpoints of the audit chain, in the C2SP signed-note format
//! (<https://c2sp.org/signed-note>, checkpoint body as in <https://c2sp.org/tlog-checkpoint>):
//!
//! ```text
//! amtsbote/KVBbg                 origin
//! 1200                           size: entries chained so far (last seq + 1)
//! q0V8…=                         root: base64 of the last entry's hash
//! epoch 3                        extension lines
//! first 800
//! prev-seal 6f1c…                SHA-256 (hex) of the previous checkpoint's note, or "none"
//!
//! — amtsbote/KVBbg Ab3x…=        base64(4-byte key id ‖ Ed25519 signature of the body)
//! ```
//!
//! The key is an Ed25519 key from a file (PKCS#8, e.g. `openssl genpkey -algorithm
//! ed25519`); the verifier key is published as `name+keyid+base64(0x01 ‖ public key)`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The signature algorithm byte of Ed25519 in a note verifier key.
const ALG_ED25519: u8 = 0x01;

/// The checkpoint signing key of this installation.
pub struct Signer {
    name: String,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("name", &self.name).finish()
    }
}

fn key_id(name: &str, public: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

impl Signer {
    /// Reads a PKCS#8 key (PEM or DER). With `create`, a missing file is made with a
    /// new key, readable by this user only.
    pub fn from_file(name: &str, path: &Path, create: bool) -> Result<Self> {
        if create && !path.exists() {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| Error::Internal("generating the audit signing key".into()))?;
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                B64.encode(pkcs8.as_ref())
            );
            write_private(path, pem.as_bytes())
                .map_err(|e| Error::Internal(format!("writing {}: {e}", path.display())))?;
            tracing::warn!(file = %path.display(), "new audit signing key created; keep a copy of its public key (amtsbote audit key) outside this machine");
        }
        let raw = std::fs::read(path)
            .map_err(|e| Error::Internal(format!("audit signing key {}: {e}", path.display())))?;
        let der = match std::str::from_utf8(&raw) {
            Ok(text) if text.contains("-----BEGIN") => {
                let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
                B64.decode(body.trim()).map_err(|_| {
                    Error::Internal(format!("audit signing key {}: not PEM", path.display()))
                })?
            }
            _ => raw,
        };
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|_| {
            Error::Internal(format!(
                "audit signing key {}: not an Ed25519 key in PKCS#8",
                path.display()
            ))
        })?;
        Ok(Self {
            name: name.to_string(),
            pair,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key an auditor needs: `name+keyid+base64(0x01 ‖ public key)`.
    pub fn verifier_key(&self) -> String {
        let public = self.pair.public_key().as_ref();
        let mut enc = vec![ALG_ED25519];
        enc.extend_from_slice(public);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, public)),
            B64.encode(enc)
        )
    }

    /// The signed note of `body` (which ends in a newline).
    pub fn sign(&self, body: &str) -> String {
        let public = self.pair.public_key().as_ref();
        let mut sig = key_id(&self.name, public).to_vec();
        sig.extend_from_slice(self.pair.sign(body.as_bytes()).as_ref());
        format!("{body}\n\u{2014} {} {}\n", self.name, B64.encode(sig))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A verifier key parsed from `name+keyid+base64(0x01 ‖ public key)`.
#[derive(Debug, Clone)]
pub struct Verifier {
    name: String,
    id: [u8; 4],
    public: Vec<u8>,
}

impl Verifier {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Error::Invalid("verifier key");
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let key = B64.decode(key).map_err(|_| bad())?;
        let (alg, public) = key.split_first().ok_or_else(bad)?;
        if *alg != ALG_ED25519 || public.len() != 32 {
            return Err(bad());
        }
        let id: [u8; 4] = hex::decode(id)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(bad)?;
        if id != key_id(name, public) {
            return Err(bad());
        }
        Ok(Self {
            name: name.to_string(),
            id,
            public: public.to_vec(),
        })
    }

    /// The body of `note` when one of its signatures is this key's and valid.
    pub fn open<'a>(&self, note: &'a str) -> std::result::Result<&'a str, String> {
        let split = note
            .find("\n\n")
            .ok_or_else(|| "no blank line before the signatures".to_string())?;
        let body = &note[..split + 1];
        for line in note[split + 2..].lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                continue;
            };
            let Some((name, sig)) = rest.rsplit_once(' ') else {
                continue;
            };
            if name != self.name {
                continue;
            }
            let Ok(sig) = B64.decode(sig) else { continue };
            if sig.len() != 68 || sig[..4] != self.id {
                continue;
            }
            return UnparsedPublicKey::new(&ED25519, &self.public)
                .verify(body.as_bytes(), &sig[4..])
                .map(|()| body)
                .map_err(|_| format!("the signature of {} does not match", self.name));
        }
        Err(format!("no signature by {}", self.name))
    }
}

/// The parts of a checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: i64,
    /// Hex.
    pub root: String,
    pub epoch: i64,
    pub first: i64,
    /// Hex SHA-256 of the previous checkpoint's note, or "none".
    pub prev_seal: String,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        let root = hex::decode(&self.root).unwrap_or_default();
        format!(
            "{}\n{}\n{}\nepoch {}\nfirst {}\nprev-seal {}\n",
            self.origin,
            self.size,
            B64.encode(root),
            self.epoch,
            self.first,
            self.prev_seal
        )
    }

    pub fn parse(body: &str) -> std::result::Result<Self, String> {
        let lines: Vec<&str> = body.lines().collect();
        let field = |i: usize, prefix: &str| -> std::result::Result<String, String> {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(prefix))
                .map(str::to_string)
                .ok_or_else(|| format!("line {} of the checkpoint is not `{prefix}…`", i + 1))
        };
        let number = |s: String| s.parse::<i64>().map_err(|_| format!("not a number: {s}"));
        let root = B64
            .decode(lines.get(2).copied().unwrap_or_default())
            .map_err(|_| "the root is not base64".to_string())?;
        Ok(Self {
            origin: lines.first().copied().unwrap_or_default().to_string(),
            size: number(lines.get(1).copied().unwrap_or_default().to_string())?,
            root: hex::encode(root),
            epoch: number(field(3, "epoch ")?)?,
            first: number(field(4, "first ")?)?,
            prev_seal: field(5, "prev-seal ")?,
        })
    }
}

/// The hex SHA-256 of a note, as the next checkpoint names it.
pub fn seal_hash(note: &str) -> String {
    hex::encode(Sha256::digest(note.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_verify_with_their_key_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = Signer::from_file("amtsbote/Test", &dir.path().join("a.key"), true).expect("a");
        let b = Signer::from_file("amtsbote/Test", &dir.path().join("b.key"), true).expect("b");
        let cp = Checkpoint {
            origin: "amtsbote/Test".into(),
            size: 12,
            root: "00".repeat(32),
            epoch: 1,
            first: 0,
            prev_seal: "none".into(),
        };
        let note = a.sign(&cp.body());
        let va = Verifier::parse(&a.verifier_key()).expect("key");
        let vb = Verifier::parse(&b.verifier_key()).expect("key");
        let body = va.open(&note).expect("valid");
        assert_eq!(Checkpoint::parse(body).expect("parse"), cp);
        assert!(vb.open(&note).is_err(), "another key does not open it");
        let forged = note.replace("\n12\n", "\n13\n");
        assert!(va.open(&forged).is_err(), "a changed body fails");
        // The same file is read back as the same key.
        let again = Signer::from_file("amtsbote/Test", &dir.path().join("a.key"), true).expect("a");
        assert_eq!(again.verifier_key(), a.verifier_key());
    }
}
