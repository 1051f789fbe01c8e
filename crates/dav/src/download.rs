//! How a stored file's bytes are handed to a client, by every door (WebDAV GET here, the
//! web download and the quarantine in the server): always as a download, typed
//! neutrally, never sniffed and sandboxed, so that an uploaded `.html` or `.svg` can never
//! run script in the application's origin. The real type stays in PROPFIND
//! (`getcontenttype`), where the apps read it.

use axum::http::{HeaderMap, HeaderValue, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The type every file body is served as.
pub const FILE_BODY_TYPE: &str = "application/octet-stream";

/// The policy of every file body: no script, no plugin, no frame, even if a browser
/// ignores the disposition and renders it.
pub const FILE_BODY_CSP: &str = "sandbox; default-src 'none'; frame-ancestors 'none'";

/// RFC 5987 attr-char: what may stand unescaped in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with an ASCII fallback and the exact UTF-8 name (RFC 6266), so
/// `Gehaltsmitteilung_März.pdf` arrives as such. Quotes, backslashes, control and
/// other non-ASCII characters never reach the quoted fallback.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            'ä' => "ae".to_string(),
            'ö' => "oe".to_string(),
            'ü' => "ue".to_string(),
            'Ä' => "Ae".to_string(),
            'Ö' => "Oe".to_string(),
            'Ü' => "Ue".to_string(),
            'ß' => "ss".to_string(),
            c if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' => c.to_string(),
            _ => "_".to_string(),
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR_CHAR)
    )
}

/// Sets the headers of a file body named `name` (type, disposition, nosniff, CSP).
pub fn set_file_body_headers(h: &mut HeaderMap, name: &str) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(FILE_BODY_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&content_disposition(name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    } else {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_BODY_CSP),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_keeps_umlauts_and_escapes_the_rest() {
        assert_eq!(
            content_disposition("Gehaltsmitteilung_März.pdf"),
            "attachment; filename=\"Gehaltsmitteilung_Maerz.pdf\"; filename*=UTF-8''Gehaltsmitteilung_M%C3%A4rz.pdf"
        );
        assert_eq!(
            content_disposition("a\"b.txt"),
            "attachment; filename=\"a_b.txt\"; filename*=UTF-8''a%22b.txt"
        );
        let hostile = content_disposition("x\r\nSet-Cookie: a=b;.html");
        assert!(!hostile.contains('\r') && !hostile.contains('\n'));
        assert!(HeaderValue::from_str(&hostile).is_ok());
    }

    #[test]
    fn file_bodies_are_neutral_downloads() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        set_file_body_headers(&mut h, "seite.html");
        assert_eq!(h[header::CONTENT_TYPE], FILE_BODY_TYPE);
        assert!(
            h[header::CONTENT_DISPOSITION]
                .to_str()
                .is_ok_and(|v| v.starts_with("attachment;"))
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .is_ok_and(|v| v.starts_with("sandbox"))
        );
    }
}
