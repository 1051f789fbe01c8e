//! CSRF protection by construction: a layer around the web door reads the `csrf` field of
//! every state-changing request before any handler runs (from a form body, or from the
//! first part of a multipart upload, whose forms put it first) and hands it on in the
//! request's extensions; the signed-in user's extractor ([`super::auth::CurrentUser`])
//! then refuses any POST, PUT, PATCH or DELETE whose token is not the session's, or
//! whose Origin is foreign. A handler cannot forget it: it never sees such a request.
//! The log-in form, which has no session yet, checks its double-submit token itself.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// The token a request carried, as the layer found it.
#[derive(Debug, Clone)]
pub struct SentToken(pub String);

/// Form bodies are small; a larger one is no form of ours (the limit of axum's `Form`).
const FORM_LIMIT: usize = 2 * 1024 * 1024;
/// How far into a multipart body its first part (the token) must have ended.
const FIRST_PART_LIMIT: usize = 16 * 1024;

/// Whether a method changes state (and therefore needs the token).
pub fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn layer(req: Request, next: Next) -> Response {
    if !changes_state(req.method()) || !is_web_door(req.uri().path()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let kind = content_kind(&parts.headers);
    let (token, body) = match kind {
        Kind::Form => match axum::body::to_bytes(body, FORM_LIMIT).await {
            Ok(bytes) => (form_token(&bytes), Body::from(bytes)),
            Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        },
        Kind::Multipart(boundary) => {
            let mut stream = body.into_data_stream();
            // The pieces as they came, handed on unchanged (the upload counts them).
            let mut pieces: Vec<Result<Bytes, axum::Error>> = Vec::new();
            let mut head = Vec::new();
            let mut token = None;
            while head.len() < FIRST_PART_LIMIT {
                match stream.next().await {
                    Some(Ok(chunk)) => {
                        head.extend_from_slice(&chunk[..chunk.len().min(FIRST_PART_LIMIT)]);
                        pieces.push(Ok(chunk));
                    }
                    Some(Err(e)) => {
                        pieces.push(Err(e));
                        break;
                    }
                    None => break,
                }
                if let Some(t) = first_part_token(&head, &boundary) {
                    token = t;
                    break;
                }
            }
            let rest = futures_util::stream::iter(pieces).chain(stream);
            (token, Body::from_stream(rest))
        }
        Kind::Other => (None, body),
    };
    if let Some(t) = token {
        parts.extensions.insert(SentToken(t));
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The doors with their own authentication (Basic) and no cookies: not browser forms.
fn is_web_door(path: &str) -> bool {
    !(path.starts_with("/remote.php/") || path == "/remote.php" || path.starts_with("/ocs/"))
}

enum Kind {
    Form,
    Multipart(String),
    Other,
}

fn content_kind(h: &HeaderMap) -> Kind {
    let raw = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ct = raw.to_ascii_lowercase();
    if ct.starts_with("application/x-www-form-urlencoded") {
        Kind::Form
    } else if ct.starts_with("multipart/form-data") {
        // The boundary keeps its case.
        match multer::parse_boundary(raw) {
            Ok(b) => Kind::Multipart(b),
            Err(_) => Kind::Other,
        }
    } else {
        Kind::Other
    }
}

fn form_token(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
}

/// `Some(Some(token))` once the first part is complete and is `csrf`, `Some(None)` once it
/// is complete and is something else, `None` while it is not complete yet.
fn first_part_token(head: &[u8], boundary: &str) -> Option<Option<String>> {
    let open = format!("--{boundary}\r\n");
    let start = find(head, open.as_bytes())? + open.len();
    let headers_end = start + find(&head[start..], b"\r\n\r\n")?;
    let headers = String::from_utf8_lossy(&head[start..headers_end]).to_ascii_lowercase();
    let value_start = headers_end + 4;
    let close = format!("\r\n--{boundary}");
    let value_end = value_start + find(&head[value_start..], close.as_bytes())?;
    // The `name` parameter itself, not `filename`.
    let named_csrf = headers.lines().any(|l| {
        l.strip_prefix("content-disposition:").is_some_and(|v| {
            v.split(';')
                .map(str::trim)
                .any(|p| p == "name=\"csrf\"" || p == "name=csrf")
        })
    });
    Some(named_csrf.then(|| String::from_utf8_lossy(&head[value_start..value_end]).into_owned()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_forms_and_first_parts() {
        assert_eq!(form_token(b"a=1&csrf=abc%2B&b=2").as_deref(), Some("abc+"));
        assert_eq!(form_token(b"a=1"), None);
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok123\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n\r\nDATA\r\n--XyZ--\r\n";
        assert_eq!(first_part_token(body, "XyZ"), Some(Some("tok123".into())));
        assert_eq!(
            first_part_token(&body[..30], "XyZ"),
            None,
            "not complete yet"
        );
        let other = b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"csrf\"\r\n\r\nDATA\r\n--XyZ--\r\n";
        assert_eq!(first_part_token(other, "XyZ"), Some(None));
    }
}
