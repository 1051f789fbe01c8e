//! Start pages: staff see the newest member deliveries, member users go straight into
//! their own space. Staff also get the member list with search.

use amtsbote_core::Actor;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::CurrentUser;
use super::errors::{WebError, render};
use super::views::{DeliveryRow, HomePage, MembersPage};

/// Messages a redirect may ask the next page to show (never free text from the URL).
pub const NOTICES: &[&str] = &[
    "password-changed",
    "folder-created",
    "node-renamed",
    "node-deleted",
    "saved",
    "member-saved",
    "member-users-saved",
    "app-password-revoked",
    "mail-retried",
    "unlocked",
    "sessions-ended",
    "second-factor-disabled",
    "second-factor-reset",
    "password-set-offer",
];

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

pub fn notice_text(user: &CurrentUser, q: &NoticeQuery) -> Option<String> {
    q.notice
        .as_deref()
        .filter(|n| NOTICES.contains(n))
        .map(|n| user.lang().t(n))
}

pub async fn home(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    if let Actor::MemberUser { .. } = user.actor {
        let access = st
            .app
            .own_space(&user.actor)
            .await
            .map_err(|e| user.err(e))?;
        let mut target = format!("/spaces/{}/folders/{}", access.space_id(), access.root_id());
        if let Some(n) = q.notice.as_deref().filter(|n| NOTICES.contains(n)) {
            target.push_str(&format!("?notice={n}"));
        }
        return Ok(Redirect::to(&target).into_response());
    }
    // Marked as seen before the list is read: a delivery arriving meanwhile is shown
    // as new now and again next time, never silently skipped.
    let seen = st
        .app
        .mark_deliveries_seen(user.account.id)
        .await
        .map_err(|e| user.err(e))?;
    let deliveries = st
        .app
        .recent_deliveries(&user.actor, 100)
        .await
        .map_err(|e| user.err(e))?;
    let mut c = user.ctx(user.lang().t("home-title"));
    c.notice = notice_text(&user, &q);
    render(HomePage {
        c,
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryRow {
                is_new: d.created_at > seen,
                d,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct MembersQuery {
    #[serde(default)]
    q: String,
    notice: Option<String>,
}

pub async fn members(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<MembersQuery>,
) -> Result<Response, WebError> {
    if !user.actor.is_staff() {
        return Err(user.err(amtsbote_core::Error::NotFound));
    }
    let members = st
        .app
        .visible_members(&user.actor, &q.q)
        .await
        .map_err(|e| user.err(e))?;
    let mut c = user.ctx(user.lang().t("members-title"));
    c.notice = notice_text(&user, &NoticeQuery { notice: q.notice });
    render(MembersPage { c, q: q.q, members })
}
