//! Property tests for request paths and the `Destination` header (`headers::uri_path`,
//! `DavPath::from_uri_path`, `DavPath::href`, and COPY through the engine).
//!
//! They prove, over 10,000 generated inputs per property:
//! * `uri_path` never panics on any string and any request host, and what it returns is an
//!   absolute path (starts with `/`, no query, no fragment) taken from the input;
//! * `DavPath::from_uri_path` never panics, and an accepted path never contains an empty, `.`
//!   or `..` segment (also when they arrived percent-encoded), nor a slash, NUL or control
//!   character inside a segment, stays within 64 segments of at most 255 bytes, is never
//!   longer than its input plus the leading slash, and is exactly the percent-decoding of the
//!   input's non-empty segments;
//! * percent-encoding round-trips: generated segments (any Unicode without `/` and controls),
//!   encoded fully, minimally or as the engine's own hrefs, joined with single, doubled and
//!   trailing slashes, decode to exactly those segments, and an href decodes to its path;
//! * through the engine, a COPY whose `Destination` is built from hostile segments (`..`,
//!   `.`, `%2e%2e`, `%2f`, `%00`, invalid UTF-8, other users' mounts, other hosts, absolute
//!   URLs) never lands outside the mount: it is refused with exactly the status the rules
//!   give (502 other host, 400 bad segment, 403 outside the mount or onto the root), and when
//!   it succeeds the copy is found at the decoded path inside the mount.
//!
//! Regression files (if proptest ever finds a failure) are written next to this file as
//! `path_props.proptest-regressions`.

mod common;

use amtsbote_dav::DavPath;
use amtsbote_dav::headers::uri_path;
use percent_encoding::{
    AsciiSet, CONTROLS, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode,
};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngAlgorithm};

use common::FILES;

thread_local! {
    static FOLDER_MADE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

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

/// The least a path segment must have encoded: `%` itself, the separators, and what ends a
/// path (`?`, `#`).
const MINIMAL: &AsciiSet = &CONTROLS.add(b'%').add(b'/').add(b'?').add(b'#');

/// Pieces of paths and URLs that matter to the parsers.
const PATH_TOKENS: &[&str] = &[
    "/",
    "//",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    "%00",
    "%",
    "%z",
    "%ff",
    "%c3%a4",
    "%C3",
    "ä",
    "a",
    "b",
    "?",
    "#",
    "?q=1",
    "#f",
    "%3f",
    "%23",
    " ",
    "%20",
    "http://",
    "https://",
    "HTTP://",
    "HTTPS://",
    "ftp://",
    "localhost",
    "LOCALHOST",
    ":80",
    ":443",
    ":",
    "[::1]",
    "]",
    "@",
    "user@",
    "remote.php",
    "dav",
    "files",
    "alice",
    "\u{0}",
    "\u{7f}",
    "\u{202e}",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PATH_TOKENS), 0..16).prop_map(|v| v.concat())
}

fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![soup(), any::<String>()]
}

fn host() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        3 => prop::sample::select(vec!["localhost", "localhost:80", "LocalHost:8080", "[::1]", "[::1]:443", "h", ""])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ])
}

/// A segment a client may legitimately send: any Unicode but `/` and control characters,
/// not `.` or `..`, at most 255 bytes.
fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::char::range('a', 'z'),
            1 => prop::sample::select(vec![
                '%', '?', '#', ' ', '.', '~', '+', '&', '\'', '"', '<', '\\', ':', '@', ';', '=', 'ä',
                '€', '𝄞', '\u{202e}', '\u{fffd}',
            ]),
            1 => any::<char>(),
        ],
        1..12,
    )
    .prop_map(|v| {
        v.into_iter()
            .filter(|c| *c != '/' && !c.is_control())
            .collect::<String>()
    })
    .prop_filter("a real name", |s| !s.is_empty() && s != "." && s != ".." && s.len() <= 255)
}

/// The percent-decoded non-empty segments of a path, `None` when one is not UTF-8.
fn decode_segments(raw: &str) -> Option<Vec<String>> {
    raw.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect()
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s.contains(['/', '\0'])
        && !s.chars().any(char::is_control)
        && s.len() <= 255
}

/// Segments for a `Destination`: the mount's own, other users', the hostile, and names.
const DEST_SEGMENTS: &[&str] = &[
    "remote.php",
    "dav",
    "files",
    "alice",
    "bob",
    "uploads",
    "%61lice",
    "ALICE",
    "..",
    ".",
    "%2e%2e",
    "%2E.",
    ".%2e",
    "",
    "%2f",
    "a%2Fb",
    "%00",
    "%ff",
    "%7e",
    "x",
    "y",
    "d",
    "%64",
    "ä",
    "%C3%A4",
    "a%20b",
    "%0a",
];

#[derive(Debug, Clone)]
struct GenDest {
    origin: &'static str,
    segments: Vec<&'static str>,
    trailing_slash: bool,
    query: bool,
}

fn gen_dest() -> impl Strategy<Value = GenDest> {
    let seg = prop::sample::select(DEST_SEGMENTS);
    let tail = prop::collection::vec(seg.clone(), 0..4);
    let segments = prop_oneof![
        // The mount, then a tail: the interesting case.
        3 => tail.clone().prop_map(|t| {
            let mut v = vec!["remote.php", "dav", "files", "alice"];
            v.extend(t);
            v
        }),
        // The mount with one segment replaced.
        2 => (tail.clone(), 0usize..4, seg.clone()).prop_map(|(t, i, s)| {
            let mut v = vec!["remote.php", "dav", "files", "alice"];
            v[i] = s;
            v.extend(t);
            v
        }),
        // Anything.
        1 => prop::collection::vec(seg, 0..8),
    ];
    (
        prop::sample::select(vec![
            "",
            "",
            "http://localhost",
            "https://localhost:443",
            "HTTP://LOCALHOST",
            "http://evil.example",
            "http://user@localhost",
        ]),
        segments,
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(origin, segments, trailing_slash, query)| GenDest {
            origin,
            segments,
            trailing_slash,
            query,
        })
}

fn write_dest(d: &GenDest) -> String {
    let mut out = d.origin.to_owned();
    for s in &d.segments {
        out.push('/');
        out.push_str(s);
    }
    if d.trailing_slash || d.segments.is_empty() {
        out.push('/');
    }
    if d.query {
        out.push_str("?x=/../..");
    }
    out
}

/// What the rules say about a COPY to `d`: the refusal status, or the path inside the mount.
fn dest_model(d: &GenDest) -> Result<String, u16> {
    // A header must be visible ASCII to be read at all (raw UTF-8 is obs-text).
    if !write_dest(d).is_ascii() {
        return Err(400);
    }
    match d.origin {
        "http://evil.example" => return Err(502),
        "http://user@localhost" => return Err(400),
        _ => {}
    }
    let mut raw = String::new();
    for s in &d.segments {
        raw.push('/');
        raw.push_str(s);
    }
    let decoded = decode_segments(&raw).ok_or(400u16)?;
    let mount = ["remote.php", "dav", "files", "alice"];
    if decoded.len() < mount.len() || decoded[..mount.len()] != mount {
        return Err(403);
    }
    let rest = &decoded[mount.len()..];
    if !rest.iter().all(|s| valid_segment(s)) {
        return Err(400);
    }
    if rest.is_empty() {
        // Onto the mount's root.
        return Err(403);
    }
    Ok(format!("/{}", rest.join("/")))
}

proptest! {
    #![proptest_config(config())]

    /// `uri_path` never panics, and returns an absolute path cut out of the input.
    #[test]
    fn uri_path_never_panics(raw in any_path(), host in host()) {
        if let Ok(p) = uri_path(&raw, host.as_deref()) {
            prop_assert!(p.starts_with('/'), "{:?} from {:?}", p, raw);
            prop_assert!(!p.contains(['?', '#']));
            prop_assert!(raw.contains(p));
            if raw.starts_with('/') {
                prop_assert!(raw.starts_with(p));
            }
        }
    }

    /// An accepted path never contains anything that could climb out of the mount, stays
    /// bounded, and is exactly the decoding of the input.
    #[test]
    fn accepted_paths_never_escape(raw in any_path()) {
        let Ok((path, trailing)) = DavPath::from_uri_path(&raw) else { return Ok(()) };
        let s = path.as_str();
        prop_assert!(s.starts_with('/'));
        prop_assert!(s.len() <= raw.len() + 1, "{:?} from {:?}", s, raw);
        let segs: Vec<&str> = path.segments().collect();
        prop_assert!(segs.len() <= 64);
        for seg in &segs {
            prop_assert!(valid_segment(seg), "segment {:?} from {:?}", seg, raw);
        }
        prop_assert_eq!(path.is_root(), segs.is_empty());
        if !path.is_root() {
            prop_assert!(!s.ends_with('/') && !s.contains("//"));
        }
        prop_assert_eq!(trailing, raw.len() > 1 && raw.ends_with('/'));
        let want = decode_segments(&raw);
        prop_assert_eq!(Some(segs.iter().map(|s| s.to_string()).collect::<Vec<_>>()), want);
    }

    /// Generated segments, percent-encoded one of three ways and joined with slashes, decode
    /// to exactly themselves; the path's href decodes to the path again.
    #[test]
    fn percent_encoding_round_trips(
        segs in prop::collection::vec(segment(), 0..6),
        how in 0u8..3,
        doubled in any::<bool>(),
        trailing in any::<bool>(),
    ) {
        let encoded: Vec<String> = segs
            .iter()
            .map(|s| match how {
                0 => utf8_percent_encode(s, NON_ALPHANUMERIC).to_string(),
                1 => utf8_percent_encode(s, MINIMAL).to_string(),
                _ => DavPath::from_segments([s]).map(|p| p.href("", false)[1..].to_owned()).unwrap_or_default(),
            })
            .collect();
        let sep = if doubled { "//" } else { "/" };
        let mut raw = format!("{sep}{}", encoded.join(sep));
        if trailing {
            raw.push('/');
        }
        let parsed = DavPath::from_uri_path(&raw);
        prop_assert!(parsed.is_ok(), "{:?} refused", raw);
        let (path, _) = parsed.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(path.segments().collect::<Vec<_>>(), segs.iter().map(String::as_str).collect::<Vec<_>>());
        let href = path.href(FILES, trailing);
        let back = href.strip_prefix(FILES).map(DavPath::from_uri_path);
        prop_assert_eq!(back.and_then(Result::ok).map(|(p, _)| p), Some(path));
    }

    /// COPY to a generated Destination: refused exactly as the rules say, and when it goes
    /// through, the copy is at the decoded path inside the mount.
    #[test]
    fn destinations_never_leave_the_mount(d in gen_dest()) {
        let dav = common::shared();
        // A folder some destinations go into (`d` and its encoding `%64`), once per engine.
        if !FOLDER_MADE.with(|m| m.replace(true)) {
            prop_assert_eq!(dav.files("MKCOL", "/d", &[], "").status, 201);
        }
        let src = format!("/{}", common::unique("s"));
        let content = src.clone();
        prop_assert_eq!(dav.files("PUT", &src, &[], content.clone()).status, 201);
        let raw = write_dest(&d);
        let r = dav.files("COPY", &src, &[("destination", &raw)], "");
        match dest_model(&d) {
            Err(status) => prop_assert_eq!(r.status, status, "{} gave {} {}", raw, r.status, r.text()),
            Ok(path) => {
                // Inside the mount: created, replaced, or no parent folder.
                prop_assert!(matches!(r.status, 201 | 204 | 409), "{} gave {} {}", raw, r.status, r.text());
                if r.status != 409 {
                    let encoded: String = path
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(|s| format!("/{}", utf8_percent_encode(s, NON_ALPHANUMERIC)))
                        .collect();
                    let got = dav.files("GET", &encoded, &[], "");
                    prop_assert_eq!(got.status, 200, "{} → {}", raw, path);
                    prop_assert_eq!(got.text(), content);
                }
            }
        }
    }
}
