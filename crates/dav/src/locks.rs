//! Lock semantics: which locks protect a request, whether the client submitted their tokens, and
//! the `If` header's evaluation. The locks themselves are stored by the backend so that several
//! nodes agree; this module only reads them (one `lock_list` call per checked path).

use std::time::SystemTime;

use crate::backend::{ActiveLock, DavBackend, Entry, LockScope, Want};
use crate::context::Ctx;
use crate::error::DavError;
use crate::headers::{ConditionKind, IfHeader, IfList, uri_path};
use crate::path::DavPath;
use crate::xml::write::escape;

/// A path a request is about to change.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub path: DavPath,
    /// The change affects everything below too (DELETE, MOVE source, overwritten destination).
    pub deep: bool,
}

impl Target {
    pub fn one(path: &DavPath) -> Self {
        Target {
            path: path.clone(),
            deep: false,
        }
    }
    pub fn tree(path: &DavPath) -> Self {
        Target {
            path: path.clone(),
            deep: true,
        }
    }
    /// Adding or removing a member changes the parent collection's membership, which a lock on
    /// the parent protects (RFC 4918 §7.4), whatever its depth.
    pub fn parent_of(path: &DavPath) -> Option<Self> {
        path.parent().map(|p| Target::one(&p))
    }
    /// What writing `path` changes: the resource itself and, when the write `creates` it, the
    /// parent's membership.
    pub fn for_write(path: &DavPath, creates: bool) -> Vec<Self> {
        let mut targets = vec![Target::one(path)];
        if creates {
            targets.extend(Target::parent_of(path));
        }
        targets
    }
}

/// Unexpired locks for `path` (rooted at it or an ancestor; plus below it when `descendants`).
pub(crate) async fn live_locks<B: DavBackend>(
    ctx: &Ctx<B>,
    path: &DavPath,
    descendants: bool,
) -> Result<Vec<ActiveLock>, DavError> {
    let now = ctx.backend.now();
    let mut locks = ctx
        .backend
        .lock_list(&ctx.principal, path, descendants)
        .await?;
    locks.retain(|l| !l.is_expired(now));
    Ok(locks)
}

/// Refuses the change with 412 when the `If` header evaluates to false, then with 423 when one
/// of `targets` is locked and the client did not submit a token of that lock (its own).
/// The order matters: `If: (<DAV:no-lock> ["etag"])` on a locked resource is a failed
/// precondition (412), while `If: (<bogus-token>) (Not <DAV:no-lock>)` holds but submits no
/// valid token (423) — litmus checks both.
pub(crate) async fn check_write<B: DavBackend>(
    ctx: &Ctx<B>,
    targets: &[Target],
    current: Option<&Entry>,
) -> Result<(), DavError> {
    if let Some(h) = ctx.if_header()
        && !evaluate_if(ctx, h, &ctx.path, current, |raw| {
            let path = uri_path(raw, ctx.host())?;
            ctx.path_in_mount(path)
        })
        .await?
    {
        return Err(if_failed());
    }
    check_locks(ctx, targets).await
}

pub(crate) fn if_failed() -> DavError {
    DavError::precondition_failed("Die Bedingung im If-Header ist nicht erfüllt.")
}

/// The 423 half of [`check_write`]: every locked resource among `targets` (and below the deep
/// ones) needs one of its lock tokens, held by this principal, in the `If` header.
pub(crate) async fn check_locks<B: DavBackend>(
    ctx: &Ctx<B>,
    targets: &[Target],
) -> Result<(), DavError> {
    let me = ctx.backend.principal_key(&ctx.principal);
    let submitted: Vec<&str> = ctx
        .if_header()
        .map(|h| h.submitted_tokens().collect())
        .unwrap_or_default();
    for t in targets {
        let locks = live_locks(ctx, &t.path, t.deep).await?;
        // Each locked resource needs one of the locks that protect it; for shared locks any one
        // of them will do.
        let mut protected: Vec<&DavPath> = Vec::new();
        for l in &locks {
            let res = if l.covers(&t.path) {
                &t.path
            } else if t.deep && l.root.is_descendant_of(&t.path) {
                &l.root
            } else {
                // A depth-0 lock on an ancestor protects only that ancestor.
                continue;
            };
            if !protected.contains(&res) {
                protected.push(res);
            }
        }
        for res in protected {
            let holds = locks.iter().any(|l| {
                l.covers(res) && l.principal == me && submitted.contains(&l.token.as_str())
            });
            if !holds {
                return Err(DavError::locked("Die Ressource ist gesperrt.")
                    .with_condition("lock-token-submitted"));
            }
        }
    }
    Ok(())
}

/// Evaluates an `If` header: true when any list holds for its resource (untagged lists are about
/// `default_path`, whose entry may be passed in to save a lookup). `map_tag` turns a resource
/// tag into a path; tags outside the mount make their lists false.
pub(crate) async fn evaluate_if<B, F>(
    ctx: &Ctx<B>,
    header: &IfHeader,
    default_path: &DavPath,
    default_entry: Option<&Entry>,
    map_tag: F,
) -> Result<bool, DavError>
where
    B: DavBackend,
    F: Fn(&str) -> Result<Option<DavPath>, DavError>,
{
    for list in &header.lists {
        let path = match &list.resource {
            None => default_path.clone(),
            Some(raw) => match map_tag(raw) {
                Ok(Some(p)) => p,
                // A tag on another host or outside the mount cannot match anything here.
                Ok(None) | Err(_) => continue,
            },
        };
        let entry = if path == *default_path && default_entry.is_some() {
            default_entry.cloned()
        } else {
            ctx.backend
                .resolve(&ctx.principal, &path, Want::default())
                .await?
        };
        if list_holds(ctx, list, &path, entry.as_ref()).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn list_holds<B: DavBackend>(
    ctx: &Ctx<B>,
    list: &IfList,
    path: &DavPath,
    entry: Option<&Entry>,
) -> Result<bool, DavError> {
    let mut locks: Option<Vec<ActiveLock>> = None;
    for cond in &list.conditions {
        let ok = match &cond.kind {
            ConditionKind::Etag(tag) => entry.is_some_and(|e| e.etag == *tag),
            ConditionKind::Token(token) => {
                if locks.is_none() {
                    locks = Some(live_locks(ctx, path, false).await?);
                }
                locks
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|l| l.token == *token && l.covers(path))
            }
        };
        if ok == cond.not {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The contents of `<d:lockdiscovery>` for `path`, from locks already fetched.
pub(crate) fn lockdiscovery(
    prefix: &str,
    path: &DavPath,
    locks: &[ActiveLock],
    now: SystemTime,
) -> String {
    let mut out = String::new();
    for l in locks.iter().filter(|l| l.covers(path)) {
        activelock(&mut out, prefix, l, now);
    }
    out
}

/// One `<d:activelock>`.
pub(crate) fn activelock(out: &mut String, prefix: &str, l: &ActiveLock, now: SystemTime) {
    out.push_str("<d:activelock><d:locktype><d:write/></d:locktype><d:lockscope>");
    out.push_str(match l.scope {
        LockScope::Exclusive => "<d:exclusive/>",
        LockScope::Shared => "<d:shared/>",
    });
    out.push_str("</d:lockscope><d:depth>");
    out.push_str(if l.deep { "infinity" } else { "0" });
    out.push_str("</d:depth>");
    if let Some(owner) = &l.owner {
        out.push_str("<d:owner>");
        out.push_str(owner);
        out.push_str("</d:owner>");
    }
    out.push_str("<d:timeout>");
    match l.expires_at {
        None => out.push_str("Infinite"),
        Some(t) => {
            // Round up, so a fresh lock reports the timeout it was granted.
            let left = t
                .duration_since(now)
                .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
                .unwrap_or(0);
            out.push_str(&format!("Second-{left}"));
        }
    }
    out.push_str("</d:timeout><d:locktoken><d:href>");
    out.push_str(&escape(&l.token));
    out.push_str("</d:href></d:locktoken><d:lockroot><d:href>");
    out.push_str(&escape(&l.root.href(prefix, false)));
    out.push_str("</d:href></d:lockroot></d:activelock>");
}

/// `<d:supportedlock>` contents: exclusive and shared write locks.
pub(crate) const SUPPORTED_LOCK: &str = "<d:lockentry><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype></d:lockentry><d:lockentry><d:lockscope><d:shared/></d:lockscope><d:locktype><d:write/></d:locktype></d:lockentry>";

/// Removes the locks rooted at or below `path` after it was deleted or moved away: a lock belongs
/// to a URL (RFC 4918 §7), and that URL no longer names anything.
pub(crate) async fn drop_locks_below<B: DavBackend>(
    ctx: &Ctx<B>,
    path: &DavPath,
) -> Result<(), DavError> {
    let locks = ctx.backend.lock_list(&ctx.principal, path, true).await?;
    for l in locks.iter().filter(|l| l.root.starts_with(path)) {
        ctx.backend.lock_remove(&ctx.principal, &l.token).await?;
    }
    Ok(())
}
