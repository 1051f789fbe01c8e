//! "Angemeldete Sitzungen": where and when the account is signed in; its holder ends any
//! of them (or all others) here. Admins end an account's sessions on its page.

use amtsbote_core::auth::sessions::SessionInfo;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::admin::admin_form_for;
use super::auth::{AdminUser, CurrentUser};
use super::errors::{IdPath, WebError, render};
use super::home::{NoticeQuery, notice_text};
use super::i18n::Lang;
use super::views::{SessionRow, SessionsPage};

/// A browser's description, shortened to what a person recognises.
fn browser(agent: &str) -> String {
    let family = [
        ("Edg/", "Microsoft Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("mirall/", "ownCloud/Nextcloud Desktop"),
    ]
    .iter()
    .find(|(needle, _)| agent.contains(needle))
    .map(|(_, name)| *name);
    let system = [
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| agent.contains(needle))
    .map(|(_, name)| *name);
    match (family, system) {
        (Some(f), Some(s)) => format!("{f} ({s})"),
        (Some(f), None) => f.to_string(),
        _ => agent.chars().take(60).collect(),
    }
}

pub fn rows(lang: Lang, list: Vec<SessionInfo>) -> Vec<SessionRow> {
    list.into_iter()
        .map(|s| SessionRow {
            id: s.public_id,
            current: s.current,
            since: lang.datetime(s.created_at),
            last_seen: lang.datetime(s.last_seen_at),
            ip: s.ip.unwrap_or_default(),
            browser: s.user_agent.as_deref().map(browser).unwrap_or_default(),
        })
        .collect()
}

pub async fn list(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let list = st
        .app
        .sessions_of(&user.actor, user.account.id, Some(user.token()))
        .await
        .map_err(|e| user.err(e))?;
    let mut c = user.ctx(lang.t("sessions-title"));
    c.notice = notice_text(&user, &q);
    render(SessionsPage {
        c,
        session_rows: rows(lang, list),
        session_actions: true,
        session_none_key: "sessions-none",
    })
}

#[derive(Deserialize)]
pub struct EndForm {
    /// One session; empty: all but the current one.
    #[serde(default)]
    id: String,
}

pub async fn end(
    State(st): State<AppState>,
    user: CurrentUser,
    Form(f): Form<EndForm>,
) -> Result<Response, WebError> {
    let one = (!f.id.is_empty()).then_some(f.id.as_str());
    st.app
        .end_sessions(
            &user.actor,
            user.account.id,
            one,
            Some(user.token()),
            user.ip.clone(),
        )
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to("/sessions?notice=sessions-ended").into_response())
}

/// Admin: ends every session of an account.
pub async fn end_all_of(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(account): IdPath<String>,
    Form(_f): Form<EndForm>,
) -> Result<Response, WebError> {
    let aid = admin_form_for(&user, &account)?;
    st.app
        .account(&user.actor, aid)
        .await
        .map_err(|e| user.err(e))?;
    // The admin's own current session stays when the account is their own.
    st.app
        .end_sessions(&user.actor, aid, None, Some(user.token()), user.ip.clone())
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to(&format!("/admin/accounts/{aid}?notice=sessions-ended")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_named_as_people_know_them() {
        assert_eq!(
            browser(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
            ),
            "Firefox (Windows)"
        );
        assert_eq!(
            browser(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
            ),
            "Safari (macOS)"
        );
        assert_eq!(
            browser(
                "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0"
            ),
            "Microsoft Edge (Windows)"
        );
        assert_eq!(browser("curl/8.5"), "curl/8.5");
    }
}
