//! The WebDAV door: the ownCloud/Nextcloud paths, authentication by HTTP Basic (app
//! passwords, or the account password), and the `amtsbote-dav` engine over the core.
//!
//! - `/remote.php/webdav/…` and `/remote.php/dav/files/{login}/…`: the file tree;
//! - `/remote.php/dav/uploads/{login}/…`: chunked uploads (chunking NG).
//!
//! `{login}` must be the authenticated account's login: a path never names someone
//! else's tree, whatever the credentials.

mod backend;
mod errors;
mod view;

use std::sync::Arc;

use amtsbote_core::{App, Error};
use amtsbote_dav::{DavError, FilesMount, MountPrefix};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use percent_encoding::percent_decode_str;
use tower::ServiceExt;

use backend::CoreBackend;
use view::DavUser;

use crate::web::auth::client_ip;
use crate::web::basic::credentials;

#[derive(Clone)]
struct Door {
    app: App,
    files: Router,
    uploads: Router,
}

/// Adds the WebDAV paths to the application's router.
pub fn mount(router: Router, app: App) -> Router {
    let backend = Arc::new(CoreBackend::new(app.clone()));
    let door = Door {
        app,
        files: amtsbote_dav::router(backend.clone()),
        uploads: amtsbote_dav::uploads_router(backend),
    };
    let handler = any(serve).with_state(door);
    router
        .route("/remote.php/webdav", handler.clone())
        .route("/remote.php/webdav/", handler.clone())
        .route("/remote.php/webdav/{*rest}", handler.clone())
        .route("/remote.php/dav/{*rest}", handler)
}

/// Which tree a request path addresses, split into the (still percent-encoded) mount
/// prefix and the rest.
#[derive(Debug, PartialEq, Eq)]
struct Mount<'a> {
    prefix: &'a str,
    rest: &'a str,
    /// The `{login}` segment, decoded.
    login: Option<String>,
    uploads: bool,
}

impl<'a> Mount<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        if let Some(rest) = path.strip_prefix("/remote.php/webdav") {
            return (rest.is_empty() || rest.starts_with('/')).then_some(Mount {
                prefix: &path[..path.len() - rest.len()],
                rest,
                login: None,
                uploads: false,
            });
        }
        for (area, uploads) in [
            ("/remote.php/dav/files/", false),
            ("/remote.php/dav/uploads/", true),
        ] {
            if let Some(after) = path.strip_prefix(area) {
                let end = after.find('/').unwrap_or(after.len());
                let raw = &after[..end];
                let login = percent_decode_str(raw).decode_utf8().ok()?.into_owned();
                if login.is_empty() {
                    return None;
                }
                let prefix_len = area.len() + end;
                return Some(Mount {
                    prefix: &path[..prefix_len],
                    rest: &path[prefix_len..],
                    login: Some(login),
                    uploads,
                });
            }
        }
        None
    }
}

/// 401 with the Basic challenge, in Sabre's shape.
fn challenge() -> Response {
    let mut r = DavError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "Bitte melden Sie sich mit Ihrem Benutzernamen und einem App-Passwort an.",
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="amtsbote", charset="UTF-8""#),
    );
    r
}

async fn serve(State(door): State<Door>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some(mount) = Mount::parse(&path) else {
        return DavError::not_found(crate::web::i18n::Lang::De.t("err-not-found")).into_response();
    };
    let (mut parts, body) = req.into_parts();
    let Some((login, secret)) = credentials(&parts.headers) else {
        return challenge();
    };
    let account = match door
        .app
        .authenticate_basic(&login, &secret, client_ip(&parts))
        .await
    {
        Ok(a) => a,
        Err(Error::AuthFailed) => return challenge(),
        Err(e) => return errors::to_dav(e).into_response(),
    };
    let Some(actor) = account.actor() else {
        return challenge();
    };
    if let Some(url_login) = &mount.login
        && url_login.to_lowercase() != account.login.to_lowercase()
    {
        return errors::forbidden("err-dav-login-mismatch").into_response();
    }
    let rest = if mount.rest.is_empty() {
        "/"
    } else {
        mount.rest
    };
    let uri = match parts.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    parts.uri = match uri.parse::<Uri>() {
        Ok(u) => u,
        Err(_) => return DavError::bad_request("Ungültige Adresse.").into_response(),
    };
    parts
        .extensions
        .insert(MountPrefix(mount.prefix.to_string()));
    parts.extensions.insert(DavUser {
        account_id: account.id,
        actor,
        memo: Default::default(),
    });
    let router = if mount.uploads {
        let files = mount
            .prefix
            .replacen("/remote.php/dav/uploads/", "/remote.php/dav/files/", 1);
        parts.extensions.insert(FilesMount(files));
        door.uploads
    } else {
        door.files
    };
    match router.oneshot(Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_split_prefix_and_rest() {
        let m = Mount::parse("/remote.php/webdav/an_KVBbg/x.pdf").expect("a mount");
        assert_eq!(
            (m.prefix, m.rest, m.login, m.uploads),
            ("/remote.php/webdav", "/an_KVBbg/x.pdf", None, false)
        );
        let m = Mount::parse("/remote.php/webdav").expect("a mount");
        assert_eq!((m.prefix, m.rest), ("/remote.php/webdav", ""));
        assert!(Mount::parse("/remote.php/webdavx").is_none());
        let m = Mount::parse("/remote.php/dav/files/j%C3%BCrgen/a%20b").expect("a mount");
        assert_eq!(m.prefix, "/remote.php/dav/files/j%C3%BCrgen");
        assert_eq!(m.rest, "/a%20b");
        assert_eq!(m.login.as_deref(), Some("jürgen"));
        let m = Mount::parse("/remote.php/dav/uploads/alice/123/00001").expect("a mount");
        assert!(m.uploads);
        assert_eq!(m.rest, "/123/00001");
        assert!(Mount::parse("/remote.php/dav/files/").is_none());
        assert!(Mount::parse("/remote.php/dav/calendars/alice").is_none());
        assert!(Mount::parse("/remote.php/dav/files/%FF").is_none());
    }
}
