//! Leader summaries (舆情日报/周报/月报/季报/年报): pure computation over the read model for one
//! local-time period. The page, the print view, DOCX and XLSX all render this one struct, so
//! every format holds the same numbers.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use common::wire::{DeadlineKind, Priority, SentimentLabel};
use serde::Serialize;

use crate::Error;
use crate::store::{Store, county_of};
use crate::views::{self, DueStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Annual,
}

impl Period {
    pub const ALL: [Period; 5] = [
        Period::Daily,
        Period::Weekly,
        Period::Monthly,
        Period::Quarterly,
        Period::Annual,
    ];

    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Quarterly => "quarterly",
            Period::Annual => "annual",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Period::Daily => "舆情日报",
            Period::Weekly => "舆情周报",
            Period::Monthly => "舆情月报",
            Period::Quarterly => "舆情季报",
            Period::Annual => "年度回应关切工作评估",
        }
    }

    /// First day and the day after the last, in local dates.
    pub fn bounds(self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first_of_month = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(day);
        let next_month = |y: i32, m: u32| {
            if m == 12 {
                first_of_month(y + 1, 1)
            } else {
                first_of_month(y, m + 1)
            }
        };
        match self {
            Period::Daily => (day, day + Duration::days(1)),
            Period::Weekly => {
                let start = day - Duration::days(day.weekday().num_days_from_monday() as i64);
                (start, start + Duration::days(7))
            }
            Period::Monthly => (
                first_of_month(day.year(), day.month()),
                next_month(day.year(), day.month()),
            ),
            Period::Quarterly => {
                let m = (day.month() - 1) / 3 * 3 + 1;
                let start = first_of_month(day.year(), m);
                let end = if m == 10 {
                    first_of_month(day.year() + 1, 1)
                } else {
                    first_of_month(day.year(), m + 3)
                };
                (start, end)
            }
            Period::Annual => (
                first_of_month(day.year(), 1),
                first_of_month(day.year() + 1, 1),
            ),
        }
    }
}

/// `YYYY-MM-DD HH:MM` in the report's local time.
pub fn local_time(t: DateTime<Utc>, offset_hours: i32) -> String {
    t.with_timezone(&offset(offset_hours))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn local_date(t: DateTime<Utc>, offset_hours: i32) -> NaiveDate {
    t.with_timezone(&offset(offset_hours)).date_naive()
}

fn offset(hours: i32) -> FixedOffset {
    FixedOffset::east_opt(hours.clamp(-23, 23) * 3600).unwrap_or_else(|| Utc.fix())
}

fn start_of(day: NaiveDate, offset_hours: i32) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    offset(offset_hours)
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub items: u64,
    pub negative_items: u64,
    pub events: u64,
    pub cases_opened: u64,
    pub cases_closed: u64,
    pub deadlines_due: u64,
    pub deadlines_on_time: u64,
    /// Share of due deadlines met on time, in percent.
    pub on_time_rate: Option<f64>,
    pub breaches: u64,
    pub escalations: u64,
    pub overdue_open: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub label: String,
    pub items: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PriorityCount {
    pub key: &'static str,
    pub label: &'static str,
    pub items: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DistrictCount {
    pub district: String,
    pub items: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopEvent {
    pub event_id: String,
    pub title: String,
    pub heat: f64,
    pub doc_count: u64,
    pub district: Option<String>,
    pub priorities: Vec<&'static str>,
    /// As on the desk: `较大` when confirmed, `一般（拟）` when proposed, `未定级`.
    pub severity: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitRow {
    pub unit_id: String,
    pub unit_name: String,
    pub assigned: u64,
    pub deadlines_due: u64,
    pub deadlines_on_time: u64,
    pub on_time_rate: Option<f64>,
    /// Median hours from first detection to the first authoritative release / response.
    pub median_first_release_hours: Option<f64>,
    pub overdue: u64,
    /// The evaluation of seed (七.3) / (十九): see [`grade`].
    pub grade: &'static str,
}

pub const GRADE_RULE: &str = "评价标准：到期时限按时率不低于95%且无超期未办结为优秀，不低于85%为良好，不低于70%为合格，其余为待改进；本期无到期时限的不作评价。";

/// A unit's grade for the period from its on-time rate and open overdue cases.
pub fn grade(on_time_rate: Option<f64>, overdue: u64) -> &'static str {
    match on_time_rate {
        None => "—",
        Some(r) if r >= 95.0 && overdue == 0 => "优秀",
        Some(r) if r >= 85.0 => "良好",
        Some(r) if r >= 70.0 => "合格",
        Some(_) => "待改进",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseLine {
    pub case_id: String,
    pub title: String,
    pub owner: String,
    pub deadline: &'static str,
    pub due_at: DateTime<Utc>,
    pub met_at: Option<DateTime<Utc>>,
    pub state: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub period: &'static str,
    pub title: String,
    pub start_date: String,
    /// Last day of the period (inclusive).
    pub end_date: String,
    pub generated_at: DateTime<Utc>,
    /// Local time of the report (periods and displayed times).
    pub utc_offset_hours: i32,
    pub totals: Totals,
    pub volume: Vec<Bucket>,
    pub by_priority: Vec<PriorityCount>,
    pub by_district: Vec<DistrictCount>,
    pub top_events: Vec<TopEvent>,
    pub units: Vec<UnitRow>,
    pub overdue: Vec<CaseLine>,
    pub breaches: Vec<CaseLine>,
}

fn rate(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| (num as f64 * 1000.0 / den as f64).round() / 10.0)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    let x = if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    };
    Some((x * 10.0).round() / 10.0)
}

/// Case-history kinds that report a case to supervision (督办): the breach notice itself
/// (`breached`, the first one) and each repeat after it (`escalated`). Reminders and the
/// cyberspace-reply chaser go to the owner only and are not escalations.
fn is_escalation(kind: &str) -> bool {
    matches!(kind, "breached" | "escalated")
}

fn first_release_kind(k: DeadlineKind) -> bool {
    matches!(k, DeadlineKind::AuthoritativeInfo | DeadlineKind::Response)
}

pub fn build(
    store: &Store,
    period: Period,
    day: NaiveDate,
    offset_hours: i32,
    now: DateTime<Utc>,
    near_due_minutes: i64,
) -> Result<Report, Error> {
    let (start_day, end_day) = period.bounds(day);
    let (start, end) = (
        start_of(start_day, offset_hours),
        start_of(end_day, offset_hours),
    );
    let in_period = |t: DateTime<Utc>| t >= start && t < end;
    let tz = offset(offset_hours);

    // Volume buckets: hours for a day, months for a year, days otherwise.
    let mut volume: Vec<Bucket> = Vec::new();
    let bucket_of: Box<dyn Fn(DateTime<Utc>) -> usize> = match period {
        Period::Daily => {
            volume = (0..24)
                .map(|h| Bucket {
                    label: format!("{h:02}时"),
                    items: 0,
                })
                .collect();
            Box::new(move |t| t.with_timezone(&tz).hour_index())
        }
        Period::Annual => {
            volume = (1..=12)
                .map(|m| Bucket {
                    label: format!("{m}月"),
                    items: 0,
                })
                .collect();
            Box::new(move |t| t.with_timezone(&tz).month0() as usize)
        }
        _ => {
            let mut d = start_day;
            while d < end_day {
                volume.push(Bucket {
                    label: d.format("%m-%d").to_string(),
                    items: 0,
                });
                d += Duration::days(1);
            }
            Box::new(move |t| (t.with_timezone(&tz).date_naive() - start_day).num_days() as usize)
        }
    };

    let mut totals = Totals {
        items: 0,
        negative_items: 0,
        events: 0,
        cases_opened: 0,
        cases_closed: 0,
        deadlines_due: 0,
        deadlines_on_time: 0,
        on_time_rate: None,
        breaches: 0,
        escalations: 0,
        overdue_open: 0,
    };
    let mut by_priority: BTreeMap<Priority, u64> = BTreeMap::new();
    let mut by_district: BTreeMap<String, u64> = BTreeMap::new();
    for item in store.items_between(start, end) {
        let item = item?;
        let t = item.doc.detected_at;
        totals.items += 1;
        if item.doc.sentiment.label == SentimentLabel::Negative {
            totals.negative_items += 1;
        }
        if let Some(b) = volume.get_mut(bucket_of(t)) {
            b.items += 1;
        }
        let mut seen = Vec::new();
        for p in &item.doc.priorities {
            if !seen.contains(&p.priority) {
                seen.push(p.priority);
                *by_priority.entry(p.priority).or_default() += 1;
            }
        }
        let d = county_of(&item.doc.jurisdiction).unwrap_or("全市/其他");
        *by_district.entry(d.to_string()).or_default() += 1;
    }

    let mut events: Vec<_> = store
        .events()?
        .into_iter()
        .filter(|e| e.event.last_seen_at >= start && e.event.first_detected_at < end)
        .collect();
    totals.events = events.len() as u64;
    events.sort_by(|a, b| b.event.heat.total_cmp(&a.event.heat));
    let mut top_events = Vec::new();
    for e in events.iter().take(10) {
        // The desk's 研判 of the categories wins over the machine's, and the case's severity
        // over the proposal: the event view decides both, as on the desk.
        let view = crate::views::event_view(store, e)?;
        let priorities = view.effective_priorities().to_vec();
        top_events.push(TopEvent {
            event_id: e.event.event_id.clone(),
            title: e.event.title.clone(),
            heat: (e.event.heat * 10.0).round() / 10.0,
            doc_count: e.event.doc_count,
            district: county_of(&e.event.jurisdiction).map(String::from),
            priorities: priorities.iter().map(|p| p.label_zh()).collect(),
            severity: view.severity_label,
        });
    }

    let mut units: BTreeMap<String, UnitRow> = BTreeMap::new();
    let mut releases: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut overdue = Vec::new();
    let mut breaches = Vec::new();
    let horizon = now.min(end);
    for c in store.cases()? {
        let case = &c.case;
        let row = units
            .entry(case.owner.id.clone())
            .or_insert_with(|| UnitRow {
                unit_id: case.owner.id.clone(),
                unit_name: case.owner.name.clone(),
                assigned: 0,
                deadlines_due: 0,
                deadlines_on_time: 0,
                on_time_rate: None,
                median_first_release_hours: None,
                overdue: 0,
                grade: "—",
            });
        if in_period(case.opened_at) {
            totals.cases_opened += 1;
            row.assigned += 1;
            if let Some(first) = case
                .deadlines
                .iter()
                .filter(|d| first_release_kind(d.kind))
                .filter_map(|d| d.met_at)
                .min()
            {
                releases
                    .entry(case.owner.id.clone())
                    .or_default()
                    .push((first - case.detected_at).num_minutes() as f64 / 60.0);
            }
        }
        if !case.state.is_open() && in_period(case.updated_at) {
            totals.cases_closed += 1;
        }
        let line = |d: &common::wire::Deadline| CaseLine {
            case_id: case.case_id.clone(),
            title: case.title.clone(),
            owner: case.owner.name.clone(),
            deadline: views::deadline_label(d.kind),
            due_at: d.due_at,
            met_at: d.met_at,
            state: case.state.as_str(),
        };
        for d in &case.deadlines {
            // A deadline counts in the period it fell due, once it has fallen due.
            if in_period(d.due_at) && d.due_at <= horizon {
                totals.deadlines_due += 1;
                row.deadlines_due += 1;
                let on_time = d.met_at.is_some_and(|m| m <= d.due_at) && !d.breached;
                if on_time {
                    totals.deadlines_on_time += 1;
                    row.deadlines_on_time += 1;
                } else {
                    totals.breaches += 1;
                    breaches.push(line(d));
                }
            }
        }
        if case.state.is_open() && case.opened_at < end {
            if let Some(d) = case.deadlines.iter().find(|d| {
                d.met_at.is_none()
                    && views::due_status(d, now, near_due_minutes) == DueStatus::Breached
            }) {
                totals.overdue_open += 1;
                row.overdue += 1;
                overdue.push(line(d));
            }
        }
    }
    for row in units.values_mut() {
        row.on_time_rate = rate(row.deadlines_on_time, row.deadlines_due);
        row.median_first_release_hours = releases.remove(&row.unit_id).and_then(median);
        row.grade = grade(row.on_time_rate, row.overdue);
    }
    totals.on_time_rate = rate(totals.deadlines_on_time, totals.deadlines_due);
    for entry in store.all_case_log() {
        let entry = entry?;
        if is_escalation(&entry.kind) && in_period(entry.at) {
            totals.escalations += 1;
        }
    }
    let mut units: Vec<UnitRow> = units
        .into_values()
        .filter(|u| u.assigned > 0 || u.deadlines_due > 0 || u.overdue > 0)
        .collect();
    units.sort_by(|a, b| b.assigned.cmp(&a.assigned).then(a.unit_id.cmp(&b.unit_id)));
    overdue.sort_by_key(|l| l.due_at);
    breaches.sort_by_key(|l| l.due_at);
    let mut by_district: Vec<DistrictCount> = by_district
        .into_iter()
        .map(|(district, items)| DistrictCount { district, items })
        .collect();
    by_district.sort_by(|a, b| b.items.cmp(&a.items).then(a.district.cmp(&b.district)));

    let last_day = end_day - Duration::days(1);
    let title = if start_day == last_day {
        format!(
            "{}（{}）",
            period.label_zh(),
            start_day.format("%Y年%m月%d日")
        )
    } else {
        format!(
            "{}（{}至{}）",
            period.label_zh(),
            start_day.format("%Y年%m月%d日"),
            last_day.format("%Y年%m月%d日")
        )
    };
    Ok(Report {
        period: period.as_str(),
        title,
        start_date: start_day.to_string(),
        end_date: last_day.to_string(),
        generated_at: now,
        utc_offset_hours: offset_hours,
        totals,
        volume,
        by_priority: Priority::ALL
            .iter()
            .map(|p| PriorityCount {
                key: p.as_str(),
                label: p.label_zh(),
                items: by_priority.get(p).copied().unwrap_or(0),
            })
            .collect(),
        by_district,
        top_events,
        units,
        overdue,
        breaches,
    })
}

trait HourIndex {
    fn hour_index(&self) -> usize;
}

impl<T: chrono::Timelike> HourIndex for T {
    fn hour_index(&self) -> usize {
        self.hour() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_bounds() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(); // a Thursday
        let show = |p: Period| {
            let (a, b) = p.bounds(d);
            format!("{a}..{b}")
        };
        assert_eq!(show(Period::Daily), "2026-11-26..2026-11-27");
        assert_eq!(show(Period::Weekly), "2026-11-23..2026-11-30");
        assert_eq!(show(Period::Monthly), "2026-11-01..2026-12-01");
        assert_eq!(show(Period::Quarterly), "2026-10-01..2027-01-01");
        assert_eq!(show(Period::Annual), "2026-01-01..2027-01-01");
    }

    #[test]
    fn local_midnight_is_utc_minus_offset() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(start_of(d, 8).to_rfc3339(), "2026-11-25T16:00:00+00:00");
    }

    fn case_event(
        id: &str,
        seq: u64,
        kind: &str,
        detected: &str,
        deadlines: Vec<(&str, Option<&str>)>,
    ) -> common::wire::CaseEvent {
        use common::wire::*;
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        CaseEvent {
            case_id: id.into(),
            seq,
            at: t(detected) + Duration::hours(seq as i64),
            actor: Actor::system(),
            kind: kind.into(),
            detail: String::new(),
            case: Case {
                case_id: id.into(),
                event_ids: vec![],
                title: id.into(),
                state: CaseState::Assigned,
                owner: UnitRef {
                    id: "nanming".into(),
                    name: "南明区人民政府".into(),
                },
                owner_reason: String::new(),
                tier: Tier::MajorEmergency,
                severity: None,
                severity_confirmed: false,
                priorities: vec![],
                priorities_confirmed: false,
                disposition: None,
                detected_at: t(detected),
                opened_at: t(detected),
                updated_at: t(detected),
                deadlines: deadlines
                    .into_iter()
                    .map(|(due, met)| Deadline {
                        kind: DeadlineKind::AuthoritativeInfo,
                        due_at: t(due),
                        met_at: met.map(t),
                        breached: false,
                    })
                    .collect(),
                flags: DocFlags::default(),
                audit_len: seq,
                audit_head: String::new(),
            },
        }
    }

    #[test]
    fn unit_figures_count_deadlines_in_the_period_they_fell_due() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Beijing 2026-11-26 is 2026-11-25T16:00Z .. 2026-11-26T16:00Z.
        // Met after 2 h (on time), met late, and never met: 1 of 3 on time.
        store
            .apply_case_event(case_event(
                "a",
                1,
                "opened",
                "2026-11-26T00:00:00Z",
                vec![("2026-11-26T05:00:00Z", Some("2026-11-26T02:00:00Z"))],
            ))
            .unwrap();
        store
            .apply_case_event(case_event(
                "b",
                1,
                "opened",
                "2026-11-26T01:00:00Z",
                vec![("2026-11-26T06:00:00Z", Some("2026-11-26T07:00:00Z"))],
            ))
            .unwrap();
        store
            .apply_case_event(case_event(
                "c",
                1,
                "opened",
                "2026-11-26T02:00:00Z",
                vec![("2026-11-26T07:00:00Z", None)],
            ))
            .unwrap();
        store
            .apply_case_event(case_event(
                "c",
                2,
                "escalated",
                "2026-11-26T02:00:00Z",
                vec![("2026-11-26T07:00:00Z", None)],
            ))
            .unwrap();
        let now: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let r = build(&store, Period::Daily, day, 8, now, 120).unwrap();
        assert_eq!(r.totals.cases_opened, 3);
        assert_eq!(r.totals.deadlines_due, 3);
        assert_eq!(r.totals.deadlines_on_time, 1);
        assert_eq!(r.totals.on_time_rate, Some(33.3));
        assert_eq!(r.totals.breaches, 2);
        assert_eq!(r.totals.escalations, 1);
        assert_eq!(r.totals.overdue_open, 1);
        let u = &r.units[0];
        assert_eq!((u.assigned, u.overdue), (3, 1));
        // First releases after 2 h and 6 h: median 4 h.
        assert_eq!(u.median_first_release_hours, Some(4.0));
        assert_eq!(u.grade, "待改进");
        assert_eq!(r.overdue[0].case_id, "c");
        // The day before holds none of it.
        let before = build(&store, Period::Daily, day.pred_opt().unwrap(), 8, now, 120).unwrap();
        assert_eq!(before.totals.cases_opened, 0);
        assert_eq!(before.totals.deadlines_due, 0);
    }

    #[test]
    fn escalations_count_the_first_breach_notice_and_every_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let due = vec![("2026-11-26T05:00:00Z", None)];
        // Case a breaches once; case b breaches and is escalated again; reminders and the
        // cyberspace-reply chaser do not go to supervision.
        for (id, seq, kind) in [
            ("a", 1, "opened"),
            ("a", 2, "reminder"),
            ("a", 3, "breached"),
            ("b", 1, "opened"),
            ("b", 2, "breached"),
            ("b", 3, "escalated"),
            ("b", 4, "cyberspace_reply_overdue"),
        ] {
            store
                .apply_case_event(case_event(
                    id,
                    seq,
                    kind,
                    "2026-11-26T00:00:00Z",
                    due.clone(),
                ))
                .unwrap();
        }
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let r = build(&store, Period::Daily, day, 8, now, 120).unwrap();
        assert_eq!(r.totals.escalations, 3);
        assert!(is_escalation("breached") && is_escalation("escalated"));
        assert!(!is_escalation("reminder") && !is_escalation("escalation_note"));
    }

    #[test]
    fn grades() {
        assert_eq!(grade(None, 3), "—");
        assert_eq!(grade(Some(100.0), 0), "优秀");
        assert_eq!(grade(Some(100.0), 1), "良好");
        assert_eq!(grade(Some(85.0), 0), "良好");
        assert_eq!(grade(Some(70.0), 0), "合格");
        assert_eq!(grade(Some(50.0), 0), "待改进");
    }

    #[test]
    fn median_and_rate() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![1.0, 2.0]), Some(1.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(rate(2, 3), Some(66.7));
        assert_eq!(rate(0, 0), None);
    }
}
