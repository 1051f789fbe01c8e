//! Password hashing (Argon2id, PHC strings), the password rules, and one-time passwords.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

use crate::error::{Error, Result};

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

/// Argon2id with the library defaults (m = 19 MiB, t = 2, p = 1), the OWASP baseline.
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the login does not exist, so
/// that a wrong login name and a wrong password take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&one_time_password()).unwrap_or_default())
}

/// The rules a new password must meet: length only (no composition rules, per NIST
/// SP 800-63B and OWASP ASVS), never truncated.
pub fn check_rules(password: &str, login: &str) -> Result<()> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(Error::WeakPassword("err-password-short"));
    }
    if len > MAX_LEN {
        return Err(Error::WeakPassword("err-password-long"));
    }
    if password.to_lowercase() == login.to_lowercase() {
        return Err(Error::WeakPassword("err-password-is-login"));
    }
    Ok(())
}

/// A one-time password for letters and first log-ins: 20 characters from an alphabet
/// without look-alikes (no 0/O, 1/l/I), in groups of four for typing from paper.
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    let mut out = String::with_capacity(24);
    for i in 0..20 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let idx = rng.gen_range(0..ALPHABET.len());
        out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'x')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_and_rejects_prefix() {
        let pw = "korrekt Pferd Batterie Heftklammer";
        let h = hash(pw).expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(pw, &h));
        assert!(!verify(&pw[..pw.len() - 1], &h));
        assert!(!verify(pw, "not a phc string"));
    }

    #[test]
    fn rules() {
        assert!(check_rules("short", "x").is_err());
        assert!(check_rules(&"a".repeat(9), "x").is_err());
        assert!(check_rules(&"a".repeat(10), "x").is_ok());
        assert!(check_rules(&"a".repeat(128), "x").is_ok());
        assert!(check_rules(&"a".repeat(257), "x").is_err());
        assert!(check_rules("mueller.anna", "Mueller.Anna").is_err());
    }

    #[test]
    fn one_time_passwords_are_distinct_and_valid() {
        let a = one_time_password();
        let b = one_time_password();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(check_rules(&a, "login").is_ok());
    }
}
