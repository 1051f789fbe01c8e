//! Property tests for the file and folder name rules (`NodeName::parse`).
//!
//! They prove, over 10,000 generated inputs per property, that parsing never panics on any
//! string; that an accepted name is in NFC, parses again to exactly itself, and gives the same
//! answer whether the input arrived composed or decomposed; and that an accepted name is never
//! empty, `.` or `..`, never longer than 255 bytes, and never contains a slash, a backslash, NUL,
//! a control character, a bidi override or isolate, or one of the invisible format characters
//! (U+200B–U+200F, U+2060–U+2064, U+061C, U+FEFF) — which also bounds what a name can cost.
//!
//! Regression files (if proptest ever finds a failure) are written next to this file as
//! `name_props.proptest-regressions`.

use amtsbote_core::spaces::names::{MAX_NAME_BYTES, NameError, NodeName};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngAlgorithm};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::is_nfc;

/// The one configuration of this file: 10,000 cases per property. XorShift instead of the
/// default ChaCha, which unoptimised (a debug build) would take most of the run time.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 10_000,
        max_shrink_iters: 10_000,
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Characters a name must never contain after parsing.
fn forbidden(c: char) -> bool {
    c == '/'
        || c == '\\'
        || c == '\0'
        || c.is_control()
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || ('\u{200B}'..='\u{200F}').contains(&c)
        || ('\u{2060}'..='\u{2064}').contains(&c)
        || c == '\u{061C}'
        || c == '\u{FEFF}'
}

/// The hostile and the tricky: separators, controls, bidi and invisible characters, the
/// Windows set, dots and spaces, and characters whose NFC differs from themselves.
const TRICKY: &[char] = &[
    '/',
    '\\',
    '\0',
    '\t',
    '\n',
    '\r',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{9f}',
    '\u{202A}',
    '\u{202B}',
    '\u{202C}',
    '\u{202D}',
    '\u{202E}',
    '\u{2066}',
    '\u{2067}',
    '\u{2068}',
    '\u{2069}',
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{200E}',
    '\u{200F}',
    '\u{2060}',
    '\u{2061}',
    '\u{2062}',
    '\u{2063}',
    '\u{2064}',
    '\u{061C}',
    '\u{FEFF}',
    '<',
    '>',
    ':',
    '"',
    '|',
    '?',
    '*',
    '.',
    ' ',
    '\u{00A0}',
    '\u{0308}',
    '\u{0301}',
    '\u{0338}',
    '\u{0327}',
    '\u{1100}',
    '\u{1161}',
    '\u{11A8}',
    '\u{0958}',
    '\u{2126}',
    '\u{212B}',
    '\u{F900}',
    '\u{1D15E}',
    'ä',
    'a',
    'A',
    'e',
    'o',
    'u',
    'C',
    'N',
    'L',
    'P',
    'T',
    '1',
    '9',
    '€',
    '𝄞',
];

fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(TRICKY),
        3 => prop::char::range('a', 'z'),
        2 => any::<char>(),
        1 => prop::char::range('\u{0300}', '\u{036F}'),
    ]
}

/// A mix of short random names, names built around the Windows reserved stems, and long
/// names near the 255-byte limit in one-, two-, three- and four-byte characters.
fn raw_name() -> impl Strategy<Value = String> {
    let reserved = prop::sample::select(vec![
        "CON", "prn", "Aux", "nul", "COM1", "com9", "LPT1", "lpt9", "COM0", "CONX",
    ]);
    prop_oneof![
        6 => prop::collection::vec(name_char(), 0..40).prop_map(String::from_iter),
        2 => (reserved, prop::collection::vec(name_char(), 0..6))
            .prop_map(|(stem, tail)| format!("{stem}{}", String::from_iter(tail))),
        2 => (prop::sample::select(vec!['x', 'ä', '€', '𝄞']), 230usize..=280, name_char())
            .prop_map(|(c, bytes, last)| {
                let mut s: String = std::iter::repeat_n(c, bytes / c.len_utf8()).collect();
                s.push(last);
                s
            }),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Never panics; whatever is accepted obeys every rule of a name, and is a fixed point:
    /// parsing it again gives the very same name.
    #[test]
    fn accepted_names_obey_the_rules_and_are_fixed_points(raw in raw_name()) {
        let Ok(name) = NodeName::parse(&raw) else {
            return Ok(());
        };
        let s = name.as_str();
        prop_assert!(!s.is_empty());
        prop_assert!(s != "." && s != "..");
        prop_assert!(s.len() <= MAX_NAME_BYTES, "{} bytes", s.len());
        prop_assert!(!s.chars().any(forbidden), "forbidden character in {s:?}");
        prop_assert!(!s.starts_with(' ') && !s.ends_with(' ') && !s.ends_with('.'));
        prop_assert!(!s.contains(['<', '>', ':', '"', '|', '?', '*']));
        prop_assert!(is_nfc(s), "not NFC: {s:?}");
        // The key is derived from the name alone, and is a fixed point of itself.
        prop_assert_eq!(name.key(), s.to_lowercase());
        let again = NodeName::parse(s);
        prop_assert_eq!(again.as_ref(), Ok(&name));
        prop_assert_eq!(name.to_string(), s);
    }

    /// Composed and decomposed spellings of the same text get the same verdict and, when
    /// accepted, the same (NFC) name.
    #[test]
    fn verdict_is_independent_of_normalisation_form(raw in raw_name()) {
        let as_is = NodeName::parse(&raw);
        let nfd: String = raw.nfd().collect();
        let nfc: String = raw.nfc().collect();
        prop_assert_eq!(&NodeName::parse(&nfd), &as_is);
        prop_assert_eq!(&NodeName::parse(&nfc), &as_is);
        if let Ok(name) = &as_is {
            prop_assert_eq!(name.as_str(), nfc.as_str());
        }
    }

    /// Any one forbidden character anywhere in an otherwise good name is refused.
    #[test]
    fn one_forbidden_character_is_refused(
        head in "[a-zA-Z0-9_-]{1,20}",
        tail in "[a-zA-Z0-9_-]{1,20}",
        bad in prop::sample::select(TRICKY).prop_filter("forbidden only", |c| forbidden(*c)),
        at_start in any::<bool>(),
    ) {
        let raw = if at_start { format!("{bad}{head}{tail}") } else { format!("{head}{bad}{tail}") };
        let got = NodeName::parse(&raw);
        prop_assert!(
            matches!(got, Err(NameError::Separator | NameError::Control)),
            "{raw:?} gave {got:?}"
        );
    }

    /// Length is counted in bytes of the NFC form: at most 255 bytes are accepted, the
    /// 256th byte is refused with `TooLong`.
    #[test]
    fn length_limit_is_in_bytes(
        c in prop::sample::select(vec!['x', 'ä', '€', '𝄞']),
        bytes in 1usize..=300,
    ) {
        let raw: String = std::iter::repeat_n(c, bytes.div_ceil(c.len_utf8())).collect();
        let got = NodeName::parse(&raw);
        if raw.len() <= MAX_NAME_BYTES {
            prop_assert_eq!(got.map(|n| n.as_str().len()), Ok(raw.len()));
        } else {
            prop_assert_eq!(got, Err(NameError::TooLong));
        }
    }
}
