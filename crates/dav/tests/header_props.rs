//! Property tests for the `If` and `Range` header parsers (`headers::if_header`,
//! `headers::range`).
//!
//! They prove, over 10,000 generated inputs per property:
//! * `If`: any header value (any bytes a header can carry, and If-like token soup) is parsed
//!   or refused with 400 without panicking, and what is accepted is bounded by the input (no
//!   empty list, no more conditions than input bytes, no token or tag longer than the input);
//!   a generated well-formed header — tagged or untagged lists, `Not` in any case, lock tokens,
//!   strong and weak entity tags (also with `]` inside the quotes), optional whitespace —
//!   parses to exactly the resources, lists, tokens and tags it was written from, and the
//!   submitted tokens are exactly the non-negated ones;
//! * `Range`: no header value and no size makes it panic, a partial answer is never empty and
//!   always lies within `0..size`; `bytes=a-b` gives exactly `a..b+1` when `a <= b < size`,
//!   `a..size` when `b` is past the end, 416 when `a >= size`, the whole body when `b < a`;
//!   `bytes=a-` and `bytes=-n` give the tail; several ranges give the whole body.
//!
//! Regression files (if proptest ever finds a failure) are written next to this file as
//! `header_props.proptest-regressions`.

use amtsbote_dav::headers::{
    Condition, ConditionKind, IfHeader, IfList, RangeRequest, if_header, range,
};
use axum::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngAlgorithm};

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

/// A string strategy from a regular expression, parsed once.
fn re(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).expect("valid regex")
}

/// A header map with one value, or `None` when the bytes cannot be a header value at all.
fn with_header(name: &'static str, value: &[u8]) -> Option<HeaderMap> {
    let v = HeaderValue::from_bytes(value).ok()?;
    let mut h = HeaderMap::new();
    h.insert(name, v);
    Some(h)
}

/// Any bytes; header-safe printable ASCII; and the given token soup.
fn header_bytes(tokens: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        re("[ -~\t]{0,80}").prop_map(String::into_bytes),
        prop::collection::vec(prop::sample::select(tokens), 0..24)
            .prop_map(|v| v.concat().into_bytes()),
    ]
}

// ------------------------------------------------------------------------------ If

const IF_TOKENS: &[&str] = &[
    "(",
    ")",
    "<",
    ">",
    "[",
    "]",
    "\"",
    "W/",
    "Not",
    "not",
    "NOT",
    "No",
    " ",
    "\t",
    "<opaquelocktoken:a-b>",
    "<DAV:no-lock>",
    "[\"e1\"]",
    "[W/\"e]2\"]",
    "<http://localhost/a>",
    "</b>",
    "\"x\"",
    "-gzip",
    "a",
    "ä",
];

/// One condition as written, and as it must be parsed.
#[derive(Debug, Clone)]
struct GenCond {
    not: Option<&'static str>,
    kind: GenKind,
    /// Whitespace before the condition, after `Not`, and inside `<…>` / `[…]`.
    ws: [&'static str; 3],
}

#[derive(Debug, Clone)]
enum GenKind {
    Token(String),
    Etag { weak: bool, value: String },
}

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", " ", "  ", "\t"])
}

fn gen_cond() -> impl Strategy<Value = GenCond> {
    let token = prop_oneof![
        re("opaquelocktoken:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}"),
        Just("DAV:no-lock".to_owned()),
        re("urn:uuid:[0-9a-f-]{1,36}"),
        re("[a-zA-Z][a-zA-Z0-9+.-]{0,8}:[!-=?-~]{0,30}"),
    ];
    let kind = prop_oneof![
        token.prop_map(GenKind::Token),
        // Entity tags: any printable ASCII but the quote, `]` and `[` included.
        (any::<bool>(), re("[ !#-~]{0,24}"))
            .prop_map(|(weak, value)| GenKind::Etag { weak, value }),
    ];
    (
        prop::option::of(prop::sample::select(vec!["Not", "not", "NOT", "nOt"])),
        kind,
        [ws(), ws(), ws()],
    )
        .prop_map(|(not, kind, ws)| GenCond { not, kind, ws })
}

fn write_cond(c: &GenCond, out: &mut String) {
    out.push_str(c.ws[0]);
    if let Some(n) = c.not {
        out.push_str(n);
        // `Not` needs no space before `<` or `[`, but usually has one.
        out.push_str(if c.ws[1].is_empty() { " " } else { c.ws[1] });
    }
    match &c.kind {
        GenKind::Token(t) => {
            out.push('<');
            out.push_str(c.ws[2]);
            out.push_str(t);
            out.push_str(c.ws[2]);
            out.push('>');
        }
        GenKind::Etag { weak, value } => {
            out.push('[');
            out.push_str(c.ws[2]);
            if *weak {
                out.push_str("W/");
            }
            out.push('"');
            out.push_str(value);
            out.push('"');
            out.push_str(c.ws[2]);
            out.push(']');
        }
    }
}

fn expected_cond(c: &GenCond) -> Condition {
    Condition {
        not: c.not.is_some(),
        kind: match &c.kind {
            GenKind::Token(t) => ConditionKind::Token(t.clone()),
            // The project's normalisation: quotes and `W/` dropped, a proxy's `-gzip` cut off.
            GenKind::Etag { value, .. } => {
                ConditionKind::Etag(value.strip_suffix("-gzip").unwrap_or(value).to_owned())
            }
        },
    }
}

/// A well-formed `If` header: untagged lists, or resource tags each followed by lists.
#[derive(Debug, Clone)]
struct GenIf {
    groups: Vec<(Option<String>, Vec<Vec<GenCond>>)>,
    ws: &'static str,
}

fn gen_if() -> impl Strategy<Value = GenIf> {
    let list = prop::collection::vec(gen_cond(), 1..4).boxed();
    let resource = prop_oneof![
        re("/remote\\.php/dav/files/alice(/[a-zA-Z0-9%._~-]{1,12}){0,3}"),
        re("https?://localhost(:[0-9]{1,5})?/[a-zA-Z0-9%/._~-]{0,20}"),
    ];
    prop_oneof![
        (prop::collection::vec(list.clone(), 1..4), ws()).prop_map(|(lists, ws)| GenIf {
            groups: vec![(None, lists)],
            ws
        }),
        (
            prop::collection::vec((resource, prop::collection::vec(list, 1..3)), 1..3),
            ws()
        )
            .prop_map(|(groups, ws)| GenIf {
                groups: groups.into_iter().map(|(r, l)| (Some(r), l)).collect(),
                ws,
            }),
    ]
}

fn write_if(g: &GenIf) -> String {
    let mut out = String::new();
    for (resource, lists) in &g.groups {
        if let Some(r) = resource {
            out.push_str(g.ws);
            out.push('<');
            out.push_str(r);
            out.push('>');
        }
        for list in lists {
            out.push_str(g.ws);
            out.push('(');
            for c in list {
                write_cond(c, &mut out);
            }
            out.push_str(g.ws);
            out.push(')');
        }
    }
    out
}

fn expected_if(g: &GenIf) -> IfHeader {
    IfHeader {
        lists: g
            .groups
            .iter()
            .flat_map(|(resource, lists)| {
                lists.iter().map(move |l| IfList {
                    resource: resource.clone(),
                    conditions: l.iter().map(expected_cond).collect(),
                })
            })
            .collect(),
    }
}

// ------------------------------------------------------------------------------ Range

const RANGE_TOKENS: &[&str] = &[
    "bytes=",
    "bytes",
    "=",
    "-",
    ",",
    " ",
    "0",
    "1",
    "9",
    "10",
    "+",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "items=",
    "Bytes=",
    "a",
    "\t",
];

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..200,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
}

fn range_of(v: &str, size: u64) -> RangeRequest {
    match with_header("range", v.as_bytes()) {
        Some(h) => range(&h, size),
        None => RangeRequest::Full,
    }
}

proptest! {
    #![proptest_config(config())]

    /// No header value makes the `If` parser panic; a refusal is a 400; what is accepted is
    /// non-empty and bounded by the input.
    #[test]
    fn if_header_never_panics_and_stays_bounded(raw in header_bytes(IF_TOKENS)) {
        let Some(h) = with_header("if", &raw) else { return Ok(()) };
        match if_header(&h) {
            Ok(Some(parsed)) => {
                prop_assert!(!parsed.lists.is_empty());
                let conds: usize = parsed.lists.iter().map(|l| l.conditions.len()).sum();
                prop_assert!(conds <= raw.len());
                for l in &parsed.lists {
                    prop_assert!(!l.conditions.is_empty());
                    prop_assert!(l.resource.as_ref().is_none_or(|r| r.len() <= raw.len()));
                    for c in &l.conditions {
                        let (ConditionKind::Token(t) | ConditionKind::Etag(t)) = &c.kind;
                        prop_assert!(t.len() <= raw.len());
                    }
                }
            }
            Ok(None) => prop_assert!(false, "a present header parsed as absent"),
            Err(e) => prop_assert_eq!(e.status().as_u16(), 400),
        }
    }

    /// A generated well-formed `If` header parses to exactly what it was made from.
    #[test]
    fn well_formed_if_headers_round_trip(g in gen_if()) {
        let raw = write_if(&g);
        let h = with_header("if", raw.as_bytes());
        prop_assert!(h.is_some(), "not a header value: {raw:?}");
        let parsed = if_header(&h.unwrap_or_default());
        let want = expected_if(&g);
        prop_assert_eq!(parsed.as_ref().ok().cloned().flatten(), Some(want.clone()), "header: {:?} gave {:?}", raw, parsed);
        let tokens: Vec<String> = want
            .lists
            .iter()
            .flat_map(|l| l.conditions.iter())
            .filter_map(|c| match &c.kind {
                ConditionKind::Token(t) if !c.not => Some(t.clone()),
                _ => None,
            })
            .collect();
        let got: Vec<String> = parsed
            .ok()
            .flatten()
            .map(|p| p.submitted_tokens().map(str::to_owned).collect())
            .unwrap_or_default();
        prop_assert_eq!(got, tokens);
    }

    /// No `Range` value and no size makes the parser panic, and a partial answer is a
    /// non-empty range inside the representation.
    #[test]
    fn range_never_panics_and_stays_inside(raw in header_bytes(RANGE_TOKENS), size in size()) {
        let Some(h) = with_header("range", &raw) else { return Ok(()) };
        if let RangeRequest::Partial(r) = range(&h, size) {
            prop_assert!(r.start < r.end, "empty range {:?}", r);
            prop_assert!(r.end <= size, "{:?} beyond {}", r, size);
        }
    }

    /// `bytes=a-b` (with optional whitespace) means exactly the bytes `a` to `b`, cut at the
    /// end of the representation.
    #[test]
    fn closed_ranges_are_exact(
        size in size(),
        a in size(),
        b in size(),
        spaces in [prop::sample::select(vec!["", " "]), prop::sample::select(vec!["", " "]), prop::sample::select(vec!["", " "])],
    ) {
        let v = format!("bytes={}{a}{}-{}{b}", spaces[0], spaces[1], spaces[2]);
        let got = range_of(&v, size);
        let want = if b < a {
            RangeRequest::Full
        } else if a >= size {
            RangeRequest::Unsatisfiable
        } else if b < size {
            RangeRequest::Partial(a..b + 1)
        } else {
            RangeRequest::Partial(a..size)
        };
        prop_assert_eq!(got, want, "{} of {}", v, size);
    }

    /// `bytes=a-` is the tail from `a`, `bytes=-n` the last `n` bytes, and a list of ranges
    /// is answered with the whole body.
    #[test]
    fn open_suffix_and_multiple_ranges(size in size(), a in size(), n in size(), second in size()) {
        let open = range_of(&format!("bytes={a}-"), size);
        prop_assert_eq!(open, if a >= size { RangeRequest::Unsatisfiable } else { RangeRequest::Partial(a..size) });
        let suffix = range_of(&format!("bytes=-{n}"), size);
        prop_assert_eq!(suffix, if n == 0 || size == 0 {
            RangeRequest::Unsatisfiable
        } else {
            RangeRequest::Partial(size - n.min(size)..size)
        });
        let multi = range_of(&format!("bytes={a}-{second}, -{n}"), size);
        prop_assert_eq!(multi, RangeRequest::Full);
    }
}
