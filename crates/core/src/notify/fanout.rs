//! From events to mails. Each pending outbox row becomes an item of one mail per
//! recipient: the first event for a recipient, space and kind of mail opens a mail due
//! when the window ends, later events in the window join it. Only one node fans out at
//! a time (the `notify.fanout` lease), so two nodes never open two mails for the same
//! window; an event is marked done in the transaction that files its items, so it is
//! filed once however often this runs.

use std::collections::HashMap;

use serde::Deserialize;

use crate::App;
use crate::clock::Millis;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::ids;
use crate::notify::outbox::{
    ACCESS_LINK, AccountEvent, DocumentEvent, NEW_DOCUMENT, OutboxRow, SCANNER_UNAVAILABLE,
    SECOND_FACTOR_RESET, UPLOAD_INFECTED,
};
use crate::notify::recipients::Recipient;
use crate::notify::templates::Template;
use crate::settings::Notify;

/// How long a node holds the fan-out after its last round; another node takes over
/// when it has not renewed it for this long (it died).
const FANOUT_LEASE_MS: Millis = 60_000;
/// Events filed per round.
const BATCH: i64 = 200;
/// Events filed per transaction.
const PER_TRANSACTION: usize = 50;

/// Recipients of document events in one round, by member, side and uploader.
type RecipientCache = HashMap<(i64, Notify, Option<i64>), Vec<Recipient>>;
/// The time zone of the daily digest (as of the dates shown in the web pages).
pub const DIGEST_TZ: &str = "Europe/Berlin";

/// What one event becomes for each recipient.
struct Filing {
    template: Template,
    member_id: i64,
    space_id: Option<i64>,
    folder_id: Option<i64>,
    node_id: Option<i64>,
    name: String,
    /// The window applies (security notices of an outage go out at once).
    batched: bool,
}

#[derive(Deserialize)]
struct MemberRef {
    member_id: i64,
}

impl App {
    /// Files pending events into mails. Returns how many events were filed (0 when
    /// another node holds the fan-out).
    pub async fn fan_out(&self) -> Result<usize> {
        let _one_at_a_time = self.notifier.fanout.lock().await;
        let pending = self
            .db
            .qa::<OutboxRow>("SELECT id, kind, payload, status, created_at FROM outbox WHERE status = 'pending' ORDER BY id LIMIT ?")
            .bind(BATCH)
            .fetch_all(self.db.pool())
            .await?;
        if pending.is_empty() || !self.take_lease("notify.fanout", FANOUT_LEASE_MS).await? {
            return Ok(0);
        }
        // Who hears of what is looked up once per member, side and uploader in a round
        // (a burst of uploads is one lookup), and a round's events are filed in a few
        // transactions instead of one each: filing must not compete with the uploads
        // that cause it.
        let mut cache = RecipientCache::new();
        let mut filed = 0;
        for (i, chunk) in pending.chunks(PER_TRANSACTION).enumerate() {
            // A long round renews its lease, or stops if another node took over.
            if i > 0 && !self.take_lease("notify.fanout", FANOUT_LEASE_MS).await? {
                break;
            }
            let mut resolved = Vec::with_capacity(chunk.len());
            for event in chunk {
                match self.resolve(event, &mut cache).await {
                    Ok((recipients, filing)) => resolved.push((event, recipients, filing)),
                    Err(Error::Invalid(what)) => {
                        // An event nobody can read must not be retried for ever: set
                        // aside with the reason.
                        tracing::error!(event = event.id, kind = %event.kind, what, "unreadable outbox event set aside");
                        self.db
                            .q("UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ? AND status = 'pending'")
                            .bind(what.to_string())
                            .bind(event.id)
                            .execute(self.db.pool())
                            .await?;
                    }
                    Err(e) => return Err(e),
                }
            }
            let mut tx = self.db.begin_write().await?;
            for (event, recipients, filing) in &resolved {
                if self.file_event(&mut tx, event, recipients, filing).await? {
                    filed += 1;
                }
            }
            tx.commit().await?;
        }
        Ok(filed)
    }

    /// Takes or renews a named lease for this node; false if another node holds it.
    async fn take_lease(&self, name: &'static str, ms: Millis) -> Result<bool> {
        let now = self.now();
        let me = self.notifier.node.as_str();
        self.db
            .q("UPDATE job_leases SET holder = ?, lease_until = ? WHERE name = ? AND (holder = ? OR lease_until < ?)")
            .bind(me.to_string())
            .bind(now + ms)
            .bind(name)
            .bind(me.to_string())
            .bind(now)
            .execute(self.db.pool())
            .await?;
        // Read back instead of trusting the row count: MySQL counts only rows whose
        // values changed, and a renewal within the same millisecond changes nothing.
        let holder: Option<String> = self
            .db
            .qs::<String>("SELECT holder FROM job_leases WHERE name = ?")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(holder.as_deref() == Some(me))
    }

    /// Files one event in `tx`; false if another round filed it first.
    async fn file_event(
        &self,
        tx: &mut Tx,
        event: &OutboxRow,
        recipients: &[Recipient],
        filing: &Filing,
    ) -> Result<bool> {
        let claimed = self
            .db
            .q("UPDATE outbox SET status = 'done' WHERE id = ? AND status = 'pending'")
            .bind(event.id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if claimed != 1 {
            return Ok(false);
        }
        let now = self.now();
        for r in recipients {
            let (template, member_id, due) =
                if r.digest && filing.template == Template::AuthorityDocuments {
                    (
                        Template::AuthorityDigest,
                        0,
                        next_digest(event.created_at, self.settings.notify.digest_hour),
                    )
                } else if filing.batched {
                    (
                        filing.template,
                        filing.member_id,
                        event.created_at + window_ms(self.settings.notify.window_seconds),
                    )
                } else {
                    (filing.template, filing.member_id, event.created_at)
                };
            let open: Option<i64> = self
                .db
                .qs_for_update::<i64>("SELECT id FROM mails WHERE recipient_key = ? AND template = ? AND member_id = ? AND status = 'pending' AND attempts = 0 AND lease_holder IS NULL AND due_at > ? ORDER BY due_at LIMIT 1")
                .bind(r.key.clone())
                .bind(template.name())
                .bind(member_id)
                .bind(event.created_at)
                .fetch_optional(&mut **tx)
                .await?;
            // Joining locks the mail row until commit: a sender claiming it waits and
            // then reads this item too, or claimed first and this event opens a new mail.
            let joined = match open {
                Some(id) => {
                    let n = self
                        .db
                        .q("UPDATE mails SET item_count = item_count + 1 WHERE id = ? AND status = 'pending' AND attempts = 0 AND lease_holder IS NULL")
                        .bind(id)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                    (n == 1).then_some(id)
                }
                None => None,
            };
            let mail_id = match joined {
                Some(id) => id,
                None => {
                    let id = ids::new_id();
                    self.db
                        .q("INSERT INTO mails (id, recipient, recipient_key, account_id, lang, template, member_id, opened_at, due_at, status, attempts, next_attempt_at, lease_until, lease_holder, last_error, sent_at, item_count, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, NULL, NULL, NULL, NULL, 1, ?)")
                        .bind(id)
                        .bind(r.address.clone())
                        .bind(r.key.clone())
                        .bind(r.account_id)
                        .bind(r.lang.code())
                        .bind(template.name())
                        .bind(member_id)
                        .bind(event.created_at)
                        .bind(due)
                        .bind(due)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                    id
                }
            };
            self.db
                .q("INSERT INTO mail_items (mail_id, event_id, member_id, space_id, folder_id, node_id, name, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(mail_id)
                .bind(event.id)
                .bind(filing.member_id)
                .bind(filing.space_id)
                .bind(filing.folder_id)
                .bind(filing.node_id)
                .bind(filing.name.clone())
                .bind(event.payload.clone())
                .bind(event.created_at)
                .execute(&mut **tx)
                .await?;
        }
        Ok(true)
    }

    /// Who hears of the event, and as what.
    async fn resolve(
        &self,
        event: &OutboxRow,
        cache: &mut RecipientCache,
    ) -> Result<(Vec<Recipient>, Filing)> {
        match event.kind.as_str() {
            NEW_DOCUMENT => {
                let ev: DocumentEvent = serde_json::from_str(&event.payload)
                    .map_err(|_| Error::Invalid("new_document payload"))?;
                let key = (ev.member_id, ev.notify, ev.uploader_id);
                let recipients = match cache.get(&key) {
                    Some(r) => r.clone(),
                    None => {
                        let r = match self.member_row(ev.member_id).await? {
                            Some(member) => self.document_recipients(&ev, &member).await?,
                            None => Vec::new(),
                        };
                        cache.insert(key, r.clone());
                        r
                    }
                };
                Ok((recipients, document_filing(&ev)))
            }
            UPLOAD_INFECTED => {
                let m: MemberRef = serde_json::from_str(&event.payload)
                    .map_err(|_| Error::Invalid("upload_infected payload"))?;
                Ok((
                    self.admin_recipients().await?,
                    Filing {
                        template: Template::UploadInfected,
                        member_id: m.member_id,
                        space_id: None,
                        folder_id: None,
                        node_id: None,
                        name: String::new(),
                        batched: true,
                    },
                ))
            }
            SCANNER_UNAVAILABLE => Ok((
                self.admin_recipients().await?,
                Filing {
                    template: Template::ScannerUnavailable,
                    member_id: 0,
                    space_id: None,
                    folder_id: None,
                    node_id: None,
                    name: String::new(),
                    batched: false,
                },
            )),
            SECOND_FACTOR_RESET | ACCESS_LINK => {
                let a: AccountEvent = serde_json::from_str(&event.payload)
                    .map_err(|_| Error::Invalid("account event payload"))?;
                Ok((
                    self.account_recipient(a.account_id).await?,
                    Filing {
                        template: if event.kind == ACCESS_LINK {
                            Template::AccessLink
                        } else {
                            Template::SecondFactorReset
                        },
                        member_id: 0,
                        space_id: None,
                        folder_id: None,
                        node_id: None,
                        name: String::new(),
                        batched: false,
                    },
                ))
            }
            _ => Err(Error::Invalid("outbox kind")),
        }
    }
}

fn document_filing(ev: &DocumentEvent) -> Filing {
    Filing {
        template: match ev.notify {
            Notify::Member | Notify::None => Template::MemberDocuments,
            Notify::Authority => Template::AuthorityDocuments,
        },
        member_id: ev.member_id,
        space_id: Some(ev.space_id),
        folder_id: Some(ev.folder_id),
        node_id: Some(ev.node_id),
        name: ev.name.clone(),
        batched: true,
    }
}

fn window_ms(seconds: u64) -> Millis {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX / 2)
}

/// The next `hour`:00 in the digest's time zone strictly after `at`.
pub fn next_digest(at: Millis, hour: u8) -> Millis {
    let tz = jiff::tz::TimeZone::get(DIGEST_TZ).unwrap_or(jiff::tz::TimeZone::UTC);
    let Ok(ts) = jiff::Timestamp::from_millisecond(at) else {
        return at;
    };
    let zoned = ts.to_zoned(tz.clone());
    let hour = i8::try_from(hour.min(23)).unwrap_or(7);
    let candidate = |date: jiff::civil::Date| {
        date.at(hour, 0, 0, 0)
            .to_zoned(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .ok()
    };
    let today = zoned.date();
    match candidate(today) {
        Some(t) if t > at => t,
        _ => today
            .tomorrow()
            .ok()
            .and_then(candidate)
            .unwrap_or(at + 86_400_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin(s: &str) -> Millis {
        let tz = jiff::tz::TimeZone::get(DIGEST_TZ).expect("tz");
        s.parse::<jiff::civil::DateTime>()
            .expect("datetime")
            .to_zoned(tz)
            .expect("zoned")
            .timestamp()
            .as_millisecond()
    }

    #[test]
    fn the_digest_goes_out_at_the_next_hour_in_berlin() {
        assert_eq!(
            next_digest(berlin("2026-11-26T06:59:00"), 7),
            berlin("2026-11-26T07:00:00")
        );
        assert_eq!(
            next_digest(berlin("2026-11-26T07:00:00"), 7),
            berlin("2026-11-27T07:00:00")
        );
        assert_eq!(
            next_digest(berlin("2026-11-26T15:30:00"), 7),
            berlin("2026-11-27T07:00:00")
        );
        // Across the change to summer time the hour stays 07:00 local.
        assert_eq!(
            next_digest(berlin("2027-03-27T12:00:00"), 7),
            berlin("2027-03-28T07:00:00")
        );
        assert_eq!(
            berlin("2027-03-28T07:00:00") - berlin("2027-03-27T07:00:00"),
            23 * 3_600_000
        );
    }
}
