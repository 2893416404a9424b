//! The read model: what the dashboards show, kept in sled under the stage directory so a restart
//! shows what was shown before and the topics only need replaying from the group's offsets.
//!
//! Every write is idempotent on the natural key of what it describes (doc id for items, event id
//! plus revision for events, case id plus audit sequence for cases), so a redelivered message
//! never makes a duplicate row.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use common::wire::{
    AnalyzedDocument, Case, CaseEvent, EventUpdate, Jurisdiction, SourceHealth, UnitRef,
    UnitRegistry,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::Error;

/// How many heat samples an event keeps for its sparkline.
const TREND_POINTS: usize = 48;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredItem {
    /// Arrival order in this read model; the live list is newest-first by it.
    pub seq: u64,
    pub doc: AnalyzedDocument,
    /// Marked by a desk officer as notified by the cyberspace office.
    #[serde(default)]
    pub notified_at: Option<DateTime<Utc>>,
    /// The outlet's name as known when the item arrived, for an item that does not name it.
    #[serde(default)]
    pub source_name: Option<String>,
}

impl StoredItem {
    /// What the desk reads as 来源: the item's outlet, else its source's, never a source id.
    pub fn outlet(&self) -> &str {
        self.doc
            .site_name
            .as_deref()
            .or(self.source_name.as_deref())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("未注明来源")
    }
}

/// A source's name for people, and whether its config gave it (then items do not rename it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SourceName {
    name: String,
    #[serde(default)]
    configured: bool,
}

/// A source as the desk's filter offers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEvent {
    pub event: EventUpdate,
    /// `(unix seconds, heat, doc_count)` samples, oldest first, for the sparkline.
    #[serde(default)]
    pub trend: Vec<(i64, f64, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCase {
    pub case: Case,
    /// Highest audit sequence applied: an older snapshot never overwrites a newer one.
    pub seq: u64,
}

/// One line of a case's history, as the detail view and the reports read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseLogEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub detail: String,
}

/// A desk officer's 研判 of an event's categories. The wire has no command for it yet, so it is
/// kept here and used by the dashboards' screens and reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub priorities: Vec<common::wire::Priority>,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub note: String,
}

/// A case command sent from the screens, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentCommand {
    pub command_id: String,
    /// The user who sent it: only they are told the outcome.
    pub actor: String,
    pub action: String,
    #[serde(default)]
    pub case_id: Option<String>,
    pub sent_at: DateTime<Utc>,
    #[serde(default)]
    pub result: Option<CommandOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandOutcome {
    pub accepted: bool,
    #[serde(default)]
    pub code: Option<String>,
    /// Why it was rejected, in respond's (Chinese) words.
    #[serde(default)]
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 监测值班: propaganda / cyberspace monitoring desk.
    Desk,
    /// 责任单位: sees only its own cases.
    Unit,
    /// 领导: reads summaries and reports.
    Leader,
    /// 管理员: users, units, ops.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "desk" => Some(Role::Desk),
            "unit" => Some(Role::Unit),
            "leader" => Some(Role::Leader),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Desk => "desk",
            Role::Unit => "unit",
            Role::Leader => "leader",
            Role::Admin => "admin",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Desk => "监测值班",
            Role::Unit => "责任单位",
            Role::Leader => "领导",
            Role::Admin => "管理员",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub unit_id: Option<String>,
    /// PHC string from argon2 (salt and parameters included).
    pub password_hash: String,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub struct Store {
    db: common::durable::Durable,
    items: sled::Tree,
    items_seq: sled::Tree,
    /// `detected_at (ms, order-preserving) ++ seq` → doc id: reports read one period, not all.
    items_time: sled::Tree,
    events: sled::Tree,
    cases: sled::Tree,
    case_log: sled::Tree,
    /// `event_id \0 case_id` → (): which cases cover an event, without scanning every case.
    event_cases: sled::Tree,
    judgements: sled::Tree,
    sources: sled::Tree,
    users: sled::Tree,
    sessions: sled::Tree,
    /// Units seen as case owners (id → name as the case event named it).
    units: sled::Tree,
    /// `current` → the unit registry respond last published.
    registry: sled::Tree,
    /// Display names the admin gave units (id → name); they win over every other name.
    unit_names: sled::Tree,
    /// Command id → [`SentCommand`]: what was sent from here and what respond made of it.
    commands: sled::Tree,
    /// Source id → its outlet name (from the source's config, else from its items).
    source_names: sled::Tree,
    item_count: AtomicU64,
    event_count: AtomicU64,
    case_count: AtomicU64,
}

/// What applying one message changed, so the live stream only announces real changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    New,
    Updated,
    Unchanged,
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::Store(format!("encode: {e}")))
}

fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(b).map_err(|e| Error::Store(format!("decode: {e}")))
}

impl Store {
    pub fn open(dir: &std::path::Path) -> Result<Store, Error> {
        let durable = common::durable::Durable::open(&dir.join("read-model"))?;
        let db = durable.db().clone();
        let store = Store {
            items: db.open_tree("items")?,
            items_seq: db.open_tree("items_seq")?,
            items_time: db.open_tree("items_time")?,
            events: db.open_tree("events")?,
            cases: db.open_tree("cases")?,
            case_log: db.open_tree("case_log")?,
            event_cases: db.open_tree("event_cases")?,
            judgements: db.open_tree("judgements")?,
            sources: db.open_tree("sources")?,
            users: db.open_tree("users")?,
            sessions: db.open_tree("sessions")?,
            units: db.open_tree("units")?,
            registry: db.open_tree("registry")?,
            unit_names: db.open_tree("unit_names")?,
            commands: db.open_tree("commands")?,
            source_names: db.open_tree("source_names")?,
            item_count: AtomicU64::new(0),
            event_count: AtomicU64::new(0),
            case_count: AtomicU64::new(0),
            db: durable,
        };
        // `Tree::len` walks the tree, so count once here and keep counters from then on.
        store
            .item_count
            .store(store.items.len() as u64, Ordering::Relaxed);
        store
            .event_count
            .store(store.events.len() as u64, Ordering::Relaxed);
        store
            .case_count
            .store(store.cases.len() as u64, Ordering::Relaxed);
        // A read model written before the time index existed gets it built once.
        if store.items_time.is_empty() && !store.items.is_empty() {
            for r in store.items.iter() {
                let (k, v) = r?;
                let item: StoredItem = dec(&v)?;
                store
                    .items_time
                    .insert(time_key(item.doc.detected_at, item.seq), k)?;
            }
        }
        Ok(store)
    }

    pub async fn flush(&self) -> Result<(), Error> {
        self.db.flush().await?;
        Ok(())
    }

    pub fn flush_blocking(&self) -> Result<(), Error> {
        self.db.flush_blocking()?;
        Ok(())
    }

    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.item_count.load(Ordering::Relaxed),
            self.event_count.load(Ordering::Relaxed),
            self.case_count.load(Ordering::Relaxed),
        )
    }

    // ---- items ------------------------------------------------------------------------------

    pub fn apply_item(&self, doc: AnalyzedDocument) -> Result<(Applied, StoredItem), Error> {
        let key = doc.doc_id.as_bytes().to_vec();
        if let Some(old) = self.items.get(&key)? {
            let mut old: StoredItem = dec(&old)?;
            if old.doc == doc {
                return Ok((Applied::Unchanged, old));
            }
            // A re-analysis of the same item replaces its fields but keeps its place in the list.
            if old.doc.detected_at != doc.detected_at {
                self.items_time
                    .remove(time_key(old.doc.detected_at, old.seq))?;
                self.items_time
                    .insert(time_key(doc.detected_at, old.seq), key.as_slice())?;
            }
            old.doc = doc;
            self.items.insert(key, enc(&old)?)?;
            return Ok((Applied::Updated, old));
        }
        let seq = self.db.db().generate_id()?;
        self.learn_source_name(&doc.source_id, doc.site_name.as_deref(), false)?;
        let item = StoredItem {
            seq,
            source_name: self.source_name(&doc.source_id)?,
            doc,
            notified_at: None,
        };
        // Insert-if-absent so two racing deliveries of one doc still count once.
        let won = self
            .items
            .compare_and_swap(&key, None as Option<&[u8]>, Some(enc(&item)?))?
            .is_ok();
        if !won {
            return Ok((Applied::Unchanged, item));
        }
        self.items_time
            .insert(time_key(item.doc.detected_at, seq), key.as_slice())?;
        self.items_seq.insert(seq.to_be_bytes(), key)?;
        self.item_count.fetch_add(1, Ordering::Relaxed);
        Ok((Applied::New, item))
    }

    pub fn item(&self, doc_id: &str) -> Result<Option<StoredItem>, Error> {
        self.items
            .get(doc_id.as_bytes())?
            .map(|b| dec(&b))
            .transpose()
    }

    pub fn mark_notified(&self, doc_id: &str, at: DateTime<Utc>) -> Result<bool, Error> {
        let Some(mut item) = self.item(doc_id)? else {
            return Ok(false);
        };
        item.notified_at.get_or_insert(at);
        self.items.insert(doc_id.as_bytes(), enc(&item)?)?;
        Ok(true)
    }

    /// The newest `limit` items, newest first.
    pub fn latest_items(&self, limit: usize) -> Result<Vec<StoredItem>, Error> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in self.items_seq.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (_, doc_id) = entry?;
            if let Some(b) = self.items.get(&doc_id)? {
                out.push(dec(&b)?);
            }
        }
        Ok(out)
    }

    /// Newest-first items detected at or after `since`. Arrival order follows detection order
    /// closely, so the scan stops at the first item more than `slack` older than `since`.
    pub fn recent_items(
        &self,
        since: DateTime<Utc>,
        slack: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<StoredItem>, Error> {
        let mut out = Vec::new();
        for entry in self.items_seq.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (_, doc_id) = entry?;
            let Some(b) = self.items.get(&doc_id)? else {
                continue;
            };
            let item: StoredItem = dec(&b)?;
            if item.doc.detected_at < since - slack {
                break;
            }
            if item.doc.detected_at >= since {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// Forget items detected before `cutoff` (oldest first); returns how many went.
    pub fn prune_items(&self, cutoff: DateTime<Utc>) -> Result<usize, Error> {
        let mut n = 0;
        for entry in self.items_seq.iter() {
            let (seq, doc_id) = entry?;
            if let Some(b) = self.items.get(&doc_id)? {
                let item: StoredItem = dec(&b)?;
                if item.doc.detected_at >= cutoff {
                    break;
                }
                self.items.remove(&doc_id)?;
                self.items_time
                    .remove(time_key(item.doc.detected_at, item.seq))?;
                self.item_count.fetch_sub(1, Ordering::Relaxed);
                n += 1;
            }
            self.items_seq.remove(seq)?;
        }
        Ok(n)
    }

    /// Items detected in `[start, end)`, oldest first.
    pub fn items_between(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Iterator<Item = Result<StoredItem, Error>> + '_ {
        self.items_time
            .range(time_key(start, 0)..time_key(end, 0))
            .filter_map(move |r| match r {
                Err(e) => Some(Err(Error::from(e))),
                Ok((_, doc_id)) => match self.items.get(&doc_id) {
                    Err(e) => Some(Err(Error::from(e))),
                    Ok(None) => None,
                    Ok(Some(v)) => Some(dec(&v)),
                },
            })
    }

    // ---- events -----------------------------------------------------------------------------

    pub fn apply_event(&self, update: EventUpdate) -> Result<(Applied, StoredEvent), Error> {
        let key = update.event_id.as_bytes().to_vec();
        let old: Option<StoredEvent> = self.events.get(&key)?.map(|b| dec(&b)).transpose()?;
        let point = (
            update.last_seen_at.timestamp(),
            update.heat,
            update.doc_count,
        );
        let (applied, stored) = match old {
            Some(old) => {
                // Revisions are monotonic per event; an update that is plainly later (seen
                // later, or more items) is also taken, so an analyzer whose counter restarted
                // is not ignored forever. A redelivered old update is neither.
                let newer = update.revision > old.event.revision
                    || (update.last_seen_at, update.doc_count)
                        > (old.event.last_seen_at, old.event.doc_count);
                if !newer {
                    return Ok((Applied::Unchanged, old));
                }
                let mut trend = old.trend;
                trend.push(point);
                if trend.len() > TREND_POINTS {
                    let cut = trend.len() - TREND_POINTS;
                    trend.drain(..cut);
                }
                (
                    Applied::Updated,
                    StoredEvent {
                        event: update,
                        trend,
                    },
                )
            }
            None => (
                Applied::New,
                StoredEvent {
                    event: update,
                    trend: vec![point],
                },
            ),
        };
        self.events.insert(key, enc(&stored)?)?;
        if applied == Applied::New {
            self.event_count.fetch_add(1, Ordering::Relaxed);
        }
        Ok((applied, stored))
    }

    pub fn events(&self) -> Result<Vec<StoredEvent>, Error> {
        self.events
            .iter()
            .map(|r| r.map_err(Error::from).and_then(|(_, v)| dec(&v)))
            .collect()
    }

    pub fn event(&self, id: &str) -> Result<Option<StoredEvent>, Error> {
        self.events.get(id.as_bytes())?.map(|b| dec(&b)).transpose()
    }

    // ---- cases ------------------------------------------------------------------------------

    pub fn apply_case_event(&self, ev: CaseEvent) -> Result<(Applied, StoredCase), Error> {
        let mut log_key = ev.case_id.as_bytes().to_vec();
        log_key.push(0);
        log_key.extend_from_slice(&ev.seq.to_be_bytes());
        let entry = CaseLogEntry {
            seq: ev.seq,
            at: ev.at,
            actor: ev.actor.name.clone(),
            kind: ev.kind.clone(),
            detail: ev.detail.clone(),
        };
        self.case_log.insert(log_key, enc(&entry)?)?;
        self.remember_unit(&ev.case.owner)?;
        for event_id in &ev.case.event_ids {
            let mut k = event_id.as_bytes().to_vec();
            k.push(0);
            k.extend_from_slice(ev.case_id.as_bytes());
            self.event_cases.insert(k, &[])?;
        }

        let key = ev.case_id.as_bytes().to_vec();
        let old: Option<StoredCase> = self.cases.get(&key)?.map(|b| dec(&b)).transpose()?;
        match old {
            Some(old) if old.seq >= ev.seq => Ok((Applied::Unchanged, old)),
            old => {
                if ev.kind == "priorities_set" {
                    // The case's 研判 (respond's audited `set_priorities`) is its events'
                    // category judgement on every screen and report.
                    let j = Judgement {
                        priorities: ev.case.priorities.clone(),
                        by: ev.actor.name.clone(),
                        at: ev.at,
                        note: ev.detail.clone(),
                    };
                    for event_id in &ev.case.event_ids {
                        self.put_judgement(event_id, &j)?;
                    }
                }
                let stored = StoredCase {
                    case: ev.case,
                    seq: ev.seq,
                };
                self.cases.insert(key, enc(&stored)?)?;
                if old.is_none() {
                    self.case_count.fetch_add(1, Ordering::Relaxed);
                    Ok((Applied::New, stored))
                } else {
                    Ok((Applied::Updated, stored))
                }
            }
        }
    }

    /// Every case, its owner under the name the admin gave the unit (if any).
    pub fn cases(&self) -> Result<Vec<StoredCase>, Error> {
        self.cases
            .iter()
            .map(|r| {
                r.map_err(Error::from)
                    .and_then(|(_, v)| dec(&v))
                    .and_then(|c| self.named(c))
            })
            .collect()
    }

    pub fn case(&self, id: &str) -> Result<Option<StoredCase>, Error> {
        self.cases
            .get(id.as_bytes())?
            .map(|b| dec(&b).and_then(|c| self.named(c)))
            .transpose()
    }

    /// One name per unit on every screen: an admin rename applies to the cases' owners too.
    pub fn named(&self, mut c: StoredCase) -> Result<StoredCase, Error> {
        if let Some(name) = self.unit_names.get(c.case.owner.id.as_bytes())? {
            c.case.owner.name = String::from_utf8_lossy(&name).into_owned();
        }
        Ok(c)
    }

    pub fn put_judgement(&self, event_id: &str, j: &Judgement) -> Result<(), Error> {
        self.judgements.insert(event_id.as_bytes(), enc(j)?)?;
        Ok(())
    }

    pub fn judgement(&self, event_id: &str) -> Result<Option<Judgement>, Error> {
        self.judgements
            .get(event_id.as_bytes())?
            .map(|b| dec(&b))
            .transpose()
    }

    pub fn cases_of_event(&self, event_id: &str) -> Result<Vec<String>, Error> {
        let mut prefix = event_id.as_bytes().to_vec();
        prefix.push(0);
        let n = prefix.len();
        self.event_cases
            .scan_prefix(prefix)
            .map(|r| {
                let (k, _) = r?;
                Ok(String::from_utf8_lossy(&k[n..]).into_owned())
            })
            .collect()
    }

    pub fn case_log(&self, id: &str) -> Result<Vec<CaseLogEntry>, Error> {
        let mut prefix = id.as_bytes().to_vec();
        prefix.push(0);
        self.case_log
            .scan_prefix(prefix)
            .map(|r| r.map_err(Error::from).and_then(|(_, v)| dec(&v)))
            .collect()
    }

    /// Every case history line (for the reports' escalation counts).
    pub fn all_case_log(&self) -> impl Iterator<Item = Result<CaseLogEntry, Error>> + '_ {
        self.case_log
            .iter()
            .map(|r| r.map_err(Error::from).and_then(|(_, v)| dec(&v)))
    }

    // ---- sources ----------------------------------------------------------------------------

    pub fn apply_source_health(&self, h: SourceHealth) -> Result<Applied, Error> {
        self.learn_source_name(&h.source_id, h.name.as_deref(), true)?;
        let key = h.source_id.as_bytes().to_vec();
        if let Some(old) = self.sources.get(&key)? {
            let old: SourceHealth = dec(&old)?;
            // Health reports can arrive out of order after a redelivery: keep the latest attempt.
            if old.last_attempt_at > h.last_attempt_at || old == h {
                return Ok(Applied::Unchanged);
            }
            self.sources.insert(key, enc(&h)?)?;
            return Ok(Applied::Updated);
        }
        self.sources.insert(key, enc(&h)?)?;
        Ok(Applied::New)
    }

    /// Remember a source's outlet name; a configured name is kept over what items say.
    fn learn_source_name(
        &self,
        source_id: &str,
        name: Option<&str>,
        configured: bool,
    ) -> Result<(), Error> {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(());
        };
        let old: Option<SourceName> = self
            .source_names
            .get(source_id.as_bytes())?
            .map(|b| dec(&b))
            .transpose()?;
        let keep = old
            .as_ref()
            .is_some_and(|o| o.name == name || (o.configured && !configured));
        if !keep {
            let new = SourceName {
                name: name.to_string(),
                configured,
            };
            self.source_names.insert(source_id.as_bytes(), enc(&new)?)?;
        }
        Ok(())
    }

    pub fn source_name(&self, source_id: &str) -> Result<Option<String>, Error> {
        Ok(self
            .source_names
            .get(source_id.as_bytes())?
            .map(|b| dec::<SourceName>(&b))
            .transpose()?
            .map(|n| n.name))
    }

    /// Every source the desk can filter by, by name: those named by their config or items,
    /// then those only known from their health reports (by the host they are fetched from).
    pub fn source_list(&self) -> Result<Vec<SourceRef>, Error> {
        let mut out = Vec::new();
        for r in self.source_names.iter() {
            let (k, v) = r?;
            let n: SourceName = dec(&v)?;
            out.push(SourceRef {
                id: String::from_utf8_lossy(&k).into_owned(),
                name: n.name,
            });
        }
        for h in self.sources()? {
            if !out.iter().any(|s| s.id == h.source_id) {
                let name = h
                    .url
                    .split("://")
                    .nth(1)
                    .and_then(|rest| rest.split(['/', '?', '#']).next())
                    .filter(|host| !host.is_empty())
                    .map_or_else(
                        || "未命名来源".to_string(),
                        |host| format!("未命名来源（{host}）"),
                    );
                out.push(SourceRef {
                    id: h.source_id,
                    name,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn sources(&self) -> Result<Vec<SourceHealth>, Error> {
        self.sources
            .iter()
            .map(|r| r.map_err(Error::from).and_then(|(_, v)| dec(&v)))
            .collect()
    }

    // ---- units ------------------------------------------------------------------------------

    /// Units seen as case owners are remembered, so a case's unit stays listed even when the
    /// registry no longer has it.
    fn remember_unit(&self, unit: &UnitRef) -> Result<(), Error> {
        if self.units.get(unit.id.as_bytes())?.as_deref() != Some(unit.name.as_bytes()) {
            self.units
                .insert(unit.id.as_bytes(), unit.name.as_bytes())?;
        }
        Ok(())
    }

    /// Keep the registry respond published (the whole list replaces the previous one).
    pub fn apply_registry(&self, registry: &UnitRegistry) -> Result<Applied, Error> {
        let new = enc(registry)?;
        match self.registry.insert(b"current", new.as_slice())? {
            Some(old) if old.as_ref() == new.as_slice() => Ok(Applied::Unchanged),
            Some(_) => Ok(Applied::Updated),
            None => Ok(Applied::New),
        }
    }

    pub fn registry(&self) -> Result<Option<UnitRegistry>, Error> {
        self.registry.get(b"current")?.map(|b| dec(&b)).transpose()
    }

    /// The admin's display name for a unit; it survives registry updates and case events.
    pub fn put_unit(&self, id: &str, name: &str) -> Result<(), Error> {
        self.unit_names.insert(id.as_bytes(), name.as_bytes())?;
        Ok(())
    }

    /// Every unit a person can pick or see, each with a name: the whole registry in its order,
    /// then case owners the registry does not have, with the admin's names over both. Before
    /// any registry arrived (the dashboards ran without respond), the units the admin named.
    /// A unit known only by its id is never offered (its "name" would be the raw id).
    pub fn units(&self) -> Result<Vec<UnitRef>, Error> {
        let registry = self.registry()?;
        let mut out: Vec<UnitRef> = registry
            .as_ref()
            .map(|r| r.units.iter().map(|u| u.to_ref()).collect())
            .unwrap_or_default();
        for r in self.units.iter() {
            let (k, v) = r?;
            let unit = UnitRef {
                id: String::from_utf8_lossy(&k).into_owned(),
                name: String::from_utf8_lossy(&v).into_owned(),
            };
            if unit.name != unit.id && !out.iter().any(|u| u.id == unit.id) {
                out.push(unit);
            }
        }
        for r in self.unit_names.iter() {
            let (k, v) = r?;
            let (id, name) = (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            );
            match out.iter_mut().find(|u| u.id == id) {
                Some(u) => u.name = name,
                None if registry.is_none() => out.push(UnitRef { id, name }),
                None => {}
            }
        }
        Ok(out)
    }

    /// Whether the registry has been received (then only its units and case owners count).
    pub fn has_registry(&self) -> Result<bool, Error> {
        Ok(self.registry.contains_key(b"current")?)
    }

    // ---- commands ---------------------------------------------------------------------------

    pub fn record_sent(&self, sent: &SentCommand) -> Result<(), Error> {
        self.commands
            .insert(sent.command_id.as_bytes(), enc(sent)?)?;
        Ok(())
    }

    /// Keep what respond made of a command; a command sent by another dashboards instance is
    /// remembered from the result alone.
    pub fn apply_command_result(
        &self,
        r: &common::wire::CommandResult,
        at: DateTime<Utc>,
    ) -> Result<Applied, Error> {
        let outcome = CommandOutcome {
            accepted: r.accepted,
            code: r.code.clone(),
            message: r.message.clone(),
            at,
        };
        let mut sent = match self.sent_command(&r.command_id)? {
            Some(s) if s.result.is_some() => return Ok(Applied::Unchanged),
            Some(s) => s,
            None => SentCommand {
                command_id: r.command_id.clone(),
                actor: r.actor.name.clone(),
                action: r.action.clone(),
                case_id: r.case_id.clone(),
                sent_at: at,
                result: None,
            },
        };
        sent.case_id = sent.case_id.or_else(|| r.case_id.clone());
        sent.result = Some(outcome);
        self.record_sent(&sent)?;
        Ok(Applied::Updated)
    }

    pub fn sent_command(&self, id: &str) -> Result<Option<SentCommand>, Error> {
        self.commands
            .get(id.as_bytes())?
            .map(|b| dec(&b))
            .transpose()
    }

    /// Forget commands sent before `cutoff`; returns how many went.
    pub fn prune_commands(&self, cutoff: DateTime<Utc>) -> Result<usize, Error> {
        let mut n = 0;
        for r in self.commands.iter() {
            let (k, v) = r?;
            let sent: SentCommand = dec(&v)?;
            if sent.sent_at < cutoff {
                self.commands.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Whether the registry has `unit` by id, name or alias (as respond will look it up);
    /// without a registry yet, nothing can be said and every unit passes.
    pub fn registry_knows(&self, unit: &str) -> Result<bool, Error> {
        let unit = unit.trim();
        Ok(self.registry()?.is_none_or(|r| {
            r.units
                .iter()
                .any(|u| u.id == unit || u.name == unit || u.aliases.iter().any(|a| a == unit))
        }))
    }

    // ---- users and sessions -----------------------------------------------------------------

    pub fn put_user(&self, user: &User) -> Result<(), Error> {
        self.users.insert(user.name.as_bytes(), enc(user)?)?;
        Ok(())
    }

    pub fn user(&self, name: &str) -> Result<Option<User>, Error> {
        self.users
            .get(name.as_bytes())?
            .map(|b| dec(&b))
            .transpose()
    }

    pub fn users(&self) -> Result<Vec<User>, Error> {
        self.users
            .iter()
            .map(|r| r.map_err(Error::from).and_then(|(_, v)| dec(&v)))
            .collect()
    }

    /// Sessions are stored under the SHA-256 of their token, so a copy of the database does not
    /// hold usable cookies.
    pub fn put_session(&self, token_hash: &str, s: &Session) -> Result<(), Error> {
        self.sessions.insert(token_hash.as_bytes(), enc(s)?)?;
        Ok(())
    }

    pub fn session(&self, token_hash: &str) -> Result<Option<Session>, Error> {
        self.sessions
            .get(token_hash.as_bytes())?
            .map(|b| dec(&b))
            .transpose()
    }

    pub fn delete_session(&self, token_hash: &str) -> Result<(), Error> {
        self.sessions.remove(token_hash.as_bytes())?;
        Ok(())
    }

    /// Forget sessions that expired (abandoned browsers never present them again).
    pub fn prune_sessions(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let mut n = 0;
        for r in self.sessions.iter() {
            let (k, v) = r?;
            let s: Session = dec(&v)?;
            if s.expires_at <= now {
                self.sessions.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Drop every session of `user` (password change, disabling).
    pub fn delete_sessions_of(&self, user: &str) -> Result<(), Error> {
        for r in self.sessions.iter() {
            let (k, v) = r?;
            let s: Session = dec(&v)?;
            if s.user == user {
                self.sessions.remove(k)?;
            }
        }
        Ok(())
    }
}

/// Big-endian milliseconds with the sign bit flipped sort like the times they encode, then the
/// sequence number keeps two items of the same millisecond apart.
fn time_key(t: DateTime<Utc>, seq: u64) -> [u8; 16] {
    let ms = (t.timestamp_millis() as u64) ^ (1 << 63);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&ms.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The district / county a jurisdiction names, if it is one locality of the city.
pub fn county_of(j: &Jurisdiction) -> Option<&str> {
    match j {
        Jurisdiction::Local { county, .. } => Some(county.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::wire::AnalyzedDocument;

    fn doc(id: &str, at: &str) -> AnalyzedDocument {
        AnalyzedDocument {
            doc_id: id.into(),
            source_id: "s".into(),
            detected_at: at.parse().unwrap(),
            event_id: "e".into(),
            ..AnalyzedDocument::default()
        }
    }

    #[test]
    fn items_are_idempotent_and_pruned_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store
                .apply_item(doc("a", "2025-01-01T00:00:00Z"))
                .unwrap()
                .0,
            Applied::New
        );
        assert_eq!(
            store
                .apply_item(doc("a", "2025-01-01T00:00:00Z"))
                .unwrap()
                .0,
            Applied::Unchanged
        );
        store.apply_item(doc("b", "2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(store.counts().0, 2);
        let n = store
            .prune_items("2025-06-01T00:00:00Z".parse().unwrap())
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(store.counts().0, 1);
        let ids: Vec<String> = store
            .latest_items(10)
            .unwrap()
            .into_iter()
            .map(|i| i.doc.doc_id)
            .collect();
        assert_eq!(ids, ["b"]);
        let between: Vec<String> = store
            .items_between(
                "2025-12-31T00:00:00Z".parse().unwrap(),
                "2026-01-02T00:00:00Z".parse().unwrap(),
            )
            .map(|i| i.unwrap().doc.doc_id)
            .collect();
        assert_eq!(between, ["b"]);
        // Counters survive a reopen.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.counts().0, 1);
    }
}
