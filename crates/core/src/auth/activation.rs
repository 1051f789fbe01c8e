//! Access by two channels: the activation code (a one-time password) goes by letter
//! post, the link by e-mail. Printing a letter issues a new code (a reprint never shows
//! an old one; the code exists only as a hash and in the PDF), ends the account's
//! sessions, is audited, and sends the link mail, which never holds the code.

use crate::App;
use crate::auth::accounts::{Account, select_accounts};
use crate::auth::actor::Actor;
use crate::error::{Error, Result};
use crate::members::Member;
use crate::notify::outbox::ACCESS_LINK;

/// What a credential letter needs.
#[derive(Debug, Clone)]
pub struct AccessIssued {
    pub account: Account,
    pub member: Option<Member>,
    pub code: String,
    pub valid_until: i64,
}

impl App {
    /// Admin: a new activation code for each account, for its letter.
    pub async fn issue_access_letters(
        &self,
        actor: &Actor,
        account_ids: &[i64],
    ) -> Result<Vec<AccessIssued>> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Letters,
        )?;
        if self.settings.letters.return_address.trim().is_empty() {
            return Err(Error::Invalid("letters.return_address"));
        }
        let mut out = Vec::with_capacity(account_ids.len());
        for id in account_ids {
            let code = self
                .issue_one_time_password(actor, *id, "letter.print", Some(ACCESS_LINK))
                .await?;
            let account = self.account_row(*id).await?.ok_or(Error::NotFound)?;
            let member = match account.member_id {
                Some(m) => self.member_row(m).await?,
                None => None,
            };
            out.push(AccessIssued {
                valid_until: account.activation_expires_at.unwrap_or_default(),
                account,
                member,
                code,
            });
        }
        if !out.is_empty() {
            self.wake_notifier();
        }
        Ok(out)
    }

    /// Admin: active member users who have not yet signed in with their code and set
    /// a password ("Zugang noch nicht aktiviert"), oldest first.
    pub async fn unactivated_accounts(&self, actor: &Actor) -> Result<Vec<Account>> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Letters,
        )?;
        Ok(self
            .db
            .qa::<Account>(select_accounts!(
                "WHERE kind = 'member' AND active = 1 AND must_change_password = 1 ORDER BY created_at, login_key"
            ))
            .fetch_all(self.db.pool())
            .await?)
    }
}

/// A member user to create together with their member.
#[derive(Debug, Clone)]
pub struct NewMemberUser {
    pub login: String,
    pub display_name: String,
    pub email: String,
}

impl App {
    /// Admin: a member with its space and its users in one step (the service staff's
    /// onboarding form). Every user is checked first (names, addresses, free and
    /// distinct logins), so a mistake creates nothing; the users' access letters are
    /// printed afterwards ("Zugänge").
    pub async fn create_member_with_users(
        &self,
        actor: &Actor,
        input: crate::members::MemberInput,
        users: &[NewMemberUser],
    ) -> Result<(Member, Vec<Account>)> {
        use crate::auth::accounts::{
            AccountKind, NewAccount, validate_display_name, validate_email, validate_login,
        };
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Letters,
        )?;
        let mut seen = std::collections::HashSet::new();
        for u in users {
            let login = validate_login(&u.login)?;
            validate_email(&u.email)?;
            validate_display_name(&u.display_name)?;
            if !seen.insert(login.to_lowercase())
                || self.account_row_by_login(&login).await?.is_some()
            {
                return Err(Error::Invalid("login taken"));
            }
        }
        let member = self.create_member(actor, input).await?;
        let mut accounts = Vec::with_capacity(users.len());
        for u in users {
            let (account, _unused_code) = self
                .create_account(
                    actor,
                    NewAccount {
                        login: u.login.clone(),
                        display_name: u.display_name.clone(),
                        email: u.email.clone(),
                        kind: AccountKind::MemberUser {
                            member_id: member.id,
                        },
                    },
                )
                .await?;
            accounts.push(account);
        }
        Ok((member, accounts))
    }
}
