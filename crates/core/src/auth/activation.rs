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
        if !actor.is_admin() {
            return Err(Error::Forbidden("admin only"));
        }
        if self.settings.letters.return_address.trim().is_empty() {
            return Err(Error::Invalid("letters.return_address"));
        }
        let mut out = Vec::with_capacity(account_ids.len());
        for id in account_ids {
            let code = self
                .issue_one_time_password(actor, *id, "letter.print", Some(ACCESS_LINK))
                .await?;
            let account = self.account_by_id(*id).await?.ok_or(Error::NotFound)?;
            let member = match account.member_id {
                Some(m) => self.member_by_id(m).await?,
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
        if !actor.is_admin() {
            return Err(Error::Forbidden("admin only"));
        }
        Ok(self
            .db
            .qa::<Account>(select_accounts!(
                "WHERE kind = 'member' AND active = 1 AND must_change_password = 1 ORDER BY created_at, login_key"
            ))
            .fetch_all(self.db.pool())
            .await?)
    }
}
