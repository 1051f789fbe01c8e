//! Browsing a space: folder listings, uploads (several files at once, streamed through
//! the ingest pipeline), downloads, new folders, renaming and deleting.

use amtsbote_core::Error;
use amtsbote_core::spaces::SpaceAccess;
use amtsbote_core::spaces::permissions::Action;
use amtsbote_core::storage::ingest::Upload;
use axum::Form;
use axum::body::Body;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio_util::io::ReaderStream;

use super::AppState;
use super::auth::CurrentUser;
use super::errors::{IdPath, WebError, describe, render, status_for};
use super::home::{NoticeQuery, notice_text};
use super::views::{ConfirmDeletePage, Crumb, FolderPage, Row, UploadResult};

/// Path ids are parsed leniently: anything that is not a number is simply not found.
fn id(raw: &str) -> Result<i64, Error> {
    raw.parse::<i64>().map_err(|_| Error::NotFound)
}

async fn open(st: &AppState, user: &CurrentUser, space: &str) -> Result<SpaceAccess, WebError> {
    let space_id = id(space).map_err(|e| user.err(e))?;
    st.app
        .open_space(&user.actor, space_id)
        .await
        .map_err(|e| user.err(e))
}

pub async fn space_root(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath(space): IdPath<String>,
) -> Result<Response, WebError> {
    let access = open(&st, &user, &space).await?;
    Ok(Redirect::to(&format!(
        "/spaces/{}/folders/{}",
        access.space_id(),
        access.root_id()
    ))
    .into_response())
}

pub async fn folder(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath((space, folder)): IdPath<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let access = open(&st, &user, &space).await?;
    let folder_id = id(&folder).map_err(|e| user.err(e))?;
    let notice = notice_text(&user, &q);
    folder_page(
        &st,
        &user,
        &access,
        folder_id,
        Vec::new(),
        None,
        notice,
        StatusCode::OK,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn folder_page(
    st: &AppState,
    user: &CurrentUser,
    access: &SpaceAccess,
    folder_id: i64,
    results: Vec<UploadResult>,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let (folder, children) = st
        .app
        .list_folder(access, folder_id)
        .await
        .map_err(|e| user.err(e))?;
    let ancestry = st
        .app
        .ancestry(access, folder.id)
        .await
        .map_err(|e| user.err(e))?;
    let space_label = if user.actor.is_staff() {
        access.member().label()
    } else {
        lang.t("space-root")
    };
    let crumbs: Vec<Crumb> = ancestry
        .iter()
        .map(|n| Crumb {
            id: n.id,
            name: if n.is_root() {
                space_label.clone()
            } else {
                n.name.clone()
            },
        })
        .collect();
    let mut rows = Vec::with_capacity(children.len());
    for node in children {
        let can_delete = st.app.allows(access, Action::Delete, &node).await;
        let can_rename = st.app.allows(access, Action::Rename, &node).await;
        rows.push(Row {
            node,
            can_delete,
            can_rename,
        });
    }
    let title = crumbs.last().map(|c| c.name.clone()).unwrap_or_default();
    let mut c = user.ctx(title);
    c.notice = notice;
    let page = FolderPage {
        c,
        space_id: access.space_id(),
        space_label,
        folder_id: folder.id,
        crumbs,
        rows,
        can_upload: st.app.allows(access, Action::Upload, &folder).await,
        can_mkdir: st.app.allows(access, Action::Mkdir, &folder).await,
        results,
        error,
        max_upload: lang
            .size(i64::try_from(st.app.settings.limits.max_upload_bytes).unwrap_or(i64::MAX)),
    };
    let mut r = render(page)?;
    *r.status_mut() = status;
    Ok(r)
}

/// Most bytes a request may make the server hold that are not file content: part
/// headers, the CSRF field, fields the form does not have, and the parser's look-ahead,
/// which can take several hundred KiB of a fast client's file at once while the
/// handler waits for the disk (measured: 1.1 MB ahead on a full disk; 1 MiB was too
/// tight and refused good uploads now and then).
const NON_FILE_SLACK: u64 = 8 * 1024 * 1024;

/// Counts what the body delivered against what went on as file content, and stops the
/// body when the difference grows: the multipart parser buffers part headers until
/// they end, so without this a signed-in client could make it hold gigabytes.
#[derive(Default)]
struct Tally {
    pulled: AtomicU64,
    consumed: AtomicU64,
    exceeded: AtomicBool,
}

impl Tally {
    fn consume(&self, n: usize) {
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// How far the parser may read ahead of what went on as file content before it is made
/// to hand on what it has (see [`Guarded`]).
const READ_AHEAD: u64 = 256 * 1024;

fn guarded(body: Body, tally: Arc<Tally>) -> Guarded {
    Guarded {
        inner: body.into_data_stream(),
        tally,
        yielded: false,
    }
}

/// The upload body as the multipart parser reads it. The parser takes everything that is
/// ready at once; with a fast client and a handler that waits (for a scanner slot, for
/// the disk) that could be the whole file, counted as "not file content" and refused.
/// So once it is `READ_AHEAD` ahead, the stream pauses for one turn, and the parser hands
/// on what it holds before it reads on. Only what is still unconsumed after that — part
/// headers that do not end, fields the form does not have — counts against
/// `NON_FILE_SLACK`.
struct Guarded {
    inner: axum::body::BodyDataStream,
    tally: Arc<Tally>,
    yielded: bool,
}

impl futures_util::Stream for Guarded {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let ahead = self
            .tally
            .pulled
            .load(Ordering::Relaxed)
            .saturating_sub(self.tally.consumed.load(Ordering::Relaxed));
        if ahead > READ_AHEAD && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        let chunk = match std::pin::Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => chunk,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let pulled = self
            .tally
            .pulled
            .fetch_add(chunk.len() as u64, Ordering::Relaxed)
            + chunk.len() as u64;
        if pulled.saturating_sub(self.tally.consumed.load(Ordering::Relaxed)) > NON_FILE_SLACK {
            self.tally.exceeded.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(std::io::Error::other(
                "multipart headers or form fields too large",
            ))));
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

/// Multipart upload of one or more files. The CSRF field must come first (the form puts
/// it first), so that no file byte is processed for a forged request. Each file goes
/// through the ingest pipeline on its own; one failing file does not stop the others.
pub async fn upload(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath((space, folder)): IdPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, WebError> {
    let access = open(&st, &user, &space).await?;
    let folder_id = id(&folder).map_err(|e| user.err(e))?;
    let lang = user.lang();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return Err(user.err(Error::Invalid("multipart")));
    };
    let tally = Arc::new(Tally::default());
    let mut multipart = multer::Multipart::new(guarded(body, tally.clone()), boundary);
    let mut csrf_ok = false;
    let mut results = Vec::new();
    let mut first_error: Option<StatusCode> = None;
    let mut retry_after: Option<u64> = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let malformed = malformed_part(&e) || tally.exceeded.load(Ordering::Relaxed);
                tracing::info!(error = %e, malformed, "multipart body unreadable");
                if !csrf_ok {
                    return Err(WebError::csrf(&user.ctx));
                }
                results.push(UploadResult {
                    name: String::new(),
                    ok: false,
                    message: lang.t(if malformed {
                        "err-invalid-input"
                    } else {
                        "err-upload-aborted"
                    }),
                });
                first_error.get_or_insert(StatusCode::BAD_REQUEST);
                break;
            }
        };
        match field.name() {
            Some("csrf") => {
                // The CSRF layer has compared this part with the session's token already;
                // here it only marks that the files come after it, as our form sends them.
                let mut read = 0;
                while let Ok(Some(chunk)) = field.chunk().await {
                    tally.consume(chunk.len());
                    read += chunk.len();
                    if read > 256 {
                        return Err(WebError::csrf(&user.ctx));
                    }
                }
                csrf_ok = true;
            }
            Some("files") if csrf_ok => {
                // A part without a readable file name is refused aloud, never dropped unseen.
                let Some(name) = part_file_name(&field) else {
                    drain(&mut field, &tally).await;
                    tracing::info!("upload part without a readable file name refused");
                    results.push(UploadResult {
                        name: String::new(),
                        ok: false,
                        message: lang.t("err-upload-no-file-name"),
                    });
                    first_error.get_or_insert(StatusCode::BAD_REQUEST);
                    continue;
                };
                // What an empty file input sends: nothing was chosen.
                if name.is_empty() {
                    continue;
                }
                let content_type = field.content_type().map(ToString::to_string);
                let up = Upload {
                    folder_id,
                    name: name.clone(),
                    content_type,
                    overwrite: false,
                    declared_size: None,
                    mtime: None,
                    checksum: None,
                    precondition: Default::default(),
                };
                let counter = tally.clone();
                let mut stream = field.map(move |r| {
                    if let Ok(chunk) = &r {
                        counter.consume(chunk.len());
                    }
                    r.map_err(|e| e.to_string())
                });
                let outcome = st.app.ingest(&access, up, &mut stream).await;
                // A refused file's remaining bytes are read and dropped here, counted as
                // file content, so that the next file of the form can follow.
                if outcome.is_err() {
                    while let Some(Ok(_)) = stream.next().await {}
                }
                match outcome {
                    Ok(_) => results.push(UploadResult {
                        name,
                        ok: true,
                        message: lang.t("upload-ok"),
                    }),
                    Err(e) => {
                        let status = status_for(e.kind());
                        if e.kind() == amtsbote_core::ErrorKind::Internal {
                            tracing::error!(error = %e, "upload failed");
                        }
                        first_error.get_or_insert(status);
                        let aborted = e.kind() == amtsbote_core::ErrorKind::Aborted;
                        let message = if aborted && tally.exceeded.load(Ordering::Relaxed) {
                            lang.t("err-invalid-input")
                        } else {
                            describe(lang, &e)
                        };
                        retry_after = retry_after.or(e.retry_after());
                        results.push(UploadResult {
                            name,
                            ok: false,
                            message,
                        });
                        if aborted {
                            break;
                        }
                    }
                }
            }
            _ if !csrf_ok => return Err(WebError::csrf(&user.ctx)),
            _ => {}
        }
    }
    if !csrf_ok {
        return Err(WebError::csrf(&user.ctx));
    }
    let error = if results.is_empty() {
        Some(lang.t("upload-none"))
    } else {
        None
    };
    let status = first_error.unwrap_or(if results.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    });
    let mut page =
        folder_page(&st, &user, &access, folder_id, results, error, None, status).await?;
    if let Some(secs) = retry_after {
        page.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    Ok(page)
}

/// Reads and drops the rest of a refused part, counted as file content so that the next
/// file of the form can follow.
async fn drain(field: &mut multer::Field<'_>, tally: &Tally) {
    while let Ok(Some(chunk)) = field.chunk().await {
        tally.consume(chunk.len());
    }
}

/// The file name of an upload part, also where multer finds none. multer 3.1 takes a
/// backslash before the closing quote for an escape, so `filename="report\"` — how browsers
/// send a name ending in a backslash — reads as no name at all, and the file would be
/// dropped without a word. multer's reading comes first, so that every name it reads stays
/// as it was; ours only fills its gaps.
pub fn part_file_name(field: &multer::Field<'_>) -> Option<String> {
    if let Some(name) = field.file_name() {
        return Some(name.to_owned());
    }
    let value = field.headers().get(header::CONTENT_DISPOSITION)?;
    disposition_file_name(value.as_bytes())
}

/// The `filename` parameter of a `Content-Disposition: form-data` value, read the way the
/// HTML standard writes it (RFC 7578 §4.2 defers to it): `; key=value` parameters whose
/// value is a token or a quoted string that ends at the next `"`, without escapes (a `"` in
/// a name is sent as `%22`, CR and LF as `%0D` and `%0A`, a backslash as it is). `None` when
/// there is none, it is there twice, or the value is malformed. `filename*` (RFC 6266) is not
/// read: RFC 7578 forbids it in forms.
pub fn disposition_file_name(value: &[u8]) -> Option<String> {
    let value = std::str::from_utf8(value).ok()?;
    let (kind, mut rest) = value.split_once(';').unwrap_or((value, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let mut file_name = None;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return file_name;
        }
        let (key, after) = rest.split_once('=')?;
        if key.contains([';', '"']) {
            return None;
        }
        let after = after.trim_start();
        let (param, after) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"')?,
            None => {
                let (token, after) = after.split_at(after.find(';').unwrap_or(after.len()));
                (token.trim_end(), after)
            }
        };
        rest = match after.trim_start() {
            "" => "",
            a => a.strip_prefix(';')?,
        };
        if key.trim().eq_ignore_ascii_case("filename") {
            if file_name.is_some() {
                return None;
            }
            file_name = Some(param.to_owned());
        }
    }
}

/// Whether a multipart error is a malformed part (headers that cannot be read, such as
/// a file name with NUL, CR, LF or DEL) rather than an interrupted transfer: "try again"
/// is the right advice only for the latter.
fn malformed_part(e: &multer::Error) -> bool {
    matches!(
        e,
        multer::Error::ReadHeaderFailed(_)
            | multer::Error::DecodeHeaderName { .. }
            | multer::Error::DecodeHeaderValue { .. }
            | multer::Error::DecodeContentType(_)
            | multer::Error::IncompleteHeaders
    )
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

pub async fn mkdir(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath((space, folder)): IdPath<(String, String)>,
    Form(f): Form<NameForm>,
) -> Result<Response, WebError> {
    let access = open(&st, &user, &space).await?;
    let folder_id = id(&folder).map_err(|e| user.err(e))?;
    match st.app.create_folder(&access, folder_id, &f.name).await {
        Ok(_) => Ok(Redirect::to(&format!(
            "/spaces/{}/folders/{folder_id}?notice=folder-created",
            access.space_id()
        ))
        .into_response()),
        Err(e)
            if matches!(
                e.kind(),
                amtsbote_core::ErrorKind::BadInput | amtsbote_core::ErrorKind::Conflict
            ) =>
        {
            let msg = user.lang().t(e.message_key());
            folder_page(
                &st,
                &user,
                &access,
                folder_id,
                Vec::new(),
                Some(msg),
                None,
                status_for(e.kind()),
            )
            .await
        }
        Err(e) => Err(user.err(e)),
    }
}

pub async fn rename(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath((space, node)): IdPath<(String, String)>,
    Form(f): Form<NameForm>,
) -> Result<Response, WebError> {
    let access = open(&st, &user, &space).await?;
    let node_id = id(&node).map_err(|e| user.err(e))?;
    match st.app.rename_node(&access, node_id, &f.name).await {
        Ok(n) => {
            let parent = n.parent_id.unwrap_or(access.root_id());
            Ok(Redirect::to(&format!(
                "/spaces/{}/folders/{parent}?notice=node-renamed",
                access.space_id()
            ))
            .into_response())
        }
        Err(e)
            if matches!(
                e.kind(),
                amtsbote_core::ErrorKind::BadInput | amtsbote_core::ErrorKind::Conflict
            ) =>
        {
            let parent = st
                .app
                .node(&access, node_id)
                .await
                .map_err(|e| user.err(e))?
                .parent_id
                .unwrap_or(access.root_id());
            let msg = user.lang().t(e.message_key());
            folder_page(
                &st,
                &user,
                &access,
                parent,
                Vec::new(),
                Some(msg),
                None,
                status_for(e.kind()),
            )
            .await
        }
        Err(e) => Err(user.err(e)),
    }
}

/// Asks before deleting: deletion cannot be undone (WCAG 2.1 SC 3.3.4).
pub async fn delete_confirm(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath((space, node)): IdPath<(String, String)>,
) -> Result<Response, WebError> {
    let access = open(&st, &user, &space).await?;
    let node_id = id(&node).map_err(|e| user.err(e))?;
    let node = st
        .app
        .node(&access, node_id)
        .await
        .map_err(|e| user.err(e))?;
    if !st.app.allows(&access, Action::Delete, &node).await {
        return Err(user.err(Error::Forbidden("policy")));
    }
    let c = user.ctx(user.lang().t("delete-confirm-title"));
    render(ConfirmDeletePage {
        c,
        space_id: access.space_id(),
        node_id: node.id,
        parent_id: node.parent_id.unwrap_or(access.root_id()),
        name: node.name,
    })
}

pub async fn delete(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath((space, node)): IdPath<(String, String)>,
) -> Result<Response, WebError> {
    let access = open(&st, &user, &space).await?;
    let node_id = id(&node).map_err(|e| user.err(e))?;
    let parent = st
        .app
        .node(&access, node_id)
        .await
        .map_err(|e| user.err(e))?
        .parent_id
        .unwrap_or(access.root_id());
    match st.app.delete_node(&access, node_id).await {
        Ok(()) => Ok(Redirect::to(&format!(
            "/spaces/{}/folders/{parent}?notice=node-deleted",
            access.space_id()
        ))
        .into_response()),
        Err(e) if e.kind() == amtsbote_core::ErrorKind::Conflict => {
            let msg = user.lang().t(e.message_key());
            folder_page(
                &st,
                &user,
                &access,
                parent,
                Vec::new(),
                Some(msg),
                None,
                status_for(e.kind()),
            )
            .await
        }
        Err(e) => Err(user.err(e)),
    }
}

pub async fn download(
    State(st): State<AppState>,
    user: CurrentUser,
    IdPath((space, node)): IdPath<(String, String)>,
    method: axum::http::Method,
) -> Result<Response, WebError> {
    let access = open(&st, &user, &space).await?;
    let node_id = id(&node).map_err(|e| user.err(e))?;
    // HEAD asks about the file without fetching it: not a download for the audit trail.
    let (node, body) = if method == axum::http::Method::HEAD {
        let node = st
            .app
            .node(&access, node_id)
            .await
            .map_err(|e| user.err(e))?;
        if !node.is_file() {
            return Err(user.err(Error::NotFound));
        }
        (node, Body::empty())
    } else {
        let (node, reader) = st
            .app
            .open_download(&access, node_id)
            .await
            .map_err(|e| user.err(e))?;
        (
            node,
            Body::from_stream(ReaderStream::with_capacity(reader, 256 * 1024)),
        )
    };
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_LENGTH, node.size)
        .header(header::ETAG, format!("\"{}\"", node.etag))
        .body(body)
        .map_err(|e| WebError::internal(user.lang(), e))?;
    // User files never render on our origin (the same rule as every other door).
    amtsbote_dav::download::set_file_body_headers(resp.headers_mut(), &node.name);
    Ok(resp)
}
