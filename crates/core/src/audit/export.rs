//! `amtsbote audit export` and `amtsbote audit verify`: the audit log as JSON lines (or
//! CSV for a spreadsheet), and an offline check of such an export that needs nothing
//! but the file and the verifier key.
//!
//! JSON lines, one object per line:
//! - `{"type":"header", "format":"amtsbote-audit-v1", "origin", "key", "from", "to", "exported_at"}`;
//! - `{"type":"entry", "seq", "prev_hash", "hash", "entry":{…the row…}}` in order of
//!   `seq` (an entry whose row is gone from the database has `"entry":null`);
//! - `{"type":"checkpoint", "epoch", "note"}` for every checkpoint.
//!
//! `verify` recomputes every hash, follows the chain and the seals, checks every
//! signature, and reports the first `seq` where anything is wrong: a changed, deleted,
//! inserted or reordered entry, a checkpoint signed with another key, a cut-off tail.

use std::io::{BufRead, Write};

use serde_json::{Value, json};

use super::AuditRow;
use super::chain::{canonical, link_hash};
use super::seal::{Checkpoint, Verifier, seal_hash};
use crate::App;
use crate::auth::actor::Actor;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

#[derive(Debug, sqlx::FromRow)]
struct LinkRow {
    seq: i64,
    prev_hash: String,
    hash: String,
    id: Option<i64>,
    at: Option<i64>,
    actor_kind: Option<String>,
    actor_id: Option<i64>,
    actor_label: Option<String>,
    action: Option<String>,
    target: Option<String>,
    member_id: Option<i64>,
    outcome: Option<String>,
    detail: Option<String>,
    source_ip: Option<String>,
    request_id: Option<String>,
}

impl LinkRow {
    fn entry(&self) -> Option<AuditRow> {
        Some(AuditRow {
            id: self.id?,
            at: self.at?,
            actor_kind: self.actor_kind.clone()?,
            actor_id: self.actor_id,
            actor_label: self.actor_label.clone()?,
            action: self.action.clone()?,
            target: self.target.clone()?,
            member_id: self.member_id,
            outcome: self.outcome.clone()?,
            detail: self.detail.clone()?,
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
        })
    }
}

fn entry_json(r: &AuditRow) -> Value {
    serde_json::from_str(&canonical(r)).unwrap_or(Value::Null)
}

fn io(e: std::io::Error) -> Error {
    Error::Internal(format!("writing the export: {e}"))
}

/// A CSV field: quoted, quotes doubled, and a leading `= + - @` defused so that a
/// spreadsheet shows it as text instead of running it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl App {
    /// Writes the entries whose time lies in `[from, to)` (ms; None: open), every
    /// checkpoint, and the verifier key. Links everything first, so the export is
    /// complete up to now.
    pub async fn audit_export(
        &self,
        actor: &Actor,
        from: Option<i64>,
        to: Option<i64>,
        format: Format,
        out: &mut dyn Write,
    ) -> Result<usize> {
        crate::spaces::permissions::administer(actor, crate::spaces::permissions::AdminAct::Audit)?;
        self.chain_audit_fully(true).await?;
        let links: Vec<LinkRow> = self
            .db
            .qa::<LinkRow>("SELECT c.seq, c.prev_hash, c.hash, a.id, a.at, a.actor_kind, a.actor_id, a.actor_label, a.action, a.target, a.member_id, a.outcome, a.detail, a.source_ip, a.request_id FROM audit_chain c LEFT JOIN audit_log a ON a.id = c.entry_id ORDER BY c.seq")
            .fetch_all(self.db.pool())
            .await?;
        let from_ms = from.unwrap_or(i64::MIN);
        let to_ms = to.unwrap_or(i64::MAX);
        // A row that is gone has no time: it stays in the export if its neighbours do.
        let mut chosen: Vec<&LinkRow> = Vec::new();
        let mut inside = false;
        for l in &links {
            if let Some(t) = l.at {
                inside = t >= from_ms && t < to_ms;
            }
            if inside {
                chosen.push(l);
            }
        }
        let checkpoints = self
            .db
            .qa::<super::chain::CheckpointRow>(
                "SELECT epoch, size, at, note FROM audit_checkpoints ORDER BY epoch",
            )
            .fetch_all(self.db.pool())
            .await?;
        match format {
            Format::JsonLines => {
                let header = json!({
                    "type": "header",
                    "format": "amtsbote-audit-v1",
                    "origin": self.audit_signer.as_ref().map(|s| s.name().to_string()),
                    "key": self.audit_signer.as_ref().map(|s| s.verifier_key()),
                    "from": from,
                    "to": to,
                    "exported_at": self.now(),
                });
                writeln!(out, "{header}").map_err(io)?;
                for l in &chosen {
                    let line = json!({
                        "type": "entry",
                        "seq": l.seq,
                        "prev_hash": l.prev_hash,
                        "hash": l.hash,
                        "entry": l.entry().as_ref().map(entry_json),
                    });
                    writeln!(out, "{line}").map_err(io)?;
                }
                for c in &checkpoints {
                    let line = json!({ "type": "checkpoint", "epoch": c.epoch, "note": c.note });
                    writeln!(out, "{line}").map_err(io)?;
                }
            }
            Format::Csv => {
                writeln!(
                    out,
                    "seq,time_utc,actor_kind,actor,action,target,member_id,outcome,detail,source_ip,request_id,hash"
                )
                .map_err(io)?;
                for l in &chosen {
                    let Some(e) = l.entry() else {
                        writeln!(out, "{},\"(entry missing)\",,,,,,,,,,{}", l.seq, l.hash)
                            .map_err(io)?;
                        continue;
                    };
                    let time = jiff::Timestamp::from_millisecond(e.at)
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "{},{},{},{},{},{},{},{},{},{},{},{}",
                        l.seq,
                        csv_field(&time),
                        csv_field(&e.actor_kind),
                        csv_field(&e.actor_label),
                        csv_field(&e.action),
                        csv_field(&e.target),
                        e.member_id.map(|m| m.to_string()).unwrap_or_default(),
                        csv_field(&e.outcome),
                        csv_field(&e.detail),
                        csv_field(e.source_ip.as_deref().unwrap_or_default()),
                        csv_field(e.request_id.as_deref().unwrap_or_default()),
                        l.hash
                    )
                    .map_err(io)?;
                }
            }
        }
        Ok(chosen.len())
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub entries: usize,
    pub checkpoints: usize,
    /// Entries after the last checkpoint (chained, not yet sealed).
    pub unsealed: usize,
    /// The key the signatures were checked with.
    pub key: String,
    /// Entries below this `seq` were pruned by retention (0: none), as the chained
    /// `audit.pruned` entries record and the seals confirm.
    pub pruned_below: i64,
}

/// Where an export is wrong: the `seq` (or the checkpoint's epoch) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub seq: Option<i64>,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(s) => write!(f, "seq {s}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

fn problem(seq: Option<i64>, reason: impl Into<String>) -> Problem {
    Problem {
        seq,
        reason: reason.into(),
    }
}

fn row_from_json(v: &Value) -> Option<AuditRow> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(AuditRow {
        id: v.get("id")?.as_i64()?,
        at: v.get("at")?.as_i64()?,
        actor_kind: s("actor_kind")?,
        actor_id: v.get("actor_id").and_then(Value::as_i64),
        actor_label: s("actor_label")?,
        action: s("action")?,
        target: s("target")?,
        member_id: v.get("member_id").and_then(Value::as_i64),
        outcome: s("outcome")?,
        detail: s("detail")?,
        source_ip: s("source_ip"),
        request_id: s("request_id"),
    })
}

/// Checks an export offline. `trusted_key` is the verifier key the auditor holds (from
/// the operator, a checkpoint mail, `amtsbote audit key`); without it the key in the
/// export's header is used, which proves only that the export is consistent in itself.
pub fn verify(
    input: &mut dyn BufRead,
    trusted_key: Option<&str>,
) -> std::result::Result<Report, Problem> {
    let mut header: Option<Value> = None;
    let mut entries: Vec<(i64, String, String, Option<AuditRow>)> = Vec::new();
    let mut notes: Vec<(i64, String)> = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| problem(None, format!("reading line {}: {e}", n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| problem(None, format!("line {} is not JSON: {e}", n + 1)))?;
        match v.get("type").and_then(Value::as_str) {
            Some("header") => header = Some(v),
            Some("entry") => {
                let seq = v
                    .get("seq")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| problem(None, format!("line {}: entry without seq", n + 1)))?;
                let field = |k: &str| {
                    v.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let row = match v.get("entry") {
                    Some(Value::Null) | None => None,
                    Some(e) => Some(
                        row_from_json(e)
                            .ok_or_else(|| problem(Some(seq), "the entry is incomplete"))?,
                    ),
                };
                entries.push((seq, field("prev_hash"), field("hash"), row));
            }
            Some("checkpoint") => {
                let epoch = v.get("epoch").and_then(Value::as_i64).unwrap_or(-1);
                let note = v
                    .get("note")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                notes.push((epoch, note));
            }
            _ => return Err(problem(None, format!("line {}: unknown line type", n + 1))),
        }
    }
    let header = header.ok_or_else(|| problem(None, "the export has no header line"))?;
    if header.get("format").and_then(Value::as_str) != Some("amtsbote-audit-v1") {
        return Err(problem(
            None,
            "not an amtsbote audit export (format amtsbote-audit-v1)",
        ));
    }
    let key = match trusted_key {
        Some(k) => k.to_string(),
        None => header
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                problem(
                    None,
                    "no verifier key: the export has none, give one with --key",
                )
            })?
            .to_string(),
    };
    let verifier =
        Verifier::parse(&key).map_err(|_| problem(None, "the verifier key cannot be read"))?;

    // The chain: contiguous, each link over its entry and the one before.
    let mut hashes: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
    let mut previous: Option<(i64, String)> = None;
    for (seq, prev_hash, hash, row) in &entries {
        if let Some((p_seq, p_hash)) = &previous {
            if *seq != p_seq + 1 {
                return Err(problem(
                    Some(*seq),
                    if seq > p_seq {
                        format!("entries {} to {} are missing", p_seq + 1, seq - 1)
                    } else {
                        format!("out of order (after seq {p_seq})")
                    },
                ));
            }
            if prev_hash != p_hash {
                return Err(problem(
                    Some(*seq),
                    "does not follow the entry before it (prev_hash differs)",
                ));
            }
        } else if *seq == 0 && prev_hash != super::chain::GENESIS {
            return Err(problem(Some(0), "the first entry does not start the chain"));
        }
        let Some(row) = row else {
            return Err(problem(
                Some(*seq),
                "the entry is missing (its row was deleted)",
            ));
        };
        if link_hash(*seq, prev_hash, &canonical(row)) != *hash {
            return Err(problem(
                Some(*seq),
                "the entry was changed (its hash does not match)",
            ));
        }
        hashes.insert(*seq, hash.clone());
        previous = Some((*seq, hash.clone()));
    }

    // Retention: the chained `audit.pruned` entries name the ranges that are gone.
    let mut pruned: Option<(i64, i64, String)> = None;
    for (seq, _, _, row) in &entries {
        if let Some(r) = row.as_ref().filter(|r| r.action == "audit.pruned") {
            let range = super::prune::PrunedEpoch::range_of(&r.detail)
                .ok_or_else(|| problem(Some(*seq), "the pruning entry names no range"))?;
            if pruned.as_ref().is_none_or(|p| range.1 > p.1) {
                pruned = Some(range);
            }
        }
    }
    let pruned_below = pruned.as_ref().map_or(0, |p| p.1);

    // The seals: signed by the key, each naming the one before, each root the hash of
    // the last entry it covers.
    let mut roots: std::collections::HashMap<i64, (i64, String)> = std::collections::HashMap::new();
    let mut last_note: Option<&str> = None;
    let mut sealed_size = 0;
    let mut first_sealed: Option<i64> = None;
    for (epoch, note) in &notes {
        let body = verifier
            .open(note)
            .map_err(|e| problem(None, format!("checkpoint of epoch {epoch}: {e}")))?;
        let cp = Checkpoint::parse(body)
            .map_err(|e| problem(None, format!("checkpoint of epoch {epoch}: {e}")))?;
        let expect_prev = last_note.map_or_else(|| "none".to_string(), seal_hash);
        if cp.prev_seal != expect_prev {
            return Err(problem(
                None,
                format!("checkpoint of epoch {epoch} does not name the checkpoint before it"),
            ));
        }
        if let Some(h) = hashes.get(&(cp.size - 1))
            && *h != cp.root
        {
            return Err(problem(
                Some(cp.size - 1),
                format!("differs from the checkpoint of epoch {epoch}"),
            ));
        }
        if let Some(first) = entries.first()
            && cp.first < first.0
            && cp.size > first.0
            && !hashes.contains_key(&(cp.size - 1))
        {
            return Err(problem(
                Some(cp.size - 1),
                format!("missing, though sealed by epoch {epoch}"),
            ));
        }
        // The first entry of a partial or pruned export follows a signed value.
        if let Some((seq, prev_hash, _, _)) = entries.first()
            && cp.size == *seq
            && cp.root != *prev_hash
        {
            return Err(problem(
                Some(*seq),
                format!("does not follow the checkpoint of epoch {epoch}"),
            ));
        }
        roots.insert(cp.size, (*epoch, cp.root.clone()));
        sealed_size = sealed_size.max(cp.size);
        first_sealed = Some(first_sealed.map_or(cp.first, |f: i64| f.min(cp.first)));
        last_note = Some(note);
    }
    // A pruned range ends where a seal does, with the hash that seal signed.
    if let Some((_, below, last_hash)) = &pruned {
        match roots.get(below) {
            Some((_, root)) if root == last_hash => {}
            _ => {
                return Err(problem(
                    Some(*below),
                    "the pruning entry does not end at a sealed epoch",
                ));
            }
        }
    }
    // A cut-off head: an export from the beginning starts where the first seal does,
    // or where retention pruned it to.
    let open_start = header.get("from").is_none_or(Value::is_null);
    let start = if pruned_below > 0 {
        Some(pruned_below)
    } else {
        first_sealed
    };
    if open_start
        && let Some(start) = start
        && let Some(first) = entries.first()
        && first.0 != start
    {
        return Err(problem(
            Some(start.min(first.0)),
            format!("missing: the export starts at seq {}", first.0),
        ));
    }
    // A cut-off tail: the seals cover more than the export holds, though it runs to now.
    let open_end = header.get("to").is_none_or(Value::is_null);
    let last_seq = entries.last().map_or(-1, |e| e.0);
    if open_end && sealed_size - 1 > last_seq {
        return Err(problem(
            Some(last_seq + 1),
            format!(
                "entries up to seq {} are sealed, but the export ends before them",
                sealed_size - 1
            ),
        ));
    }
    Ok(Report {
        entries: entries.len(),
        checkpoints: notes.len(),
        unsealed: usize::try_from((last_seq + 1 - sealed_size).max(0)).unwrap_or(0),
        key,
        pruned_below,
    })
}
