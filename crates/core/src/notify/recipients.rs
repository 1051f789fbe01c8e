//! Who hears of an event: decided when the event is fanned out, from the accounts and
//! settings as they are then (a deactivated user is not written to).

use crate::App;
use crate::error::Result;
use crate::members::Member;
use crate::notify::outbox::DocumentEvent;
use crate::settings::{MailLang, Notify};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    /// The address in lowercase: one mail per address, whatever its spelling.
    pub key: String,
    pub account_id: Option<i64>,
    pub lang: MailLang,
    /// A staff account that chose the daily digest.
    pub digest: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct AccountRow {
    id: i64,
    email: String,
    kind: String,
    mail_lang: String,
    notify_digest: i64,
}

impl AccountRow {
    fn recipient(&self) -> Recipient {
        Recipient {
            address: self.email.trim().to_string(),
            key: self.email.trim().to_lowercase(),
            account_id: Some(self.id),
            lang: MailLang::parse(&self.mail_lang).unwrap_or(MailLang::De),
            digest: self.kind == "staff" && self.notify_digest != 0,
        }
    }
}

/// `SELECT <AccountRow columns> FROM accounts <rest>`.
macro_rules! select_recipients {
    ($($rest:tt)+) => {
        concat!(
            "SELECT id, email, kind, mail_lang, notify_digest FROM accounts ",
            $($rest)+
        )
    };
}

impl App {
    /// The recipients of a new document, without the uploader.
    pub(crate) async fn document_recipients(
        &self,
        event: &DocumentEvent,
        member: &Member,
    ) -> Result<Vec<Recipient>> {
        if !member.is_active() {
            return Ok(Vec::new());
        }
        let mut out = match event.notify {
            Notify::None => Vec::new(),
            Notify::Member => {
                let mut v: Vec<Recipient> = self
                    .db
                    .qa::<AccountRow>(select_recipients!(
                        "WHERE member_id = ? AND kind = 'member' AND active = 1 ORDER BY login_key"
                    ))
                    .bind(member.id)
                    .fetch_all(self.db.pool())
                    .await?
                    .iter()
                    .map(AccountRow::recipient)
                    .collect();
                v.extend(self.plain_addresses(member.email_list()));
                v
            }
            Notify::Authority => {
                let mut v: Vec<Recipient> = self
                    .db
                    .qa::<AccountRow>(select_recipients!(
                        "WHERE kind = 'staff' AND active = 1 AND id IN (SELECT la.account_id FROM ",
                        crate::members::looked_after!(),
                        " la WHERE la.member_id = ?) ORDER BY login_key"
                    ))
                    .bind(member.id)
                    .fetch_all(self.db.pool())
                    .await?
                    .iter()
                    .map(AccountRow::recipient)
                    .collect();
                v.extend(
                    self.plain_addresses(self.settings.notify.authority_addresses.iter().cloned()),
                );
                v.extend(self.plain_addresses(member.authority_email_list()));
                if v.is_empty() {
                    // Nobody is responsible by name: so that no delivery goes unnoticed,
                    // every clerk hears of it where clerks see all members, else the
                    // admins (who see all), never clerks who must not know this member.
                    let sql = if self.settings.access.clerks_see_all {
                        select_recipients!("WHERE kind = 'staff' AND active = 1 ORDER BY login_key")
                    } else {
                        select_recipients!(
                            "WHERE kind = 'staff' AND role = 'admin' AND active = 1 ORDER BY login_key"
                        )
                    };
                    v = self
                        .db
                        .qa::<AccountRow>(sql)
                        .fetch_all(self.db.pool())
                        .await?
                        .iter()
                        .map(AccountRow::recipient)
                        .collect();
                }
                v
            }
        };
        if let Some(uploader) = event.uploader_id {
            let own: Option<String> = self
                .db
                .qs::<String>("SELECT email FROM accounts WHERE id = ?")
                .bind(uploader)
                .fetch_optional(self.db.pool())
                .await?;
            let own = own.map(|e| e.trim().to_lowercase());
            out.retain(|r| r.account_id != Some(uploader) && Some(&r.key) != own.as_ref());
        }
        Ok(dedup(out))
    }

    /// The active admins, for security notices (never as a digest).
    pub(crate) async fn admin_recipients(&self) -> Result<Vec<Recipient>> {
        let v = self
            .db
            .qa::<AccountRow>(select_recipients!(
                "WHERE kind = 'staff' AND role = 'admin' AND active = 1 ORDER BY login_key"
            ))
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|a| Recipient {
                digest: false,
                ..a.recipient()
            })
            .collect();
        Ok(dedup(v))
    }

    /// The holder of an account, active or not (a notice about their own access).
    pub(crate) async fn account_recipient(&self, account_id: i64) -> Result<Vec<Recipient>> {
        let v = self
            .db
            .qa::<AccountRow>(select_recipients!("WHERE id = ?"))
            .bind(account_id)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|a| Recipient {
                digest: false,
                ..a.recipient()
            })
            .collect();
        Ok(dedup(v))
    }

    /// Addresses without an account (contact addresses, functional mailboxes): in the
    /// installation's mail language, never a digest.
    fn plain_addresses(&self, list: impl IntoIterator<Item = String>) -> Vec<Recipient> {
        list.into_iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .map(|a| Recipient {
                key: a.to_lowercase(),
                address: a,
                account_id: None,
                lang: self.settings.notify.language,
                digest: false,
            })
            .collect()
    }
}

/// One recipient per address; an account's entry wins over a bare address (it carries
/// the language and digest choice).
fn dedup(list: Vec<Recipient>) -> Vec<Recipient> {
    let mut out: Vec<Recipient> = Vec::with_capacity(list.len());
    for r in list {
        if r.key.is_empty() {
            continue;
        }
        match out.iter_mut().find(|o| o.key == r.key) {
            Some(o) if o.account_id.is_none() && r.account_id.is_some() => *o = r,
            Some(_) => {}
            None => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(addr: &str, account: Option<i64>) -> Recipient {
        Recipient {
            address: addr.into(),
            key: addr.to_lowercase(),
            account_id: account,
            lang: MailLang::De,
            digest: false,
        }
    }

    #[test]
    fn one_recipient_per_address_and_the_account_wins() {
        let out = dedup(vec![
            r("Post@Stadt.example", None),
            r("post@stadt.example", Some(7)),
            r("a@b.example", Some(1)),
            r("A@B.example", None),
            r("", None),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].account_id, Some(7));
        assert_eq!(out[1].account_id, Some(1));
    }
}
