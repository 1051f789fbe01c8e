//! Password hashing (Argon2id, PHC strings), the password rules, and one-time passwords.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

use crate::error::{Error, Result};

pub const MIN_LEN: usize = 12;
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

/// The rules a new password must meet (NIST SP 800-63B, OWASP ASVS 5.0 6.2): a length
/// of 12 to 256 characters, never truncated, no composition rules; and not guessable:
/// not the login name, not one of `names` (the authority's), not a common password,
/// not one character or a keyboard run repeated (checked with digits, spaces and
/// punctuation at either end taken off, so "Passwort2026!" counts as "passwort").
pub fn check_rules(password: &str, login: &str, names: &[&str]) -> Result<()> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(Error::WeakPassword("err-password-short"));
    }
    if len > MAX_LEN {
        return Err(Error::WeakPassword("err-password-long"));
    }
    let core = guessable_core(password);
    if password.to_lowercase() == login.to_lowercase() || core == guessable_core(login) {
        return Err(Error::WeakPassword("err-password-is-login"));
    }
    if names
        .iter()
        .map(|n| guessable_core(n))
        .any(|n| !n.is_empty() && (core == n || core == n.replace(' ', "")))
    {
        return Err(Error::WeakPassword("err-password-is-name"));
    }
    if core.is_empty() || is_common(&core) || is_monotonous(password) {
        return Err(Error::WeakPassword("err-password-common"));
    }
    Ok(())
}

/// Lowercased, with digits, whitespace and punctuation taken off both ends.
fn guessable_core(s: &str) -> String {
    s.to_lowercase()
        .trim_matches(|c: char| c.is_ascii_digit() || c.is_whitespace() || c.is_ascii_punctuation())
        .to_string()
}

fn is_common(core: &str) -> bool {
    static LIST: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("weak_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
    .contains(core)
}

/// Few distinct characters ("aaaaaaaaaaaa", "abababababab") or one run along a
/// keyboard row or the alphabet ("123456789012", "abcdefghijkl").
fn is_monotonous(password: &str) -> bool {
    let lower: Vec<char> = password.to_lowercase().chars().collect();
    let mut distinct = lower.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= 3 {
        return true;
    }
    const RUNS: &[&str] = &[
        "1234567890",
        "abcdefghijklmnopqrstuvwxyz",
        "qwertzuiopü",
        "qwertyuiop",
        "asdfghjklöä",
        "yxcvbnm",
        "zxcvbnm",
    ];
    let steps_along = |run: &str| {
        let run: Vec<char> = run.chars().collect();
        let pos = |c: &char| run.iter().position(|r| r == c);
        lower.windows(2).all(|w| match (pos(&w[0]), pos(&w[1])) {
            (Some(a), Some(b)) => b == (a + 1) % run.len() || a == (b + 1) % run.len(),
            _ => false,
        })
    };
    RUNS.iter().any(|r| steps_along(r))
}

/// Whether a stored hash was made with other parameters than today's (an older cost
/// setting or algorithm): it is made again at the next successful log-in.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let current = argon2::Params::default();
    let param = |name: &str| parsed.params.get_decimal(name);
    parsed.algorithm != argon2::Algorithm::Argon2id.ident()
        || parsed.version != Some(argon2::Version::V0x13.into())
        || param("m") != Some(current.m_cost())
        || param("t") != Some(current.t_cost())
        || param("p") != Some(current.p_cost())
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
        let names = ["KVBbg", "Beamtenversorgung"];
        let ok = |pw: &str| check_rules(pw, "mueller.anna", &names);
        let key = |pw: &str| match ok(pw) {
            Err(Error::WeakPassword(k)) => k,
            other => panic!("{pw:?}: {other:?}"),
        };
        assert_eq!(key("short"), "err-password-short");
        assert_eq!(key("Elf Zeichen"), "err-password-short");
        assert!(ok("Zwölf Zeiche").is_ok());
        assert!(ok("korrekt Pferd Batterie Heftklammer").is_ok());
        assert!(ok(&"Wald und Wiese ".repeat(17)).is_ok());
        assert_eq!(key(&"x".repeat(257)), "err-password-long");
        assert_eq!(key("Mueller.Anna"), "err-password-is-login");
        assert_eq!(key("mueller.anna2026!"), "err-password-is-login");
        assert_eq!(key("Beamtenversorgung1"), "err-password-is-name");
        assert_eq!(key("KVBbg-2026-2027!"), "err-password-is-name");
        assert_eq!(key("Passwort2026!"), "err-password-common");
        assert_eq!(key("!!Sommer2026!!"), "err-password-common");
        assert_eq!(key("123456789012"), "err-password-common");
        assert_eq!(key("qwertzuiopü1"), "err-password-common");
        assert_eq!(key("aaaaaaaaaaaaaaa"), "err-password-common");
        assert_eq!(key("abababababab"), "err-password-common");
        assert_eq!(key("abcdefghijklm"), "err-password-common");
        assert_eq!(key("2026-12-31 !!"), "err-password-common");
        // Common words inside a longer phrase are fine: the phrase is the strength.
        assert!(ok("Test-Passwort-2026!").is_ok());
        assert!(ok("Sommer in Potsdam am See").is_ok());
    }

    #[test]
    fn hashes_with_other_parameters_are_made_again() {
        let h = hash("korrekt Pferd Batterie").expect("hash");
        assert!(!needs_rehash(&h));
        let weaker = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, None).expect("params"),
        )
        .hash_password(b"korrekt Pferd Batterie", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
        assert!(verify("korrekt Pferd Batterie", &weaker));
        assert!(needs_rehash(&weaker));
        assert!(needs_rehash("not a phc string"));
    }

    #[test]
    fn one_time_passwords_are_distinct_and_valid() {
        let a = one_time_password();
        let b = one_time_password();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(check_rules(&a, "login", &["KVBbg"]).is_ok());
    }
}
