//! Sending due mails: claimed one by one with a lease (so two nodes never send the same
//! mail), rendered from the items whose documents still exist, sent, and recorded. A
//! failed send is retried with exponential backoff; after `notify.max_attempts` tries,
//! or at once when the mail server refuses for good, the mail is a dead letter that
//! admins see and can send again. Every mail sent or dead-lettered is audited
//! (recipient, template, count; never the content).

use std::collections::BTreeMap;

use crate::App;
use crate::audit::{AuditActor, AuditEvent, Outcome};
use crate::auth::actor::Actor;
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::notify::mail::{Mail, Mailer};
use crate::notify::templates::{Template, Texts, Value, Values, escape};
use crate::settings::MailLang;

/// How long a node may take to send one mail before another may take it over. Well
/// above the SMTP timeout (30 s), so a slow but live sender is never overtaken.
const SEND_LEASE_MS: Millis = 5 * 60_000;
/// Mails claimed per round.
const BATCH: i64 = 50;
/// Sent and obsolete mails (with their items: file names, recipients) and filed events
/// are removed after this long; the audit log keeps who received which mail.
const KEEP_DONE_MS: Millis = 30 * 86_400_000;
/// The longest wait between two tries.
const MAX_BACKOFF_MS: Millis = 6 * 3_600_000;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailRow {
    pub id: i64,
    pub recipient: String,
    pub account_id: Option<i64>,
    pub lang: String,
    pub template: String,
    pub member_id: i64,
    pub opened_at: i64,
    pub due_at: i64,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub item_count: i64,
    pub created_at: i64,
}

macro_rules! select_mails {
    ($rest:literal) => {
        concat!(
            "SELECT id, recipient, account_id, lang, template, member_id, opened_at, due_at, status, attempts, next_attempt_at, last_error, sent_at, item_count, created_at FROM mails ",
            $rest
        )
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct ItemRow {
    member_id: i64,
    space_id: Option<i64>,
    folder_id: Option<i64>,
    node_id: Option<i64>,
    name: String,
    detail: String,
}

/// How the mails stand, for the admin page.
#[derive(Debug, Clone, Default)]
pub struct MailOverview {
    pub pending: i64,
    pub sent: i64,
    pub dead: i64,
    pub obsolete: i64,
}

/// What one round of sending did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendRound {
    pub sent: usize,
    pub failed: usize,
    pub dead: usize,
    pub obsolete: usize,
}

/// The wait before try `attempts + 1`: `retry_seconds`, doubling, at most 6 hours.
pub fn backoff_ms(retry_seconds: u64, attempts: i64) -> Millis {
    let base = i64::try_from(retry_seconds.saturating_mul(1000)).unwrap_or(MAX_BACKOFF_MS);
    let exp = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
    base.saturating_mul(1_i64 << exp).min(MAX_BACKOFF_MS)
}

impl App {
    /// Sends the mails that are due. Without a mailer (no `mail.host`) nothing is sent
    /// and the mails wait.
    pub async fn send_due(&self, mailer: &Mailer, texts: &Texts) -> Result<SendRound> {
        let now = self.now();
        let due: Vec<i64> = self
            .db
            .qs::<i64>("SELECT id FROM mails WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at LIMIT ?")
            .bind(now)
            .bind(now)
            .bind(BATCH)
            .fetch_all(self.db.pool())
            .await?;
        let mut round = SendRound::default();
        for id in due {
            // On shutdown the mail in hand is finished, no new one is begun.
            if self
                .notifier
                .stopping
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                break;
            }
            if !self.claim_mail(id).await? {
                continue;
            }
            let failed_before = round.failed;
            self.send_claimed(id, mailer, texts, &mut round).await?;
            if round.failed > failed_before {
                // The mail server is down or refuses us: the others would fail alike.
                break;
            }
        }
        Ok(round)
    }

    async fn claim_mail(&self, id: i64) -> Result<bool> {
        let now = self.now();
        let n = self
            .db
            .q("UPDATE mails SET lease_holder = ?, lease_until = ? WHERE id = ? AND status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)")
            .bind(self.notifier.node.clone())
            .bind(now + SEND_LEASE_MS)
            .bind(id)
            .bind(now)
            .bind(now)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    async fn send_claimed(
        &self,
        id: i64,
        mailer: &Mailer,
        texts: &Texts,
        round: &mut SendRound,
    ) -> Result<()> {
        let mail = self
            .db
            .qa::<MailRow>(select_mails!("WHERE id = ?"))
            .bind(id)
            .fetch_one(self.db.pool())
            .await?;
        let template = Template::parse(&mail.template);
        let items = self
            .visible_to_recipient(&mail, template, self.live_items(id, template).await?)
            .await?;
        let Some(template) = template.filter(|_| !items.is_empty()) else {
            // Every document was deleted before the mail went out, or the recipient may
            // no longer see them: nothing to announce.
            self.finish_mail(id, "obsolete", None).await?;
            round.obsolete += 1;
            return Ok(());
        };
        let lang = MailLang::parse(&mail.lang).unwrap_or(MailLang::De);
        let values = self.values(template, lang, &mail, &items).await?;
        let rendered = texts.render(template, lang, &values);
        let count = count_documents(template, &items);
        let result = mailer
            .send(&Mail {
                to: mail.recipient.clone(),
                subject: rendered.subject,
                text: rendered.text,
                html: Some(rendered.html),
                message_id: Some(self.message_id(id)),
            })
            .await;
        match result {
            Ok(()) => {
                // The mail is out: recording that must not fail for a passing database
                // hiccup, or the mail would be sent again when its lease ends.
                let mut tries = 0;
                loop {
                    match self.record_sent(id, &mail.recipient, template, count).await {
                        Ok(()) => break,
                        Err(e) if tries < 3 => {
                            tries += 1;
                            tracing::warn!(mail = id, error = %e, "recording a sent mail failed, trying again");
                            crate::clock::pause(std::time::Duration::from_millis(250 * tries))
                                .await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                round.sent += 1;
            }
            Err(e) => {
                let attempts = mail.attempts + 1;
                let max = i64::from(self.settings.notify.max_attempts.max(1));
                let error = e.to_string();
                if !e.is_transient() || attempts >= max {
                    tracing::error!(mail = id, template = template.name(), attempts, error = %error, "notification dead-lettered");
                    self.dead_letter(&mail, template, count, attempts, &error)
                        .await?;
                    round.dead += 1;
                } else {
                    let next =
                        self.now() + backoff_ms(self.settings.notify.retry_seconds, attempts);
                    tracing::warn!(mail = id, attempts, error = %error, "notification not sent, will retry");
                    self.db
                        .q("UPDATE mails SET attempts = ?, next_attempt_at = ?, last_error = ?, lease_holder = NULL, lease_until = NULL WHERE id = ? AND lease_holder = ?")
                        .bind(attempts)
                        .bind(next)
                        .bind(error)
                        .bind(id)
                        .bind(self.notifier.node.clone())
                        .execute(self.db.pool())
                        .await?;
                    round.failed += 1;
                }
            }
        }
        Ok(())
    }

    async fn record_sent(
        &self,
        id: i64,
        recipient: &str,
        template: Template,
        count: usize,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE mails SET status = 'sent', sent_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = NULL WHERE id = ? AND lease_holder = ?")
            .bind(self.now())
            .bind(id)
            .bind(self.notifier.node.clone())
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(AuditActor::system(), "mail.sent", recipient.to_string()).detail(
                format!("mail={id} template={} count={count}", template.name()),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The items the recipient may still see: an account deactivated since, or a clerk
    /// no longer assigned to a member, is not told of it.
    async fn visible_to_recipient(
        &self,
        mail: &MailRow,
        template: Option<Template>,
        items: Vec<ItemRow>,
    ) -> Result<Vec<ItemRow>> {
        let Some(account_id) = mail.account_id else {
            return Ok(items);
        };
        let Some(account) = self.account_row(account_id).await? else {
            return Ok(Vec::new());
        };
        if matches!(
            template,
            Some(Template::SecondFactorReset | Template::AccessLink)
        ) {
            return Ok(items);
        }
        let Some(actor) = account.actor().filter(|_| account.is_active()) else {
            return Ok(Vec::new());
        };
        if matches!(template, Some(Template::ScannerUnavailable)) {
            return Ok(items);
        }
        let ids: Vec<i64> = items.iter().map(|i| i.member_id).collect();
        let seen = self.seen_members(&actor, &ids).await?;
        Ok(items
            .into_iter()
            .filter(|i| seen.contains(&i.member_id))
            .collect())
    }

    async fn dead_letter(
        &self,
        mail: &MailRow,
        template: Template,
        count: usize,
        attempts: i64,
        error: &str,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("UPDATE mails SET status = 'dead', attempts = ?, last_error = ?, lease_holder = NULL, lease_until = NULL WHERE id = ? AND lease_holder = ?")
            .bind(attempts)
            .bind(error.to_string())
            .bind(mail.id)
            .bind(self.notifier.node.clone())
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(AuditActor::system(), "mail.dead", mail.recipient.clone())
                .outcome(Outcome::Failure)
                .detail(format!(
                    "mail={} template={} count={count} attempts={attempts} error={error}",
                    mail.id,
                    template.name()
                )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_mail(
        &self,
        id: i64,
        status: &'static str,
        error: Option<String>,
    ) -> Result<()> {
        self.db
            .q("UPDATE mails SET status = ?, last_error = ?, lease_holder = NULL, lease_until = NULL WHERE id = ? AND lease_holder = ?")
            .bind(status)
            .bind(error)
            .bind(id)
            .bind(self.notifier.node.clone())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The items of a mail; for documents only those whose node still exists in its
    /// space (deleted documents are not announced).
    async fn live_items(&self, mail_id: i64, template: Option<Template>) -> Result<Vec<ItemRow>> {
        let documents = matches!(
            template,
            Some(
                Template::MemberDocuments
                    | Template::AuthorityDocuments
                    | Template::AuthorityDigest
            )
        );
        let sql = if documents {
            "SELECT mi.member_id, mi.space_id, mi.folder_id, mi.node_id, mi.name, mi.detail FROM mail_items mi JOIN nodes n ON n.id = mi.node_id AND n.space_id = mi.space_id WHERE mi.mail_id = ? ORDER BY mi.created_at, mi.event_id"
        } else {
            "SELECT member_id, space_id, folder_id, node_id, name, detail FROM mail_items WHERE mail_id = ? ORDER BY created_at, event_id"
        };
        Ok(self
            .db
            .qa::<ItemRow>(sql)
            .bind(mail_id)
            .fetch_all(self.db.pool())
            .await?)
    }

    fn message_id(&self, mail_id: i64) -> String {
        let base = &self.settings.authority.public_base_url;
        let host = base
            .split("://")
            .nth(1)
            .unwrap_or(base)
            .split(['/', ':'])
            .next()
            // An IPv6 address (or nothing usable) is no domain for a Message-ID.
            .filter(|h| !h.is_empty() && !h.starts_with('['))
            .unwrap_or("amtsbote.invalid");
        format!("<notify.{mail_id}@{host}>")
    }

    /// The placeholder values of one mail.
    async fn values(
        &self,
        template: Template,
        lang: MailLang,
        mail: &MailRow,
        items: &[ItemRow],
    ) -> Result<Values> {
        let base = self
            .settings
            .authority
            .public_base_url
            .trim_end_matches('/');
        let n = self.settings.notify.list_file_names;
        let count = count_documents(template, items);
        let mut v = Values::new();
        v.insert("Kurzname", Value::plain(&self.settings.authority.name));
        v.insert("Behörde", Value::plain(&self.settings.authority.full_name));
        v.insert(
            "Signatur",
            Value::plain(match lang {
                MailLang::De => &self.settings.notify.signature,
                MailLang::En => &self.settings.notify.signature_en,
            }),
        );
        v.insert("Anzahl", Value::plain(count.to_string()));
        v.insert("Dokumente", Value::plain(documents_phrase(lang, count)));
        let member = if mail.member_id != 0 {
            self.member_row(mail.member_id).await?
        } else {
            None
        };
        if let Some(m) = &member {
            v.insert("Mitglied", Value::plain(&m.name));
            v.insert("Mitgliedsnummer", Value::plain(&m.number));
        }
        match template {
            Template::MemberDocuments | Template::AuthorityDocuments => {
                v.insert(
                    "Link",
                    Value::link(&format!("{base}{}", folder_path(items))),
                );
                v.insert("Dateiliste", file_list(lang, items, n));
            }
            Template::AuthorityDigest => {
                v.insert("Link", Value::link(&format!("{base}/notifications")));
                v.insert("Liste", self.digest_list(lang, base, items, n).await?);
            }
            Template::UploadInfected => {
                v.insert("Link", Value::link(&format!("{base}/admin/quarantine")));
                v.insert("Befunde", findings(lang, items, n));
            }
            Template::SecondFactorReset => {
                v.insert("Link", Value::link(&format!("{base}/security")));
            }
            Template::AccessLink => {
                v.insert("Link", Value::link(&format!("{base}/login")));
            }
            Template::ScannerUnavailable => {
                v.insert("Link", Value::link(&format!("{base}/")));
                let detail: serde_json::Value =
                    serde_json::from_str(&items[0].detail).unwrap_or_default();
                let since = detail["since"].as_i64().unwrap_or(mail.opened_at);
                v.insert("Seit", Value::plain(local_time(lang, since)));
                v.insert(
                    "Grund",
                    Value::plain(detail["reason"].as_str().unwrap_or_default()),
                );
                let open = detail["on_unavailable"].as_str() == Some("allow");
                v.insert(
                    "Folge",
                    Value::plain(match (lang, open) {
                        (MailLang::De, false) => "Bis dahin werden Uploads abgelehnt; Downloads sind weiter möglich.",
                        (MailLang::De, true) => "Bis dahin werden Uploads UNGEPRÜFT gespeichert (scan.on_unavailable = \"allow\").",
                        (MailLang::En, false) => "Until then, uploads are refused; downloads keep working.",
                        (MailLang::En, true) => "Until then, uploads are stored UNSCANNED (scan.on_unavailable = \"allow\").",
                    }),
                );
            }
        }
        Ok(v)
    }

    /// Per member: how many documents, and the link to them.
    async fn digest_list(
        &self,
        lang: MailLang,
        base: &str,
        items: &[ItemRow],
        names: bool,
    ) -> Result<Value> {
        let mut by_member: BTreeMap<i64, Vec<&ItemRow>> = BTreeMap::new();
        for i in items {
            by_member.entry(i.member_id).or_default().push(i);
        }
        let mut rows = Vec::new();
        for (member_id, its) in by_member {
            let label = self
                .member_row(member_id)
                .await?
                .map(|m| m.label())
                .unwrap_or_else(|| member_id.to_string());
            let owned: Vec<ItemRow> = its.iter().map(|i| (*i).clone()).collect();
            let link = format!("{base}{}", folder_path(&owned));
            let count = count_documents(Template::AuthorityDigest, &owned);
            let files: Vec<String> = if names {
                distinct_names(&owned)
            } else {
                Vec::new()
            };
            rows.push((label, documents_phrase(lang, count), link, files));
        }
        let text = rows
            .iter()
            .map(|(label, phrase, link, files)| {
                let mut s = format!("- {label}: {phrase}\n  {link}");
                for f in files {
                    s.push_str(&format!("\n  · {f}"));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("\n");
        let html = format!(
            "<ul>{}</ul>",
            rows.iter()
                .map(|(label, phrase, link, files)| {
                    let e = escape(link);
                    let mut s = format!(
                        "<li>{}: <a href=\"{e}\">{}</a>",
                        escape(label),
                        escape(phrase)
                    );
                    if !files.is_empty() {
                        s.push_str("<ul>");
                        for f in files {
                            s.push_str(&format!("<li>{}</li>", escape(f)));
                        }
                        s.push_str("</ul>");
                    }
                    s.push_str("</li>");
                    s
                })
                .collect::<Vec<_>>()
                .join("")
        );
        Ok(Value { text, html })
    }

    /// Removes what is done and older than 30 days (data minimisation); dead letters
    /// stay until an admin sends them again. Returns the mails removed.
    pub async fn purge_old_notifications(&self) -> Result<u64> {
        let before = self.now() - KEEP_DONE_MS;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("DELETE FROM mail_items WHERE mail_id IN (SELECT id FROM mails WHERE status IN ('sent', 'obsolete') AND created_at < ?)")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        let removed = self
            .db
            .q("DELETE FROM mails WHERE status IN ('sent', 'obsolete') AND created_at < ?")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.db
            .q("DELETE FROM outbox WHERE status IN ('done', 'failed', 'legacy') AND created_at < ?")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Admin: how the mails stand.
    pub async fn mail_overview(&self, actor: &Actor) -> Result<MailOverview> {
        require_admin(actor)?;
        let count = |status: &'static str| async move {
            self.db
                .qs::<i64>("SELECT COUNT(*) FROM mails WHERE status = ?")
                .bind(status)
                .fetch_one(self.db.pool())
                .await
        };
        Ok(MailOverview {
            pending: count("pending").await?,
            sent: count("sent").await?,
            dead: count("dead").await?,
            obsolete: count("obsolete").await?,
        })
    }

    /// Admin: mails with a status, newest first.
    pub async fn mails_with_status(
        &self,
        actor: &Actor,
        status: &str,
        limit: i64,
    ) -> Result<Vec<MailRow>> {
        require_admin(actor)?;
        self.mails_by_status(status, limit).await
    }

    /// Mails with a status, newest first (tests, the admin page).
    pub async fn mails_by_status(&self, status: &str, limit: i64) -> Result<Vec<MailRow>> {
        Ok(self
            .db
            .qa::<MailRow>(select_mails!(
                "WHERE status = ? ORDER BY created_at DESC, id LIMIT ?"
            ))
            .bind(status.to_string())
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?)
    }

    /// Admin: sends every dead letter again (after the cause, e.g. the mail server's
    /// password, was fixed). Returns how many.
    pub async fn retry_all_mails(&self, actor: &Actor, ip: Option<String>) -> Result<u64> {
        require_admin(actor)?;
        let mut tx = self.db.begin_write().await?;
        let n = self
            .db
            .q("UPDATE mails SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_holder = NULL, lease_until = NULL WHERE status = 'dead'")
            .bind(self.now())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "mail.retry", "all dead letters")
                .detail(format!("count={n}"))
                .ip(ip),
        )
        .await?;
        tx.commit().await?;
        self.wake_notifier();
        Ok(n)
    }

    /// Admin: sends a dead letter again, with a fresh set of tries.
    pub async fn retry_mail(&self, actor: &Actor, id: i64, ip: Option<String>) -> Result<()> {
        require_admin(actor)?;
        let mut tx = self.db.begin_write().await?;
        let mail = self
            .db
            .qa::<MailRow>(select_mails!("WHERE id = ? AND status = 'dead'"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        self.db
            .q("UPDATE mails SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_holder = NULL, lease_until = NULL WHERE id = ? AND status = 'dead'")
            .bind(self.now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "mail.retry", mail.recipient.clone())
                .detail(format!("mail={id} template={}", mail.template))
                .ip(ip),
        )
        .await?;
        tx.commit().await?;
        self.wake_notifier();
        Ok(())
    }
}

fn require_admin(actor: &Actor) -> Result<()> {
    crate::spaces::permissions::administer(actor, crate::spaces::permissions::AdminAct::MailQueue)
}

/// Documents are counted once each, however often they were replaced in the window.
fn count_documents(template: Template, items: &[ItemRow]) -> usize {
    match template {
        Template::UploadInfected
        | Template::ScannerUnavailable
        | Template::SecondFactorReset
        | Template::AccessLink => items.len(),
        _ => {
            let mut ids: Vec<i64> = items.iter().filter_map(|i| i.node_id).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        }
    }
}

fn documents_phrase(lang: MailLang, n: usize) -> String {
    match (lang, n) {
        (MailLang::De, 1) => "1 neues Dokument".into(),
        (MailLang::De, n) => format!("{n} neue Dokumente"),
        (MailLang::En, 1) => "1 new document".into(),
        (MailLang::En, n) => format!("{n} new documents"),
    }
}

/// The folder of the documents if they share one, else the space's root.
fn folder_path(items: &[ItemRow]) -> String {
    let space = items.iter().find_map(|i| i.space_id).unwrap_or_default();
    let mut folders: Vec<i64> = items.iter().filter_map(|i| i.folder_id).collect();
    folders.sort_unstable();
    folders.dedup();
    match folders.as_slice() {
        [one] => format!("/spaces/{space}/folders/{one}"),
        _ => format!("/spaces/{space}"),
    }
}

fn distinct_names(items: &[ItemRow]) -> Vec<String> {
    let mut seen = Vec::new();
    for i in items {
        if !i.name.is_empty() && !seen.contains(&i.name) {
            seen.push(i.name.clone());
        }
    }
    seen
}

fn file_list(lang: MailLang, items: &[ItemRow], names: bool) -> Value {
    if !names {
        return Value::default();
    }
    let head = match lang {
        MailLang::De => "Neu hinterlegt:",
        MailLang::En => "New:",
    };
    let lines: Vec<String> = distinct_names(items)
        .into_iter()
        .map(|n| format!("- {n}"))
        .collect();
    Value::plain(format!("{head}\n{}", lines.join("\n")))
}

/// One line per infected upload: finding, folder, uploader; the file name only with
/// `notify.list_file_names`.
fn findings(lang: MailLang, items: &[ItemRow], names: bool) -> Value {
    let lines: Vec<String> = items
        .iter()
        .map(|i| {
            let d: serde_json::Value = serde_json::from_str(&i.detail).unwrap_or_default();
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            let folder = s("folder");
            let folder = if folder.is_empty() {
                match lang {
                    MailLang::De => "Hauptordner".to_string(),
                    MailLang::En => "main folder".to_string(),
                }
            } else {
                folder
            };
            let name = if names {
                format!(" „{}“", s("file_name"))
            } else {
                String::new()
            };
            match lang {
                MailLang::De => format!(
                    "- {}{name} in „{folder}“, hochgeladen von {}",
                    s("signature"),
                    s("uploaded_by")
                ),
                MailLang::En => format!(
                    "- {}{name} in \"{folder}\", uploaded by {}",
                    s("signature"),
                    s("uploaded_by")
                ),
            }
        })
        .collect();
    Value::plain(lines.join("\n"))
}

fn local_time(lang: MailLang, ms: Millis) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return String::new();
    };
    let tz = jiff::tz::TimeZone::get(crate::notify::fanout::DIGEST_TZ)
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let z = ts.to_zoned(tz);
    match lang {
        MailLang::De => z.strftime("%d.%m.%Y %H:%M Uhr").to_string(),
        MailLang::En => z.strftime("%Y-%m-%d %H:%M").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(space: i64, folder: i64, node: i64, name: &str) -> ItemRow {
        ItemRow {
            member_id: 1,
            space_id: Some(space),
            folder_id: Some(folder),
            node_id: Some(node),
            name: name.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_six_hours() {
        assert_eq!(backoff_ms(60, 1), 60_000);
        assert_eq!(backoff_ms(60, 2), 120_000);
        assert_eq!(backoff_ms(60, 3), 240_000);
        assert_eq!(backoff_ms(60, 9), 60_000 * 256);
        assert_eq!(backoff_ms(60, 10), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(60, 500), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(0, 5), 0);
    }

    #[test]
    fn a_replaced_document_counts_once_and_links_go_to_the_shared_folder() {
        let items = vec![
            item(5, 9, 100, "a.pdf"),
            item(5, 9, 100, "a.pdf"),
            item(5, 9, 101, "b.pdf"),
        ];
        assert_eq!(count_documents(Template::MemberDocuments, &items), 2);
        assert_eq!(folder_path(&items), "/spaces/5/folders/9");
        assert_eq!(distinct_names(&items), vec!["a.pdf", "b.pdf"]);
        let spread = vec![item(5, 9, 100, "a.pdf"), item(5, 10, 101, "b.pdf")];
        assert_eq!(folder_path(&spread), "/spaces/5");
    }

    #[test]
    fn file_names_appear_only_when_configured() {
        let items = vec![item(5, 9, 100, "Bescheid Müller.pdf")];
        assert!(file_list(MailLang::De, &items, false).text.is_empty());
        assert_eq!(
            file_list(MailLang::De, &items, true).text,
            "Neu hinterlegt:\n- Bescheid Müller.pdf"
        );
        assert_eq!(documents_phrase(MailLang::De, 1), "1 neues Dokument");
        assert_eq!(documents_phrase(MailLang::En, 30), "30 new documents");
    }
}
