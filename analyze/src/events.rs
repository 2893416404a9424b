//! Incremental event clustering (舆情事件) in a sliding window, with heat and spike detection.
//!
//! Each analyzed item joins the most similar active event — one seen within the window whose
//! keyword profile covers enough of the item's weighted keywords (title keywords count double,
//! a near-duplicate joins its original's event outright) — or, failing that, an active event
//! with the same incident signature: the same kind of incident (爆炸, 洪涝 …) in the same place
//! (one county and no two different townships, the same set of counties, or the same place
//! elsewhere). A newspaper report, an eyewitness post ("听说…太吓人了") and a follow-up with a
//! new death toll share few words but one signature. Otherwise the item opens a new event. Items
//! in two different districts never share an event: the same kind of incident in 南明区 and
//! 花溪区 is two cases for two owners; an unknown place never matches by signature, and when
//! both name only the city (贵阳, no district) the signature needs half the usual word overlap
//! too — the city has several fires a day.
//!
//! An event is headed by its most informative current report ([`replaces`]): a sentence over a
//! bare tag (a post whose first words are "紧急扩散" is headed by its first real sentence), a
//! report over a post, and the latest casualty figure over the first.
//!
//! This module is pure: it holds the state and is told the time; the stage persists it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use common::wire::{EventUpdate, Jurisdiction, Priority, SeverityProposal};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::analyzer::Analysis;

/// Parameters from config.
#[derive(Debug, Clone)]
pub struct EventParams {
    pub window: Duration,
    pub similarity: f32,
    pub recent_docs: usize,
    pub spike_factor: f64,
    pub spike_min_docs: u64,
}

/// An item as clustering sees it.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub doc_id: &'a str,
    pub source_id: &'a str,
    pub title: &'a str,
    /// The item's text (a post's whole text, an article's body): where a headline is looked
    /// for when the title is a bare tag.
    pub text: &'a str,
    /// A post on a social platform (its "title" is the start of the post).
    pub social: bool,
    pub detected_at: DateTime<Utc>,
    pub source_weight: f32,
    pub engagement: u64,
    pub near_duplicate_of: Option<&'a str>,
    pub flags: &'a common::wire::DocFlags,
    pub analysis: &'a Analysis,
}

/// Everything kept about one event; serialized into the stage's sled store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventState {
    pub update: EventUpdate,
    /// Keyword profile: term → accumulated weight (bounded).
    pub terms: BTreeMap<String, f32>,
    pub sources: BTreeSet<String>,
    /// (hour since epoch, items that hour), newest last, bounded.
    pub hourly: VecDeque<(i64, u64)>,
    pub weighted_docs: f64,
    pub engagement: u64,
    pub domain_votes: BTreeMap<String, u32>,
    pub county_votes: BTreeMap<String, u32>,
    pub negative_sum: f64,
    /// The incident kind (爆炸, 洪涝 …) of the first item that named one.
    #[serde(default)]
    pub incident_kind: Option<String>,
    /// Whether the title is still that of a social post (a titled report replaces it).
    #[serde(default)]
    pub title_from_social: bool,
    /// When the item that gave the headline was detected, and the casualty figures it reported.
    #[serde(default)]
    pub headline_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub headline_casualties: Casualties,
}

/// The casualty figures one report gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Casualties {
    pub deaths: Option<u32>,
    pub injured: Option<u32>,
    pub missing: Option<u32>,
}

impl Casualties {
    pub fn of(s: &SeverityProposal) -> Casualties {
        Casualties {
            deaths: s.deaths,
            injured: s.injured,
            missing: s.missing,
        }
    }

    fn any(&self) -> bool {
        self.deaths.is_some() || self.injured.is_some() || self.missing.is_some()
    }
}

/// A text says something when it has at least this many letters (汉字, digits, Latin letters):
/// "紧急扩散", "转发" or "突发！" do not, "乌当区一仓库发生火灾" does.
const HEADLINE_MIN_CHARS: usize = 6;
/// A headline taken from a text is cut at this many characters.
const HEADLINE_MAX_CHARS: usize = 60;

fn says_something(text: &str) -> bool {
    text.chars().filter(|c| c.is_alphanumeric()).count() >= HEADLINE_MIN_CHARS
}

/// The headline an item offers its event: its title when that says something, else the first
/// sentence of its text that does (a post whose first words are a call such as "紧急扩散!!"),
/// else the title as it is.
pub fn headline_of(title: &str, text: &str) -> String {
    let title = title.trim();
    if says_something(title) {
        return title.to_string();
    }
    text.split(['。', '！', '？', '\n', '!', '?', '；', ';'])
        .map(str::trim)
        .find(|s| says_something(s))
        .map(|s| s.chars().take(HEADLINE_MAX_CHARS).collect())
        .unwrap_or_else(|| title.to_string())
}

/// A headline as [`replaces`] weighs it.
#[derive(Debug, Clone, Copy)]
pub struct Headline<'a> {
    pub text: &'a str,
    /// From a social post (its first words), not a report's title.
    pub social: bool,
    pub casualties: Casualties,
    pub at: DateTime<Utc>,
}

/// Whether `new` should become the event's headline instead of `cur`: a sentence over a bare
/// tag, a report over a post, and a later report with other casualty figures over an earlier
/// one (the desk must read the latest toll, not the first).
pub fn replaces(cur: &Headline, new: &Headline) -> bool {
    if !says_something(new.text) {
        return false;
    }
    if !says_something(cur.text) {
        return true;
    }
    if cur.social != new.social {
        return cur.social;
    }
    new.casualties.any() && new.casualties != cur.casualties && new.at >= cur.at
}

const MAX_TERMS: usize = 40;
const MAX_HOURS: usize = 72;

/// The clustering state: active events and an inverted index over their terms.
#[derive(Debug, Default)]
pub struct Events {
    pub events: HashMap<String, EventState>,
    index: HashMap<String, HashSet<String>>,
    /// incident kind → events of that kind.
    by_kind: HashMap<String, HashSet<String>>,
    /// doc id → event id for near-duplicate joins (active window only).
    doc_event: HashMap<String, String>,
    /// source id → hourly counts, for the source's own baseline.
    source_hourly: HashMap<String, VecDeque<(i64, u64)>>,
}

fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

fn bump_hour(h: &mut VecDeque<(i64, u64)>, hour: i64) {
    match h.back_mut() {
        Some((last, n)) if *last == hour => *n += 1,
        Some((last, _)) if *last > hour => {
            // A late item: count it in its own hour if still held.
            if let Some(slot) = h.iter_mut().find(|(hh, _)| *hh == hour) {
                slot.1 += 1;
            }
        }
        _ => h.push_back((hour, 1)),
    }
    while h.len() > MAX_HOURS {
        h.pop_front();
    }
}

/// Items in the latest hour, and the mean per hour over the other hours of the series span
/// (hours with no items count as zero).
fn latest_and_baseline(h: &VecDeque<(i64, u64)>, now_hour: i64) -> (u64, f64) {
    let latest = h
        .iter()
        .filter(|(hh, _)| *hh == now_hour)
        .map(|(_, n)| *n)
        .sum();
    let earlier: Vec<&(i64, u64)> = h.iter().filter(|(hh, _)| *hh < now_hour).collect();
    match earlier.first() {
        None => (latest, 0.0),
        Some((first, _)) => {
            let span = (now_hour - first).max(1) as f64;
            let total: u64 = earlier.iter().map(|(_, n)| *n).sum();
            (latest, total as f64 / span)
        }
    }
}

/// How closely two jurisdictions name one place, for joining reports by incident signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlaceMatch {
    /// Different places, or a place unknown on either side: two car crashes somewhere in China
    /// are not one event.
    No,
    /// Both name only the city as a whole (贵阳 with no district): the city sees several fires
    /// a day, so the kind of incident alone does not join them; some shared words must too.
    CityOnly,
    /// One county (and no two different townships), the same set of the city's counties, or
    /// the same place elsewhere.
    Same,
}

fn place_match(a: &Jurisdiction, b: &Jurisdiction) -> PlaceMatch {
    let same = match (a, b) {
        (
            Jurisdiction::Local {
                county: c1,
                township: t1,
            },
            Jurisdiction::Local {
                county: c2,
                township: t2,
            },
        ) => c1 == c2 && (t1.is_none() || t2.is_none() || t1 == t2),
        (Jurisdiction::City { counties: a }, Jurisdiction::City { counties: b }) => {
            if a.is_empty() && b.is_empty() {
                return PlaceMatch::CityOnly;
            }
            a == b
        }
        (
            Jurisdiction::Elsewhere { place: Some(a) },
            Jurisdiction::Elsewhere { place: Some(b) },
        ) => a == b,
        _ => false,
    };
    if same {
        PlaceMatch::Same
    } else {
        PlaceMatch::No
    }
}

/// Deterministic event id from the first item's id.
pub fn event_id_for(doc_id: &str) -> String {
    let digest = Sha256::digest(doc_id.as_bytes());
    format!("evt-{}", &hex::encode(digest)[..16])
}

fn county_of(j: &Jurisdiction) -> Option<&str> {
    match j {
        Jurisdiction::Local { county, .. } => Some(county),
        _ => None,
    }
}

fn item_terms(a: &Analysis) -> Vec<(String, f32)> {
    let mut terms: BTreeMap<String, f32> = BTreeMap::new();
    for (k, w) in a.keywords.iter() {
        *terms.entry(k.to_string()).or_default() += w;
    }
    for k in a.title_keywords.words() {
        *terms.entry(k.to_string()).or_default() += 1.5;
    }
    terms.into_iter().collect()
}

impl Events {
    pub fn from_states(states: impl IntoIterator<Item = EventState>) -> Self {
        let mut e = Events::default();
        for s in states {
            e.insert(s);
        }
        e
    }

    fn insert(&mut self, s: EventState) {
        let id = s.update.event_id.clone();
        for t in s.terms.keys() {
            self.index.entry(t.clone()).or_default().insert(id.clone());
        }
        for d in &s.update.recent_doc_ids {
            self.doc_event.insert(d.clone(), id.clone());
        }
        if let Some(k) = &s.incident_kind {
            self.by_kind
                .entry(k.clone())
                .or_default()
                .insert(id.clone());
        }
        self.events.insert(id, s);
    }

    fn unindex(&mut self, id: &str) {
        if let Some(s) = self.events.get(id) {
            for t in s.terms.keys() {
                if let Some(set) = self.index.get_mut(t) {
                    set.remove(id);
                    if set.is_empty() {
                        self.index.remove(t);
                    }
                }
            }
            if let Some(k) = &s.incident_kind {
                if let Some(set) = self.by_kind.get_mut(k) {
                    set.remove(id);
                    if set.is_empty() {
                        self.by_kind.remove(k);
                    }
                }
            }
        }
    }

    /// Drop events not seen within the window before `now`; returns their ids.
    pub fn expire(&mut self, now: DateTime<Utc>, window: Duration) -> Vec<String> {
        let old: Vec<String> = self
            .events
            .iter()
            .filter(|(_, s)| s.update.last_seen_at + window < now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &old {
            self.unindex(id);
            self.events.remove(id);
        }
        self.doc_event.retain(|_, e| !old.contains(e));
        let oldest_hour = hour_of(now - window);
        self.source_hourly.retain(|_, h| {
            while h.front().is_some_and(|(hh, _)| *hh < oldest_hour) {
                h.pop_front();
            }
            !h.is_empty()
        });
        old
    }

    /// The best matching active event for an item, if similar enough.
    fn find(&self, item: &Item, terms: &[(String, f32)], p: &EventParams) -> Option<String> {
        if let Some(orig) = item.near_duplicate_of {
            if let Some(e) = self.doc_event.get(orig) {
                return Some(e.clone());
            }
        }
        let total: f32 = terms.iter().map(|(_, w)| *w).sum();
        if total <= 0.0 {
            return None;
        }
        let mut overlap: HashMap<&str, f32> = HashMap::new();
        for (t, w) in terms {
            if let Some(ids) = self.index.get(t) {
                for id in ids {
                    *overlap.entry(id.as_str()).or_default() += *w;
                }
            }
        }
        // Reports of one incident are worded differently by a newspaper, an eyewitness and a
        // follow-up with a new toll; what they share is the kind of incident and the place. An
        // event of the same kind in the same place is a candidate whatever the word overlap.
        let kind = item.analysis.incident_kind.as_deref();
        if let Some(ids) = kind.and_then(|k| self.by_kind.get(k)) {
            for id in ids {
                overlap.entry(id.as_str()).or_default();
            }
        }
        let county = county_of(&item.analysis.jurisdiction);
        overlap
            .into_iter()
            .filter_map(|(id, o)| {
                let s = self.events.get(id)?;
                let age = item.detected_at - s.update.last_seen_at;
                if age > p.window || -age > p.window {
                    return None;
                }
                if let (Some(a), Some(b)) = (county, county_of(&s.update.jurisdiction)) {
                    if a != b {
                        return None;
                    }
                }
                let sim = o / total;
                let signature = kind.is_some()
                    && kind == s.incident_kind.as_deref()
                    && match place_match(&item.analysis.jurisdiction, &s.update.jurisdiction) {
                        PlaceMatch::Same => true,
                        PlaceMatch::CityOnly => sim >= p.similarity / 2.0,
                        PlaceMatch::No => false,
                    };
                // A signature match ranks above any match by words alone.
                if signature {
                    Some((id, 1.0 + sim))
                } else {
                    (sim >= p.similarity).then_some((id, sim))
                }
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(id, _)| id.to_string())
    }

    /// Add an item; returns the event's new state.
    pub fn add(&mut self, item: &Item, p: &EventParams) -> EventState {
        let terms = item_terms(item.analysis);
        let found = self.find(item, &terms, p);
        let id = found.clone().unwrap_or_else(|| event_id_for(item.doc_id));
        self.unindex(&id);
        let mut s = self.events.remove(&id).unwrap_or_else(|| EventState {
            update: EventUpdate {
                event_id: id.clone(),
                first_detected_at: item.detected_at,
                last_seen_at: item.detected_at,
                ..EventUpdate::default()
            },
            title_from_social: item.social,
            ..EventState::default()
        });
        let a = item.analysis;
        let u = &mut s.update;
        // The desk reads events by their title: the most informative current report, not
        // whichever item came first (see `replaces`).
        let text = headline_of(item.title, item.text);
        let candidate = Headline {
            text: &text,
            social: item.social,
            casualties: Casualties::of(&a.severity),
            at: item.detected_at,
        };
        let current = Headline {
            text: &u.title,
            social: s.title_from_social,
            casualties: s.headline_casualties,
            at: s.headline_at.unwrap_or(u.first_detected_at),
        };
        if u.title.is_empty() || replaces(&current, &candidate) {
            s.title_from_social = item.social;
            s.headline_casualties = candidate.casualties;
            s.headline_at = Some(item.detected_at);
            u.title = text;
        }
        u.first_detected_at = u.first_detected_at.min(item.detected_at);
        u.last_seen_at = u.last_seen_at.max(item.detected_at);
        u.doc_count += 1;
        s.sources.insert(item.source_id.to_string());
        u.source_count = s.sources.len() as u64;
        s.weighted_docs += item.source_weight.max(0.0) as f64;
        s.engagement += item.engagement;
        s.negative_sum += a.negative_score as f64;
        u.negative_score = (s.negative_sum / u.doc_count as f64) as f32;
        u.rumor_score = u.rumor_score.max(a.rumor_score);

        let mut prios: BTreeSet<Priority> = u.priorities.iter().copied().collect();
        prios.extend(a.priorities.iter().map(|m| m.priority));
        u.priorities = prios.into_iter().collect();

        if let Some(d) = &a.domain {
            *s.domain_votes.entry(d.clone()).or_default() += 1;
            let top = s
                .domain_votes
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(d, _)| d.clone());
            if top.as_deref() == Some(d.as_str()) || u.domain.is_none() {
                u.domain = Some(d.clone());
                u.department = a.department.clone().or(u.department.take());
            }
        }
        match &a.jurisdiction {
            Jurisdiction::Local { county, .. } => {
                *s.county_votes.entry(county.clone()).or_default() += 1;
                if !matches!(u.jurisdiction, Jurisdiction::Local { .. }) {
                    u.jurisdiction = a.jurisdiction.clone();
                }
            }
            Jurisdiction::Unknown => {}
            other => {
                if matches!(u.jurisdiction, Jurisdiction::Unknown) {
                    u.jurisdiction = other.clone();
                }
            }
        }
        u.severity = merge_severity(&u.severity, &a.severity);
        if s.incident_kind.is_none() {
            s.incident_kind = a.incident_kind.clone();
        }

        for (t, w) in &terms {
            *s.terms.entry(t.clone()).or_default() += *w;
        }
        if s.terms.len() > MAX_TERMS {
            let mut v: Vec<(String, f32)> = std::mem::take(&mut s.terms).into_iter().collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(MAX_TERMS);
            s.terms = v.into_iter().collect();
        }
        let mut kw: Vec<(&String, &f32)> = s.terms.iter().collect();
        kw.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
        u.keywords = kw.into_iter().take(10).map(|(k, _)| k.clone()).collect();

        u.flags.notified_by_cyberspace_office |= item.flags.notified_by_cyberspace_office;
        u.flags.manual |= item.flags.manual;
        if u.flags.reported_by_unit.is_none() {
            u.flags.reported_by_unit = item.flags.reported_by_unit.clone();
        }
        u.recent_doc_ids.push(item.doc_id.to_string());
        if u.recent_doc_ids.len() > p.recent_docs {
            let extra = u.recent_doc_ids.len() - p.recent_docs;
            u.recent_doc_ids.drain(..extra);
        }

        let hour = hour_of(item.detected_at);
        bump_hour(&mut s.hourly, hour);
        let src = self
            .source_hourly
            .entry(item.source_id.to_string())
            .or_default();
        bump_hour(src, hour);
        let (latest, base) = latest_and_baseline(&s.hourly, hour);
        let (src_latest, src_base) = latest_and_baseline(src, hour);
        let min = p.spike_min_docs.max(1);
        // Spiking: this hour's volume is well above the event's own rhythm, and the sources are
        // not simply publishing more of everything this hour.
        let event_spike = latest >= min && (latest as f64) >= p.spike_factor * base.max(1.0);
        let source_busy = src_base > 0.0 && (src_latest as f64) >= p.spike_factor * src_base;
        s.update.spiking = event_spike && !(source_busy && s.sources.len() <= 1);
        s.update.heat = heat(&s, latest, base);
        s.update.revision += 1;

        self.doc_event
            .insert(item.doc_id.to_string(), id.to_string());
        let out = s.clone();
        self.insert(s);
        out
    }
}

/// Heat: volume (source-weighted), engagement, breadth of sources, growth in the latest hour,
/// and the weight of the priorities. Logarithms keep one viral post from dwarfing everything.
fn heat(s: &EventState, latest: u64, baseline: f64) -> f64 {
    let volume = 20.0 * (1.0 + s.weighted_docs).ln();
    let engagement = 8.0 * (1.0 + s.engagement as f64).ln();
    let breadth = 5.0 * (s.sources.len() as f64).sqrt();
    let growth = 10.0 * ((1.0 + latest as f64) / (1.0 + baseline)).ln().max(0.0);
    let priority: f64 = s
        .update
        .priorities
        .iter()
        .map(|p| match p {
            Priority::Emergency => 15.0,
            Priority::FalseInfo | Priority::Moral | Priority::Credibility => 8.0,
            Priority::Decision | Priority::PublicInterest => 5.0,
        })
        .sum();
    let severity = match s.update.severity.level {
        Some(common::wire::Severity::ExtremelyMajor) => 30.0,
        Some(common::wire::Severity::Major) => 20.0,
        Some(common::wire::Severity::Large) => 10.0,
        _ => 0.0,
    };
    ((volume + engagement + breadth + growth + priority + severity) * 100.0).round() / 100.0
}

/// The highest figures and level seen in any item of the event.
fn merge_severity(old: &SeverityProposal, new: &SeverityProposal) -> SeverityProposal {
    let max = |a: Option<u32>, b: Option<u32>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    let mut evidence = old.evidence.clone();
    for e in &new.evidence {
        if !evidence.contains(e) && evidence.len() < 10 {
            evidence.push(e.clone());
        }
    }
    SeverityProposal {
        level: old.level.max(new.level),
        deaths: max(old.deaths, new.deaths),
        injured: max(old.injured, new.injured),
        missing: max(old.missing, new.missing),
        loss_wan_yuan: match (old.loss_wan_yuan, new.loss_wan_yuan) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        },
        evidence,
        proposed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::analyzer::{Analyzer, Input};

    fn params() -> EventParams {
        EventParams {
            window: Duration::hours(72),
            similarity: 0.42,
            recent_docs: 20,
            spike_factor: 3.0,
            spike_min_docs: 3,
        }
    }

    fn analyzer() -> Analyzer {
        match Analyzer::new(&Config::default()) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        }
    }

    /// When the items of a test start arriving.
    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
    }

    /// Feed (doc id, minutes after start, title, body) and return, per item, the index of its
    /// event (0 = first event opened, 1 = second …) and that event's severity after the item.
    fn cluster(items: &[(&str, i64, &str, &str)]) -> Vec<(usize, &'static str)> {
        let analyzer = analyzer();
        let t0 = start();
        let flags = common::wire::DocFlags::default();
        let mut events = Events::default();
        let mut ids: Vec<String> = Vec::new();
        let mut got = Vec::new();
        for (doc, minutes, title, body) in items {
            let a = analyzer.analyze(&Input {
                title,
                body,
                ..Input::default()
            });
            let s = events.add(
                &Item {
                    doc_id: doc,
                    source_id: "s",
                    title,
                    text: body,
                    social: title.is_empty(),
                    detected_at: t0 + Duration::minutes(*minutes),
                    source_weight: 1.0,
                    engagement: 0,
                    near_duplicate_of: None,
                    flags: &flags,
                    analysis: &a,
                },
                &params(),
            );
            let idx = match ids.iter().position(|i| *i == s.update.event_id) {
                Some(i) => i,
                None => {
                    ids.push(s.update.event_id.clone());
                    ids.len() - 1
                }
            };
            got.push((idx, s.update.severity.level.map_or("-", |l| l.label_zh())));
        }
        got
    }

    fn check(items: &[(&str, i64, &str, &str)], expect: &[usize]) {
        let got: Vec<usize> = cluster(items).into_iter().map(|(i, _)| i).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn reports_of_one_incident_cluster_and_others_do_not() {
        check(
            &[
                (
                    "a",
                    0,
                    "南明区一小区发生火灾 消防正在扑救",
                    "南明区花果园一小区高层住宅发生火灾，消防救援人员正在扑救。",
                ),
                (
                    "b",
                    20,
                    "南明区花果园小区火灾已扑灭 无人员伤亡",
                    "南明区花果园小区火灾明火已被扑灭，无人员伤亡，起火原因正在调查。",
                ),
                (
                    "c",
                    30,
                    "观山湖区举办春季招聘会",
                    "观山湖区人社局举办春季招聘会，提供岗位5000个。",
                ),
                (
                    "d",
                    40,
                    "花溪区一小区发生火灾",
                    "花溪区一小区住宅发生火灾，消防救援人员正在扑救。",
                ),
            ],
            &[0, 0, 1, 2],
        );
    }

    #[test]
    fn news_posts_and_follow_ups_of_one_incident_meet() {
        check(
            &[
                (
                    "n1",
                    0,
                    "南明区一居民楼发生燃气爆炸 已致3人死亡",
                    "贵阳市南明区花果园附近一居民楼发生燃气爆炸事故，已造成3人死亡、12人受伤。",
                ),
                (
                    "w1",
                    5,
                    "",
                    "#南明区燃气爆炸# 太吓人了，花果园那边一栋楼燃气爆炸，现场全是消防车",
                ),
                (
                    "r1",
                    10,
                    "",
                    "网传贵阳自来水被污染了不能喝，紧急扩散！大家赶紧囤水",
                ),
                (
                    "n2",
                    120,
                    "南明区燃气爆炸事故死亡人数上升至11人",
                    "南明区花果园燃气爆炸事故死亡人数上升至11人，事故原因正在调查。",
                ),
                (
                    "r2",
                    180,
                    "",
                    "【辟谣】网传贵阳自来水被污染不能饮用系谣言，自来水水质符合国家标准",
                ),
            ],
            &[0, 0, 1, 0, 1],
        );
    }

    /// A newspaper, eyewitness posts and follow-ups word one incident differently; kind + place
    /// join them, and the event's severity rises with the toll.
    #[test]
    fn one_incident_across_sources_by_kind_and_place() {
        let got = cluster(&[
            (
                "news1",
                0,
                "云岩区一商住楼发生燃气爆炸 已致2人死亡",
                "贵阳市云岩区中华北路附近一商住楼今晨发生燃气爆炸，已造成2人死亡、8人受伤，消防、公安部门正在现场处置。",
            ),
            (
                "post1",
                3,
                "",
                "#云岩区爆炸# 吓死了!!刚才中华北路那边轰的一声，听说炸死人了，整条街都是消防车，希望大家平安!",
            ),
            (
                "news2",
                10,
                "开阳县暴雨引发山洪 3人失联",
                "受持续强降雨影响，开阳县多个乡镇突发山洪，冲毁道路桥梁，目前3人失联，救援人员正在搜救。",
            ),
            (
                "post2",
                15,
                "",
                "开阳县这边的雨太吓人了，河水涨得好快，村口的桥都被冲垮了#开阳暴雨#",
            ),
            (
                "rumor1",
                20,
                "",
                "网传贵阳明天全城停水三天，自来水厂出事了，紧急扩散!!赶紧囤水!",
            ),
            (
                "news3",
                90,
                "云岩区燃气爆炸事故遇难人数升至12人",
                "记者从云岩区获悉，商住楼燃气爆炸事故遇难人数已升至12人，另有15人受伤住院。",
            ),
            (
                "refute1",
                120,
                "",
                "【辟谣】网传“贵阳全城停水三天”系谣言。经核实，我市各水厂供水正常，请市民不信谣、不传谣。",
            ),
        ]);
        assert_eq!(
            got,
            [
                (0, "一般"),
                (0, "一般"),
                (1, "较大"),
                (1, "较大"),
                (2, "-"),
                (0, "重大"),
                (2, "-"),
            ]
        );
    }

    #[test]
    fn same_kind_in_another_township_or_unknown_place_is_another_event() {
        check(
            &[
                (
                    "a",
                    0,
                    "花溪区青岩镇一民房起火",
                    "贵阳市花溪区青岩镇一民房起火，消防人员赶到后扑灭明火，无人员伤亡。",
                ),
                (
                    "b",
                    30,
                    "花溪区石板镇一仓库发生火灾",
                    "贵阳市花溪区石板镇一仓库发生火灾，浓烟滚滚，消防救援人员正在扑救。",
                ),
                ("c", 40, "", "一辆货车与轿车追尾，司机受轻伤"),
                ("d", 50, "", "高速上两车追尾，交警正在处理"),
            ],
            &[0, 1, 2, 3],
        );
    }

    /// With only the city named, the kind of incident alone does not join two reports: two
    /// unrelated fires stay apart, a follow-up that shares words with the first report joins it.
    #[test]
    fn city_only_place_needs_shared_words_too() {
        check(
            &[
                (
                    "a",
                    0,
                    "贵阳一小区居民楼突发火灾",
                    "今天上午，贵阳市一小区居民楼突发火灾，消防救援人员迅速赶到现场扑救，火势已被控制。",
                ),
                (
                    "b",
                    20,
                    "贵阳一废品回收站起火",
                    "贵阳一废品回收站堆放的纸箱起火，浓烟冲天，附近商户紧急疏散。",
                ),
                (
                    "c",
                    60,
                    "贵阳小区居民楼火灾原因查明",
                    "记者从贵阳市消防救援支队获悉，该小区居民楼火灾系电动车充电引发，火灾未造成人员伤亡。",
                ),
            ],
            &[0, 1, 0],
        );
    }

    /// An event opened by a post takes the headline of the first report that joins it.
    #[test]
    fn a_report_headline_replaces_a_post_title() {
        let analyzer = analyzer();
        let t0 = start();
        let flags = common::wire::DocFlags::default();
        let mut events = Events::default();
        let mut titles = Vec::new();
        for (doc, social, title, body) in [
            (
                "post",
                true,
                "#乌当区火灾# 好大的烟",
                "#乌当区火灾# 好大的烟!乌当区新天那边一个仓库着火了,消防车来了好几辆",
            ),
            (
                "news",
                false,
                "乌当区一仓库发生火灾 无人员伤亡",
                "贵阳市乌当区新天寨附近一仓库今日下午发生火灾,消防救援人员迅速扑灭明火,无人员伤亡。",
            ),
            (
                "post2",
                true,
                "乌当区仓库火灾现场",
                "乌当区仓库火灾现场,烟太大了,大家绕行",
            ),
        ] {
            let a = analyzer.analyze(&Input {
                title,
                body,
                social,
                ..Input::default()
            });
            let s = events.add(
                &Item {
                    doc_id: doc,
                    source_id: doc,
                    title,
                    text: body,
                    social,
                    detected_at: t0,
                    source_weight: 1.0,
                    engagement: 0,
                    near_duplicate_of: None,
                    flags: &flags,
                    analysis: &a,
                },
                &params(),
            );
            titles.push((s.update.doc_count, s.update.title));
        }
        assert_eq!(
            titles,
            [
                (1, "#乌当区火灾# 好大的烟".to_string()),
                (2, "乌当区一仓库发生火灾 无人员伤亡".to_string()),
                (3, "乌当区一仓库发生火灾 无人员伤亡".to_string()),
            ]
        );
    }

    fn headline(
        text: &str,
        social: bool,
        deaths: Option<u32>,
        minutes: i64,
    ) -> (String, bool, Casualties, DateTime<Utc>) {
        (
            text.to_string(),
            social,
            Casualties {
                deaths,
                ..Casualties::default()
            },
            start() + Duration::minutes(minutes),
        )
    }

    /// Which of a sequence of candidate headlines the event shows after each (pure).
    fn shown(candidates: &[(String, bool, Casualties, DateTime<Utc>)]) -> Vec<String> {
        let mut cur: Option<&(String, bool, Casualties, DateTime<Utc>)> = None;
        let mut out = Vec::new();
        for c in candidates {
            let take = match cur {
                None => true,
                Some(h) => replaces(
                    &Headline {
                        text: &h.0,
                        social: h.1,
                        casualties: h.2,
                        at: h.3,
                    },
                    &Headline {
                        text: &c.0,
                        social: c.1,
                        casualties: c.2,
                        at: c.3,
                    },
                ),
            };
            if take {
                cur = Some(c);
            }
            out.push(cur.map(|h| h.0.clone()).unwrap_or_default());
        }
        out
    }

    #[test]
    fn the_headline_is_the_latest_toll_and_never_a_bare_tag() {
        let first = "开阳县一煤矿发生瓦斯爆炸 已致3人死亡";
        let later = "开阳县煤矿瓦斯爆炸事故死亡人数升至11人";
        assert_eq!(
            shown(&[
                headline("紧急扩散", true, None, 0),
                headline(first, false, Some(3), 10),
                headline("开阳县煤矿事故现场图片", false, None, 20),
                headline(later, false, Some(11), 30),
                // An older report arriving late does not turn the toll back.
                headline("开阳县一煤矿发生瓦斯爆炸 2人死亡", false, Some(2), 5),
                headline("转发", false, Some(12), 40),
                headline("现场好多救护车，听说死了十几个人", true, Some(12), 50),
            ]),
            ["紧急扩散", first, first, later, later, later, later,]
        );
    }

    #[test]
    fn a_post_that_opens_with_a_call_is_headed_by_its_first_real_sentence() {
        assert_eq!(
            headline_of(
                "紧急扩散",
                "紧急扩散!!网传息烽县今晚要发生8级地震,大家千万不要在家里睡觉!!消息可靠!"
            ),
            "网传息烽县今晚要发生8级地震,大家千万不要在家里睡觉"
        );
        assert_eq!(
            headline_of("乌当区一仓库发生火灾 无人员伤亡", "正文"),
            "乌当区一仓库发生火灾 无人员伤亡"
        );
        // Nothing better to offer: the title stays.
        assert_eq!(headline_of("转发", "转发!"), "转发");
    }

    /// Through clustering with the real analyzer: the follow-up with the new toll heads the
    /// event, and a post's call to spread gives way to its sentence.
    #[test]
    fn an_event_is_retitled_by_the_follow_up_with_the_new_toll() {
        let analyzer = analyzer();
        let flags = common::wire::DocFlags::default();
        let mut events = Events::default();
        let mut titles = Vec::new();
        for (doc, minutes, social, title, body) in [
            (
                "post",
                0,
                true,
                "紧急扩散",
                "紧急扩散!!开阳县一个煤矿发生爆炸了,好多救护车往那边去",
            ),
            (
                "news1",
                10,
                false,
                "开阳县一煤矿发生瓦斯爆炸 已致3人死亡",
                "开阳县一煤矿今日发生瓦斯爆炸事故，已致3人死亡，救援正在进行。",
            ),
            (
                "news2",
                60,
                false,
                "开阳县煤矿瓦斯爆炸事故死亡人数升至11人",
                "开阳县煤矿瓦斯爆炸事故死亡人数升至11人，另有2人受伤。",
            ),
        ] {
            let a = analyzer.analyze(&Input {
                title,
                body,
                social,
                ..Input::default()
            });
            let s = events.add(
                &Item {
                    doc_id: doc,
                    source_id: doc,
                    title,
                    text: body,
                    social,
                    detected_at: start() + Duration::minutes(minutes),
                    source_weight: 1.0,
                    engagement: 0,
                    near_duplicate_of: None,
                    flags: &flags,
                    analysis: &a,
                },
                &params(),
            );
            titles.push((s.update.doc_count, s.update.title));
        }
        assert_eq!(
            titles,
            [
                (1, "开阳县一个煤矿发生爆炸了,好多救护车往那边去".to_string()),
                (2, "开阳县一煤矿发生瓦斯爆炸 已致3人死亡".to_string()),
                (3, "开阳县煤矿瓦斯爆炸事故死亡人数升至11人".to_string()),
            ]
        );
    }

    #[test]
    fn outside_the_window_is_a_new_event() {
        check(
            &[
                (
                    "a",
                    0,
                    "南明区一小区发生火灾",
                    "南明区花果园小区发生火灾，消防正在扑救",
                ),
                (
                    "b",
                    60 * 24 * 5,
                    "南明区一小区发生火灾",
                    "南明区花果园小区发生火灾，消防正在扑救",
                ),
            ],
            &[0, 1],
        );
    }

    #[test]
    fn spike_needs_volume_above_baseline() {
        let mut h = VecDeque::new();
        for hour in [10, 11, 12] {
            bump_hour(&mut h, hour);
        }
        assert_eq!(latest_and_baseline(&h, 12), (1, 1.0));
        for _ in 0..5 {
            bump_hour(&mut h, 13);
        }
        assert_eq!(latest_and_baseline(&h, 13), (5, 1.0));
    }
}
