//! Property tests for the multipart parser behind the web upload (`multer`, as
//! `web::spaces::upload` drives it: `multer::parse_boundary` on the Content-Type, then
//! `Multipart::new` over the body stream, field after field, each file name read by
//! `web::spaces::part_file_name`).
//!
//! They prove, over 10,000 generated inputs per property:
//! * a generated `multipart/form-data` body — a random boundary of 1–70 characters from the
//!   RFC 2046 `bcharsnospace` set, announced quoted or bare in the Content-Type, a random number
//!   of parts with random field names, file names (escaped as browsers do: `"` as `%22`, CR and
//!   LF as `%0D`/`%0A`), content types, and contents that contain boundary-like lines (the
//!   boundary without its CRLF, with one dash, cut short, with one character changed, after a
//!   bare LF or CR), optionally with a preamble and an epilogue, delivered in random pieces —
//!   is read back as exactly the parts that were encoded, no more, no fewer;
//! * arbitrary bytes, and multipart-like token soup with the right boundary, delivered in random
//!   pieces, never make it panic, and what it hands out stays bounded by the input (no more
//!   fields than input bytes, no more field bytes than input bytes); arbitrary Content-Type
//!   strings never make `parse_boundary` panic.
//!
//! Two bugs found in `multer` by these properties are kept as regression tests at the end: a
//! file name ending with a backslash, which multer reads as none (`part_file_name` reads it
//! from the raw header instead), and `filename=` found inside a quoted field name (upstream,
//! not reachable through our form; kept ignored). Field names are random characters: names
//! built to contain `filename=` would only find the second of them again.
//!
//! Regression files (if proptest ever finds a failure) are written next to this file as
//! `multipart_props.proptest-regressions`.

use bytes::Bytes;
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

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
}

/// A string strategy from a regular expression, parsed once.
fn re(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).expect("valid regex")
}

/// RFC 2046 `bcharsnospace`: DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-" / "." /
/// "/" / ":" / "=" / "?".
const BCHARS: &str = "[0-9A-Za-z'()+_,\\-./:=?]";

fn boundary() -> impl Strategy<Value = String> {
    prop_oneof![
        re(&format!("{BCHARS}{{1,70}}")),
        // What browsers and curl send.
        re("-{4,27}[0-9A-Za-z]{16,24}"),
        re(&format!("{BCHARS}{{1,3}}")),
    ]
}

/// One part as encoded, and as multer must give it back.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    content: Vec<u8>,
}

/// Field and file names as browsers send them (a `"` as `%22`, CR and LF as `%0D` and `%0A`,
/// a backslash as it is, also right before the closing quote).
fn form_name() -> impl Strategy<Value = String> {
    re("[a-zA-Z0-9 _.,;=()\\[\\]{}!#$&'+@~äöü€%\\\\-]{0,16}").prop_map(|s| {
        s.replace('"', "%22")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    })
}

/// Field names: as [`form_name`], but multer reads the name itself, and a field name ending
/// with a backslash is as unreadable to it as such a file name; our form's names are fixed.
fn field_name() -> impl Strategy<Value = String> {
    form_name().prop_filter("multer reads field names", |s| !s.ends_with('\\'))
}

/// Contents: random bytes and pieces of lines that look like the boundary but are none.
fn content(b: &str) -> impl Strategy<Value = Vec<u8>> + use<> {
    let b = b.to_owned();
    let mut changed = b.clone().into_bytes();
    changed[0] = if changed[0] == b'x' { b'y' } else { b'x' };
    let changed = String::from_utf8(changed).unwrap_or_default();
    let short = &b[..b.len() - 1];
    let pieces: Vec<Vec<u8>> = vec![
        b"\r\n".to_vec(),
        b"\n".to_vec(),
        b"\r".to_vec(),
        b"--".to_vec(),
        b.clone().into_bytes(),
        format!("--{b}").into_bytes(),
        format!("--{b}--").into_bytes(),
        format!("\r\n-{b}").into_bytes(),
        format!("\r\n--{short}").into_bytes(),
        format!("\r\n--{changed}").into_bytes(),
        format!("\n--{b}").into_bytes(),
        format!("\r--{b}").into_bytes(),
        format!(" --{b}\r\n").into_bytes(),
        b"Content-Disposition: form-data; name=\"x\"\r\n\r\n".to_vec(),
    ];
    prop::collection::vec(
        prop_oneof![
            2 => prop::collection::vec(any::<u8>(), 0..24),
            1 => prop::sample::select(pieces),
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
    .prop_filter("the delimiter must not occur in a part", move |c| {
        let delim = format!("\r\n--{b}");
        !contains(c, delim.as_bytes()) && !c.starts_with(format!("--{b}").as_bytes())
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn part(b: &str) -> impl Strategy<Value = Part> + use<> {
    (
        field_name(),
        prop::option::of(form_name()),
        prop::option::of(prop::sample::select(vec![
            "text/plain",
            "application/pdf",
            "application/octet-stream",
            "image/png",
            "text/plain; charset=utf-8",
        ])),
        content(b),
    )
        .prop_map(|(name, file_name, ct, content)| Part {
            name,
            file_name,
            content_type: ct.map(str::to_owned),
            content,
        })
}

#[derive(Debug, Clone)]
struct Body {
    boundary: String,
    quoted: bool,
    parts: Vec<Part>,
    preamble: bool,
    epilogue: bool,
    /// Where the body is cut into the pieces the stream delivers.
    cuts: Vec<prop::sample::Index>,
}

fn body() -> impl Strategy<Value = Body> {
    boundary().prop_flat_map(|b| {
        (
            Just(b.clone()),
            any::<bool>(),
            prop::collection::vec(part(&b), 0..5),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
            prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        )
            .prop_map(|(boundary, quoted, parts, preamble, epilogue, cuts)| Body {
                boundary,
                quoted,
                parts,
                preamble,
                epilogue,
                cuts,
            })
    })
}

fn is_token(s: &str) -> bool {
    // RFC 2045 tspecials may not appear in a bare parameter value.
    !s.contains([
        '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=',
    ])
}

fn content_type_header(b: &Body) -> String {
    if b.quoted || !is_token(&b.boundary) {
        format!("multipart/form-data; boundary=\"{}\"", b.boundary)
    } else {
        format!("multipart/form-data; boundary={}", b.boundary)
    }
}

fn encode(b: &Body) -> Vec<u8> {
    let mut out = Vec::new();
    if b.preamble {
        out.extend_from_slice(b"This is the preamble.\r\n");
    }
    for p in &b.parts {
        out.extend_from_slice(format!("--{}\r\n", b.boundary).as_bytes());
        out.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{}\"", p.name).as_bytes(),
        );
        if let Some(f) = &p.file_name {
            out.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = &p.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{}--", b.boundary).as_bytes());
    if b.epilogue {
        out.extend_from_slice(b"\r\nThis is the epilogue.\r\n");
    } else {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Cuts `data` at the given places into the pieces a body stream delivers.
fn pieces(data: &[u8], cuts: &[prop::sample::Index]) -> Vec<Bytes> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
    at.push(0);
    at.push(data.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2)
        .map(|w| Bytes::copy_from_slice(&data[w[0]..w[1]]))
        .collect()
}

/// What multer hands out, field by field, until the end or the first error, with the file
/// name as the web upload reads it.
#[derive(Debug, PartialEq, Eq)]
struct Got {
    name: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
    content: Vec<u8>,
}

fn read_all(chunks: Vec<Bytes>, boundary: &str) -> (Vec<Got>, Option<String>) {
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<Bytes, std::io::Error>));
    let mut mp = multer::Multipart::new(stream, boundary.to_owned());
    RT.with(|rt| {
        rt.block_on(async move {
            let mut got = Vec::new();
            loop {
                let mut field = match mp.next_field().await {
                    Ok(Some(f)) => f,
                    Ok(None) => return (got, None),
                    Err(e) => return (got, Some(e.to_string())),
                };
                let mut g = Got {
                    name: field.name().map(str::to_owned),
                    file_name: amtsbote::web::spaces::part_file_name(&field),
                    content_type: field.content_type().map(ToString::to_string),
                    content: Vec::new(),
                };
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => g.content.extend_from_slice(&c),
                        Ok(None) => break,
                        Err(e) => {
                            got.push(g);
                            return (got, Some(e.to_string()));
                        }
                    }
                }
                got.push(g);
            }
        })
    })
}

fn soup(b: &str) -> Vec<Vec<u8>> {
    vec![
        format!("--{b}\r\n").into_bytes(),
        format!("\r\n--{b}\r\n").into_bytes(),
        format!("\r\n--{b}--\r\n").into_bytes(),
        format!("--{b}").into_bytes(),
        b"Content-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n".to_vec(),
        b"Content-Disposition: form-data; name=f\r\n".to_vec(),
        b"Content-Disposition: form-data; name=\"a\\\"b\"\r\n".to_vec(),
        b"Content-Type: text/plain\r\n".to_vec(),
        b"Content-Type: \xff\r\n".to_vec(),
        b"X: \r\n".to_vec(),
        b": v\r\n".to_vec(),
        b"\r\n".to_vec(),
        b"\r\n\r\n".to_vec(),
        b"\n".to_vec(),
        b"data".to_vec(),
        b"\x00\xff".to_vec(),
        vec![b'a'; 100],
    ]
}

fn hostile() -> impl Strategy<Value = (String, Vec<u8>, Vec<prop::sample::Index>)> {
    boundary().prop_flat_map(|b| {
        let soup = soup(&b);
        (
            Just(b),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..200),
                prop::collection::vec(prop::sample::select(soup), 0..16).prop_map(|v| v.concat()),
            ],
            prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        )
    })
}

proptest! {
    #![proptest_config(config())]

    /// A generated body reads back as exactly the parts that were encoded.
    #[test]
    fn generated_bodies_round_trip(b in body()) {
        let ct = content_type_header(&b);
        let parsed = multer::parse_boundary(&ct);
        prop_assert_eq!(parsed.as_deref().ok(), Some(b.boundary.as_str()), "{}", ct);
        let data = encode(&b);
        let (got, err) = read_all(pieces(&data, &b.cuts), &b.boundary);
        prop_assert_eq!(err, None, "body: {:?}", String::from_utf8_lossy(&data));
        let want: Vec<Got> = b
            .parts
            .iter()
            .map(|p| Got {
                name: Some(p.name.clone()),
                file_name: p.file_name.clone(),
                content_type: p.content_type.clone(),
                content: p.content.clone(),
            })
            .collect();
        prop_assert_eq!(got, want, "body: {:?}", String::from_utf8_lossy(&data));
    }

    /// Arbitrary and multipart-like bodies never make the parser panic, and what it hands
    /// out is bounded by the input.
    #[test]
    fn hostile_bodies_never_panic_and_stay_bounded((b, data, cuts) in hostile()) {
        let (got, _) = read_all(pieces(&data, &cuts), &b);
        prop_assert!(got.len() <= data.len(), "{} fields from {} bytes", got.len(), data.len());
        let bytes: usize = got.iter().map(|g| g.content.len()).sum();
        prop_assert!(bytes <= data.len(), "{} field bytes from {} bytes", bytes, data.len());
    }

    /// `parse_boundary` never panics on any Content-Type string.
    #[test]
    fn parse_boundary_never_panics(
        ct in prop_oneof![
            any::<String>(),
            (re("[a-z/-]{0,24}"), re("[ -~]{0,40}")).prop_map(|(t, p)| format!("{t}; boundary={p}")),
            re("multipart/form-data;( ?[a-z]{0,9}=(\"[ -~]{0,20}\"|[!-~]{0,20});?){0,3}"),
        ],
    ) {
        if let Ok(b) = multer::parse_boundary(&ct) {
            prop_assert!(b.len() <= ct.len());
        }
    }
}

// ------------------------------------------------------------------------------ bugs found

/// Regression: a file whose name ends with a backslash (`report\`, legal on Linux and macOS;
/// browsers send backslashes unescaped) is sent as `filename="report\"`; multer takes `\"` as
/// an escaped quote, finds no closing quote and reports no file name, and the web upload
/// skipped the file without a word. `part_file_name` now reads the name from the raw header
/// (the upload then refuses it aloud, for its backslash), and a part without any readable
/// name is refused with a message instead of skipped.
#[test]
fn trailing_backslash_in_file_name_regression() {
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"report\\\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n";
    let (got, err) = read_all(vec![Bytes::from_static(body)], "XyZ");
    assert_eq!(err, None);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name.as_deref(), Some("files"));
    assert_eq!(got[0].file_name.as_deref(), Some("report\\"));
    assert_eq!(got[0].content, b"hello");
}

/// How `disposition_file_name` reads what multer cannot (or reads wrongly).
#[test]
fn disposition_file_names() {
    use amtsbote::web::spaces::disposition_file_name as read;
    let cases: &[(&[u8], Option<&str>)] = &[
        (
            br#"form-data; name="files"; filename="report\""#,
            Some("report\\"),
        ),
        (br#"form-data; name="files"; filename="a\\""#, Some("a\\\\")),
        (
            br#"form-data; name="files"; filename="C:\x\y.pdf""#,
            Some("C:\\x\\y.pdf"),
        ),
        (
            br#"Form-Data ; name = "files" ; FILENAME = "a;b=c.txt" "#,
            Some("a;b=c.txt"),
        ),
        (
            br#"form-data; name=files; filename=plain.txt"#,
            Some("plain.txt"),
        ),
        (br#"form-data; name="files"; filename="""#, Some("")),
        (
            "form-data; name=\"files\"; filename=\"Bescheid März.pdf\"".as_bytes(),
            Some("Bescheid März.pdf"),
        ),
        // `filename=` inside a quoted value is part of that value (multer reads it as the
        // parameter: see `quoted_name_containing_filename_regression`).
        (br#"form-data; name="; filename="; filename="""#, Some("")),
        (br#"form-data; name="; filename=x""#, None),
        (br#"form-data; name="files""#, None),
        (br#"form-data; name="files"; filename*=UTF-8''a.txt"#, None),
        (
            br#"form-data; name="files"; filename="a"; filename="b""#,
            None,
        ),
        (br#"form-data; name="files"; filename="a"b"#, None),
        (br#"form-data; name="files"; filename="a"#, None),
        (br#"form-data; name="files"; filename"#, None),
        (br#"attachment; filename="a.txt""#, None),
        (b"form-data; name=\"files\"; filename=\"\xff\"", None),
    ];
    for (value, want) in cases {
        assert_eq!(
            read(value).as_deref(),
            *want,
            "{}",
            String::from_utf8_lossy(value)
        );
    }
}

/// Regression: multer looks for `name` and `filename` anywhere in the Content-Disposition
/// value, also inside a quoted string, so a field named `; filename=` reports a file name taken
/// from its own name. Not reachable through our form: `web::spaces::upload` only acts on the
/// fields `csrf` and `files`, and browsers write `name` first, so the first `filename` outside
/// a field name is the real one (file names cannot break out of their quotes: browsers send a
/// `"` as `%22`); a hand-made request could only name the file it sends itself.
#[test]
#[ignore = "multer upstream bug, not reachable: quoted strings in Content-Disposition are not \
            respected when looking for name= and filename=, but web::spaces::upload acts only \
            on the fixed fields csrf and files, whose browser-written headers multer reads right"]
fn quoted_name_containing_filename_regression() {
    let body = b"--a\r\nContent-Disposition: form-data; name=\"; filename=\"; filename=\"\"\r\n\r\n\r\n--a--\r\n";
    let (got, err) = read_all(vec![Bytes::from_static(body)], "a");
    assert_eq!(err, None);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name.as_deref(), Some("; filename="));
    assert_eq!(got[0].file_name.as_deref(), Some(""));
}
