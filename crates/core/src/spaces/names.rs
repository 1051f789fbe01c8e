//! `NodeName`: a validated, NFC-normalised file or folder name. Parsing happens once at
//! the boundary; after that the rest of the code trusts the value.

use unicode_normalization::UnicodeNormalization;

/// Longest name in bytes (UTF-8), the limit of common file systems and sync clients.
pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name is '.' or '..'")]
    DotName,
    #[error("name contains a slash or backslash")]
    Separator,
    #[error("name contains a control character")]
    Control,
    #[error("name is longer than 255 bytes")]
    TooLong,
    #[error("name ends with a dot or space")]
    TrailingDotOrSpace,
    #[error("name starts with a space")]
    LeadingSpace,
    #[error("name reserved on Windows")]
    Reserved,
    #[error("name contains a character Windows clients cannot store")]
    WindowsChar,
}

impl NameError {
    pub fn message_key(&self) -> &'static str {
        match self {
            NameError::Empty => "err-name-empty",
            NameError::DotName => "err-name-dot",
            NameError::Separator => "err-name-separator",
            NameError::Control => "err-name-control",
            NameError::TooLong => "err-name-too-long",
            NameError::TrailingDotOrSpace => "err-name-trailing",
            NameError::LeadingSpace => "err-name-leading-space",
            NameError::Reserved => "err-name-reserved",
            NameError::WindowsChar => "err-name-windows-char",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeName(String);

const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Characters that are not seen but change what is seen: controls, bidi overrides and
/// isolates (U+202A..U+202E, U+2066..U+2069), which disguise extensions
/// ("rechnung\u{202E}fdp.exe"), and the invisible format characters (zero-width space,
/// joiners and marks U+200B..U+200F, word joiner and invisible operators
/// U+2060..U+2064, the Arabic letter mark U+061C, the byte order mark U+FEFF), which
/// make two names that look the same differ ("Bescheid\u{200B}.pdf").
fn is_hidden(c: char) -> bool {
    c.is_control()
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || ('\u{200B}'..='\u{200F}').contains(&c)
        || ('\u{2060}'..='\u{2064}').contains(&c)
        || c == '\u{061C}'
        || c == '\u{FEFF}'
}

impl NodeName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name: String = raw.nfc().collect();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name == "." || name == ".." {
            return Err(NameError::DotName);
        }
        if name.contains(['/', '\\']) {
            return Err(NameError::Separator);
        }
        if name.chars().any(is_hidden) {
            return Err(NameError::Control);
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(NameError::TooLong);
        }
        if name.ends_with('.') || name.ends_with(' ') {
            return Err(NameError::TrailingDotOrSpace);
        }
        if name.starts_with(' ') {
            return Err(NameError::LeadingSpace);
        }
        if name.contains(['<', '>', ':', '"', '|', '?', '*']) {
            return Err(NameError::WindowsChar);
        }
        let stem = name
            .split('.')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if WINDOWS_RESERVED.contains(&stem.as_str()) {
            return Err(NameError::Reserved);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-folded key under which siblings must be unique.
    pub fn key(&self) -> String {
        name_key(&self.0)
    }
}

pub fn name_key(name: &str) -> String {
    name.nfc().collect::<String>().to_lowercase()
}

impl std::fmt::Display for NodeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names_and_normalises_to_nfc() {
        let decomposed = "Gehaltsmitteilung_Ma\u{0308}rz.pdf";
        let n = NodeName::parse(decomposed).expect("valid");
        assert_eq!(n.as_str(), "Gehaltsmitteilung_März.pdf");
        assert_eq!(n.as_str().len(), "Gehaltsmitteilung_März.pdf".len());
        assert_eq!(NodeName::parse("a").expect("valid").as_str(), "a");
        assert_eq!(
            NodeName::parse(".hidden").expect("valid").as_str(),
            ".hidden"
        );
    }

    #[test]
    fn rejects_hostile_names() {
        let cases: &[(&str, NameError)] = &[
            ("", NameError::Empty),
            (".", NameError::DotName),
            ("..", NameError::DotName),
            ("a/b", NameError::Separator),
            ("a\\b", NameError::Separator),
            ("../etc/passwd", NameError::Separator),
            ("a\0b", NameError::Control),
            ("a\nb", NameError::Control),
            ("a\rb", NameError::Control),
            ("a\u{7f}", NameError::Control),
            ("rechnung\u{202E}fdp.exe", NameError::Control),
            ("Bescheid\u{200B}.pdf", NameError::Control),
            ("a\u{200D}b", NameError::Control),
            ("a\u{200E}b", NameError::Control),
            ("a\u{2060}b", NameError::Control),
            ("\u{FEFF}Bescheid.pdf", NameError::Control),
            ("name.", NameError::TrailingDotOrSpace),
            ("name ", NameError::TrailingDotOrSpace),
            (" name", NameError::LeadingSpace),
            ("a:b", NameError::WindowsChar),
            ("CON", NameError::Reserved),
            ("nul.txt", NameError::Reserved),
        ];
        for (raw, want) in cases {
            assert_eq!(NodeName::parse(raw), Err(*want), "input {raw:?}");
        }
        assert_eq!(NodeName::parse(&"x".repeat(256)), Err(NameError::TooLong));
        assert!(NodeName::parse(&"x".repeat(255)).is_ok());
        // 128 two-byte characters are 256 bytes.
        assert_eq!(NodeName::parse(&"ä".repeat(128)), Err(NameError::TooLong));
    }

    #[test]
    fn key_is_case_insensitive_and_normalised() {
        let a = NodeName::parse("Bericht.PDF").expect("valid");
        let b = NodeName::parse("bericht.pdf").expect("valid");
        assert_eq!(a.key(), b.key());
        let c = NodeName::parse("A\u{0308}nderung").expect("valid");
        let d = NodeName::parse("änderung").expect("valid");
        assert_eq!(c.key(), d.key());
        assert_ne!(NodeName::parse("Ärger").expect("valid").key(), "arger");
    }
}
