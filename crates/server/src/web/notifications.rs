//! "Benachrichtigungen": which mails the signed-in account receives, in which language,
//! and for staff whether at once (per window) or as a daily digest.

use amtsbote_core::notify::prefs::{NotificationPrefs, Subscription};
use amtsbote_core::settings::MailLang;
use amtsbote_core::{Error, ErrorKind};
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::CurrentUser;
use super::errors::{WebError, render, status_for};
use super::home::{NoticeQuery, notice_text};
use super::i18n::Lang;
use super::views::NotificationsPage;

fn folder_list(lang: Lang, folders: &[String]) -> String {
    folders
        .iter()
        .map(|f| {
            if f.is_empty() {
                lang.t("notify-folder-root")
            } else {
                format!("„{f}“")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn page(
    st: &AppState,
    user: &CurrentUser,
    error: Option<String>,
    notice: Option<String>,
) -> Result<NotificationsPage, WebError> {
    let lang = user.lang();
    let profile = st
        .app
        .notification_profile(&user.actor)
        .await
        .map_err(|e| user.err(e))?;
    let authority = st.app.settings.authority.display_name.clone();
    let mut items = Vec::new();
    for s in &profile.subscriptions {
        match s {
            Subscription::MemberDocuments { folders } => items.push(lang.ta(
                "notify-sub-member",
                &[
                    ("authority", authority.clone()),
                    ("folders", folder_list(lang, folders)),
                ],
            )),
            Subscription::Deliveries {
                folders,
                assigned,
                unassigned,
            } => {
                if *assigned > 0 {
                    items.push(lang.ta(
                        "notify-sub-assigned",
                        &[
                            ("count", assigned.to_string()),
                            ("folders", folder_list(lang, folders)),
                        ],
                    ));
                }
                if *unassigned {
                    items.push(lang.ta(
                        "notify-sub-unassigned",
                        &[("folders", folder_list(lang, folders))],
                    ));
                }
            }
            Subscription::SecurityNotices => items.push(lang.t("notify-sub-security")),
        }
    }
    let w = profile.window_seconds;
    let timing = if w == 0 {
        lang.t("notify-timing-immediate")
    } else if w % 60 == 0 {
        lang.ta(
            "notify-timing-minutes",
            &[("minutes", (w / 60).to_string())],
        )
    } else {
        lang.ta("notify-timing-seconds", &[("seconds", w.to_string())])
    };
    let mut c = user.ctx(lang.t("notify-title"));
    c.notice = notice;
    Ok(NotificationsPage {
        c,
        email: profile.email,
        items,
        timing,
        may_choose_digest: profile.may_choose_digest,
        digest: profile.prefs.digest,
        digest_hour: profile.digest_hour.to_string(),
        mail_lang: profile.prefs.lang.code().to_string(),
        error,
    })
}

pub async fn show(
    State(st): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let notice = notice_text(&user, &q);
    render(page(&st, &user, None, notice).await?)
}

#[derive(Deserialize)]
pub struct PrefsForm {
    /// "immediate" or "daily" (staff only).
    #[serde(default)]
    delivery: String,
    #[serde(default)]
    mail_lang: String,
}

pub async fn save(
    State(st): State<AppState>,
    user: CurrentUser,
    Form(f): Form<PrefsForm>,
) -> Result<Response, WebError> {
    let Some(lang) = MailLang::parse(&f.mail_lang) else {
        return invalid(&st, &user).await;
    };
    let digest = match f.delivery.as_str() {
        "daily" => true,
        "immediate" | "" => false,
        _ => return invalid(&st, &user).await,
    };
    let prefs = NotificationPrefs { digest, lang };
    match st
        .app
        .set_notification_prefs(&user.actor, prefs, user.ip.clone())
        .await
    {
        Ok(()) => Ok(Redirect::to("/notifications?notice=saved").into_response()),
        Err(e @ Error::Forbidden(_)) => {
            let mut r =
                render(page(&st, &user, Some(user.lang().t("notify-err-digest")), None).await?)?;
            *r.status_mut() = status_for(e.kind());
            Ok(r)
        }
        Err(e) => Err(user.err(e)),
    }
}

async fn invalid(st: &AppState, user: &CurrentUser) -> Result<Response, WebError> {
    let mut r = render(page(st, user, Some(user.lang().t("err-invalid-input")), None).await?)?;
    *r.status_mut() = status_for(ErrorKind::BadInput);
    Ok(r)
}
