//! "Protokoll" for admins: the audit log as an auditor reads it, filtered by person,
//! member, document, kind and days, newest first, a page at a time, with how far it is
//! sealed and pruned. Everyone else gets 404. The verifiable export stays on the command
//! line (`amtsbote audit export`), where it can be written to a file and checked offline.

use std::collections::HashMap;

use amtsbote_core::audit::search::{AuditFilter, AuditKind};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::auth::AdminUser;
use super::errors::{WebError, render};
use super::i18n::Lang;
use super::views::{AuditLine, AuditPage, Choice};

/// Entries per page.
const PAGE: usize = 100;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    person: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    document: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

pub async fn list(
    State(st): State<AppState>,
    AdminUser(user): AdminUser,
    Query(q): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let lang = user.lang();
    let mut errors = Vec::new();
    let from = day(&q.from, false).unwrap_or_else(|()| {
        errors.push(lang.t("audit-err-from"));
        None
    });
    let to = day(&q.to, true).unwrap_or_else(|()| {
        errors.push(lang.t("audit-err-to"));
        None
    });
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        errors.push(lang.t("audit-err-range"));
    }
    let members = st
        .app
        .visible_members(&user.actor, "")
        .await
        .map_err(|e| user.err(e))?;
    let member_id = match q.member.trim() {
        "" => None,
        m => match m
            .parse::<i64>()
            .ok()
            .filter(|id| members.iter().any(|x| x.id == *id))
        {
            Some(id) => Some(id),
            None => {
                errors.push(lang.t("audit-err-member"));
                None
            }
        },
    };
    let kind = match q.kind.as_str() {
        "" => None,
        k => {
            let parsed = AuditKind::parse(k);
            if parsed.is_none() {
                errors.push(lang.t("audit-err-kind"));
            }
            parsed
        }
    };
    let filter = AuditFilter {
        person: q.person.clone(),
        member_id,
        document: q.document.clone(),
        kind,
        from,
        to,
        before_id: q.before.trim().parse().ok(),
    };
    let names: HashMap<i64, String> = members
        .iter()
        .map(|m| (m.id, format!("{} {}", m.number, m.name)))
        .collect();
    let (rows, more) = if errors.is_empty() {
        st.app
            .audit_search(&user.actor, &filter, PAGE)
            .await
            .map_err(|e| user.err(e))?
    } else {
        (Vec::new(), false)
    };
    let more_href = match (more, rows.last()) {
        (true, Some(last)) => Some(page_href(&q, last.id)),
        _ => None,
    };
    let lines = rows
        .into_iter()
        .map(|r| AuditLine {
            time: lang.datetime(r.at),
            person: r.actor_label.clone(),
            person_kind: lang.t(&format!("audit-actor-{}", r.actor_kind)),
            action: action_label(lang, &r.action),
            target: r.target.clone(),
            detail: r.detail.clone(),
            member: r
                .member_id
                .map(|m| names.get(&m).cloned().unwrap_or_else(|| format!("#{m}")))
                .unwrap_or_default(),
            outcome: lang.t(&format!("audit-outcome-{}", r.outcome)),
            failed: r.outcome != "success",
            ip: r.source_ip.clone().unwrap_or_default(),
            request: r.request_id.clone().unwrap_or_default(),
        })
        .collect();
    let status = st
        .app
        .audit_status(&user.actor)
        .await
        .map_err(|e| user.err(e))?;
    let sealed = status.sealed.map(|(epoch, size, at)| {
        lang.ta(
            "audit-sealed",
            &[
                ("epoch", epoch.to_string()),
                ("count", size.to_string()),
                ("time", lang.datetime(at)),
            ],
        )
    });
    let retention = if status.retention_days == 0 {
        lang.t("audit-retention-off")
    } else {
        lang.ta(
            "audit-retention",
            &[("days", status.retention_days.to_string())],
        )
    };
    let pruned = (status.pruned_below > 0).then(|| {
        lang.ta(
            "audit-pruned",
            &[("count", status.pruned_below.to_string())],
        )
    });
    let member_choices = std::iter::once(Choice {
        value: String::new(),
        label: lang.t("audit-all-members"),
        selected: member_id.is_none(),
    })
    .chain(members.iter().map(|m| Choice {
        value: m.id.to_string(),
        label: format!("{} {}", m.number, m.name),
        selected: member_id == Some(m.id),
    }))
    .collect();
    let kind_choices = std::iter::once(Choice {
        value: String::new(),
        label: lang.t("audit-all-kinds"),
        selected: kind.is_none(),
    })
    .chain(AuditKind::ALL.into_iter().map(|k| Choice {
        value: k.as_str().to_string(),
        label: lang.t(&format!("audit-kind-{}", k.as_str())),
        selected: kind == Some(k),
    }))
    .collect();
    let filtered = [&q.person, &q.member, &q.document, &q.kind, &q.from, &q.to]
        .iter()
        .any(|f| !f.trim().is_empty());
    let refused = !errors.is_empty();
    let mut page = render(AuditPage {
        c: user.ctx(lang.t("audit-title")),
        lines,
        errors,
        person: q.person.clone(),
        document: q.document.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        members: member_choices,
        kinds: kind_choices,
        more_href,
        older_page: filter.before_id.is_some(),
        filtered,
        sealed,
        retention,
        pruned,
    })?;
    if refused {
        // The page with its message, but the status says the request was wrong.
        *page.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(page)
}

/// The action in words, or as recorded where there are none yet.
fn action_label(lang: Lang, action: &str) -> String {
    let key = format!("audit-action-{}", action.replace(['.', '_'], "-"));
    let label = lang.t(&key);
    if label == key {
        action.to_string()
    } else {
        label
    }
}

/// The link to the next (older) page, with the same filters.
fn page_href(q: &AuditQuery, before: i64) -> String {
    let pairs = [
        ("person", q.person.as_str()),
        ("member", q.member.as_str()),
        ("document", q.document.as_str()),
        ("kind", q.kind.as_str()),
        ("from", q.from.as_str()),
        ("to", q.to.as_str()),
    ];
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.append_pair("before", &before.to_string());
    format!("/admin/audit?{}", s.finish())
}

/// A day as people here write it (`2026-12-01` from a date field, or `01.12.2026`), as
/// the moment it begins in Europe/Berlin, or (`end`) the moment the next one begins.
fn day(s: &str, end: bool) -> Result<Option<i64>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let date = s
        .parse::<jiff::civil::Date>()
        .or_else(|_| jiff::civil::Date::strptime("%d.%m.%Y", s))
        .map_err(|_| ())?;
    let date = if end {
        date.tomorrow().map_err(|_| ())?
    } else {
        date
    };
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC);
    let zoned = date.to_zoned(tz).map_err(|_| ())?;
    Ok(Some(zoned.timestamp().as_millisecond()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_read_in_berlin() {
        // 1 December 2026 begins at 23:00 UTC the day before (CET, UTC+1).
        let start = day("2026-12-01", false).expect("iso").expect("day");
        assert_eq!(
            jiff::Timestamp::from_millisecond(start)
                .expect("ts")
                .to_string(),
            "2026-11-30T23:00:00Z"
        );
        assert_eq!(day("01.12.2026", false), Ok(Some(start)));
        assert_eq!(
            day("2026-12-01", true),
            Ok(Some(start + 86_400_000)),
            "the end is the next day's start"
        );
        assert_eq!(day("", true), Ok(None));
        assert!(day("31.02.2026", false).is_err());
        assert!(day("morgen", false).is_err());
    }
}
