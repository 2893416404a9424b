//! Deadlines of the response-time tiers (七.4) and the reminder / breach / escalation timers
//! derived from them. Pure: the caller passes `now`.

use chrono::{DateTime, Duration, Utc};
use common::wire::{Deadline, DeadlineKind, ResponseKind, Tier};
use serde::{Deserialize, Serialize};

use crate::config::{Reminders, TierHours};

/// A response action as the case keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    pub kind: ResponseKind,
    /// When the unit acted (published, held the conference, replied).
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub evidence_url: Option<String>,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub actor: String,
}

/// A deadline with the start of its window (for reminder fractions).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub deadline: Deadline,
    pub window_start: DateTime<Utc>,
}

pub fn hours(h: f64) -> Duration {
    Duration::milliseconds((h * 3_600_000.0).round() as i64)
}

/// Which recorded responses satisfy a deadline of `kind`.
fn satisfies(kind: DeadlineKind, response: ResponseKind) -> bool {
    use ResponseKind as R;
    match kind {
        // A press conference is itself an authoritative release.
        DeadlineKind::AuthoritativeInfo => {
            matches!(response, R::AuthoritativeRelease | R::PressConference)
        }
        DeadlineKind::PressConference => response == R::PressConference,
        // 予以回应: any public response; a referral to the police alone is not one.
        DeadlineKind::Response => !matches!(response, R::Referral),
        DeadlineKind::ContinuedRelease => matches!(
            response,
            R::AuthoritativeRelease | R::PressConference | R::ContinuedRelease
        ),
        // The office asked for a reply; a public release alone does not answer it.
        DeadlineKind::CyberspaceReply => response == R::Reply,
        DeadlineKind::Unknown => false,
    }
}

/// The deadlines of a case: the tier's primary deadlines counted from first detection, then one
/// continued release per cadence after the first release, while the case is open.
pub fn plan_deadlines(
    tiers: &TierHours,
    tier: Tier,
    detected_at: DateTime<Utc>,
    responses: &[ResponseRecord],
    closed_at: Option<DateTime<Utc>>,
    reopened_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<Planned> {
    let primary: Vec<(DeadlineKind, f64)> = match tier {
        Tier::MajorEmergency => vec![
            (
                DeadlineKind::AuthoritativeInfo,
                tiers.major_authoritative_info_hours,
            ),
            (
                DeadlineKind::PressConference,
                tiers.major_press_conference_hours,
            ),
        ],
        Tier::Standard => vec![(DeadlineKind::Response, tiers.standard_response_hours)],
    };
    let mut out = Vec::new();
    for (kind, h) in primary {
        let due_at = detected_at + hours(h);
        let met_at = responses
            .iter()
            .filter(|r| satisfies(kind, r.kind))
            .map(|r| r.at)
            .min();
        out.push(planned(kind, detected_at, due_at, met_at, now));
    }

    // 持续发布: the chain starts at the first release that met the tier's first deadline.
    let cadence = tiers.continued_release_every_hours;
    let mut start = out.first().and_then(|p| p.deadline.met_at);
    if cadence > 0.0 {
        while let Some(mut from) = start {
            if let Some(r) = reopened_at {
                // A reopened case owes its next release a cadence after reopening, not at
                // once for the time it spent closed.
                if from < r
                    && !responses.iter().any(|x| {
                        x.at > from
                            && x.at <= r
                            && satisfies(DeadlineKind::ContinuedRelease, x.kind)
                    })
                {
                    from = r;
                }
            }
            let due_at = from + hours(cadence);
            if closed_at.is_some_and(|c| c <= due_at) {
                break;
            }
            let next = responses
                .iter()
                .filter(|r| r.at > from && satisfies(DeadlineKind::ContinuedRelease, r.kind))
                .map(|r| r.at)
                .min();
            out.push(planned(
                DeadlineKind::ContinuedRelease,
                from,
                due_at,
                next,
                now,
            ));
            start = next;
        }
    }
    out
}

/// One deadline as of `now`: breached once `now` reaches `due_at` unmet, or met late.
pub fn planned(
    kind: DeadlineKind,
    window_start: DateTime<Utc>,
    due_at: DateTime<Utc>,
    met_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Planned {
    let breached = match met_at {
        Some(m) => m > due_at,
        // The breach timer fires at the due instant; the flag agrees with it.
        None => now >= due_at,
    };
    Planned {
        deadline: Deadline {
            kind,
            due_at,
            met_at,
            breached,
        },
        window_start,
    }
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Reminder {
        fraction: f64,
    },
    Breach,
    /// The n-th repeat escalation after the breach (n ≥ 1).
    Escalation {
        n: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    /// Unique per deadline and stage; a deadline re-planned to a new due time gets new keys.
    pub key: String,
    pub at: DateTime<Utc>,
    pub kind: DeadlineKind,
    pub due_at: DateTime<Utc>,
    pub stage: Stage,
}

pub fn deadline_kind_str(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::AuthoritativeInfo => "authoritative_info",
        DeadlineKind::PressConference => "press_conference",
        DeadlineKind::Response => "response",
        DeadlineKind::ContinuedRelease => "continued_release",
        DeadlineKind::CyberspaceReply => "cyberspace_reply",
        DeadlineKind::Unknown => "unknown",
    }
}

pub fn deadline_label_zh(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::AuthoritativeInfo => "发布权威信息",
        DeadlineKind::PressConference => "举行新闻发布会",
        DeadlineKind::Response => "予以回应",
        DeadlineKind::ContinuedRelease => "持续发布权威信息",
        DeadlineKind::CyberspaceReply => "回复网信部门通报",
        DeadlineKind::Unknown => "其他时限",
    }
}

fn timer(deadline: &Deadline, at: DateTime<Utc>, stage: Stage) -> Timer {
    let suffix = match stage {
        Stage::Reminder { fraction } => format!("r{}", (fraction * 100.0).round() as i64),
        Stage::Breach => "breach".to_string(),
        Stage::Escalation { n } => format!("esc{n}"),
    };
    Timer {
        key: format!(
            "{}@{}/{suffix}",
            deadline_kind_str(deadline.kind),
            deadline.due_at.timestamp()
        ),
        at,
        kind: deadline.kind,
        due_at: deadline.due_at,
        stage,
    }
}

/// For each unmet deadline: the latest stage that is due by `now` (to fire unless already
/// fired) and the earliest instant at which a further stage becomes due.
///
/// Only the latest passed stage fires: after downtime a case gets one breach notice, not a
/// burst of stale reminders before it.
pub fn due_timers(
    reminders: &Reminders,
    planned: &[Planned],
    fired: &std::collections::BTreeSet<String>,
    now: DateTime<Utc>,
) -> (Vec<Timer>, Option<DateTime<Utc>>) {
    let mut due = Vec::new();
    let mut next: Option<DateTime<Utc>> = None;
    let mut consider_next = |t: DateTime<Utc>| {
        next = Some(next.map_or(t, |n| n.min(t)));
    };
    for p in planned {
        let d = &p.deadline;
        if d.met_at.is_some() {
            continue;
        }
        let mut stages: Vec<Timer> = Vec::new();
        let window = d.due_at - p.window_start;
        if window > Duration::zero() {
            let mut fractions = reminders.fractions.clone();
            fractions.sort_by(|a, b| a.total_cmp(b));
            for f in fractions {
                let offset = Duration::milliseconds((window.num_milliseconds() as f64 * f) as i64);
                stages.push(timer(
                    d,
                    p.window_start + offset,
                    Stage::Reminder { fraction: f },
                ));
            }
        }
        stages.push(timer(d, d.due_at, Stage::Breach));
        let every = hours(reminders.escalate_every_hours);
        if now >= d.due_at && every > Duration::zero() {
            let n = ((now - d.due_at).num_milliseconds() / every.num_milliseconds()) as u32;
            if n >= 1 {
                stages.push(timer(
                    d,
                    d.due_at + every * n as i32,
                    Stage::Escalation { n },
                ));
            }
            consider_next(d.due_at + every * (n as i32 + 1));
        }
        match stages.iter().rposition(|t| t.at <= now) {
            Some(i) => {
                if !fired.contains(&stages[i].key) {
                    due.push(stages[i].clone());
                }
                if let Some(t) = stages.get(i + 1) {
                    consider_next(t.at);
                }
            }
            None => {
                if let Some(t) = stages.first() {
                    consider_next(t.at);
                }
            }
        }
    }
    (due, next)
}

/// A reminder that starts at `due` and repeats every `every` while unresolved: the latest
/// occurrence due by `now` (its index, 0 at `due`) and when the next one comes.
pub fn repeating(
    due: DateTime<Utc>,
    every: Duration,
    now: DateTime<Utc>,
) -> (Option<(u32, DateTime<Utc>)>, DateTime<Utc>) {
    if now < due {
        return (None, due);
    }
    if every <= Duration::zero() {
        // Once, never again: the "next" is far enough not to matter.
        return (Some((0, due)), now + Duration::days(3650));
    }
    let n = ((now - due).num_milliseconds() / every.num_milliseconds()) as i32;
    (Some((n as u32, due + every * n)), due + every * (n + 1))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn resp(kind: ResponseKind, at: &str) -> ResponseRecord {
        ResponseRecord {
            kind,
            at: t(at),
            evidence_url: None,
            text: String::new(),
            actor: String::new(),
        }
    }

    /// The default deadlines of a case detected at `d0` with nothing recorded, as of `d0`.
    fn unanswered(tier: Tier, d0: DateTime<Utc>) -> Vec<Planned> {
        plan_deadlines(&TierHours::default(), tier, d0, &[], None, None, d0)
    }

    #[test]
    fn major_tier_has_5h_and_24h_from_detection() {
        let d0 = t("2026-03-01T08:00:00Z");
        let p = unanswered(Tier::MajorEmergency, d0);
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.deadline.kind, p.deadline.due_at))
            .collect();
        assert_eq!(
            got,
            vec![
                (DeadlineKind::AuthoritativeInfo, t("2026-03-01T13:00:00Z")),
                (DeadlineKind::PressConference, t("2026-03-02T08:00:00Z")),
            ]
        );
    }

    #[test]
    fn standard_tier_then_continued_releases_on_cadence() {
        let d0 = t("2026-03-01T08:00:00Z");
        let responses = [
            resp(ResponseKind::Reply, "2026-03-02T08:00:00Z"),
            resp(ResponseKind::ContinuedRelease, "2026-03-03T10:00:00Z"),
        ];
        let now = t("2026-03-04T12:00:00Z");
        let p = plan_deadlines(
            &TierHours::default(),
            Tier::Standard,
            d0,
            &responses,
            None,
            None,
            now,
        );
        let got: Vec<_> = p
            .iter()
            .map(|p| {
                (
                    p.deadline.kind,
                    p.deadline.due_at,
                    p.deadline.met_at,
                    p.deadline.breached,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    DeadlineKind::Response,
                    t("2026-03-03T08:00:00Z"),
                    Some(t("2026-03-02T08:00:00Z")),
                    false
                ),
                // Met two hours late.
                (
                    DeadlineKind::ContinuedRelease,
                    t("2026-03-03T08:00:00Z"),
                    Some(t("2026-03-03T10:00:00Z")),
                    true
                ),
                (
                    DeadlineKind::ContinuedRelease,
                    t("2026-03-04T10:00:00Z"),
                    None,
                    true
                ),
            ]
        );
        let closed = plan_deadlines(
            &TierHours::default(),
            Tier::Standard,
            d0,
            &responses,
            Some(t("2026-03-03T12:00:00Z")),
            None,
            now,
        );
        assert_eq!(closed.len(), 2);
    }

    #[test]
    fn reminders_fire_at_fractions_then_breach_then_escalations_repeat() {
        let d0 = t("2026-03-01T00:00:00Z");
        let rem = Reminders::default();
        let p = unanswered(Tier::MajorEmergency, d0);
        let mut fired = BTreeSet::new();
        let mut log = Vec::new();
        let mut now = d0;
        for _ in 0..12 {
            let (due, next) = due_timers(&rem, &p[..1], &fired, now);
            for t in due {
                log.push((now, t.key.clone()));
                fired.insert(t.key);
            }
            now = next.unwrap();
        }
        let keys: Vec<_> = log
            .iter()
            .map(|(at, k)| (at.to_rfc3339(), k.split('/').nth(1).unwrap().to_string()))
            .collect();
        assert_eq!(
            keys[..5],
            [
                ("2026-03-01T02:30:00+00:00".to_string(), "r50".to_string()),
                ("2026-03-01T04:00:00+00:00".to_string(), "r80".to_string()),
                (
                    "2026-03-01T05:00:00+00:00".to_string(),
                    "breach".to_string()
                ),
                ("2026-03-01T09:00:00+00:00".to_string(), "esc1".to_string()),
                ("2026-03-01T13:00:00+00:00".to_string(), "esc2".to_string()),
            ]
        );
    }

    #[test]
    fn after_downtime_only_the_latest_stage_fires() {
        let d0 = t("2026-03-01T00:00:00Z");
        let p = unanswered(Tier::Standard, d0);
        let now = t("2026-03-03T01:00:00Z");
        let (due, next) = due_timers(&Reminders::default(), &p, &BTreeSet::new(), now);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].stage, Stage::Breach);
        assert_eq!(next, Some(t("2026-03-03T04:00:00Z")));
    }
}
