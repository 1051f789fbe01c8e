//! The auditor's view of the log: entries by person, member, document, kind and time,
//! newest first, a page at a time. Only for those allowed the audit act.

use super::AuditRow;
use crate::App;
use crate::auth::actor::Actor;
use crate::db::like_pattern;
use crate::error::Result;

/// The kinds of entry an auditor asks for, each a fixed set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// Sign-ins, sign-outs, sessions, second factor, passwords, app passwords, locks.
    SignIn,
    /// Uploads, downloads, folders, renames, moves, copies, deletions.
    Documents,
    /// Members, accounts, teams, assignments, access letters, quarantine, mail.
    Administration,
    /// What the server did by itself: scanner outages, retention, the log itself.
    System,
}

impl AuditKind {
    pub const ALL: [AuditKind; 4] = [
        AuditKind::SignIn,
        AuditKind::Documents,
        AuditKind::Administration,
        AuditKind::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::SignIn => "signin",
            AuditKind::Documents => "documents",
            AuditKind::Administration => "administration",
            AuditKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The first words of the actions of this kind; the system's are all the others.
    fn heads(self) -> &'static [&'static str] {
        match self {
            AuditKind::SignIn => &[
                "login",
                "logout",
                "session",
                "second_factor",
                "password",
                "app_password",
                "auth",
                "activation",
            ],
            AuditKind::Documents => &["upload", "download", "node", "folder"],
            AuditKind::Administration => &[
                "member",
                "account",
                "team",
                "assignment",
                "letter",
                "quarantine",
                "mail",
                "notify",
            ],
            AuditKind::System => &[],
        }
    }

    /// The kind of an action (its first word decides; unknown ones are the system's).
    pub fn of(action: &str) -> Self {
        let head = action.split('.').next().unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|k| k.heads().contains(&head))
            .unwrap_or(AuditKind::System)
    }

    /// The same rule as [`AuditKind::of`], as SQL over `action`.
    fn condition(self) -> String {
        let named = |k: AuditKind| {
            k.heads()
                .iter()
                .map(|h| {
                    let escaped = h.replace('_', "!_");
                    format!("action = '{h}' OR action LIKE '{escaped}.%' ESCAPE '!'")
                })
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        match self {
            AuditKind::System => {
                let others: Vec<String> = Self::ALL
                    .into_iter()
                    .filter(|k| *k != AuditKind::System)
                    .map(|k| format!("({})", named(k)))
                    .collect();
                format!("NOT ({})", others.join(" OR "))
            }
            k => format!("({})", named(k)),
        }
    }
}

/// What the auditor asks for; empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Part of the person's name as recorded (or of the login name tried).
    pub person: String,
    pub member_id: Option<i64>,
    /// Part of the target: a document's name or its `node:<id>`.
    pub document: String,
    pub kind: Option<AuditKind>,
    /// From this moment on (ms), and before that one.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Entries older than this one (the next page).
    pub before_id: Option<i64>,
}

/// The query for one kind (or none): built once, from the one rule.
fn sql(kind: Option<AuditKind>) -> &'static str {
    static SQL: [std::sync::OnceLock<String>; 5] = [const { std::sync::OnceLock::new() }; 5];
    let (slot, condition) = match kind {
        None => (0, "1 = 1".to_string()),
        Some(k) => (
            1 + AuditKind::ALL.iter().position(|x| *x == k).unwrap_or(0),
            k.condition(),
        ),
    };
    SQL[slot].get_or_init(|| {
        format!(
            "SELECT {} FROM audit_log WHERE id < ? AND at >= ? AND at < ? AND (? = '' OR LOWER(actor_label) LIKE ? ESCAPE '!') AND (? = '' OR LOWER(target) LIKE ? ESCAPE '!') AND (? = 0 OR member_id = ?) AND {condition} ORDER BY id DESC LIMIT ?",
            super::AUDIT_COLUMNS
        )
    })
}

/// How far the log is sealed and pruned, for the auditor's page.
#[derive(Debug, Clone, Default)]
pub struct AuditStatus {
    /// The last checkpoint: its epoch, the entries it covers (`size`) and its time.
    pub sealed: Option<(i64, i64, i64)>,
    /// Entries below this `seq` were removed by retention.
    pub pruned_below: i64,
    pub retention_days: u64,
}

impl App {
    pub async fn audit_status(&self, actor: &Actor) -> Result<AuditStatus> {
        crate::spaces::permissions::administer(actor, crate::spaces::permissions::AdminAct::Audit)?;
        let sealed = self
            .last_checkpoint()
            .await?
            .map(|c| (c.epoch, c.size, c.at));
        let pruned_below: i64 = self
            .db
            .qs::<i64>("SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes")
            .fetch_one(self.db.pool())
            .await?;
        Ok(AuditStatus {
            sealed,
            pruned_below,
            retention_days: self.settings.audit.retention_days,
        })
    }

    /// A page of at most `limit` entries, newest first, and whether older ones match.
    pub async fn audit_search(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        limit: usize,
    ) -> Result<(Vec<AuditRow>, bool)> {
        crate::spaces::permissions::administer(actor, crate::spaces::permissions::AdminAct::Audit)?;
        let person = filter.person.trim().to_lowercase();
        let document = filter.document.trim().to_lowercase();
        let pattern = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                like_pattern(s)
            }
        };
        let mut rows = self
            .db
            .qa::<AuditRow>(sql(filter.kind))
            .bind(filter.before_id.unwrap_or(i64::MAX))
            .bind(filter.from.unwrap_or(i64::MIN))
            .bind(filter.to.unwrap_or(i64::MAX))
            .bind(person.clone())
            .bind(pattern(&person))
            .bind(document.clone())
            .bind(pattern(&document))
            .bind(filter.member_id.unwrap_or(0))
            .bind(filter.member_id.unwrap_or(0))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1)
            .fetch_all(self.db.pool())
            .await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_actions() {
        assert_eq!(AuditKind::of("login.basic"), AuditKind::SignIn);
        assert_eq!(AuditKind::of("download.range"), AuditKind::Documents);
        assert_eq!(AuditKind::of("member.create"), AuditKind::Administration);
        assert_eq!(AuditKind::of("audit.pruned"), AuditKind::System);
        assert_eq!(AuditKind::of("scanner.unavailable"), AuditKind::System);
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(k));
        }
        assert!(
            AuditKind::SignIn
                .condition()
                .contains("LIKE 'second!_factor.%' ESCAPE '!'")
        );
        assert!(
            AuditKind::SignIn
                .condition()
                .contains("action = 'second_factor'")
        );
        assert!(AuditKind::System.condition().starts_with("NOT (("));
        assert_eq!(AuditKind::parse("x"), None);
    }
}
