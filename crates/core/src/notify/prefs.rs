//! What each account hears of, and what it may choose: the language of its mails, and
//! for staff the daily digest instead of a mail per window. Member users cannot switch
//! off the mails the process depends on.

use crate::App;
use crate::audit::AuditEvent;
use crate::auth::actor::Actor;
use crate::db::flag;
use crate::error::{Error, Result};
use crate::settings::{MailLang, Notify};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationPrefs {
    pub digest: bool,
    pub lang: MailLang,
}

/// One kind of mail an account receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// New documents from the authority in these folders of the member's space ("" is
    /// the space's main folder). Part of the process: cannot be switched off.
    MemberDocuments { folders: Vec<String> },
    /// Deliveries of members into these folders: of `assigned` members assigned to the
    /// account, and (`unassigned`) of members nobody is assigned to.
    Deliveries {
        folders: Vec<String>,
        assigned: usize,
        unassigned: bool,
    },
    /// Malware found, scanner unreachable: admins, always at once.
    SecurityNotices,
}

#[derive(Debug, Clone)]
pub struct NotificationProfile {
    pub email: String,
    pub prefs: NotificationPrefs,
    pub subscriptions: Vec<Subscription>,
    /// Staff only.
    pub may_choose_digest: bool,
    pub window_seconds: u64,
    pub digest_hour: u8,
}

#[derive(sqlx::FromRow)]
struct PrefRow {
    email: String,
    mail_lang: String,
    notify_digest: i64,
}

impl App {
    pub async fn notification_profile(&self, actor: &Actor) -> Result<NotificationProfile> {
        let id = actor.account_id().ok_or(Error::Forbidden("no account"))?;
        let row = self
            .db
            .qa::<PrefRow>("SELECT email, mail_lang, notify_digest FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or(Error::NotFound)?;
        let folders_for = |who: Notify| -> Vec<String> {
            let t = &self.settings.template;
            let mut v = Vec::new();
            if t.root.notify == who {
                v.push(String::new());
            }
            v.extend(
                t.folders
                    .iter()
                    .filter(|f| f.policy.notify == who)
                    .map(|f| f.name.clone()),
            );
            v
        };
        let mut subscriptions = Vec::new();
        match actor {
            Actor::MemberUser { .. } => {
                let folders = folders_for(Notify::Member);
                if !folders.is_empty() {
                    subscriptions.push(Subscription::MemberDocuments { folders });
                }
            }
            _ => {
                let folders = folders_for(Notify::Authority);
                if !folders.is_empty() {
                    let assigned = self.assigned_member_ids(id).await?.len();
                    // Deliveries of members nobody is assigned to go to the functional
                    // mailboxes if there are any, else to everyone who sees all members.
                    let unassigned = self.settings.notify.authority_addresses.is_empty()
                        && self.limited_to_assigned(actor).is_none();
                    if assigned > 0 || unassigned {
                        subscriptions.push(Subscription::Deliveries {
                            folders,
                            assigned,
                            unassigned,
                        });
                    }
                }
                if actor.is_admin() {
                    subscriptions.push(Subscription::SecurityNotices);
                }
            }
        }
        Ok(NotificationProfile {
            email: row.email,
            prefs: NotificationPrefs {
                digest: actor.is_staff() && row.notify_digest != 0,
                lang: MailLang::parse(&row.mail_lang).unwrap_or(MailLang::De),
            },
            subscriptions,
            may_choose_digest: actor.is_staff(),
            window_seconds: self.settings.notify.window_seconds,
            digest_hour: self.settings.notify.digest_hour,
        })
    }

    /// Saves an account's own choices. A member user cannot choose the digest: the
    /// process promises them a mail when documents arrive.
    pub async fn set_notification_prefs(
        &self,
        actor: &Actor,
        prefs: NotificationPrefs,
        ip: Option<String>,
    ) -> Result<()> {
        let id = actor.account_id().ok_or(Error::Forbidden("no account"))?;
        if prefs.digest && !actor.is_staff() {
            return Err(Error::Forbidden("digest is for staff"));
        }
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE accounts SET notify_digest = ?, mail_lang = ? WHERE id = ?")
            .bind(flag(prefs.digest))
            .bind(prefs.lang.code())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "notify.prefs", format!("account:{id}"))
                .detail(format!(
                    "delivery={} lang={}",
                    if prefs.digest { "daily" } else { "immediate" },
                    prefs.lang.code()
                ))
                .ip(ip),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
