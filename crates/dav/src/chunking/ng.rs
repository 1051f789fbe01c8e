//! Chunking NG under `/remote.php/dav/uploads/{login}/`: `MKCOL {id}`, `PUT {id}/{chunk}`,
//! `PROPFIND {id}` (resume), `MOVE {id}/.file` (assemble into the files tree), `DELETE {id}`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::{ChunkInfo, DavBackend};
use crate::body::has_content;
use crate::context::{Ctx, path_under};
use crate::error::DavError;
use crate::headers::{self, Depth};
use crate::locks::{Target, check_locks, evaluate_if, if_failed};
use crate::methods::propfind::{finite_depth_required, propstat};
use crate::methods::{require_parent, resolve, write_preconditions, xml_response};
use crate::path::DavPath;
use crate::time::http_date;
use crate::xml::write::{MULTISTATUS_END, MULTISTATUS_START, PropList, escape};

use super::{assemble_into, check_name, check_total, file_order, store_chunk};

const ALLOW: &str = "OPTIONS, PROPFIND, MKCOL, PUT, MOVE, DELETE";

fn not_allowed() -> DavError {
    DavError::method_not_allowed("Diese Methode ist im Upload-Bereich nicht erlaubt.")
        .with_header(header::ALLOW, HeaderValue::from_static(ALLOW))
}

fn no_session() -> DavError {
    DavError::not_found("Diese Upload-Sitzung existiert nicht.")
}

pub(crate) async fn handle<B: DavBackend>(ctx: &Ctx<B>, body: Body) -> Result<Response, DavError> {
    let segs: Vec<&str> = ctx.path.segments().collect();
    // `.file` stands for the assembled file, so it is special only right below a session
    // (`{session}/.file`); anywhere else, a session called `.file` included, it is a name like
    // any other, refused for its leading dot.
    for (i, s) in segs.iter().enumerate() {
        let assembly_target = segs.len() == 2 && i == 1 && *s == ".file";
        if !assembly_target {
            check_name(s)?;
        }
    }
    match (ctx.method.as_str(), segs.as_slice()) {
        ("OPTIONS", _) => {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut()
                .insert("dav", HeaderValue::from_static("1, 2"));
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
            Ok(resp)
        }
        ("MKCOL", [session]) => {
            if has_content(body).await? {
                return Err(DavError::unsupported_media_type(
                    "MKCOL mit Inhalt wird nicht unterstützt.",
                ));
            }
            let total = headers::oc_total_length(&ctx.headers)?;
            if ctx
                .backend
                .upload_create(&ctx.principal, session, total)
                .await?
            {
                Ok(StatusCode::CREATED.into_response())
            } else {
                Err(not_allowed())
            }
        }
        ("MKCOL", [_, _]) => Err(DavError::forbidden(
            "Upload-Sitzungen haben keine Unterordner.",
        )),
        ("PUT", [session, chunk]) if *chunk != ".file" => {
            if ctx
                .backend
                .upload_chunks(&ctx.principal, session)
                .await?
                .is_none()
            {
                return Err(DavError::conflict("Diese Upload-Sitzung existiert nicht."));
            }
            store_chunk(ctx, session, chunk, body).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        ("PROPFIND", []) => {
            let me = DavPath::root();
            Ok(multistatus(vec![collection_response(ctx, &me)]))
        }
        ("PROPFIND", [session]) => {
            let chunks = ctx
                .backend
                .upload_chunks(&ctx.principal, session)
                .await?
                .ok_or_else(no_session)?;
            let mut out = vec![collection_response(ctx, &ctx.path)];
            if headers::depth(&ctx.headers)?.unwrap_or(Depth::One) == Depth::One {
                for c in &chunks {
                    out.push(chunk_response(ctx, session, c)?);
                }
            } else if headers::depth(&ctx.headers)? == Some(Depth::Infinity) {
                return Err(finite_depth_required());
            }
            Ok(multistatus(out))
        }
        ("PROPFIND", [session, chunk]) => {
            let chunks = ctx
                .backend
                .upload_chunks(&ctx.principal, session)
                .await?
                .ok_or_else(no_session)?;
            let c = chunks
                .iter()
                .find(|c| c.name == *chunk)
                .ok_or_else(crate::methods::not_found)?;
            Ok(multistatus(vec![chunk_response(ctx, session, c)?]))
        }
        ("DELETE", [session]) => {
            if ctx.backend.upload_delete(&ctx.principal, session).await? {
                Ok(StatusCode::NO_CONTENT.into_response())
            } else {
                Err(no_session())
            }
        }
        ("DELETE", [session, chunk]) => {
            if ctx
                .backend
                .upload_delete_chunk(&ctx.principal, session, chunk)
                .await?
            {
                Ok(StatusCode::NO_CONTENT.into_response())
            } else {
                Err(crate::methods::not_found())
            }
        }
        ("MOVE", [session, ".file"]) => assemble(ctx, session).await,
        _ => Err(not_allowed()),
    }
}

/// `MOVE {id}/.file`: check the sum against `OC-Total-Length`, sort numerically, and let the
/// backend write the result through its ingest pipeline.
async fn assemble<B: DavBackend>(ctx: &Ctx<B>, session: &str) -> Result<Response, DavError> {
    let files = ctx
        .files_mount
        .as_deref()
        .ok_or_else(|| DavError::forbidden("Kein Zielbereich für den Upload bekannt."))?;
    let raw = headers::destination(&ctx.headers, ctx.host())?
        .ok_or_else(|| DavError::bad_request("Der Destination-Header fehlt."))?;
    let dest = path_under(files, raw)?
        .ok_or_else(|| DavError::forbidden("Das Ziel liegt außerhalb Ihres Bereichs."))?;
    let chunks = ctx
        .backend
        .upload_chunks(&ctx.principal, session)
        .await?
        .ok_or_else(no_session)?;
    let (names, sum) = file_order(chunks);
    let total = match headers::oc_total_length(&ctx.headers)? {
        Some(t) => Some(t),
        None => headers_number(ctx, "oc-total-file-length")?,
    };
    check_total(total, sum)?;
    // A session without chunks is almost always a client that lost them, not an empty
    // file: only `OC-Total-Length: 0` says an empty file is meant.
    if names.is_empty() && total != Some(0) {
        return Err(DavError::bad_request(
            "Der Upload enthält keine Teile. Eine leere Datei wird nur mit OC-Total-Length: 0 angelegt.",
        ));
    }

    let current = resolve(ctx, &dest).await?;
    if current.as_ref().is_some_and(|e| e.is_collection) {
        return Err(DavError::conflict(
            "An dieser Stelle existiert bereits ein Ordner.",
        ));
    }
    if current.is_none() {
        require_parent(ctx, &dest).await?;
    }
    let expect = write_preconditions(&ctx.headers, current.as_ref())?;
    let targets = Target::for_write(&dest, current.is_none());
    // The clients put `If: <dest> (["etag"])` here instead of If-Match; untagged lists are read
    // as being about the destination too, since `.file` itself has no state.
    if let Some(h) = ctx.if_header()
        && !evaluate_if(ctx, h, &dest, current.as_ref(), |raw| {
            let p = headers::uri_path(raw, ctx.host())?;
            path_under(files, p)
        })
        .await?
    {
        return Err(if_failed());
    }
    check_locks(ctx, &targets).await?;
    assemble_into(ctx, session, &names, sum, &dest, expect).await
}

fn headers_number<B: DavBackend>(ctx: &Ctx<B>, name: &str) -> Result<Option<u64>, DavError> {
    match ctx.headers.get(name).map(|v| v.to_str().map(str::trim)) {
        None => Ok(None),
        Some(Ok(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| DavError::bad_request(format!("Ungültiger {name}-Header."))),
        Some(Err(_)) => Err(DavError::bad_request(format!("Ungültiger {name}-Header."))),
    }
}

/// One `<d:response>` whose properties are all there.
fn response(href: &str, props: &str) -> String {
    let mut out = String::from("<d:response><d:href>");
    out.push_str(&escape(href));
    out.push_str("</d:href>");
    propstat(&mut out, &PropList::from_xml(props), StatusCode::OK);
    out.push_str("</d:response>");
    out
}

fn collection_response<B: DavBackend>(ctx: &Ctx<B>, path: &DavPath) -> String {
    response(
        &ctx.href(path, true),
        "<d:resourcetype><d:collection/></d:resourcetype>",
    )
}

fn chunk_response<B: DavBackend>(
    ctx: &Ctx<B>,
    session: &str,
    c: &ChunkInfo,
) -> Result<String, DavError> {
    let path = DavPath::from_segments([session, c.name.as_str()])?;
    let props = format!(
        "<d:resourcetype/><d:getcontentlength>{}</d:getcontentlength><d:getlastmodified>{}</d:getlastmodified><d:getetag>&quot;{}-{}&quot;</d:getetag>",
        c.size,
        http_date(c.mtime),
        escape(&c.name),
        c.size
    );
    Ok(response(&ctx.href(&path, false), &props))
}

fn multistatus(responses: Vec<String>) -> Response {
    let mut body = String::from(MULTISTATUS_START);
    for r in responses {
        body.push_str(&r);
    }
    body.push_str(MULTISTATUS_END);
    xml_response(StatusCode::MULTI_STATUS, body)
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[tokio::test]
    async fn ng_upload_in_numeric_order() {
        let t = TestDav::new();
        t.mkcol("/dir").await;
        let r = t
            .upload("MKCOL", "/4242")
            .header("oc-total-length", "10")
            .send()
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(t.upload("MKCOL", "/4242").send().await.status, 405);
        // Sent out of order, unpadded and padded names mixed.
        assert_eq!(
            t.upload("PUT", "/4242/10").body("6789").send().await.status,
            201
        );
        assert_eq!(
            t.upload("PUT", "/4242/0000000000000000")
                .body("012")
                .send()
                .await
                .status,
            201
        );
        assert_eq!(
            t.upload("PUT", "/4242/3").body("345").send().await.status,
            201
        );
        let r = t
            .upload("PROPFIND", "/4242")
            .header("depth", "1")
            .send()
            .await;
        assert_eq!(r.status, 207);
        assert!(
            r.body
                .contains("<d:href>/remote.php/dav/uploads/alice/4242/3</d:href>"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("<d:getcontentlength>4</d:getcontentlength>")
        );
        let r = t
            .upload("MOVE", "/4242/.file")
            .header("destination", "/remote.php/dav/files/alice/dir/big.bin")
            .header("oc-total-length", "10")
            .header("x-oc-mtime", "1600000000")
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(r.header("oc-fileid").is_some());
        assert!(r.header("etag").is_some());
        assert_eq!(r.header("x-oc-mtime"), Some("accepted"));
        assert_eq!(t.get("/dir/big.bin").await, "0123456789");
        assert_eq!(t.upload("PROPFIND", "/4242").send().await.status, 404);
    }

    #[tokio::test]
    async fn ng_refusals_and_overwrite() {
        let t = TestDav::new();
        let id = t
            .req("PUT", "/f")
            .body("old")
            .send()
            .await
            .header("oc-fileid")
            .map(str::to_owned);
        t.upload("MKCOL", "/1").send().await;
        t.upload("PUT", "/1/0").body("ab").send().await;
        let r = t
            .upload("MOVE", "/1/.file")
            .header("destination", "/remote.php/dav/files/alice/f")
            .header("oc-total-length", "3")
            .send()
            .await;
        assert_eq!(r.status, 400);
        let r = t
            .upload("MOVE", "/1/.file")
            .header("destination", "/remote.php/dav/files/bob/f")
            .send()
            .await;
        assert_eq!(r.status, 403);
        let r = t
            .upload("MOVE", "/1/.file")
            .header("destination", "/remote.php/dav/files/alice/f")
            .header("if", "</remote.php/dav/files/alice/f> ([\"stale\"])")
            .send()
            .await;
        assert_eq!(r.status, 412);
        let r = t
            .upload("MOVE", "/1/.file")
            .header("destination", "/remote.php/dav/files/alice/f")
            .send()
            .await;
        assert_eq!(r.status, 204);
        assert_eq!(r.header("oc-fileid").map(str::to_owned), id, "file id kept");
        assert_eq!(t.get("/f").await, "ab");
        assert_eq!(
            t.upload("PUT", "/nosession/0")
                .body("x")
                .send()
                .await
                .status,
            409
        );
        t.upload("MKCOL", "/2").send().await;
        assert_eq!(t.upload("DELETE", "/2").send().await.status, 204);
        assert_eq!(t.upload("DELETE", "/2").send().await.status, 404);
        assert_eq!(
            t.upload("PUT", "/2/..%2f..").body("x").send().await.status,
            400
        );
        assert_eq!(t.upload("GET", "/1").send().await.status, 405);
    }

    #[tokio::test]
    async fn ng_session_without_chunks_is_no_file_unless_announced_empty() {
        let t = TestDav::new();
        t.upload("MKCOL", "/7").send().await;
        let r = t
            .upload("MOVE", "/7/.file")
            .header("destination", "/remote.php/dav/files/alice/leer")
            .send()
            .await;
        assert_eq!(r.status, 400);
        assert!(r.body.contains("keine Teile"), "{}", r.body);
        assert_eq!(t.req("GET", "/leer").send().await.status, 404);
        let r = t
            .upload("MOVE", "/7/.file")
            .header("destination", "/remote.php/dav/files/alice/leer")
            .header("oc-total-length", "0")
            .send()
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(t.get("/leer").await, "");
    }
}
