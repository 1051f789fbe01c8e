//! Administration for service staff: members and their spaces, accounts, clerk
//! assignments. Every act is audited by the core.

use amtsbote_core::auth::accounts::{AccountKind, AccountUpdate, NewAccount};
use amtsbote_core::members::MemberInput;
use amtsbote_core::{Error, ErrorKind, StaffRole};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::{AdminUser, CurrentUser};
use super::errors::{IdPath, WebError, render, status_for};
use super::home::{NoticeQuery, notice_text};
use super::views::{
    AccountFormPage, AccountRow, AccountsPage, MemberFormPage, OneTimePasswordPage,
};

/// "NUMBER NAME" of every member the user sees, by member id, for admin lists.
pub(super) async fn member_labels(
    st: &AppState,
    user: &CurrentUser,
) -> Result<std::collections::HashMap<i64, String>, WebError> {
    Ok(st
        .app
        .visible_members(&user.actor, "")
        .await
        .map_err(|e| user.err(e))?
        .into_iter()
        .map(|m| (m.id, format!("{} {}", m.number, m.name)))
        .collect())
}

fn id(user: &CurrentUser, raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>().map_err(|_| user.err(Error::NotFound))
}

/// The record an admin form acts on: its id from the path (the [`AdminUser`] extractor
/// has let only admins through, the CSRF layer only the session's own forms).
pub(super) fn admin_form_for(user: &CurrentUser, raw_id: &str) -> Result<i64, WebError> {
    id(user, raw_id)
}

#[derive(Deserialize, Default)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    emails: String,
    #[serde(default)]
    authority_emails: String,
    /// New member only: its users, one per line: login; name; e-mail.
    #[serde(default)]
    users: String,
    active: Option<String>,
}

impl MemberForm {
    fn input(&self) -> MemberInput {
        MemberInput {
            number: self.number.clone(),
            name: self.name.clone(),
            postal_address: self.address.clone(),
            emails: self
                .emails
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect(),
            authority_emails: self
                .authority_emails
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect(),
        }
    }
}

/// The users typed into the new-member form, one per line as "login; name; e-mail"
/// (tabs work too, for lines pasted from a spreadsheet). Err: the first bad line's number.
fn member_users_of(
    text: &str,
) -> Result<Vec<amtsbote_core::auth::activation::NewMemberUser>, usize> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.trim().split([';', '\t']).map(str::trim).collect();
        match parts.as_slice() {
            [login, name, email] if !login.is_empty() && !name.is_empty() => {
                out.push(amtsbote_core::auth::activation::NewMemberUser {
                    login: login.to_string(),
                    display_name: name.to_string(),
                    email: email.to_string(),
                })
            }
            _ => return Err(i + 1),
        }
    }
    Ok(out)
}

fn member_error_key(e: &Error) -> &'static str {
    match e {
        Error::AlreadyExists => "err-number-taken",
        other => other.message_key(),
    }
}

async fn member_page(
    st: &AppState,
    user: &CurrentUser,
    member_id: Option<i64>,
    form: &MemberForm,
    error: Option<String>,
    notice: Option<String>,
) -> Result<MemberFormPage, WebError> {
    let lang = user.lang();
    let (member, users, clerks, space_id) = match member_id {
        Some(mid) => {
            let a = &user.actor;
            let m = st.app.member(a, mid).await.map_err(|e| user.err(e))?;
            let users = st.app.member_users(a, mid).await.map_err(|e| user.err(e))?;
            let clerks = st
                .app
                .assigned_clerks(a, mid)
                .await
                .map_err(|e| user.err(e))?;
            let space = st
                .app
                .space_of_member(a, mid)
                .await
                .map_err(|e| user.err(e))?;
            (Some(m), users, clerks, Some(space.id))
        }
        None => (None, Vec::new(), Vec::new(), None),
    };
    let staff = st
        .app
        .list_accounts(&user.actor)
        .await
        .map_err(|e| user.err(e))?
        .into_iter()
        .filter(|a| a.is_staff() && a.is_active() && !clerks.iter().any(|c| c.id == a.id))
        .collect();
    let mut c = user.ctx(lang.t(if member.is_some() {
        "member-edit-title"
    } else {
        "member-new-title"
    }));
    c.notice = notice;
    Ok(MemberFormPage {
        c,
        number: form.number.clone(),
        name: form.name.clone(),
        address: form.address.clone(),
        emails: form.emails.clone(),
        authority_emails: form.authority_emails.clone(),
        new_users: form.users.clone(),
        active: member
            .as_ref()
            .map(|m| {
                if form.csrf.is_empty() {
                    m.is_active()
                } else {
                    form.active.is_some()
                }
            })
            .unwrap_or(true),
        member,
        error,
        users,
        clerks,
        staff,
        space_id,
    })
}

pub async fn member_new_form(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
) -> Result<Response, WebError> {
    render(member_page(&st, &user, None, &MemberForm::default(), None, None).await?)
}

pub async fn member_create(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    Form(f): Form<MemberForm>,
) -> Result<Response, WebError> {
    let users = match member_users_of(&f.users) {
        Ok(u) => u,
        Err(line) => {
            let msg = user
                .lang()
                .ta("err-member-users-line", &[("line", line.to_string())]);
            let mut r = render(member_page(&st, &user, None, &f, Some(msg), None).await?)?;
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(r);
        }
    };
    match st
        .app
        .create_member_with_users(&user.actor, f.input(), &users)
        .await
    {
        Ok((m, accounts)) if !accounts.is_empty() => Ok(Redirect::to(&format!(
            "/admin/members/{}?notice=member-users-saved",
            m.id
        ))
        .into_response()),
        Ok((m, _)) => Ok(
            Redirect::to(&format!("/admin/members/{}?notice=member-saved", m.id)).into_response(),
        ),
        Err(e) if matches!(e.kind(), ErrorKind::BadInput | ErrorKind::Conflict) => {
            let msg = user.lang().t(member_error_key(&e));
            let mut r = render(member_page(&st, &user, None, &f, Some(msg), None).await?)?;
            *r.status_mut() = status_for(e.kind());
            Ok(r)
        }
        Err(e) => Err(user.err(e)),
    }
}

pub async fn member_edit_form(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(member): IdPath<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let mid = id(&user, &member)?;
    let m = st
        .app
        .member(&user.actor, mid)
        .await
        .map_err(|e| user.err(e))?;
    let form = MemberForm {
        csrf: String::new(),
        number: m.number.clone(),
        name: m.name.clone(),
        address: m.postal_address.clone(),
        emails: m.emails.clone(),
        authority_emails: m.authority_emails.clone(),
        users: String::new(),
        active: m.is_active().then(|| "1".into()),
    };
    render(member_page(&st, &user, Some(mid), &form, None, notice_text(&user, &q)).await?)
}

pub async fn member_update(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(member): IdPath<String>,
    Form(f): Form<MemberForm>,
) -> Result<Response, WebError> {
    let mid = id(&user, &member)?;
    match st
        .app
        .update_member(&user.actor, mid, f.input(), f.active.is_some())
        .await
    {
        Ok(()) => {
            Ok(Redirect::to(&format!("/admin/members/{mid}?notice=member-saved")).into_response())
        }
        Err(e) if matches!(e.kind(), ErrorKind::BadInput | ErrorKind::Conflict) => {
            let msg = user.lang().t(member_error_key(&e));
            let mut r = render(member_page(&st, &user, Some(mid), &f, Some(msg), None).await?)?;
            *r.status_mut() = status_for(e.kind());
            Ok(r)
        }
        Err(e) => Err(user.err(e)),
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    assign: String,
}

pub async fn member_assign(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(member): IdPath<String>,
    Form(f): Form<AssignForm>,
) -> Result<Response, WebError> {
    let mid = id(&user, &member)?;
    let m = st
        .app
        .member(&user.actor, mid)
        .await
        .map_err(|e| user.err(e))?;
    st.app
        .assign_clerk(&user.actor, &f.login, &m.number, f.assign == "1")
        .await
        .map_err(|e| user.err(e))?;
    Ok(Redirect::to(&format!("/admin/members/{mid}?notice=saved")).into_response())
}

pub async fn accounts(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let accounts = st
        .app
        .list_accounts(&user.actor)
        .await
        .map_err(|e| user.err(e))?;
    let labels = member_labels(&st, &user).await?;
    let rows = accounts
        .into_iter()
        .map(|a| {
            let member_label = a
                .member_id
                .and_then(|mid| labels.get(&mid).cloned())
                .unwrap_or_default();
            AccountRow { a, member_label }
        })
        .collect();
    let mut c = user.ctx(user.lang().t("accounts-title"));
    c.notice = notice_text(&user, &q);
    render(AccountsPage { c, accounts: rows })
}

#[derive(Deserialize, Default)]
pub struct AccountForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    member: String,
    active: Option<String>,
}

#[derive(Deserialize)]
pub struct NewAccountQuery {
    member: Option<String>,
}

async fn account_page(
    st: &AppState,
    user: &CurrentUser,
    account_id: Option<i64>,
    f: &AccountForm,
    error: Option<String>,
) -> Result<AccountFormPage, WebError> {
    let lang = user.lang();
    let account = match account_id {
        Some(aid) => Some(
            st.app
                .account(&user.actor, aid)
                .await
                .map_err(|e| user.err(e))?,
        ),
        None => None,
    };
    let members = st
        .app
        .visible_members(&user.actor, "")
        .await
        .map_err(|e| user.err(e))?;
    let session_rows = match &account {
        Some(a) => super::sessions::rows(
            lang,
            st.app
                .sessions_of(&user.actor, a.id, None)
                .await
                .map_err(|e| user.err(e))?,
        ),
        None => Vec::new(),
    };
    let c = user.ctx(lang.t(if account.is_some() {
        "account-edit-title"
    } else {
        "account-new-title"
    }));
    Ok(AccountFormPage {
        c,
        login: f.login.clone(),
        display_name: f.display_name.clone(),
        email: f.email.clone(),
        kind: if f.kind.is_empty() {
            "clerk".into()
        } else {
            f.kind.clone()
        },
        member_number: f.member.clone(),
        active: f.active.is_some(),
        account,
        members,
        session_rows,
        session_actions: false,
        session_none_key: "sessions-none-account",
        error,
    })
}

pub async fn account_new_form(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    Query(q): Query<NewAccountQuery>,
) -> Result<Response, WebError> {
    let f = AccountForm {
        kind: if q.member.is_some() {
            "member".into()
        } else {
            "clerk".into()
        },
        member: q.member.unwrap_or_default(),
        ..AccountForm::default()
    };
    render(account_page(&st, &user, None, &f, None).await?)
}

fn account_error_key(e: &Error) -> &'static str {
    match e {
        Error::AlreadyExists => "err-login-taken",
        Error::NotFound => "err-field-member",
        other => other.message_key(),
    }
}

pub async fn account_create(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    Form(f): Form<AccountForm>,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let kind = match f.kind.as_str() {
        "admin" => Ok(AccountKind::Staff(StaffRole::Admin)),
        "clerk" => Ok(AccountKind::Staff(StaffRole::Clerk)),
        "member" => match st.app.member_numbered(&user.actor, &f.member).await {
            Ok(m) => Ok(AccountKind::MemberUser { member_id: m.id }),
            Err(Error::NotFound) => Err(Error::NotFound),
            Err(e) => return Err(user.err(e)),
        },
        _ => Err(Error::Invalid("kind")),
    };
    let result = match kind {
        Ok(kind) => {
            st.app
                .create_account(
                    &user.actor,
                    NewAccount {
                        login: f.login.clone(),
                        display_name: f.display_name.clone(),
                        email: f.email.clone(),
                        kind,
                    },
                )
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((account, otp)) => {
            let c = user.ctx(lang.t("otp-title"));
            render(OneTimePasswordPage {
                c,
                login: account.login,
                password: otp,
                account_id: account.id,
            })
        }
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::BadInput | ErrorKind::Conflict | ErrorKind::NotFound
            ) =>
        {
            let status = if e.kind() == ErrorKind::NotFound {
                StatusCode::BAD_REQUEST
            } else {
                status_for(e.kind())
            };
            let msg = lang.t(account_error_key(&e));
            let mut r = render(account_page(&st, &user, None, &f, Some(msg)).await?)?;
            *r.status_mut() = status;
            Ok(r)
        }
        Err(e) => Err(user.err(e)),
    }
}

pub async fn account_edit_form(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(account): IdPath<String>,
) -> Result<Response, WebError> {
    let aid = id(&user, &account)?;
    let a = st
        .app
        .account(&user.actor, aid)
        .await
        .map_err(|e| user.err(e))?;
    let f = AccountForm {
        login: a.login.clone(),
        display_name: a.display_name.clone(),
        email: a.email.clone(),
        kind: if a.is_staff() {
            a.role.clone().unwrap_or_default()
        } else {
            "member".into()
        },
        member: String::new(),
        active: a.is_active().then(|| "1".into()),
    };
    render(account_page(&st, &user, Some(aid), &f, None).await?)
}

pub async fn account_update(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(account): IdPath<String>,
    Form(f): Form<AccountForm>,
) -> Result<Response, WebError> {
    let aid = id(&user, &account)?;
    let upd = AccountUpdate {
        display_name: f.display_name.clone(),
        email: f.email.clone(),
        role: StaffRole::parse(&f.kind),
        active: f.active.is_some(),
    };
    match st.app.update_account(&user.actor, aid, upd).await {
        Ok(()) => Ok(Redirect::to("/admin/accounts?notice=saved").into_response()),
        Err(e) if matches!(e.kind(), ErrorKind::BadInput | ErrorKind::Conflict) => {
            let msg = user.lang().t(account_error_key(&e));
            let mut r = render(account_page(&st, &user, Some(aid), &f, Some(msg)).await?)?;
            *r.status_mut() = status_for(e.kind());
            Ok(r)
        }
        Err(e) => Err(user.err(e)),
    }
}

pub async fn account_reset(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    IdPath(account): IdPath<String>,
) -> Result<Response, WebError> {
    let aid = id(&user, &account)?;
    let a = st
        .app
        .account(&user.actor, aid)
        .await
        .map_err(|e| user.err(e))?;
    let otp = st
        .app
        .reset_password(&user.actor, aid)
        .await
        .map_err(|e| user.err(e))?;
    let c = user.ctx(user.lang().t("otp-title"));
    render(OneTimePasswordPage {
        c,
        login: a.login,
        password: otp,
        account_id: aid,
    })
}
