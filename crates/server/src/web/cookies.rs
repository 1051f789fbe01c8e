//! Reading and writing the few cookies we use. The session cookie is HttpOnly and
//! SameSite=Strict always, Secure and `__Host-` prefixed whenever served over TLS.

use axum::http::HeaderMap;

pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn session_name(secure: bool) -> &'static str {
    if secure {
        "__Host-amtsbote_session"
    } else {
        "amtsbote_session"
    }
}

pub fn prelogin_name(secure: bool) -> &'static str {
    if secure {
        "__Host-amtsbote_prelogin"
    } else {
        "amtsbote_prelogin"
    }
}

/// A Set-Cookie value; `max_age` None makes a browser-session cookie, Some(0) deletes.
pub fn set(name: &str, value: &str, secure: bool, http_only: bool, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}
