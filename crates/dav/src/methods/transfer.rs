//! What COPY and MOVE share: Destination, Overwrite, Depth and lock checks (RFC 4918 §9.8, §9.9).

use axum::response::Response;

use crate::backend::{DavBackend, TransferOptions};
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers::{self, Depth};
use crate::locks::{Target, check_write, drop_locks_below};

use super::changed_response;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Copy,
    Move,
}

pub(crate) async fn transfer<B: DavBackend>(
    ctx: &Ctx<B>,
    kind: Kind,
) -> Result<Response, DavError> {
    let src = super::resolve(ctx, &ctx.path)
        .await?
        .ok_or_else(super::not_found)?;
    let dest = ctx.destination()?;
    let depth = headers::depth(&ctx.headers)?.unwrap_or(Depth::Infinity);
    let recursive = match (kind, depth) {
        (_, Depth::Infinity) => true,
        (Kind::Copy, Depth::Zero) => false,
        // A collection moves as a whole (RFC 4918 §9.9.2); Depth 1 means nothing for COPY.
        _ if src.is_collection => {
            return Err(DavError::bad_request(
                "Ungültiger Depth-Header für diese Methode.",
            ));
        }
        _ => true,
    };
    if kind == Kind::Move && ctx.path.is_root() {
        return Err(DavError::forbidden(
            "Das Wurzelverzeichnis kann nicht verschoben werden.",
        ));
    }
    if dest == ctx.path {
        return Err(DavError::forbidden("Quelle und Ziel sind identisch."));
    }
    if src.is_collection && dest.is_descendant_of(&ctx.path) {
        return Err(DavError::forbidden(
            "Ein Ordner kann nicht in sich selbst kopiert oder verschoben werden.",
        ));
    }
    if dest.is_root() || ctx.path.is_descendant_of(&dest) {
        // Replacing an ancestor would delete the source on the way.
        return Err(DavError::forbidden("Das Ziel kann nicht ersetzt werden."));
    }
    let overwrite = headers::overwrite(&ctx.headers)?;
    super::require_parent(ctx, &dest).await?;
    let existing = super::resolve(ctx, &dest).await?;
    if existing.is_some() && !overwrite {
        return Err(DavError::precondition_failed(
            "Das Ziel existiert bereits und darf nicht überschrieben werden.",
        ));
    }
    let mut targets = Vec::new();
    if kind == Kind::Move {
        targets.push(Target::tree(&ctx.path));
        targets.extend(Target::parent_of(&ctx.path));
    }
    targets.push(Target::tree(&dest));
    targets.extend(Target::parent_of(&dest));
    check_write(ctx, &targets, Some(&src)).await?;

    let opts = TransferOptions {
        replace: existing.is_some(),
        recursive,
        mtime: headers::oc_mtime(&ctx.headers)?,
    };
    let mtime_applied = opts.mtime.is_some();
    let entry = match kind {
        Kind::Copy => {
            ctx.backend
                .copy(&ctx.principal, &ctx.path, &dest, opts)
                .await?
        }
        Kind::Move => {
            let e = ctx
                .backend
                .r#move(&ctx.principal, &ctx.path, &dest, opts)
                .await?;
            drop_locks_below(ctx, &ctx.path).await?;
            e
        }
    };
    Ok(changed_response(existing.is_none(), &entry, mtime_applied))
}
