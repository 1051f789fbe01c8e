//! Writing XML: escaping, re-serialising client-supplied fragments (dead property values, lock
//! owners) and the multistatus skeleton.
//!
//! Fragments are written with default-namespace declarations (`<foo xmlns="urn:x">`) on their
//! top-level elements and wherever the namespace changes, and with their own prefixes for
//! namespaced attributes. That keeps a stored value self-contained: it means the same wherever
//! it is pasted later, whatever prefixes are declared around it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use super::parse::{Element, Node};

/// The predeclared `xml:` namespace.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Escapes text for element content, and drops characters XML 1.0 cannot carry at all (control
/// characters other than tab, CR and LF). A CR is written as a reference: a reader turns a raw
/// one into a newline.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// Escapes an attribute value. Tab, LF and CR are written as references too: a reader turns raw
/// ones into spaces (attribute-value normalisation).
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

fn escape_with(s: &str, attr: bool) -> Cow<'_, str> {
    let special = |c: char| {
        matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r')
            || (attr && matches!(c, '\t' | '\n'))
            || is_invalid_xml_char(c)
    };
    if !s.chars().any(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            c if is_invalid_xml_char(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_invalid_xml_char(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// Serialises the children of an element (text and elements) as a self-contained fragment.
///
/// Each top-level element declares its namespace and, as `a0`, `a1`, …, the namespaces of all
/// attributes in its subtree; below it, an element declares a namespace only where it differs
/// from its parent's. Declaring on every element instead would make a stored value grow with
/// the number of elements times the URI's length, however short the request body.
pub fn fragment(children: &[Node]) -> String {
    let mut out = String::new();
    for node in children {
        match node {
            Node::Text(t) => out.push_str(&escape(t)),
            Node::Element(e) => {
                let mut prefixes = AttrPrefixes::default();
                prefixes.collect(e);
                write_element(e, None, &prefixes, &mut out);
            }
        }
    }
    out
}

/// The attribute namespaces of one top-level element's subtree, numbered in document order.
#[derive(Default)]
struct AttrPrefixes<'a> {
    order: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
}

impl<'a> AttrPrefixes<'a> {
    fn collect(&mut self, e: &'a Element) {
        for a in &e.attrs {
            if !a.ns.is_empty() && &*a.ns != XML_NS && !self.index.contains_key(&*a.ns) {
                self.index.insert(&a.ns, self.order.len());
                self.order.push(&a.ns);
            }
        }
        for c in &e.children {
            if let Node::Element(child) = c {
                self.collect(child);
            }
        }
    }
}

/// `default_ns` is the parent's namespace, `None` for a top-level element (which also declares
/// the attribute prefixes).
fn write_element(
    e: &Element,
    default_ns: Option<&str>,
    prefixes: &AttrPrefixes<'_>,
    out: &mut String,
) {
    out.push('<');
    out.push_str(&e.name);
    if default_ns != Some(&*e.ns) {
        out.push_str(" xmlns=\"");
        out.push_str(&escape_attr(&e.ns));
        out.push('"');
    }
    if default_ns.is_none() {
        for (i, ns) in prefixes.order.iter().enumerate() {
            let _ = write!(out, " xmlns:a{i}=\"{}\"", escape_attr(ns));
        }
    }
    for a in &e.attrs {
        out.push(' ');
        if &*a.ns == XML_NS {
            out.push_str("xml:");
        } else if let Some(i) = prefixes.index.get(&*a.ns) {
            let _ = write!(out, "a{i}:");
        }
        out.push_str(&a.name);
        out.push_str("=\"");
        out.push_str(&escape_attr(&a.value));
        out.push('"');
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in &e.children {
        match c {
            Node::Text(t) => out.push_str(&escape(t)),
            Node::Element(child) => write_element(child, Some(&e.ns), prefixes, out),
        }
    }
    out.push_str("</");
    out.push_str(&e.name);
    out.push('>');
}

/// The properties of one `<d:prop>`, by (namespace, local name) with an already-serialised
/// inner fragment.
///
/// DAV:, oc: and nc: use the prefixes declared on the multistatus root, and no namespace is
/// `xmlns=""`. Any other namespace is declared on the property (`<name xmlns="urn:x">`), as
/// the clients are used to, when one property uses it; when several do, it gets a prefix
/// `x{n}` declared once on the `<d:prop>` element instead. Declaring it on every property
/// would answer a request naming many properties in one long namespace with that URI once per
/// property: an amplification of the request by the URI's length.
#[derive(Debug, Default)]
pub struct PropList {
    /// Properties already written with the root's prefixes, first in the list.
    raw: String,
    props: Vec<Prop>,
    /// The other namespaces, with how many properties use each.
    namespaces: Vec<(String, usize)>,
    by_uri: HashMap<String, usize>,
}

#[derive(Debug)]
struct Prop {
    ns: PropNs,
    name: String,
    inner: Option<String>,
}

#[derive(Debug)]
enum PropNs {
    /// A prefix declared on the multistatus root.
    Root(&'static str),
    /// No namespace.
    None,
    /// An index into `PropList::namespaces`.
    Other(usize),
}

impl PropList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Properties already written with the root's prefixes only (`d:`, `oc:`, `nc:`).
    pub fn from_xml(xml: &str) -> Self {
        PropList {
            raw: xml.to_owned(),
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty() && self.props.is_empty()
    }

    /// Adds a property element; `None` writes it empty (`<d:name/>`).
    pub fn push(&mut self, ns: &str, name: &str, inner: Option<&str>) {
        let ns = match ns {
            super::DAV => PropNs::Root("d"),
            super::OC => PropNs::Root("oc"),
            super::NC => PropNs::Root("nc"),
            "" => PropNs::None,
            _ => {
                let next = self.namespaces.len();
                let i = *self.by_uri.entry(ns.to_owned()).or_insert(next);
                if i == next {
                    self.namespaces.push((ns.to_owned(), 0));
                }
                if let Some((_, uses)) = self.namespaces.get_mut(i) {
                    *uses += 1;
                }
                PropNs::Other(i)
            }
        };
        self.props.push(Prop {
            ns,
            name: name.to_owned(),
            inner: inner.map(str::to_owned),
        });
    }

    /// Writes `<d:prop …>…</d:prop>`.
    pub fn write_to(&self, out: &mut String) {
        let shared = |i: usize| self.namespaces.get(i).filter(|(_, uses)| *uses > 1);
        out.push_str("<d:prop");
        for (i, (uri, _)) in self.namespaces.iter().enumerate() {
            if shared(i).is_some() {
                let _ = write!(out, " xmlns:x{i}=\"{}\"", escape_attr(uri));
            }
        }
        out.push('>');
        out.push_str(&self.raw);
        for p in &self.props {
            let prefix: Cow<'_, str> = match p.ns {
                PropNs::Root(prefix) => prefix.into(),
                PropNs::Other(i) if shared(i).is_some() => format!("x{i}").into(),
                PropNs::None | PropNs::Other(_) => "".into(),
            };
            out.push('<');
            if !prefix.is_empty() {
                out.push_str(&prefix);
                out.push(':');
            }
            out.push_str(&p.name);
            match p.ns {
                PropNs::None => out.push_str(" xmlns=\"\""),
                PropNs::Other(i) if prefix.is_empty() => {
                    let uri = self.namespaces.get(i).map_or("", |(uri, _)| uri.as_str());
                    out.push_str(" xmlns=\"");
                    out.push_str(&escape_attr(uri));
                    out.push('"');
                }
                _ => {}
            }
            match &p.inner {
                None => out.push_str("/>"),
                Some(inner) => {
                    out.push('>');
                    out.push_str(inner);
                    out.push_str("</");
                    if !prefix.is_empty() {
                        out.push_str(&prefix);
                        out.push(':');
                    }
                    out.push_str(&p.name);
                    out.push('>');
                }
            }
        }
        out.push_str("</d:prop>");
    }
}

/// Start of a 207 body, declaring the prefixes [`PropList`] relies on.
pub const MULTISTATUS_START: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\" xmlns:oc=\"http://owncloud.org/ns\" xmlns:nc=\"http://nextcloud.org/ns\">";
pub const MULTISTATUS_END: &str = "</d:multistatus>\n";

/// The status line used inside `<d:status>`.
pub fn status_line(status: axum::http::StatusCode) -> String {
    format!(
        "HTTP/1.1 {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_body;

    #[test]
    fn fragment_round_trips_namespaces() {
        let src = r#"<p xmlns:z="urn:z"><z:foo xmlns:b="urn:b" b:at="1&amp;2">v<bar xmlns="">x</bar></z:foo></p>"#;
        let el = parse_body(src.as_bytes()).expect("ok").expect("root");
        let frag = fragment(&el.children);
        let again = parse_body(format!("<p>{frag}</p>").as_bytes())
            .expect("ok")
            .expect("root");
        assert_eq!(el.children, again.children);
    }

    #[test]
    fn fragment_declares_namespaces_once_per_subtree() {
        let uri = format!("urn:{}", "x".repeat(100));
        let src = format!(
            r#"<p><a xmlns="{uri}" xmlns:q="{uri}">{}</a></p>"#,
            r#"<b q:c="1" q:d="2"/>"#.repeat(50)
        );
        let el = parse_body(src.as_bytes()).expect("ok").expect("root");
        let frag = fragment(&el.children);
        assert_eq!(frag.matches(uri.as_str()).count(), 2, "{frag}");
        let again = parse_body(format!("<p>{frag}</p>").as_bytes())
            .expect("ok")
            .expect("root");
        assert_eq!(el.children, again.children);
    }

    #[test]
    fn whitespace_survives_a_round_trip() {
        let src = "<p><x a=\"1&#9;2&#10;3&#13;4\">a&#13;b\nc\td</x></p>";
        let el = parse_body(src.as_bytes()).expect("ok").expect("root");
        let frag = fragment(&el.children);
        let again = parse_body(format!("<p>{frag}</p>").as_bytes())
            .expect("ok")
            .expect("root");
        assert_eq!(el.children, again.children, "{frag}");
    }

    #[test]
    fn prop_list_declares_shared_namespaces_once() {
        let mut list = PropList::new();
        list.push("urn:a", "x", None);
        list.push(crate::xml::DAV, "getetag", Some("&quot;1&quot;"));
        list.push("urn:a", "y", Some("v"));
        list.push("", "z", None);
        list.push("urn:\"b", "w", Some("<q xmlns=\"\"/>"));
        let mut out = String::new();
        list.write_to(&mut out);
        assert_eq!(
            out,
            "<d:prop xmlns:x0=\"urn:a\"><x0:x/><d:getetag>&quot;1&quot;</d:getetag><x0:y>v</x0:y><z xmlns=\"\"/><w xmlns=\"urn:&quot;b\"><q xmlns=\"\"/></w></d:prop>"
        );
        let mut out = String::new();
        PropList::from_xml("<d:resourcetype/>").write_to(&mut out);
        assert_eq!(out, "<d:prop><d:resourcetype/></d:prop>");
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\tb\nc\rd"), "a\tb\nc&#13;d");
        assert_eq!(escape_attr("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
    }
}
