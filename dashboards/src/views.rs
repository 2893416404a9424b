//! JSON shapes the API and the live stream send: the wire types flattened, plus what a screen
//! needs and should not compute itself (a safe link, the district, deadline status).

use chrono::{DateTime, Utc};
use common::wire::{Case, Deadline, DeadlineKind, EventUpdate, SentimentLabel, Severity, Tier};
use serde::Serialize;

use crate::store::{StoredCase, StoredEvent, StoredItem, county_of};

/// Only `http(s)` links are ever offered to the browser: a crawled `javascript:` or `data:` URL
/// must not become a clickable link.
pub fn safe_link(url: Option<&str>) -> Option<String> {
    let u = url?.trim();
    let lower = u.to_ascii_lowercase();
    if (lower.starts_with("http://") || lower.starts_with("https://"))
        && !u
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '<' || c == '>')
    {
        Some(u.to_string())
    } else {
        None
    }
}

pub fn sentiment_str(l: SentimentLabel) -> &'static str {
    match l {
        SentimentLabel::Positive => "positive",
        SentimentLabel::Neutral => "neutral",
        SentimentLabel::Negative => "negative",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    #[serde(flatten)]
    pub doc: common::wire::AnalyzedDocument,
    pub seq: u64,
    /// `http(s)` URL or null.
    pub link: Option<String>,
    pub district: Option<String>,
    pub priority_keys: Vec<&'static str>,
    pub sentiment_label: &'static str,
    pub notified_at: Option<DateTime<Utc>>,
    /// The outlet (来源) as people name it, never the internal source id.
    pub source_name: String,
}

pub fn item_view(item: &StoredItem) -> ItemView {
    ItemView {
        source_name: item.outlet().to_string(),
        link: safe_link(item.doc.url.as_deref()),
        district: county_of(&item.doc.jurisdiction).map(String::from),
        priority_keys: item
            .doc
            .priorities
            .iter()
            .map(|p| p.priority.as_str())
            .collect(),
        sentiment_label: sentiment_str(item.doc.sentiment.label),
        notified_at: item.notified_at,
        seq: item.seq,
        doc: item.doc.clone(),
    }
}

/// The live stream's slimmer item: what the desk's list shows, without the analysis evidence,
/// so 1,000 items/s to 100 viewers stays affordable.
#[derive(Debug, Clone, Serialize)]
pub struct LiveItem {
    pub doc_id: String,
    pub seq: u64,
    pub event_id: String,
    pub title: String,
    pub summary: String,
    pub link: Option<String>,
    pub site_name: Option<String>,
    pub source_id: String,
    /// The outlet (来源) as people name it, never the internal source id.
    pub source_name: String,
    pub detected_at: DateTime<Utc>,
    pub priority_keys: Vec<&'static str>,
    pub district: Option<String>,
    pub sentiment_label: &'static str,
    pub is_rumor: bool,
    pub flags: common::wire::DocFlags,
    pub notified_at: Option<DateTime<Utc>>,
}

const LIVE_SUMMARY_CHARS: usize = 160;

pub fn live_item(item: &StoredItem) -> LiveItem {
    let d = &item.doc;
    LiveItem {
        doc_id: d.doc_id.clone(),
        seq: item.seq,
        event_id: d.event_id.clone(),
        title: d.title.clone(),
        summary: d.summary.chars().take(LIVE_SUMMARY_CHARS).collect(),
        link: safe_link(d.url.as_deref()),
        site_name: d.site_name.clone(),
        source_id: d.source_id.clone(),
        source_name: item.outlet().to_string(),
        detected_at: d.detected_at,
        priority_keys: d.priorities.iter().map(|p| p.priority.as_str()).collect(),
        district: county_of(&d.jurisdiction).map(String::from),
        sentiment_label: sentiment_str(d.sentiment.label),
        is_rumor: d.is_rumor,
        flags: d.flags.clone(),
        notified_at: item.notified_at,
    }
}

/// How a severity reads on every screen and in every report: the level as staff confirmed
/// it (`较大`), or the proposal marked as one (`一般（拟）`), or `未定级`.
pub fn severity_label(level: Option<Severity>, confirmed: bool) -> String {
    match (level, confirmed) {
        (None, _) => "未定级".to_string(),
        (Some(s), true) => s.label_zh().to_string(),
        (Some(s), false) => format!("{}（拟）", s.label_zh()),
    }
}

/// The response-time tier as the case page names it, with the level it follows (七.4).
pub fn tier_label(tier: Tier, severity: &str) -> String {
    let hours = match tier {
        Tier::MajorEmergency => "5小时内发布权威信息、24小时内举行新闻发布会",
        Tier::Standard => "48小时内予以回应",
    };
    format!("{severity} · {hours}")
}

/// One severity per event: its case's when it has one (the level staff confirmed there, or
/// the one the case holds), else the analyzer's proposal. Of several cases the open one
/// changed last counts.
fn event_severity(
    event: &EventUpdate,
    cases: &[crate::store::StoredCase],
) -> (Option<Severity>, bool) {
    let case = cases
        .iter()
        .max_by_key(|c| (c.case.state.is_open(), c.case.updated_at));
    match case {
        Some(c) => (c.case.severity, c.case.severity_confirmed),
        None => (event.severity.level, false),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    #[serde(flatten)]
    pub event: EventUpdate,
    pub district: Option<String>,
    /// The event's one severity (see [`event_severity`]); `severity` itself is the analyzer's
    /// proposal with its evidence.
    pub severity_level: Option<&'static str>,
    pub severity_confirmed: bool,
    pub severity_label: String,
    /// `[unix seconds, heat, doc_count]`, oldest first.
    pub trend: Vec<(i64, f64, u64)>,
    /// Cases that cover this event.
    pub case_ids: Vec<String>,
    /// The desk's confirmation or override of the machine's categories, if any.
    pub judgement: Option<crate::store::Judgement>,
}

impl EventView {
    /// The categories that count: the desk's where it judged, else the machine's.
    pub fn effective_priorities(&self) -> &[common::wire::Priority] {
        match &self.judgement {
            Some(j) => &j.priorities,
            None => &self.event.priorities,
        }
    }
}

/// An event as screens show it: with its cases and the desk's category judgement (研判).
pub fn event_view(store: &crate::store::Store, e: &StoredEvent) -> Result<EventView, crate::Error> {
    let case_ids = store.cases_of_event(&e.event.event_id)?;
    let mut cases = Vec::with_capacity(case_ids.len());
    for id in &case_ids {
        cases.extend(store.case(id)?);
    }
    let (level, confirmed) = event_severity(&e.event, &cases);
    Ok(EventView {
        district: county_of(&e.event.jurisdiction).map(String::from),
        severity_level: level.map(|s| s.as_str()),
        severity_confirmed: confirmed,
        severity_label: severity_label(level, confirmed),
        trend: e.trend.clone(),
        case_ids,
        judgement: store.judgement(&e.event.event_id)?,
        event: e.event.clone(),
    })
}

/// How a deadline looks on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DueStatus {
    Met,
    Ok,
    Near,
    Breached,
}

pub fn due_status(d: &Deadline, now: DateTime<Utc>, near_minutes: i64) -> DueStatus {
    if let Some(met) = d.met_at {
        return if met > d.due_at || d.breached {
            DueStatus::Breached
        } else {
            DueStatus::Met
        };
    }
    if d.breached || now > d.due_at {
        DueStatus::Breached
    } else if d.due_at - now <= chrono::Duration::minutes(near_minutes) {
        DueStatus::Near
    } else {
        DueStatus::Ok
    }
}

pub fn deadline_label(k: DeadlineKind) -> &'static str {
    match k {
        DeadlineKind::AuthoritativeInfo => "发布权威信息",
        DeadlineKind::PressConference => "举行新闻发布会",
        DeadlineKind::Response => "予以回应",
        DeadlineKind::ContinuedRelease => "持续发布",
        DeadlineKind::CyberspaceReply => "回复网信通报",
        DeadlineKind::Unknown => "其他时限",
    }
}

/// The Chinese name of a case state (`CaseState::as_str` value).
pub fn state_label(state: &str) -> &'static str {
    match state {
        "new" => "新建",
        "assigned" => "已交办",
        "acknowledged" => "已接收",
        "responding" => "回应中",
        "responded" => "已回应",
        "closed" => "已办结",
        "disputed" => "有异议",
        "reassigned" => "已改派",
        "reopened" => "重新打开",
        _ => "未知",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadlineView {
    #[serde(flatten)]
    pub deadline: Deadline,
    pub label: &'static str,
    pub status: DueStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    #[serde(flatten)]
    pub case: Case,
    pub deadline_status: Vec<DeadlineView>,
    /// The earliest unmet deadline, what the board counts down to.
    pub next_due: Option<DateTime<Utc>>,
    /// The worst status over the case's deadlines.
    pub status: DueStatus,
    pub seq: u64,
    pub severity_label: String,
    pub tier_label: String,
    /// What the case's state accepts (`common::commands::allowed`): the page offers only
    /// these forms.
    pub allowed_actions: Vec<&'static str>,
}

pub fn case_view(c: &StoredCase, now: DateTime<Utc>, near_minutes: i64) -> CaseView {
    let deadline_status: Vec<DeadlineView> = c
        .case
        .deadlines
        .iter()
        .map(|d| DeadlineView {
            deadline: d.clone(),
            label: deadline_label(d.kind),
            status: due_status(d, now, near_minutes),
        })
        .collect();
    let next_due = c
        .case
        .deadlines
        .iter()
        .filter(|d| d.met_at.is_none())
        .map(|d| d.due_at)
        .min();
    let rank = |s: DueStatus| match s {
        DueStatus::Met => 0,
        DueStatus::Ok => 1,
        DueStatus::Near => 2,
        DueStatus::Breached => 3,
    };
    // A closed case shows its record (met or breached), not a live countdown.
    let status = deadline_status
        .iter()
        .map(|d| d.status)
        .filter(|s| c.case.state.is_open() || *s == DueStatus::Breached || *s == DueStatus::Met)
        .max_by_key(|s| rank(*s))
        .unwrap_or(DueStatus::Ok);
    let severity = severity_label(c.case.severity, c.case.severity_confirmed);
    CaseView {
        deadline_status,
        next_due,
        status,
        seq: c.seq,
        tier_label: tier_label(c.case.tier, &severity),
        allowed_actions: common::commands::allowed_actions(c.case.state)
            .into_iter()
            .map(|a| a.as_str())
            .collect(),
        severity_label: severity,
        case: c.case.clone(),
    }
}

/// Open cases first, by the deadline that comes soonest; closed cases after, newest first.
pub fn sort_cases(cases: &mut [CaseView]) {
    cases.sort_by(|a, b| {
        let ka = (!a.case.state.is_open(), a.next_due.is_none(), a.next_due);
        let kb = (!b.case.state.is_open(), b.next_due.is_none(), b.next_due);
        ka.cmp(&kb)
            .then_with(|| b.case.updated_at.cmp(&a.case.updated_at))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_survive() {
        for (input, ok) in [
            ("https://example.cn/a?b=1", true),
            ("HTTP://example.cn", true),
            ("javascript:alert(1)", false),
            (" JavaScript:alert(1)", false),
            ("data:text/html,<script>", false),
            ("vbscript:x", false),
            ("https://x.cn/\"><script>", false),
            ("//evil.example", false),
        ] {
            assert_eq!(safe_link(Some(input)).is_some(), ok, "{input}");
        }
    }

    #[test]
    fn deadline_colours() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let d = |due: &str, met: Option<&str>| Deadline {
            kind: DeadlineKind::Response,
            due_at: due.parse().unwrap(),
            met_at: met.map(|m| m.parse().unwrap()),
            breached: false,
        };
        assert_eq!(
            due_status(&d("2026-01-01T05:00:00Z", None), now, 120),
            DueStatus::Ok
        );
        assert_eq!(
            due_status(&d("2026-01-01T01:00:00Z", None), now, 120),
            DueStatus::Near
        );
        assert_eq!(
            due_status(&d("2025-12-31T23:00:00Z", None), now, 120),
            DueStatus::Breached
        );
        assert_eq!(
            due_status(
                &d("2025-12-31T23:00:00Z", Some("2025-12-31T22:00:00Z")),
                now,
                120
            ),
            DueStatus::Met
        );
    }
}
