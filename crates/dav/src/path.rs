//! Paths inside a mount: decoded from the request URI once, checked, and encoded again for hrefs.
//!
//! A [`DavPath`] is what the backend sees: always absolute inside the mount (`/` is the mount root),
//! percent-decoded, without `.`/`..`/empty segments. Refusing dot segments here (also when they
//! arrive percent-encoded) means no backend ever has to think about path traversal.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::DavError;

/// Characters left unencoded in hrefs: RFC 3986 unreserved plus a few sub-delims that the clients
/// handle fine. `&` and `'` are encoded anyway so hrefs never need XML escaping beyond the usual.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// Longest accepted name of one path segment, in bytes (what common file systems allow).
const MAX_SEGMENT: usize = 255;
/// Deepest accepted path; deeper requests are refused before they reach the backend.
const MAX_SEGMENTS: usize = 64;

/// A checked, decoded path inside a mount. The root is `/`; other paths never end in `/`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DavPath(String);

impl DavPath {
    /// The mount root.
    pub fn root() -> Self {
        DavPath("/".to_owned())
    }

    /// Parses a percent-encoded URI path (relative to the mount, starting with `/` or empty).
    /// Returns the path and whether it ended with `/`.
    pub fn from_uri_path(raw: &str) -> Result<(Self, bool), DavError> {
        let trailing = raw.len() > 1 && raw.ends_with('/');
        let mut segments = Vec::new();
        for seg in raw.split('/') {
            if seg.is_empty() {
                // Leading, trailing and doubled slashes carry no meaning.
                continue;
            }
            let decoded = percent_decode_str(seg)
                .decode_utf8()
                .map_err(|_| DavError::bad_request("Der Pfad ist kein gültiges UTF-8."))?;
            segments.push(decoded.into_owned());
        }
        Ok((Self::from_segments(segments)?, trailing))
    }

    /// Builds a path from decoded segments, checking each.
    pub fn from_segments<I, S>(segments: I) -> Result<Self, DavError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = String::new();
        let mut count = 0;
        for seg in segments {
            let seg = seg.as_ref();
            check_segment(seg)?;
            count += 1;
            if count > MAX_SEGMENTS {
                return Err(DavError::bad_request("Der Pfad ist zu tief verschachtelt."));
            }
            out.push('/');
            out.push_str(seg);
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(DavPath(out))
    }

    /// The decoded path, `/` for the root, `/a/b` otherwise.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The decoded segments, none for the root.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The last segment; empty for the root.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The parent path; `None` for the root.
    pub fn parent(&self) -> Option<DavPath> {
        if self.is_root() {
            return None;
        }
        let idx = self.0.rfind('/').unwrap_or(0);
        if idx == 0 {
            Some(DavPath::root())
        } else {
            Some(DavPath(self.0[..idx].to_owned()))
        }
    }

    /// A child of this path. The name is checked like any request segment.
    pub fn join(&self, name: &str) -> Result<DavPath, DavError> {
        check_segment(name)?;
        if self.is_root() {
            Ok(DavPath(format!("/{name}")))
        } else {
            Ok(DavPath(format!("{}/{name}", self.0)))
        }
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &DavPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// True when `self` lies strictly below `other`.
    pub fn is_descendant_of(&self, other: &DavPath) -> bool {
        self != other && self.starts_with(other)
    }

    /// Replaces the leading `from` (which `self` must start with) by `to`.
    pub fn rebase(&self, from: &DavPath, to: &DavPath) -> Option<DavPath> {
        if !self.starts_with(from) {
            return None;
        }
        let rest = if from.is_root() {
            &self.0[..]
        } else {
            &self.0[from.0.len()..]
        };
        if rest.is_empty() || rest == "/" {
            return Some(to.clone());
        }
        if to.is_root() {
            Some(DavPath(rest.to_owned()))
        } else {
            Some(DavPath(format!("{}{rest}", to.0)))
        }
    }

    /// The percent-encoded href of this path under an (already encoded) mount prefix;
    /// collections get a trailing slash, as the clients expect.
    pub fn href(&self, prefix: &str, collection: bool) -> String {
        let mut out = String::with_capacity(prefix.len() + self.0.len() + 8);
        out.push_str(prefix.trim_end_matches('/'));
        for seg in self.segments() {
            out.push('/');
            out.extend(utf8_percent_encode(seg, SEGMENT));
        }
        if collection || self.is_root() {
            out.push('/');
        }
        out
    }
}

fn check_segment(seg: &str) -> Result<(), DavError> {
    if seg.is_empty() || seg == "." || seg == ".." {
        return Err(DavError::bad_request(
            "Der Pfad enthält unzulässige Bestandteile („.“ oder „..“).",
        ));
    }
    if seg.contains(['/', '\0']) || seg.chars().any(char::is_control) {
        return Err(DavError::bad_request(
            "Der Pfad enthält unzulässige Zeichen.",
        ));
    }
    if seg.len() > MAX_SEGMENT {
        return Err(DavError::bad_request("Ein Name im Pfad ist zu lang."));
    }
    Ok(())
}

/// Splits a percent-encoded absolute URI path into decoded segments, for comparing a
/// `Destination` or `If` resource against a mount prefix independent of encoding.
pub(crate) fn decoded_segments(raw: &str) -> Result<Vec<String>, DavError> {
    raw.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| DavError::bad_request("Der Pfad ist kein gültiges UTF-8."))
        })
        .collect()
}

impl fmt::Display for DavPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DavPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DavPath({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::from_uri_path(s)
            .map(|(p, _)| p)
            .expect("valid path")
    }

    #[test]
    fn decodes_and_normalises() {
        let (path, slash) = DavPath::from_uri_path("/a%20b//c/").expect("valid");
        assert_eq!(path.as_str(), "/a b/c");
        assert!(slash);
        assert_eq!(p("").as_str(), "/");
        assert_eq!(p("/").as_str(), "/");
    }

    #[test]
    fn refuses_dot_segments_also_encoded() {
        for bad in [
            "/a/../b",
            "/%2e%2e/x",
            "/a/./b",
            "/a/%2E%2e",
            "/a%2fb",
            "/a%00b",
        ] {
            assert!(DavPath::from_uri_path(bad).is_err(), "{bad}");
        }
        assert!(DavPath::from_uri_path("/%ff").is_err());
    }

    #[test]
    fn parent_join_rebase() {
        let x = p("/a/b/c");
        assert_eq!(x.parent(), Some(p("/a/b")));
        assert_eq!(p("/a").parent(), Some(DavPath::root()));
        assert_eq!(DavPath::root().parent(), None);
        assert_eq!(x.name(), "c");
        assert!(x.starts_with(&p("/a")));
        assert!(!p("/ab").starts_with(&p("/a")));
        assert_eq!(x.rebase(&p("/a"), &p("/z")), Some(p("/z/b/c")));
        assert_eq!(p("/a").rebase(&p("/a"), &p("/z")), Some(p("/z")));
        assert_eq!(
            DavPath::root()
                .join("x")
                .map(|p| p.as_str().to_owned())
                .ok(),
            Some("/x".into())
        );
    }

    #[test]
    fn href_encodes() {
        assert_eq!(
            p("/a b/ä&").href("/remote.php/webdav", false),
            "/remote.php/webdav/a%20b/%C3%A4%26"
        );
        assert_eq!(p("/d").href("/m/", true), "/m/d/");
        assert_eq!(DavPath::root().href("/m", true), "/m/");
        assert_eq!(DavPath::root().href("", true), "/");
    }
}
