//! Parsing of the request headers WebDAV and the ownCloud clients use. Each parser is strict
//! about syntax (a malformed header is a 400, not silently ignored) but lenient about harmless
//! variations (case, whitespace, weak ETags).

use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;

use crate::backend::ClaimedChecksum;
use crate::error::DavError;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, DavError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| DavError::bad_request(format!("Ungültiger Header {name}."))),
    }
}

/// The `Depth` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Zero,
    One,
    Infinity,
}

/// `Depth`, `None` when absent.
pub fn depth(headers: &HeaderMap) -> Result<Option<Depth>, DavError> {
    match header_str(headers, "depth")? {
        None => Ok(None),
        Some("0") => Ok(Some(Depth::Zero)),
        Some("1") => Ok(Some(Depth::One)),
        Some(v) if v.eq_ignore_ascii_case("infinity") => Ok(Some(Depth::Infinity)),
        Some(_) => Err(DavError::bad_request("Ungültiger Depth-Header.")),
    }
}

/// `Overwrite: T|F`, default T (RFC 4918 §10.6).
pub fn overwrite(headers: &HeaderMap) -> Result<bool, DavError> {
    match header_str(headers, "overwrite")? {
        None => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("t") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("f") => Ok(false),
        Some(_) => Err(DavError::bad_request("Ungültiger Overwrite-Header.")),
    }
}

/// Splits a `Destination` (or `If` resource tag) into its still-encoded path. An absolute URL must
/// name the host the request was sent to, else 502 (RFC 4918 §9.9.4: another server).
pub fn uri_path<'a>(raw: &'a str, request_host: Option<&str>) -> Result<&'a str, DavError> {
    let path = if raw.starts_with('/') {
        raw
    } else {
        let rest = raw
            .strip_prefix("http://")
            .or_else(|| raw.strip_prefix("https://"))
            .or_else(|| raw.strip_prefix("HTTP://"))
            .or_else(|| raw.strip_prefix("HTTPS://"))
            .ok_or_else(|| DavError::bad_request("Ungültiges Ziel (Destination)."))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        // Userinfo is never legitimate here.
        if authority.contains('@') {
            return Err(DavError::bad_request("Ungültiges Ziel (Destination)."));
        }
        let same = request_host.is_some_and(|h| same_authority(h, authority));
        if !same {
            return Err(DavError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "Das Ziel liegt auf einem anderen Server.",
            ));
        }
        path
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Ok(&path[..end])
}

/// Compares host[:port] case-insensitively, treating a missing port as equal to any default.
fn same_authority(a: &str, b: &str) -> bool {
    fn split(s: &str) -> (String, Option<&str>) {
        // IPv6 literals contain colons; the port follows the closing bracket.
        if let Some(end) = s.find(']') {
            let host = s[..=end].to_ascii_lowercase();
            let port = s[end + 1..].strip_prefix(':');
            return (host, port);
        }
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (s.to_ascii_lowercase(), None),
        }
    }
    let (ha, pa) = split(a);
    let (hb, pb) = split(b);
    ha == hb && (pa == pb || pa.is_none() || pb.is_none())
}

/// `Destination`, still percent-encoded, as a path.
pub fn destination<'a>(
    headers: &'a HeaderMap,
    request_host: Option<&str>,
) -> Result<Option<&'a str>, DavError> {
    match header_str(headers, "destination")? {
        None => Ok(None),
        Some(raw) => uri_path(raw, request_host).map(Some),
    }
}

/// Longest lock timeout granted. Locks must not outlive a forgotten client for ever, since they
/// block other users; clients refresh well before this.
pub const MAX_LOCK_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
/// Timeout when the client asks for none.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(3600);

/// `Timeout: Second-N, Infinite`: the first value we understand, capped at [`MAX_LOCK_TIMEOUT`].
pub fn timeout(headers: &HeaderMap) -> Result<Duration, DavError> {
    let Some(v) = header_str(headers, "timeout")? else {
        return Ok(DEFAULT_LOCK_TIMEOUT);
    };
    for part in v.split(',') {
        let part = part.trim();
        if part.eq_ignore_ascii_case("infinite") {
            return Ok(MAX_LOCK_TIMEOUT);
        }
        if let Some(n) = part
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("second-"))
            .and_then(|_| part[7..].parse::<u64>().ok())
        {
            return Ok(Duration::from_secs(n).min(MAX_LOCK_TIMEOUT));
        }
    }
    Ok(DEFAULT_LOCK_TIMEOUT)
}

/// `X-OC-Mtime: <unix seconds>` (ownCloud sends an integer; fractions are accepted and cut).
pub fn oc_mtime(headers: &HeaderMap) -> Result<Option<SystemTime>, DavError> {
    let Some(v) = header_str(headers, "x-oc-mtime")? else {
        return Ok(None);
    };
    parse_unix_time(v)
        .map(Some)
        .ok_or_else(|| DavError::bad_request("Ungültiger X-OC-Mtime-Header."))
}

/// Unix seconds, possibly negative or fractional.
pub fn parse_unix_time(v: &str) -> Option<SystemTime> {
    let secs: f64 = v.trim().parse().ok()?;
    if !secs.is_finite() || secs.abs() > 1e11 {
        return None;
    }
    let whole = secs.trunc() as i64;
    if whole >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(whole.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(whole.unsigned_abs()))
    }
}

/// `OC-Checksum: SHA1:<hex>`. The clients send one `TYPE:value` pair.
pub fn oc_checksum(headers: &HeaderMap) -> Result<Option<ClaimedChecksum>, DavError> {
    let Some(v) = header_str(headers, "oc-checksum")? else {
        return Ok(None);
    };
    let first = v.split_whitespace().next().unwrap_or("");
    let (alg, value) = first
        .split_once(':')
        .filter(|(a, h)| !a.is_empty() && !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| DavError::bad_request("Ungültiger OC-Checksum-Header."))?;
    Ok(Some(ClaimedChecksum {
        algorithm: alg.to_ascii_uppercase().replace('-', ""),
        value: value.to_ascii_lowercase(),
    }))
}

fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, DavError> {
    match header_str(headers, name)? {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| DavError::bad_request(format!("Ungültiger {name}-Header."))),
    }
}

/// `Content-Length`.
pub fn content_length(headers: &HeaderMap) -> Result<Option<u64>, DavError> {
    number(headers, "content-length")
}

/// `OC-Total-Length`: the whole file's size, sent with plain PUTs, chunks and the final MOVE.
pub fn oc_total_length(headers: &HeaderMap) -> Result<Option<u64>, DavError> {
    number(headers, "oc-total-length")
}

/// The outcome of a `Range` header against a known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything (also for multi-range requests, which RFC 9110 allows
    /// us to ignore).
    Full,
    /// One satisfiable range, `start..end` (end exclusive).
    Partial(Range<u64>),
    /// 416.
    Unsatisfiable,
}

/// `Range: bytes=a-b | a- | -n` against a representation of `size` bytes.
pub fn range(headers: &HeaderMap, size: u64) -> RangeRequest {
    let Some(v) = headers.get("range").and_then(|v| v.to_str().ok()) else {
        return RangeRequest::Full;
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix range: the last n bytes.
        let Ok(n) = b.parse::<u64>() else {
            return RangeRequest::Full;
        };
        if n == 0 || size == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Partial(size.saturating_sub(n)..size);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeRequest::Full;
    };
    let end = if b.is_empty() {
        size
    } else {
        match b.parse::<u64>() {
            Ok(last) if last >= start => last.saturating_add(1).min(size),
            _ => return RangeRequest::Full,
        }
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial(start..end)
}

/// An entity tag list from `If-Match` / `If-None-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagList {
    Any,
    /// Opaque tags, unquoted, `W/` stripped (the clients and proxies weaken tags freely).
    Tags(Vec<String>),
}

impl EtagList {
    pub fn matches(&self, etag: &str) -> bool {
        match self {
            EtagList::Any => true,
            EtagList::Tags(tags) => tags.iter().any(|t| t == etag),
        }
    }
}

/// Strips `W/`, quotes and the `-gzip` suffix proxies append.
pub fn normalize_etag(raw: &str) -> String {
    let t = raw.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    let t = t.trim_matches('"');
    t.strip_suffix("-gzip").unwrap_or(t).to_owned()
}

/// `If-Match` / `If-None-Match`.
pub fn etag_list(headers: &HeaderMap, name: &str) -> Result<Option<EtagList>, DavError> {
    let Some(v) = header_str(headers, name)? else {
        return Ok(None);
    };
    if v == "*" {
        return Ok(Some(EtagList::Any));
    }
    let tags: Vec<String> = v
        .split(',')
        .map(normalize_etag)
        .filter(|t| !t.is_empty())
        .collect();
    Ok(Some(EtagList::Tags(tags)))
}

/// `Lock-Token: <opaquelocktoken:…>`.
pub fn lock_token(headers: &HeaderMap) -> Result<Option<String>, DavError> {
    let Some(v) = header_str(headers, "lock-token")? else {
        return Ok(None);
    };
    v.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .map(|s| Some(s.trim().to_owned()))
        .ok_or_else(|| DavError::bad_request("Ungültiger Lock-Token-Header."))
}

/// One condition of an `If` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub not: bool,
    pub kind: ConditionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionKind {
    /// A state token (lock token or any other URI such as `DAV:no-lock`).
    Token(String),
    /// An entity tag, normalised like [`normalize_etag`].
    Etag(String),
}

/// One parenthesised list, optionally tagged with a resource (still-encoded URI or path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfList {
    pub resource: Option<String>,
    pub conditions: Vec<Condition>,
}

/// The parsed `If` header (RFC 4918 §10.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfHeader {
    pub lists: Vec<IfList>,
}

impl IfHeader {
    /// State tokens the client submitted in non-negated conditions: these are the lock tokens it
    /// claims to hold.
    pub fn submitted_tokens(&self) -> impl Iterator<Item = &str> {
        self.lists.iter().flat_map(|l| {
            l.conditions.iter().filter_map(|c| match &c.kind {
                ConditionKind::Token(t) if !c.not => Some(t.as_str()),
                _ => None,
            })
        })
    }
}

/// Parses the `If` header; `None` when absent.
pub fn if_header(headers: &HeaderMap) -> Result<Option<IfHeader>, DavError> {
    let Some(v) = header_str(headers, "if")? else {
        return Ok(None);
    };
    parse_if(v).map(Some)
}

fn bad_if() -> DavError {
    DavError::bad_request("Ungültiger If-Header.")
}

pub(crate) fn parse_if(v: &str) -> Result<IfHeader, DavError> {
    let mut out = IfHeader::default();
    let mut rest = v.trim_start();
    let mut resource: Option<String> = None;
    let mut tagged: Option<bool> = None;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('<') {
            // A resource tag: only valid before lists, and then all lists must be tagged.
            let end = r.find('>').ok_or_else(bad_if)?;
            if tagged == Some(false) {
                return Err(bad_if());
            }
            tagged = Some(true);
            resource = Some(r[..end].trim().to_owned());
            rest = r[end + 1..].trim_start();
            if !rest.starts_with('(') {
                return Err(bad_if());
            }
        } else if let Some(r) = rest.strip_prefix('(') {
            if tagged.is_none() {
                tagged = Some(false);
            }
            let (conditions, after) = parse_list(r)?;
            out.lists.push(IfList {
                resource: resource.clone(),
                conditions,
            });
            rest = after.trim_start();
        } else {
            return Err(bad_if());
        }
    }
    if out.lists.is_empty() {
        return Err(bad_if());
    }
    Ok(out)
}

fn parse_list(mut s: &str) -> Result<(Vec<Condition>, &str), DavError> {
    let mut conds = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix(')') {
            if conds.is_empty() {
                return Err(bad_if());
            }
            return Ok((conds, r));
        }
        let mut not = false;
        // Compared as bytes: the third byte may fall inside a multi-byte character.
        if s.as_bytes()
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"not"))
        {
            not = true;
            // The three bytes are ASCII, so the slice starts on a character boundary.
            s = s.get(3..).unwrap_or_default().trim_start();
        }
        if let Some(r) = s.strip_prefix('<') {
            let end = r.find('>').ok_or_else(bad_if)?;
            conds.push(Condition {
                not,
                kind: ConditionKind::Token(r[..end].trim().to_owned()),
            });
            s = &r[end + 1..];
        } else if let Some(r) = s.strip_prefix('[') {
            // The tag is quoted and may itself contain `]`; find the closing quote first.
            let close_quote = r
                .find('"')
                .and_then(|q| r[q + 1..].find('"').map(|e| q + 1 + e));
            let search_from = close_quote.unwrap_or(0);
            let end = r[search_from..]
                .find(']')
                .map(|e| search_from + e)
                .ok_or_else(bad_if)?;
            conds.push(Condition {
                not,
                kind: ConditionKind::Etag(normalize_etag(&r[..end])),
            });
            s = &r[end + 1..];
        } else {
            return Err(bad_if());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(name: &'static str, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, HeaderValue::from_str(v).expect("header"));
        m
    }

    #[test]
    fn depth_and_overwrite() {
        assert_eq!(
            depth(&h("depth", "Infinity")).ok(),
            Some(Some(Depth::Infinity))
        );
        assert!(depth(&h("depth", "2")).is_err());
        assert_eq!(depth(&HeaderMap::new()).ok(), Some(None));
        assert!(!overwrite(&h("overwrite", "F")).expect("ok"));
        assert!(overwrite(&HeaderMap::new()).expect("ok"));
        assert!(overwrite(&h("overwrite", "x")).is_err());
    }

    #[test]
    fn destination_forms() {
        assert_eq!(uri_path("/a/b%20c", Some("h")).ok(), Some("/a/b%20c"));
        assert_eq!(uri_path("http://H:80/a?q", Some("h:80")).ok(), Some("/a"));
        assert_eq!(uri_path("https://h/a", Some("h:443")).ok(), Some("/a"));
        let e = uri_path("http://evil/a", Some("h")).expect_err("other host");
        assert_eq!(e.status(), 502);
        assert!(uri_path("http://u@h/a", Some("h")).is_err());
        assert!(uri_path("ftp://h/a", Some("h")).is_err());
    }

    #[test]
    fn ranges() {
        let r = |v: &str, size| range(&h("range", v), size);
        assert_eq!(r("bytes=0-9", 100), RangeRequest::Partial(0..10));
        assert_eq!(r("bytes=90-", 100), RangeRequest::Partial(90..100));
        assert_eq!(r("bytes=-10", 100), RangeRequest::Partial(90..100));
        assert_eq!(r("bytes=50-500", 100), RangeRequest::Partial(50..100));
        assert_eq!(r("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(r("bytes=0-1,5-6", 100), RangeRequest::Full);
        assert_eq!(r("items=0-1", 100), RangeRequest::Full);
        assert_eq!(r("bytes=5-1", 100), RangeRequest::Full);
    }

    #[test]
    fn oc_headers() {
        let c = oc_checksum(&h("oc-checksum", "SHA1:ABCdef"))
            .expect("ok")
            .expect("some");
        assert_eq!((c.algorithm.as_str(), c.value.as_str()), ("SHA1", "abcdef"));
        assert!(oc_checksum(&h("oc-checksum", "garbage")).is_err());
        let t = oc_mtime(&h("x-oc-mtime", "1700000000"))
            .expect("ok")
            .expect("some");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).ok(),
            Some(1_700_000_000)
        );
        assert!(oc_mtime(&h("x-oc-mtime", "soon")).is_err());
        assert_eq!(
            timeout(&h("timeout", "Second-60")).ok(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            timeout(&h("timeout", "Infinite, Second-4100000000")).ok(),
            Some(MAX_LOCK_TIMEOUT)
        );
    }

    #[test]
    fn if_header_forms() {
        let x =
            parse_if("(<opaquelocktoken:a> [\"e1\"]) (Not <DAV:no-lock> [W/\"e]2\"])").expect("ok");
        assert_eq!(x.lists.len(), 2);
        assert_eq!(
            x.lists[1].conditions[0],
            Condition {
                not: true,
                kind: ConditionKind::Token("DAV:no-lock".into())
            }
        );
        assert_eq!(
            x.lists[1].conditions[1].kind,
            ConditionKind::Etag("e]2".into())
        );
        assert_eq!(
            x.submitted_tokens().collect::<Vec<_>>(),
            vec!["opaquelocktoken:a"]
        );
        let t = parse_if("<http://h/a> (<t1>) </b> (Not <t2>)").expect("ok");
        assert_eq!(t.lists[0].resource.as_deref(), Some("http://h/a"));
        assert_eq!(t.lists[1].resource.as_deref(), Some("/b"));
        for bad in ["", "(", "()", "(<a>) <http://x> (<b>)", "junk", "(<a>"] {
            assert!(parse_if(bad).is_err(), "{bad}");
        }
    }

    /// Regression: the `Not` check sliced the first three bytes as a `str`, which panics when
    /// the third byte falls inside a multi-byte character.
    #[test]
    fn if_header_with_a_multibyte_character_at_the_not_check() {
        for bad in ["(noé)", "(<a>) (NOé <b>)", "(n€)", "(x𝄞)", "(Notä<a>)"] {
            assert!(parse_if(bad).is_err(), "{bad}");
        }
        let x = parse_if("(Not<ä>)").expect("ok");
        assert_eq!(
            x.lists[0].conditions[0],
            Condition {
                not: true,
                kind: ConditionKind::Token("ä".into())
            }
        );
    }

    proptest::proptest! {
        /// `If` syntax around multi-byte characters: refused or parsed, never a panic.
        #[test]
        fn if_header_never_panics_on_non_ascii(v in "[(<>\\[\\]\" NnOoTtaé€𝄞]{0,16}") {
            let _ = parse_if(&v);
        }
    }
}
