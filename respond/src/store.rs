//! The case store in sled: cases, their audit trails, the event → case index, processed message
//! ids, the case-event publish queue and the notification outbox — all in one tree, so that one
//! incoming message's effects commit in one atomic batch (`apply_batch`) and are flushed before
//! the message is acknowledged.
//!
//! Keys: `case/<id>`, `open/<id>`, `audit/<id>/<seq:020>`, `ev/<event id>`, `msg/<topic>/<id>`,
//! `pub/<n:020>`, `out/<id>`, `sent/<id>`.

use std::path::Path;

use chrono::{DateTime, Utc};
use common::wire::{Case, CaseEvent, CaseState, Envelope, EventUpdate, Tier};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::audit::{self, AuditError, AuditRecord, ResponseMetrics};
use crate::case::{CaseRecord, Notice, Step};
use crate::config::Channel;

/// What the store remembers about an event, case or not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventIndex {
    #[serde(default)]
    pub case_id: Option<String>,
    #[serde(default)]
    pub revision: u64,
    /// The latest update, so a case opened by hand later can be assigned from it.
    #[serde(default)]
    pub last: Option<EventUpdate>,
}

/// A case event as this stage publishes it: the wire `CaseEvent` plus, under `respond`, what
/// the tracker needs to rebuild its store from the topic (Kafka is the source of truth). Other
/// consumers decode it as a plain `CaseEvent` and ignore the extra field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedCaseEvent {
    #[serde(flatten)]
    pub event: CaseEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond: Option<RebuildData>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RebuildData {
    /// The sealed audit record of this change.
    pub audit: AuditRecord,
    /// The tracker's record of the case without its `case` snapshot (responses, timers fired,
    /// referral, ...).
    pub record: serde_json::Value,
    /// The message whose handling made this change, so a rebuilt store still recognises it.
    #[serde(default)]
    pub processed: Option<(String, String)>,
}

/// A case event waiting to be published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingPublish {
    pub key: String,
    pub envelope: Envelope<PublishedCaseEvent>,
}

/// One notice on its way through one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// `<case id>:<seq>:<notice index>:<channel>`: stable, so the receiver can deduplicate.
    pub id: String,
    pub channel: String,
    pub case_id: String,
    pub seq: u64,
    pub notice: Notice,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// For a notification that is not about a case (`case_id` empty): its kind and link.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
}

/// A notice from `yuqing.notifications.v1`, not tied to a case.
#[derive(Debug, Clone)]
pub(crate) struct Notification {
    /// The request's message id: with the channel, the outbox item's stable id.
    pub id: String,
    pub kind: String,
    pub link: Option<String>,
    pub notice: crate::case::Notice,
    pub at: DateTime<Utc>,
}

/// A command result waiting to be published on `yuqing.command-results.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingResult {
    pub key: String,
    pub envelope: Envelope<common::wire::CommandResult>,
}

/// Everything one handled message changes, committed at once.
#[derive(Default)]
pub(crate) struct Commit {
    pub cases: Vec<CaseRecord>,
    pub steps: Vec<Step>,
    /// The result of the command this commit handles, published after the commit.
    pub result: Option<PendingResult>,
    pub events: Vec<(String, EventIndex)>,
    pub notifications: Vec<Notification>,
    pub processed: Option<(String, String)>,
    /// When the message was handled (kept with its processed marker for pruning).
    pub now: Option<DateTime<Utc>>,
}

/// Filter for listing cases (the dashboards' inbox and overdue views).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CaseFilter {
    pub states: Vec<CaseState>,
    pub owner_unit_id: Option<String>,
    pub tier: Option<Tier>,
    /// Only cases with a deadline past due and not met (督查督办).
    pub overdue: bool,
    pub open_only: bool,
    /// Substring of the title.
    pub text: Option<String>,
    pub limit: Option<usize>,
}

impl CaseFilter {
    pub fn matches(&self, case: &Case, now: DateTime<Utc>) -> bool {
        (self.states.is_empty() || self.states.contains(&case.state))
            && self
                .owner_unit_id
                .as_ref()
                .is_none_or(|u| &case.owner.id == u)
            && self.tier.is_none_or(|t| case.tier == t)
            && (!self.open_only || case.state.is_open())
            && (!self.overdue || is_overdue(case, now))
            && self
                .text
                .as_ref()
                .is_none_or(|t| case.title.contains(t.as_str()))
    }
}

/// A deadline is past due and not met while the case is open.
pub fn is_overdue(case: &Case, now: DateTime<Utc>) -> bool {
    case.state.is_open()
        && case
            .deadlines
            .iter()
            .any(|d| d.met_at.is_none() && d.due_at <= now)
}

/// One case with its trail, the trail's verification and the response times derived from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseWithAudit {
    pub record: CaseRecord,
    pub audit: Vec<AuditRecord>,
    /// `None` when the trail verifies; otherwise what is wrong with it.
    pub tampering: Option<String>,
    pub metrics: ResponseMetrics,
}

#[derive(Clone)]
pub struct CaseStore {
    db: common::durable::Durable,
    tree: sled::Tree,
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(serde_json::to_vec(value)?)
}

fn record_without_case(rec: &CaseRecord) -> Result<serde_json::Value, Error> {
    let mut v = serde_json::to_value(rec)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("case");
    }
    Ok(v)
}

fn audit_key(case_id: &str, seq: u64) -> String {
    format!("audit/{case_id}/{seq:020}")
}

impl CaseStore {
    /// Open (or create) the store in `dir`. Only one process may hold it.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let db = common::durable::Durable::open(dir)?;
        let tree = db.db().open_tree("respond")?;
        Ok(Self { db, tree })
    }

    pub fn get(&self, case_id: &str) -> Result<Option<CaseRecord>, Error> {
        let key = format!("case/{case_id}");
        self.tree
            .get(&key)?
            .map(|v| decode(key.as_bytes(), &v))
            .transpose()
    }

    pub fn event(&self, event_id: &str) -> Result<Option<EventIndex>, Error> {
        let key = format!("ev/{event_id}");
        self.tree
            .get(&key)?
            .map(|v| decode(key.as_bytes(), &v))
            .transpose()
    }

    pub fn case_for_event(&self, event_id: &str) -> Result<Option<String>, Error> {
        Ok(self.event(event_id)?.and_then(|e| e.case_id))
    }

    pub fn is_processed(&self, topic: &str, message_id: &str) -> Result<bool, Error> {
        Ok(self
            .tree
            .contains_key(format!("msg/{topic}/{message_id}"))?)
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, Error> {
        self.tree
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// All cases matching `filter`, most recently updated first.
    pub fn list(&self, filter: &CaseFilter, now: DateTime<Utc>) -> Result<Vec<Case>, Error> {
        let mut cases: Vec<Case> = if filter.open_only || filter.overdue {
            self.open_case_ids()?
                .iter()
                .filter_map(|id| self.get(id).transpose())
                .map(|r| r.map(|r| r.case))
                .collect::<Result<_, _>>()?
        } else {
            self.scan::<CaseRecord>("case/")?
                .into_iter()
                .map(|r| r.case)
                .collect()
        };
        cases.retain(|c| filter.matches(c, now));
        cases.sort_by_key(|c| std::cmp::Reverse(c.updated_at));
        if let Some(limit) = filter.limit {
            cases.truncate(limit);
        }
        Ok(cases)
    }

    pub fn open_case_ids(&self) -> Result<Vec<String>, Error> {
        self.tree
            .scan_prefix("open/")
            .keys()
            .map(|k| {
                let k = k?;
                Ok(String::from_utf8_lossy(&k["open/".len()..]).into_owned())
            })
            .collect()
    }

    pub fn audit(&self, case_id: &str) -> Result<Vec<AuditRecord>, Error> {
        self.scan(&format!("audit/{case_id}/"))
    }

    /// Verify one case's trail against the case's sealed length and head.
    pub fn verify(&self, case_id: &str) -> Result<Result<(), AuditError>, Error> {
        let Some(rec) = self.get(case_id)? else {
            return Err(Error::Command(crate::case::CommandError::UnknownCase(
                case_id.to_string(),
            )));
        };
        let trail = self.audit(case_id)?;
        Ok(audit::verify_chain(
            case_id,
            &trail,
            rec.case.audit_len,
            &rec.case.audit_head,
        ))
    }

    pub fn get_with_audit(&self, case_id: &str) -> Result<Option<CaseWithAudit>, Error> {
        let Some(record) = self.get(case_id)? else {
            return Ok(None);
        };
        let audit = self.audit(case_id)?;
        let tampering = audit::verify_chain(
            case_id,
            &audit,
            record.case.audit_len,
            &record.case.audit_head,
        )
        .err()
        .map(|e| e.to_string());
        let metrics = audit::metrics(record.case.detected_at, &audit);
        Ok(Some(CaseWithAudit {
            record,
            audit,
            tampering,
            metrics,
        }))
    }

    /// Write one handled message's effects atomically and durably.
    pub(crate) fn commit(&self, commit: Commit, channels: &[Channel]) -> Result<(), Error> {
        let mut batch = sled::Batch::default();
        for rec in &commit.cases {
            let id = &rec.case.case_id;
            batch.insert(format!("case/{id}").as_bytes(), encode(rec)?);
            if rec.case.state.is_open() {
                batch.insert(format!("open/{id}").as_bytes(), &[][..]);
            } else {
                batch.remove(format!("open/{id}").as_bytes());
            }
        }
        for step in &commit.steps {
            let a = &step.audit;
            batch.insert(audit_key(&a.case_id, a.seq).as_bytes(), encode(a)?);
            // The record as it stands after the whole commit: rebuilding replays the last
            // event of each case, so intermediate records need not be exact.
            let record = commit
                .cases
                .iter()
                .find(|r| r.case.case_id == a.case_id)
                .map(record_without_case)
                .transpose()?
                .unwrap_or_default();
            let envelope = Envelope::new(
                format!("case:{}:{}", step.event.case_id, step.event.seq),
                step.event.at,
                PublishedCaseEvent {
                    event: step.event.clone(),
                    respond: Some(RebuildData {
                        audit: a.clone(),
                        record,
                        processed: commit.processed.clone(),
                    }),
                },
            );
            let n = self.db.db().generate_id()?;
            batch.insert(
                format!("pub/{n:020}").as_bytes(),
                encode(&PendingPublish {
                    key: step.event.case_id.clone(),
                    envelope,
                })?,
            );
            for (i, notice) in step.notices.iter().enumerate() {
                for ch in channels.iter().filter(|c| c.enabled) {
                    if !notice.recipients.iter().any(|r| ch.serves(r)) {
                        continue;
                    }
                    let item = OutboxItem {
                        id: format!("{}:{}:{i}:{}", a.case_id, a.seq, ch.name),
                        channel: ch.name.clone(),
                        case_id: a.case_id.clone(),
                        seq: a.seq,
                        notice: notice.clone(),
                        created_at: a.at,
                        attempts: 0,
                        next_attempt_at: a.at,
                        last_error: None,
                        kind: None,
                        link: None,
                    };
                    batch.insert(format!("out/{}", item.id).as_bytes(), encode(&item)?);
                }
            }
        }
        for n in &commit.notifications {
            for ch in channels.iter().filter(|c| c.enabled) {
                if !n.notice.recipients.iter().any(|r| ch.serves(r)) {
                    continue;
                }
                let item = OutboxItem {
                    id: format!("note:{}:{}", n.id, ch.name),
                    channel: ch.name.clone(),
                    case_id: String::new(),
                    seq: 0,
                    notice: n.notice.clone(),
                    created_at: n.at,
                    attempts: 0,
                    next_attempt_at: n.at,
                    last_error: None,
                    kind: Some(n.kind.clone()),
                    link: n.link.clone(),
                };
                batch.insert(format!("out/{}", item.id).as_bytes(), encode(&item)?);
            }
        }
        for (event_id, idx) in &commit.events {
            batch.insert(format!("ev/{event_id}").as_bytes(), encode(idx)?);
        }
        if let Some(result) = &commit.result {
            let n = self.db.db().generate_id()?;
            batch.insert(format!("res/{n:020}").as_bytes(), encode(result)?);
        }
        if let Some((topic, id)) = &commit.processed {
            let at = commit.now.map_or(0, |t| t.timestamp_millis());
            batch.insert(
                format!("msg/{topic}/{id}").as_bytes(),
                &at.to_be_bytes()[..],
            );
        }
        self.tree.apply_batch(batch)?;
        self.db.flush_blocking()?;
        Ok(())
    }

    /// The oldest case events not yet published, in commit order.
    pub fn pending_publishes(&self, limit: usize) -> Result<Vec<(Vec<u8>, PendingPublish)>, Error> {
        self.tree
            .scan_prefix("pub/")
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), decode(&k, &v)?))
            })
            .collect()
    }

    /// The oldest command results not yet published, in commit order.
    pub fn pending_results(&self, limit: usize) -> Result<Vec<(Vec<u8>, PendingResult)>, Error> {
        self.tree
            .scan_prefix("res/")
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), decode(&k, &v)?))
            })
            .collect()
    }

    /// Forget a published case event or command result. Not flushed: after a crash it is published again with the
    /// same message id, which consumers drop as a duplicate.
    pub fn published(&self, key: &[u8]) -> Result<(), Error> {
        self.tree.remove(key)?;
        Ok(())
    }

    pub fn outbox(&self) -> Result<Vec<OutboxItem>, Error> {
        self.scan("out/")
    }

    /// Record a successful delivery, durably, before anything else is sent: after a crash the
    /// item is not sent again.
    pub fn mark_sent(&self, item: &OutboxItem, at: DateTime<Utc>) -> Result<(), Error> {
        let mut batch = sled::Batch::default();
        batch.remove(format!("out/{}", item.id).as_bytes());
        batch.insert(format!("sent/{}", item.id).as_bytes(), encode(&at)?);
        self.tree.apply_batch(batch)?;
        self.db.flush_blocking()?;
        Ok(())
    }

    pub fn reschedule(&self, item: &OutboxItem) -> Result<(), Error> {
        self.tree
            .insert(format!("out/{}", item.id).as_bytes(), encode(item)?)?;
        self.db.flush_blocking()?;
        Ok(())
    }

    pub fn sent_count(&self) -> usize {
        self.tree.scan_prefix("sent/").count()
    }

    /// Test hook: overwrite a stored audit record as an intruder with write access would.
    #[doc(hidden)]
    pub fn overwrite_audit_record(&self, record: &AuditRecord) -> Result<(), Error> {
        self.tree.insert(
            audit_key(&record.case_id, record.seq).as_bytes(),
            encode(record)?,
        )?;
        Ok(())
    }

    /// Forget processed-message markers (and delivery records) older than `before`: a broker
    /// redelivers within minutes or days, never after the retention the operator configured.
    /// Returns the number of message markers removed.
    pub fn prune_processed(&self, before: DateTime<Utc>) -> Result<usize, Error> {
        let cutoff = before.timestamp_millis();
        let mut removed = 0;
        for kv in self.tree.scan_prefix("msg/") {
            let (k, v) = kv?;
            let mut buf = [0u8; 8];
            if v.len() == 8 {
                buf.copy_from_slice(&v);
            }
            if i64::from_be_bytes(buf) < cutoff {
                self.tree.remove(k)?;
                removed += 1;
            }
        }
        // Delivery records (`sent/`) only guard against resending; the case events and the
        // audit trail keep the history.
        for kv in self.tree.scan_prefix("sent/") {
            let (k, v) = kv?;
            let at: Option<DateTime<Utc>> = serde_json::from_slice(&v).ok();
            if at.is_none_or(|t| t < before) {
                self.tree.remove(k)?;
            }
        }
        Ok(removed)
    }

    pub fn is_empty(&self) -> bool {
        self.tree.scan_prefix("case/").next().is_none()
    }

    /// Fold one published case event back into the store (rebuilding from the topic). Returns
    /// false for a duplicate or an event older than what the store holds.
    pub fn restore(&self, published: &PublishedCaseEvent) -> Result<bool, Error> {
        let ev = &published.event;
        let existing = self.get(&ev.case_id)?;
        let have = existing.as_ref().map_or(0, |r| r.case.audit_len);
        if ev.seq <= have {
            return Ok(false);
        }
        if ev.seq != have + 1 {
            // Retention trimmed the start (or a gap): keep the newest snapshot anyway; the
            // trail's verification will say what is missing.
            tracing::warn!(case_id = %ev.case_id, seq = ev.seq, have, "case events missing before this one");
        }
        let mut record = match &published.respond {
            Some(data) => {
                let mut v = data.record.clone();
                if !v.is_object() {
                    v = serde_json::json!({});
                }
                v["case"] = serde_json::to_value(&ev.case)?;
                serde_json::from_value::<CaseRecord>(v)?
            }
            // A case event from a producer without the extension: the snapshot is all there is.
            None => serde_json::from_value::<CaseRecord>(serde_json::json!({ "case": ev.case }))?,
        };
        record.case.audit_len = ev.seq.max(record.case.audit_len);
        let mut batch = sled::Batch::default();
        let id = &ev.case_id;
        batch.insert(format!("case/{id}").as_bytes(), encode(&record)?);
        if record.case.state.is_open() {
            batch.insert(format!("open/{id}").as_bytes(), &[][..]);
        } else {
            batch.remove(format!("open/{id}").as_bytes());
        }
        if let Some(data) = &published.respond {
            batch.insert(
                audit_key(id, data.audit.seq).as_bytes(),
                encode(&data.audit)?,
            );
            if let Some((topic, message_id)) = &data.processed {
                let at = data.audit.at.timestamp_millis();
                batch.insert(
                    format!("msg/{topic}/{message_id}").as_bytes(),
                    &at.to_be_bytes()[..],
                );
            }
        }
        // A case merged away keeps its event ids for the record; the index points at the case
        // that absorbed them.
        let indexed: &[String] = if record.merged_into.is_some() {
            &[]
        } else {
            &record.case.event_ids
        };
        for event_id in indexed {
            let mut idx = self.event(event_id)?.unwrap_or_default();
            idx.case_id = Some(id.clone());
            batch.insert(format!("ev/{event_id}").as_bytes(), encode(&idx)?);
        }
        self.tree.apply_batch(batch)?;
        Ok(true)
    }

    pub fn flush(&self) -> Result<(), Error> {
        self.db.flush_blocking()?;
        Ok(())
    }
}
