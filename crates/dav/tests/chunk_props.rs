//! Property tests for the chunked-upload names: the chunk ordering (`chunking::chunk_order`),
//! chunking-NG session and chunk names, and chunking-v1 `name-chunking-<transfer>-<count>-<index>`
//! names, the last two through the engine (in-memory backend).
//!
//! They prove, over 10,000 generated inputs per property:
//! * `chunk_order` never panics and is a total order on any strings (antisymmetric,
//!   transitive, `Equal` only for equal names);
//! * ordering is numeric: names with leading numbers of any length and any zero padding,
//!   with or without a `-end` or other suffix, sort by the number's value, and names without
//!   a number sort after them;
//! * chunking NG: a session or chunk name is accepted exactly when it is 1–128 characters of
//!   `A-Za-z0-9-_.` not starting with a dot (`.file` only as the assembly target), anything
//!   else is a 400 (never a 5xx); generated uploads — byte-offset names, index names padded or
//!   not, rclone's `start-end` names — sent in a random order assemble into exactly the
//!   original file, and a wrong `OC-Total-Length` is refused;
//! * chunking v1: any name sent with `OC-Chunked` is answered without a 5xx, and one that is not
//!   a chunk name is stored under exactly that name; generated chunk names (any base name,
//!   transfer id, count and index) sent in a random order assemble into exactly the original
//!   file, answered with an ETag only for the request that completes it, and a count of 0 or an
//!   index past the count is refused.
//!
//! Three bugs found by these properties are kept as regression tests at the end: v1 sessions
//! keyed without their target file (and in the key space of NG sessions), a session named
//! `.file`, and a `+` accepted before v1 numbers.
//!
//! Regression files (if proptest ever finds a failure) are written next to this file as
//! `chunk_props.proptest-regressions`.

mod common;

use std::cmp::Ordering;

use amtsbote_dav::chunking::chunk_order;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngAlgorithm};

use common::FILES;

thread_local! {
    /// Files the v1 name property stored, by encoded path.
    static STORED: std::cell::RefCell<std::collections::HashSet<String>> = Default::default();
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

/// A string strategy from a regular expression, parsed once.
fn re(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).expect("valid regex")
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Chunk-like names: digits, dashes, letters, padding, and the odd character.
fn chunk_like() -> impl Strategy<Value = String> {
    prop_oneof![
        re("[0-9]{0,20}(-[0-9]{0,20})?[a-z.]{0,3}"),
        re("0{0,18}[0-9]{1,3}"),
        any::<String>(),
    ]
}

/// The leading decimal number of a name, as (digits without leading zeros), if any.
fn lead(s: &str) -> Option<&str> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (end > 0).then(|| s[..end].trim_start_matches('0'))
}

/// Compares two decimal numbers written without leading zeros.
fn cmp_decimal(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// What the NG name rule accepts.
fn ng_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn ng_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => re("[A-Za-z0-9._-]{0,12}"),
        1 => re("[A-Za-z0-9._-]{120,132}"),
        1 => prop::sample::select(vec![".file", ".", "..", ".x", "a/b", "ä", "a b", "-", "_", "0", "a.b", "%"]).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
    // The empty name is the collection itself, and `/` a separator, not a name.
    .prop_filter("a path segment", |s| !s.is_empty() && !s.contains('/'))
}

/// How the chunks of an NG upload are named.
#[derive(Debug, Clone, Copy)]
enum Naming {
    /// ownCloud: the byte offset, zero-padded to 16 digits.
    Offsets,
    /// Nextcloud: the index, padded or not, mixed.
    Indexes,
    /// rclone: `start-end`, 15-digit padding.
    StartEnd,
}

fn ng_chunk_names(sizes: &[usize], naming: Naming, pad: &[bool]) -> Vec<String> {
    let mut offset = 0usize;
    sizes
        .iter()
        .enumerate()
        .map(|(i, len)| {
            let name = match naming {
                Naming::Offsets => format!("{offset:016}"),
                Naming::Indexes if pad[i] => format!("{:016}", i + 1),
                Naming::Indexes => format!("{}", i + 1),
                Naming::StartEnd => format!("{offset:015}-{:015}", offset + len),
            };
            offset += len;
            name
        })
        .collect()
}

/// What the v1 rule makes of a file name: (base, transfer, count, index) if it is a chunk
/// name. Written from the documented form, with digits only in the numbers.
fn v1_model(name: &str) -> Option<(String, String, u64, u64)> {
    let pos = name.rfind("-chunking-")?;
    let base = &name[..pos];
    let parts: Vec<&str> = name[pos + "-chunking-".len()..].split('-').collect();
    let [transfer, count, index] = parts[..] else {
        return None;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if base.is_empty() || !digits(transfer) || !digits(count) || !digits(index) {
        return None;
    }
    Some((
        base.to_owned(),
        transfer.to_owned(),
        count.parse().ok()?,
        index.parse().ok()?,
    ))
}

/// A file name as a client may send it: a v1 chunk name, something close to one, or any name.
fn v1_name() -> impl Strategy<Value = String> {
    let base = re("[a-zA-Z0-9 ._ä-]{1,12}")
        .prop_filter("a name", |b| b != "." && b != "..")
        .boxed();
    prop_oneof![
        (base.clone(), re("[0-9]{1,6}"), 0u64..12, 0u64..12)
            .prop_map(|(b, t, c, i)| format!("{b}-chunking-{t}-{c}-{i}")),
        // Near misses.
        (
            base,
            re("[0-9a-z+]{0,4}"),
            re("[0-9+-]{0,4}"),
            re("[0-9+-]{0,4}")
        )
            .prop_map(|(b, t, c, i)| format!("{b}-chunking-{t}-{c}-{i}")),
        re("[a-z]{0,3}(-chunking-){0,2}[0-9-]{0,8}"),
        any::<String>(),
    ]
    .prop_filter("a path segment", |s| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && !s.contains('/')
            && !s.chars().any(char::is_control)
            && s.len() <= 255
    })
}

proptest! {
    #![proptest_config(config())]

    /// `chunk_order` is a total order on any names.
    #[test]
    fn chunk_order_is_a_total_order(a in chunk_like(), b in chunk_like(), c in chunk_like()) {
        let ab = chunk_order(&a, &b);
        prop_assert_eq!(ab, chunk_order(&b, &a).reverse());
        prop_assert_eq!(ab == Ordering::Equal, a == b);
        prop_assert_eq!(chunk_order(&a, &a), Ordering::Equal);
        let bc = chunk_order(&b, &c);
        if ab != Ordering::Greater && bc != Ordering::Greater {
            prop_assert_ne!(chunk_order(&a, &c), Ordering::Greater, "{:?} {:?} {:?}", a, b, c);
        }
    }

    /// Sorted by `chunk_order`, names come in the order of their leading number's value, the
    /// ones without a number last.
    #[test]
    fn chunk_order_is_numeric(
        names in prop::collection::vec(
            prop_oneof![
                3 => (any::<u64>(), 0usize..20, re("(-[0-9]{1,20})?")).prop_map(|(n, pad, tail)| format!("{n:0pad$}{tail}")),
                1 => (re("[1-9][0-9]{20,40}"), 0usize..4).prop_map(|(n, zeros)| format!("{}{n}", "0".repeat(zeros))),
                1 => re("[a-z.-][a-z0-9.-]{0,6}"),
            ],
            0..12,
        ),
    ) {
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| chunk_order(a, b));
        for w in sorted.windows(2) {
            match (lead(&w[0]), lead(&w[1])) {
                (Some(x), Some(y)) => prop_assert_ne!(cmp_decimal(x, y), Ordering::Greater, "{:?}", sorted),
                (None, Some(_)) => prop_assert!(false, "a name without a number before one with: {:?}", sorted),
                _ => {}
            }
        }
        // The u64 ones agree with integer order.
        let nums: Vec<u128> = sorted
            .iter()
            .filter_map(|s| lead(s).map(|d| if d.is_empty() { "0" } else { d }))
            .filter_map(|d| d.parse().ok())
            .collect();
        prop_assert!(nums.windows(2).all(|w| w[0] <= w[1]), "{:?}", sorted);
    }

    /// Chunking NG session and chunk names: accepted exactly when the rule says so.
    #[test]
    fn ng_names_follow_the_rule(
        session in ng_name(),
        chunk in ng_name(),
    ) {
        let dav = common::shared();
        // Sessions are per engine: a name seen before on this thread answers 405 (exists).
        let r = dav.uploads("MKCOL", &format!("/{}", enc(&session)), &[], "");
        prop_assert!(r.status < 500, "{} {}", r.status, r.text());
        if ng_valid(&session) {
            prop_assert!(matches!(r.status, 201 | 405), "{:?}: {} {}", session, r.status, r.text());
        } else {
            prop_assert_eq!(r.status, 400, "{:?}: {}", session, r.text());
        }
        // A chunk, into a session that exists: a new one every 64 cases (a PUT lists the
        // session's chunks, so one session for all cases would make the run quadratic).
        let (batch, first) = common::batch(64);
        let id = format!("names{batch}");
        if first {
            prop_assert_eq!(dav.uploads("MKCOL", &format!("/{id}"), &[], "").status, 201);
        }
        let r = dav.uploads("PUT", &format!("/{id}/{}", enc(&chunk)), &[], "data");
        let want = if ng_valid(&chunk) { 201 } else if chunk == ".file" { 405 } else { 400 };
        prop_assert_eq!(r.status, want, "{:?}: {}", chunk, r.text());
    }

    /// A generated NG upload, chunks sent in a random order, assembles into the original.
    #[test]
    fn ng_uploads_assemble_in_order(
        sizes in prop::collection::vec(1usize..24, 1..4),
        naming in prop_oneof![Just(Naming::Offsets), Just(Naming::Indexes), Just(Naming::StartEnd)],
        pad in prop::collection::vec(any::<bool>(), 5),
        order in any::<u64>(),
        seed in any::<u8>(),
        wrong_total in prop::bool::weighted(0.1),
    ) {
        let dav = common::shared();
        let names = ng_chunk_names(&sizes, naming, &pad);
        let mut data = Vec::new();
        let chunks: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, n)| (0..*n).map(|j| seed.wrapping_add((i * 31 + j) as u8)).collect())
            .collect();
        chunks.iter().for_each(|c| data.extend_from_slice(c));
        let session = common::unique("7");
        let total = if wrong_total { data.len() + 1 } else { data.len() }.to_string();
        prop_assert_eq!(dav.uploads("MKCOL", &format!("/{session}"), &[("oc-total-length", &total)], "").status, 201);
        // A random permutation from the generated seed.
        let mut idx: Vec<usize> = (0..names.len()).collect();
        let mut state = order | 1;
        for i in (1..idx.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            idx.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for i in idx {
            let r = dav.uploads("PUT", &format!("/{session}/{}", names[i]), &[], chunks[i].clone());
            prop_assert_eq!(r.status, 201, "{}", r.text());
        }
        let target = common::unique("ng");
        let dest = format!("{FILES}/{target}");
        let r = dav.uploads("MOVE", &format!("/{session}/.file"), &[("destination", &dest), ("oc-total-length", &total)], "");
        if wrong_total {
            prop_assert_eq!(r.status, 400, "{}", r.text());
            prop_assert_eq!(dav.files("GET", &format!("/{target}"), &[], "").status, 404);
        } else {
            prop_assert_eq!(r.status, 201, "{:?}: {}", names, r.text());
            let got = dav.files("GET", &format!("/{target}"), &[], "");
            prop_assert_eq!(got.body, data, "{:?}", names);
        }
        if wrong_total {
            prop_assert_eq!(dav.uploads("DELETE", &format!("/{session}"), &[], "").status, 204);
        }
    }

    /// Any name PUT with `OC-Chunked`: no 5xx; not a chunk name → stored under that name.
    #[test]
    fn v1_names_never_fail_and_plain_names_stay_plain(name in v1_name()) {
        let dav = common::shared();
        // A new folder every 16 cases; what earlier cases stored there is remembered.
        let (batch, first) = common::batch(16);
        let dir = format!("v{batch}");
        if first {
            prop_assert_eq!(dav.files("MKCOL", &format!("/{dir}"), &[], "").status, 201);
        }
        let path = format!("/{dir}/{}", enc(&name));
        let r = dav.files("PUT", &path, &[("oc-chunked", "1")], "x");
        prop_assert!(r.status < 500, "{:?}: {} {}", name, r.status, r.text());
        match v1_model(&name) {
            None => {
                prop_assert!(matches!(r.status, 201 | 204), "{:?}: {} {}", name, r.status, r.text());
                prop_assert_eq!(dav.files("GET", &path, &[], "").text(), "x", "{:?}", name);
                STORED.with(|s| s.borrow_mut().insert(path.clone()));
            }
            Some((_, _, count, index)) if count == 0 || count > 10_000 || index >= count => {
                prop_assert_eq!(r.status, 400, "{:?}: {}", name, r.text());
            }
            Some((base, _, count, _)) => {
                prop_assert_eq!(r.status, 201, "{:?}: {}", name, r.text());
                // A one-chunk transfer is complete at once; otherwise nothing is visible yet.
                let base_path = format!("/{dir}/{}", enc(&base));
                let at_base = dav.files("GET", &base_path, &[], "").status;
                let stored_before = STORED.with(|s| s.borrow().contains(&base_path));
                let want = if count == 1 || stored_before { 200 } else { 404 };
                prop_assert_eq!(at_base, want, "{:?}", name);
                if count == 1 {
                    STORED.with(|s| s.borrow_mut().insert(base_path));
                }
                // The chunk itself is never stored under its own name.
                prop_assert_eq!(dav.files("GET", &path, &[], "").status, 404, "{:?}", name);
            }
        }
    }

    /// A generated v1 upload, chunks sent in a random order, assembles into the original, and
    /// only the request that completes it gets an ETag.
    #[test]
    fn v1_uploads_assemble_in_order(
        base in re("[a-zA-Z0-9 ._ä-]{0,10}[a-zA-Z0-9_ä]"),
        chunks in prop::collection::vec(re("[a-z0-9]{0,8}"), 1..4),
        order in any::<u64>(),
    ) {
        let dav = common::shared();
        let transfer = common::unique("");
        // Different files in one folder: the base names differ by a unique prefix.
        let base = format!("{}{base}", common::unique("w"));
        let count = chunks.len();
        let mut idx: Vec<usize> = (0..count).collect();
        let mut state = order | 1;
        for i in (1..count).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            idx.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for (k, i) in idx.iter().enumerate() {
            let name = format!("{base}-chunking-{transfer}-{count}-{i}");
            let r = dav.files("PUT", &format!("/{}", enc(&name)), &[("oc-chunked", "1")], chunks[*i].clone());
            prop_assert_eq!(r.status, 201, "{}", r.text());
            prop_assert_eq!(r.header("etag").is_some(), k + 1 == count, "{:?}", name);
        }
        let got = dav.files("GET", &format!("/{}", enc(&base)), &[], "");
        prop_assert_eq!(got.status, 200);
        prop_assert_eq!(got.text(), chunks.concat());
    }
}

// ------------------------------------------------------------------------------ bugs found
//
// Regression tests for the bugs these properties found, fixed since.

/// Regression: two v1 uploads that happen to use the same transfer id and chunk count — chunk 0
/// of `/a/f`, then chunk 1 of `/b/g` — are one session (`v1-<transfer>-<count>`, no target in
/// it), so the second request "completes" it and writes the chunks of both files into `/b/g`.
#[test]
fn v1_chunks_of_different_files_never_mix_regression() {
    let dav = common::shared();
    let (a, b) = (common::unique("mix"), common::unique("mix"));
    assert_eq!(dav.files("MKCOL", &format!("/{a}"), &[], "").status, 201);
    assert_eq!(dav.files("MKCOL", &format!("/{b}"), &[], "").status, 201);
    let transfer = common::unique("");
    let r = dav.files(
        "PUT",
        &format!("/{a}/f-chunking-{transfer}-2-0"),
        &[("oc-chunked", "1")],
        "AAA",
    );
    assert_eq!(r.status, 201);
    let r = dav.files(
        "PUT",
        &format!("/{b}/g-chunking-{transfer}-2-1"),
        &[("oc-chunked", "1")],
        "BBB",
    );
    assert_eq!(r.status, 201);
    assert!(
        r.header("etag").is_none(),
        "/{b}/g was completed with /{a}/f's chunk"
    );
    let g = dav.files("GET", &format!("/{b}/g"), &[], "");
    assert_eq!(g.status, 404, "/{b}/g exists with {:?}", g.text());
    // Each file completes with its own chunks.
    let r = dav.files(
        "PUT",
        &format!("/{a}/f-chunking-{transfer}-2-1"),
        &[("oc-chunked", "1")],
        "aaa",
    );
    assert!(r.header("etag").is_some(), "{}", r.text());
    let r = dav.files(
        "PUT",
        &format!("/{b}/g-chunking-{transfer}-2-0"),
        &[("oc-chunked", "1")],
        "bbb",
    );
    assert!(r.header("etag").is_some(), "{}", r.text());
    assert_eq!(
        dav.files("GET", &format!("/{a}/f"), &[], "").text(),
        "AAAaaa"
    );
    assert_eq!(
        dav.files("GET", &format!("/{b}/g"), &[], "").text(),
        "bbbBBB"
    );
}

/// Regression: v1 sessions were named `v1-<transfer>-<count>`, a valid chunking-NG session
/// name, so the NG endpoint could list, fill, delete or assemble a v1 upload, and an NG session
/// of that name would have received v1 chunks.
#[test]
fn v1_sessions_are_out_of_reach_of_chunking_ng() {
    let dav = common::Dav::new();
    let dir = common::unique("reach");
    assert_eq!(dav.files("MKCOL", &format!("/{dir}"), &[], "").status, 201);
    let transfer = common::unique("");
    let old_name = format!("/v1-{transfer}-2");
    // An NG session with the old v1 name stays apart from the v1 upload.
    assert_eq!(dav.uploads("MKCOL", &old_name, &[], "").status, 201);
    let r = dav.files(
        "PUT",
        &format!("/{dir}/f-chunking-{transfer}-2-0"),
        &[("oc-chunked", "1")],
        "12",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = dav.uploads("PROPFIND", &old_name, &[("depth", "1")], "");
    assert_eq!(r.status, 207, "{}", r.text());
    assert!(!r.text().contains("0000000000000000"), "{}", r.text());
    assert_eq!(dav.uploads("DELETE", &old_name, &[], "").status, 204);
    let r = dav.files(
        "PUT",
        &format!("/{dir}/f-chunking-{transfer}-2-1"),
        &[("oc-chunked", "1")],
        "34",
    );
    assert!(r.header("etag").is_some(), "{}", r.text());
    assert_eq!(
        dav.files("GET", &format!("/{dir}/f"), &[], "").text(),
        "1234"
    );
}

/// Regression: an NG upload session may be called `.file` (the exemption for the assembly
/// target applies in every segment), although session names must not start with a dot.
#[test]
fn ng_session_named_dot_file_regression() {
    let dav = common::Dav::new();
    let r = dav.uploads("MKCOL", "/.file", &[], "");
    assert_eq!(r.status, 400, "MKCOL /.file: {} {}", r.status, r.text());
    let r = dav.uploads("PUT", "/.file/0", &[], "abc");
    assert_eq!(r.status, 400, "PUT /.file/0: {}", r.status);
    // Elsewhere than as the chunk of a session, `.file` is a name like any other.
    assert_eq!(dav.uploads("MKCOL", "/s", &[], "").status, 201);
    assert_eq!(dav.uploads("PUT", "/s/.file/0", &[], "abc").status, 400);
    assert_eq!(dav.uploads("PUT", "/s/.file", &[], "abc").status, 405);
}

/// Regression: the v1 form is `<name>-chunking-<transfer>-<count>-<index>` with decimal
/// numbers, but count and index are read with `str::parse::<u64>`, which also takes a leading
/// `+`; so a file named `a-chunking-0-+0-0` sent with `OC-Chunked` is refused (400) instead
/// of stored under its name. Minor: only clients that send such names are affected.
#[test]
fn v1_numbers_are_digits_only_regression() {
    let dav = common::shared();
    let dir = common::unique("plus");
    assert_eq!(dav.files("MKCOL", &format!("/{dir}"), &[], "").status, 201);
    let path = format!("/{dir}/{}", enc("a-chunking-0-+0-0"));
    let r = dav.files("PUT", &path, &[("oc-chunked", "1")], "x");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(dav.files("GET", &path, &[], "").text(), "x");
}
