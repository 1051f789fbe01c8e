//! A defensive XML reader for PROPFIND, PROPPATCH and LOCK bodies.
//!
//! Hostile bodies are refused before any work is done on them: a document type declaration (the
//! only way to define entities, so "billion laughs" cannot start) is a 400, references to
//! undefined entities are a 400, nesting deeper than [`MAX_DEPTH`] is a 400, and the caller caps
//! the body size (413). Namespaces are resolved, so `<D:prop xmlns:D="DAV:">` and
//! `<prop xmlns="DAV:">` are the same element: matching is on (namespace, local name), never on
//! the prefix.
//!
//! A namespace URI is declared once and used by any number of elements, so the tree shares one
//! copy of each URI per document (what it holds stays proportional to the body), and the total
//! length of the namespace names it hands out is capped by [`MAX_NAMESPACE_BYTES`] (callers copy
//! them into property names and answers).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use quick_xml::NsReader;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};

use crate::error::DavError;

/// Deepest element nesting accepted in a request body. Real clients stay below 8; litmus below 6.
pub const MAX_DEPTH: usize = 32;

/// Most bytes of namespace names (each element's and attribute's URI, counted every time it is
/// used) one document may carry. Real bodies use a few short URIs and stay far below; the cap is
/// there because property names and answers copy the URI per element: without it, a 1 MiB body
/// declaring a 512 KiB URI once and using it in 100,000 empty elements would become gigabytes.
pub const MAX_NAMESPACE_BYTES: usize = 8 * 1024 * 1024;

/// The predeclared `xml:` namespace.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// An element with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI; empty when the element is in no namespace. Shared by all elements and
    /// attributes of a document that are in the same namespace.
    pub ns: Arc<str>,
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
}

/// An attribute other than a namespace declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ns: Arc<str>,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        &*self.ns == ns && self.name == name
    }

    /// Child elements, skipping text (clients put stray text in odd places, client-protocol §2.1).
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// Concatenated text of the direct children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }
}

/// The namespace URIs of one document, each held once.
#[derive(Default)]
struct Namespaces {
    /// By the declaration's value as written (quick-xml resolves to that), so that each spelling
    /// is unescaped once.
    by_raw: HashMap<Box<str>, Arc<str>>,
    /// By the unescaped URI, so that `DAV:` and `&#x44;AV:` share one copy too.
    uris: HashSet<Arc<str>>,
    /// Namespace bytes handed out so far, counted per use (see [`MAX_NAMESPACE_BYTES`]).
    used: usize,
}

impl Namespaces {
    /// The shared URI for a namespace quick-xml resolved to `raw`, the declaration value as it
    /// stands in the document (entity and character references not yet expanded).
    fn get(&mut self, raw: &str) -> Result<Arc<str>, DavError> {
        let ns = match self.by_raw.get(raw) {
            Some(ns) => Arc::clone(ns),
            None => {
                let ns = self.intern(&unescape_uri(raw)?);
                self.by_raw.insert(raw.into(), Arc::clone(&ns));
                ns
            }
        };
        self.used += ns.len();
        if self.used > MAX_NAMESPACE_BYTES {
            return Err(bad("zu viele oder zu lange Namensraum-Angaben"));
        }
        Ok(ns)
    }

    fn intern(&mut self, uri: &str) -> Arc<str> {
        if let Some(ns) = self.uris.get(uri) {
            return Arc::clone(ns);
        }
        let ns: Arc<str> = Arc::from(uri);
        self.uris.insert(Arc::clone(&ns));
        ns
    }

    fn none(&mut self) -> Arc<str> {
        self.intern("")
    }
}

/// A declaration's value is an attribute value like any other: references are expanded and
/// whitespace normalised the same way.
fn unescape_uri(raw: &str) -> Result<String, DavError> {
    let attr = Attribute {
        key: QName("xmlns"),
        value: raw.into(),
    };
    attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .map(|v| v.into_owned())
        .map_err(|e| bad(&e.to_string()))
}

fn bad(msg: &str) -> DavError {
    DavError::bad_request(format!("Ungültiger XML-Inhalt: {msg}"))
}

/// Parses a complete request body. An empty (or whitespace-only) body yields `Ok(None)`.
pub fn parse_body(body: &[u8]) -> Result<Option<Element>, DavError> {
    let text = std::str::from_utf8(body).map_err(|_| bad("kein UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut reader = NsReader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
    }
    let mut namespaces = Namespaces::default();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| bad(&e.to_string()))?;
        // Only start tags keep a namespace; text is most events and need not look one up.
        let is_start = matches!(event, Event::Start(_) | Event::Empty(_));
        let ns = match resolved {
            ResolveResult::Unknown(prefix) => {
                return Err(bad(&format!("unbekanntes Präfix {prefix}")));
            }
            _ if !is_start => None,
            ResolveResult::Bound(ns) => Some(namespaces.get(ns.as_ref())?),
            ResolveResult::Unbound => Some(namespaces.none()),
        };
        match event {
            Event::DocType(_) => {
                return Err(bad("DOCTYPE- und ENTITY-Deklarationen sind nicht erlaubt"));
            }
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(bad("mehr als ein Wurzelelement"));
            }
            Event::Start(start) => {
                let ns = ns.unwrap_or_else(|| namespaces.none());
                let el = element(&reader, &mut namespaces, &start, ns)?;
                stack.push(el);
                if stack.len() > MAX_DEPTH {
                    return Err(bad("zu tief verschachtelt"));
                }
            }
            Event::Empty(start) => {
                let ns = ns.unwrap_or_else(|| namespaces.none());
                let el = element(&reader, &mut namespaces, &start, ns)?;
                if stack.len() + 1 > MAX_DEPTH {
                    return Err(bad("zu tief verschachtelt"));
                }
                push_child(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| bad("unerwartetes Ende"))?;
                push_child(&mut stack, &mut root, el);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content())?,
            Event::CData(c) => push_text(&mut stack, &c.xml10_content())?,
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref().map_err(|e| bad(&e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => match r.xml10_content().as_ref() {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => return Err(bad(&format!("unbekannte Entität &{other};"))),
                    },
                };
                push_text(&mut stack, &s)?;
            }
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(bad("nicht geschlossene Elemente"));
    }
    root.map(Some).ok_or_else(|| bad("kein Wurzelelement"))
}

fn push_child(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), DavError> {
    match stack.last_mut() {
        Some(parent) => {
            // Merge adjacent pieces (text, references, CDATA) into one text node.
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_owned()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(bad("Text außerhalb des Wurzelelements")),
    }
}

fn element(
    reader: &NsReader<&[u8]>,
    namespaces: &mut Namespaces,
    start: &BytesStart<'_>,
    ns: Arc<str>,
) -> Result<Element, DavError> {
    let name = start.local_name().into_inner().to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| bad(&e.to_string()))?;
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| bad(&e.to_string()))?
            .into_owned();
        let key = attr.key;
        if key.as_namespace_binding().is_some() {
            // `xmlns:p=""` is not allowed in XML Namespaces 1.0 (litmus propfind_invalid2).
            if key.prefix().is_some() && value.is_empty() {
                return Err(bad("leere Namensraum-Deklaration für ein Präfix"));
            }
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(key);
        let ans = match resolved {
            ResolveResult::Bound(n) => namespaces.get(n.as_ref())?,
            ResolveResult::Unbound => namespaces.none(),
            // `xml:` is predeclared by the XML spec.
            ResolveResult::Unknown(p) if p == "xml" => namespaces.get(XML_NS)?,
            ResolveResult::Unknown(p) => {
                return Err(bad(&format!("unbekanntes Präfix {p}")));
            }
        };
        attrs.push(Attr {
            ns: ans,
            name: local.into_inner().to_owned(),
            value,
        });
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Element, DavError> {
        parse_body(s.as_bytes()).and_then(|r| r.ok_or_else(|| bad("leer")))
    }

    #[test]
    fn namespaces_are_prefix_independent() {
        let a = parse(r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#)
            .expect("ok");
        let b = parse(r#"<propfind xmlns="DAV:"><prop><getetag/></prop>M</propfind>"#).expect("ok");
        assert!(a.is("DAV:", "propfind"));
        assert!(b.is("DAV:", "propfind"));
        let pa = a.child("DAV:", "prop").expect("prop");
        let pb = b.child("DAV:", "prop").expect("prop");
        assert_eq!(pa.elements().next(), pb.elements().next());
    }

    #[test]
    fn refuses_doctype_entities_and_bad_xml() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><propfind xmlns="DAV:">&lol2;</propfind>"#;
        let e = parse(laughs).expect_err("doctype");
        assert_eq!(e.status(), 400);
        assert!(parse(r#"<propfind xmlns="DAV:">&foo;</propfind>"#).is_err());
        assert!(parse("<foo>").is_err());
        assert!(parse("<a></b>").is_err());
        assert!(parse(r#"<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>"#).is_err());
        assert!(parse(r#"<x:a/>"#).is_err());
        assert!(parse_body(b"").expect("empty ok").is_none());
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&deep).is_err());
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn namespaces_are_shared_and_unescaped() {
        let e = parse(r#"<D:propfind xmlns:D="&#x44;AV:"><prop xmlns="DAV:" xmlns:q="urn:a&amp;b" q:x="1"/></D:propfind>"#)
            .expect("ok");
        assert!(e.is("DAV:", "propfind"));
        let prop = e.child("DAV:", "prop").expect("prop");
        // One copy per URI and document, however it is spelled.
        assert!(Arc::ptr_eq(&e.ns, &prop.ns));
        assert_eq!(&*prop.attrs[0].ns, "urn:a&b");
    }

    #[test]
    fn namespace_bytes_are_capped() {
        let uri = format!("urn:{}", "x".repeat(64 * 1024));
        let n = MAX_NAMESPACE_BYTES / uri.len() + 1;
        let body = format!("<r xmlns=\"{uri}\">{}</r>", "<a/>".repeat(n));
        let e = parse(&body).expect_err("over the cap");
        assert_eq!(e.status(), 400);
        let body = format!("<r xmlns=\"{uri}\">{}</r>", "<a/>".repeat(n - 2));
        assert!(parse(&body).is_ok());
    }

    #[test]
    fn text_and_refs_merge() {
        let e = parse("<a>x &amp; &#x263A; <![CDATA[<y>]]></a>").expect("ok");
        assert_eq!(e.text(), "x & \u{263a} <y>");
    }
}
