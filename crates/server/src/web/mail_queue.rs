//! "E-Mail-Versand" for admins: notifications waiting or being retried, and dead letters
//! with their error, which an admin can send again. Everyone else gets 404.

use amtsbote_core::notify::deliver::MailRow;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::admin::{admin_form_for, member_labels};
use super::auth::AdminUser;
use super::errors::{IdPath, WebError, render};
use super::home::{NoticeQuery, notice_text};
use super::views::{MailQueuePage, MailQueueRow};

/// Rows shown per list.
const SHOWN: i64 = 200;

pub async fn list(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let overview = st
        .app
        .mail_overview(&user.actor)
        .await
        .map_err(|e| user.err(e))?;
    let labels = member_labels(&st, &user).await?;
    let rows = |list: Vec<MailRow>| -> Vec<MailQueueRow> {
        list.into_iter()
            .map(|m| MailQueueRow {
                kind: lang.t(&format!("mail-kind-{}", m.template)),
                member: labels.get(&m.member_id).cloned().unwrap_or_default(),
                created: lang.datetime(m.created_at),
                next: lang.datetime(m.next_attempt_at),
                error: m.last_error.clone().unwrap_or_default(),
                m,
            })
            .collect()
    };
    let dead = rows(
        st.app
            .mails_with_status(&user.actor, "dead", SHOWN)
            .await
            .map_err(|e| user.err(e))?,
    );
    let pending = rows(
        st.app
            .mails_with_status(&user.actor, "pending", SHOWN)
            .await
            .map_err(|e| user.err(e))?,
    );
    let mut c = user.ctx(lang.t("mailq-title"));
    c.notice = notice_text(&user, &q);
    render(MailQueuePage {
        c,
        configured: !st.app.settings.mail.host.trim().is_empty(),
        pending_count: overview.pending.to_string(),
        sent_count: overview.sent.to_string(),
        dead_count: overview.dead.to_string(),
        dead,
        pending,
    })
}

pub async fn retry(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(id): IdPath<String>,
) -> Result<Response, WebError> {
    let id = admin_form_for(&user, &id)?;
    st.app
        .retry_mail(&user.actor, id, user.ip.clone())
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to("/admin/mail?notice=mail-retried").into_response())
}

pub async fn retry_all(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
) -> Result<Response, WebError> {
    st.app
        .retry_all_mails(&user.actor, user.ip.clone())
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to("/admin/mail?notice=mail-retried").into_response())
}
