//! Writing XML: escaping, re-serialising client-supplied fragments (dead property values, lock
//! owners) and the multistatus skeleton.
//!
//! Fragments are written with a default-namespace declaration on every element
//! (`<foo xmlns="urn:x">`). That is verbose but needs no prefix bookkeeping, and it keeps a stored
//! value self-contained: it means the same wherever it is pasted later.

use std::borrow::Cow;

use super::parse::{Element, Node};

/// Escapes text for element content and attribute values, and drops characters XML 1.0 cannot
/// carry at all (control characters other than tab, CR and LF).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'') || is_invalid_xml_char(c))
    {
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
pub fn fragment(children: &[Node]) -> String {
    let mut out = String::new();
    for node in children {
        write_node(node, &mut out);
    }
    out
}

fn write_node(node: &Node, out: &mut String) {
    match node {
        Node::Text(t) => out.push_str(&escape(t)),
        Node::Element(e) => write_element(e, out),
    }
}

fn write_element(e: &Element, out: &mut String) {
    out.push('<');
    out.push_str(&e.name);
    out.push_str(" xmlns=\"");
    out.push_str(&escape(&e.ns));
    out.push('"');
    for (i, a) in e.attrs.iter().enumerate() {
        out.push(' ');
        if a.ns == "http://www.w3.org/XML/1998/namespace" {
            out.push_str("xml:");
        } else if !a.ns.is_empty() {
            // Namespaced attributes need a prefix; declare one per attribute.
            out.push_str(&format!("xmlns:a{i}=\"{}\" a{i}:", escape(&a.ns)));
        }
        out.push_str(&a.name);
        out.push_str("=\"");
        out.push_str(&escape(&a.value));
        out.push('"');
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in &e.children {
        write_node(c, out);
    }
    out.push_str("</");
    out.push_str(&e.name);
    out.push('>');
}

/// Writes an element named by (namespace, local name) with an already-serialised inner fragment.
/// DAV:, oc: and nc: use the prefixes declared on the multistatus root; anything else declares its
/// namespace as the default on the element itself.
pub fn named_element(out: &mut String, ns: &str, name: &str, inner: Option<&str>) {
    let prefix = match ns {
        super::DAV => Some("d"),
        super::OC => Some("oc"),
        super::NC => Some("nc"),
        _ => None,
    };
    out.push('<');
    match prefix {
        Some(p) => {
            out.push_str(p);
            out.push(':');
            out.push_str(name);
        }
        None => {
            out.push_str(name);
            out.push_str(" xmlns=\"");
            out.push_str(&escape(ns));
            out.push('"');
        }
    }
    match inner {
        None => out.push_str("/>"),
        Some(inner) => {
            out.push('>');
            out.push_str(inner);
            out.push_str("</");
            if let Some(p) = prefix {
                out.push_str(p);
                out.push(':');
            }
            out.push_str(name);
            out.push('>');
        }
    }
}

/// Start of a 207 body, declaring the prefixes [`named_element`] relies on.
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
    fn escapes() {
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }
}
