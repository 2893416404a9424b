//! A case and its state machine. Every change goes through [`CaseRecord::record`], which appends a
//! sealed audit record and yields the case event that carries the new snapshot; nothing here
//! does IO, so the whole life cycle is testable with a hand-set clock.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use common::commands::{CaseAction, Refusal, allowed, not_allowed};
use common::wire::{
    Actor, Case, CaseCommand, CaseEvent, CaseState, Disposition, EventUpdate, Priority,
    ResponseKind, Severity, Tier,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::assign::{AssignRule, Assignment, tier_for};
use crate::audit::{AuditRecord, GENESIS};
use crate::config::Config;
use crate::plan::{self, Planned, ResponseRecord, Stage, Timer};

/// The case id of the case opened for an event: deterministic, so a rebuilt store (or a
/// redelivered event) names the same case.
pub fn case_id_for_event(event_id: &str) -> String {
    short_id("event", event_id)
}

/// The case id of a case opened by hand without an event, from the command's message id.
pub fn case_id_for_message(message_id: &str) -> String {
    short_id("manual", message_id)
}

fn short_id(ns: &str, s: &str) -> String {
    let mut h = Sha256::new();
    h.update(ns.as_bytes());
    h.update(b":");
    h.update(s.as_bytes());
    format!("case-{}", &hex::encode(h.finalize())[..12])
}

/// A referral of false-information leads (七.3: 移交公安机关、网络监管部门).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Referral {
    pub to: Vec<common::wire::UnitRef>,
    pub at: DateTime<Utc>,
    /// Set when the owner records a `referral` response (the hand-over happened).
    #[serde(default)]
    pub handed_over_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub evidence_url: Option<String>,
}

/// Everything the tracker keeps about a case; `case` is the wire snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub case: Case,
    #[serde(default)]
    pub responses: Vec<ResponseRecord>,
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reopened_at: Option<DateTime<Utc>>,
    /// Timer keys already fired (reminders, breaches, escalations).
    #[serde(default)]
    pub fired: BTreeSet<String>,
    #[serde(default)]
    pub merged_into: Option<String>,
    #[serde(default)]
    pub referral: Option<Referral>,
    /// What the disposition requires to be published (七.3).
    #[serde(default)]
    pub publish_required: Option<String>,
    /// When the reply to a cyberspace-office notification was recorded.
    #[serde(default)]
    pub cyberspace_reply_at: Option<DateTime<Utc>>,
    /// When the case became known as notified by the cyberspace office (the reply clock).
    #[serde(default)]
    pub cyberspace_notified_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub assignment_rule: Option<AssignRule>,
    #[serde(default)]
    pub open_reason: String,
    #[serde(default)]
    pub dispute_reason: Option<String>,
    #[serde(default)]
    pub heat: f64,
}

/// One change: its audit record, the case event to publish, and who to notify.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub audit: AuditRecord,
    pub event: CaseEvent,
    pub notices: Vec<Notice>,
}

/// A message to people; the outbox fans it out to the channels serving its recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Unit ids, or `leaders:<unit id>`.
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
}

/// Why the tracker refused a command. The text is for the person who sent it (it is recorded on
/// the case and sent back on the command-results topic), so it is Chinese.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("{}", illegal_text(.case_id, .state, .action))]
    IllegalTransition {
        case_id: String,
        state: CaseState,
        action: CaseAction,
    },
    #[error("案件{0}不存在")]
    UnknownCase(String),
    #[error("单位“{0}”不在单位名录中")]
    UnknownUnit(String),
    #[error("单位{actor_unit}不是案件{case_id}的责任单位")]
    NotOwner { case_id: String, actor_unit: String },
    #[error("事件{event_id}已有案件{case_id}")]
    AlreadyOpen { event_id: String, case_id: String },
    #[error("{0}")]
    Invalid(String),
}

fn illegal_text(case_id: &str, state: &CaseState, action: &CaseAction) -> String {
    format!("{}（案件{case_id}）", not_allowed(*state, *action))
}

impl From<Refusal> for CommandError {
    fn from(r: Refusal) -> Self {
        CommandError::Invalid(r.0)
    }
}

impl CommandError {
    /// A short machine-readable name, for the `command_rejected` audit record.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::IllegalTransition { .. } => "illegal_transition",
            CommandError::UnknownCase(_) => "unknown_case",
            CommandError::UnknownUnit(_) => "unknown_unit",
            CommandError::NotOwner { .. } => "not_owner",
            CommandError::AlreadyOpen { .. } => "already_open",
            CommandError::Invalid(_) => "invalid",
        }
    }
}

/// What must be published for each disposition (七.3).
pub fn publish_requirement(d: Disposition) -> &'static str {
    match d {
        Disposition::ConstructiveSuggestion => "对外公开吸收采纳情况",
        Disposition::PracticalDifficulty => "对外公布研究解决情况",
        Disposition::MajorProblem => "及时发布调查处置情况",
        Disposition::UnclearUnderstanding => "主动发布权威信息,解疑释惑,澄清事实",
        Disposition::WrongView => "及时发布信息进行引导和纠正",
        Disposition::FalseInformation => {
            "及时回应辟谣,并将涉嫌违法的情况和线索移交公安机关、网络监管部门依法依规查处"
        }
    }
}

pub fn disposition_label_zh(d: Disposition) -> &'static str {
    match d {
        Disposition::ConstructiveSuggestion => "建设性意见建议",
        Disposition::PracticalDifficulty => "实际困难",
        Disposition::MajorProblem => "重大问题",
        Disposition::UnclearUnderstanding => "模糊认识",
        Disposition::WrongView => "错误看法",
        Disposition::FalseInformation => "虚假不实信息",
    }
}

pub fn state_label_zh(s: CaseState) -> &'static str {
    s.label_zh()
}

fn tier_label_zh(t: Tier) -> &'static str {
    match t {
        Tier::MajorEmergency => "特别重大/重大突发事件(5小时发布权威信息、24小时举行新闻发布会)",
        Tier::Standard => "一般政务舆情(48小时内回应)",
    }
}

fn response_label_zh(k: ResponseKind) -> &'static str {
    match k {
        ResponseKind::AuthoritativeRelease => "发布权威信息",
        ResponseKind::PressConference => "举行新闻发布会",
        ResponseKind::Reply => "回复",
        ResponseKind::Referral => "移交线索",
        ResponseKind::ContinuedRelease => "持续发布",
    }
}

/// What a new case starts from.
#[derive(Debug, Clone)]
pub struct Opening {
    pub case_id: String,
    pub event_id: Option<String>,
    pub title: String,
    pub detected_at: DateTime<Utc>,
    pub severity: Option<Severity>,
    pub severity_confirmed: bool,
    pub priorities: Vec<Priority>,
    pub flags: common::wire::DocFlags,
    pub heat: f64,
    pub open_reason: String,
    pub assignment: Assignment,
}

impl CaseRecord {
    /// Open a case and assign it: two audit records (`opened`, `assigned`), plus the notices
    /// (七.3) for unit-reported emergencies and cyberspace-office notifications.
    pub fn open(
        config: &Config,
        o: Opening,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> (Self, Vec<Step>) {
        let tier = tier_for(o.severity);
        let mut rec = CaseRecord {
            case: Case {
                case_id: o.case_id,
                event_ids: o.event_id.into_iter().collect(),
                title: o.title,
                state: CaseState::New,
                owner: o.assignment.owner.clone(),
                owner_reason: o.assignment.reason.clone(),
                tier,
                severity: o.severity,
                severity_confirmed: o.severity_confirmed,
                priorities: o.priorities,
                priorities_confirmed: false,
                disposition: None,
                detected_at: o.detected_at,
                opened_at: now,
                updated_at: now,
                deadlines: Vec::new(),
                flags: o.flags,
                audit_len: 0,
                audit_head: GENESIS.to_string(),
            },
            responses: Vec::new(),
            acknowledged_at: None,
            closed_at: None,
            reopened_at: None,
            fired: BTreeSet::new(),
            merged_into: None,
            referral: None,
            publish_required: None,
            cyberspace_reply_at: None,
            cyberspace_notified_at: None,
            assignment_rule: Some(o.assignment.rule),
            open_reason: o.open_reason.clone(),
            dispute_reason: None,
            heat: o.heat,
        };
        let mut steps = Vec::new();
        rec.record(
            config,
            now,
            &actor,
            "opened",
            format!("立案:{}", o.open_reason),
            serde_json::json!({ "reason": o.open_reason, "tier": tier, "severity": o.severity }),
            Vec::new(),
            &mut steps,
        );
        rec.case.state = CaseState::Assigned;
        let mut notices = vec![rec.assignment_notice(config)];
        if let Some(reporter) = rec.case.flags.reported_by_unit.clone() {
            notices.push(Notice {
                recipients: vec![config.propaganda_unit.clone(), config.cyberspace_unit.clone()],
                subject: format!("【突发事件上报】{}", rec.case.title),
                text: format!(
                    "{reporter}上报尚未在网络传播的突发事件“{}”,同步通报宣传、网信部门(七.3)。责任单位:{}。",
                    rec.case.title, rec.case.owner.name
                ),
            });
        }
        if rec.case.flags.notified_by_cyberspace_office {
            rec.cyberspace_notified_at = Some(now);
            notices.push(rec.cyberspace_notice(config, "已立案交办"));
        }
        if tier == Tier::MajorEmergency {
            notices.push(rec.major_notice(config, "立案"));
        }
        let detail = format!("交办{}:{}", rec.case.owner.name, rec.case.owner_reason);
        rec.record(
            config,
            now,
            &actor,
            "assigned",
            detail,
            serde_json::json!({ "owner": rec.case.owner, "rule": o.assignment.rule }),
            notices,
            &mut steps,
        );
        (rec, steps)
    }

    fn assignment_notice(&self, config: &Config) -> Notice {
        let deadlines: Vec<String> = self
            .case
            .deadlines
            .iter()
            .filter(|d| d.met_at.is_none())
            .map(|d| {
                format!(
                    "{} 截止 {}",
                    plan::deadline_label_zh(d.kind),
                    d.due_at.with_timezone(&china()).format("%Y-%m-%d %H:%M")
                )
            })
            .collect();
        let mut recipients = vec![self.case.owner.id.clone()];
        if self.assignment_rule == Some(AssignRule::Coordination) {
            recipients.push(config.coordination_partner_unit.clone());
        }
        Notice {
            recipients,
            subject: format!("【舆情交办】{}", self.case.title),
            text: format!(
                "案件{}交由{}回应。理由:{}。时限:{}({})。",
                self.case.case_id,
                self.case.owner.name,
                self.case.owner_reason,
                tier_label_zh(self.case.tier),
                deadlines.join(";")
            ),
        }
    }

    /// 特别重大/重大: the lead desks of (七.4) prepare the release and the press conference.
    fn major_notice(&self, config: &Config, what: &str) -> Notice {
        Notice {
            recipients: config.major_notify_units.clone(),
            subject: format!("【重大舆情】{}", self.case.title),
            text: format!(
                "{what}:{}({}),责任单位{}。须在5小时内发布权威信息、24小时内举行新闻发布会(七.4)。",
                self.case.title,
                self.case.severity.map_or("未定级", |s| s.label_zh()),
                self.case.owner.name
            ),
        }
    }

    fn cyberspace_notice(&self, config: &Config, what: &str) -> Notice {
        Notice {
            recipients: vec![config.cyberspace_unit.clone()],
            subject: format!("【网信通报回复】{}", self.case.title),
            text: format!(
                "网信部门通报的舆情“{}”{}。责任单位:{}。",
                self.case.title, what, self.case.owner.name
            ),
        }
    }

    /// The deadlines as of `now` (also refreshes `case.deadlines`): the tier's, then the reply
    /// to a cyberspace-office notification when there is one.
    pub fn planned(&self, config: &Config, now: DateTime<Utc>) -> Vec<Planned> {
        let mut planned = plan::plan_deadlines(
            &config.tiers,
            self.case.tier,
            self.case.detected_at,
            &self.responses,
            self.closed_at,
            self.reopened_at,
            now,
        );
        planned.extend(self.cyberspace_reply_deadline(config, now));
        planned
    }

    /// The reply owed to a cyberspace-office notification, from when it was notified.
    fn cyberspace_reply_deadline(&self, config: &Config, now: DateTime<Utc>) -> Option<Planned> {
        let notified = self.cyberspace_notified_at?;
        if config.cyberspace_reply_hours <= 0.0 {
            return None;
        }
        Some(plan::planned(
            common::wire::DeadlineKind::CyberspaceReply,
            notified,
            notified + plan::hours(config.cyberspace_reply_hours),
            self.cyberspace_reply_at,
            now,
        ))
    }

    /// Append one change: refresh derived fields, seal the audit record, snapshot the case.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        actor: &Actor,
        kind: &str,
        detail: String,
        data: serde_json::Value,
        notices: Vec<Notice>,
        steps: &mut Vec<Step>,
    ) {
        self.case.updated_at = now;
        self.case.deadlines = self
            .planned(config, now)
            .into_iter()
            .map(|p| p.deadline)
            .collect();
        let seq = self.case.audit_len + 1;
        let audit = AuditRecord::seal(
            &self.case.case_id,
            seq,
            now,
            actor.clone(),
            kind,
            detail.clone(),
            data,
            &self.case.audit_head,
        );
        self.case.audit_len = seq;
        self.case.audit_head = audit.hash.clone();
        steps.push(Step {
            event: CaseEvent {
                case_id: self.case.case_id.clone(),
                seq,
                at: now,
                actor: actor.clone(),
                kind: kind.to_string(),
                detail,
                case: self.case.clone(),
            },
            audit,
            notices,
        });
    }

    fn illegal(&self, action: CaseAction) -> CommandError {
        CommandError::IllegalTransition {
            case_id: self.case.case_id.clone(),
            state: self.case.state,
            action,
        }
    }

    /// The state machine's table ([`common::commands::allowed`]), shared with the dashboards.
    fn require_allowed(&self, action: CaseAction) -> Result<(), CommandError> {
        if allowed(self.case.state, action) {
            Ok(())
        } else {
            Err(self.illegal(action))
        }
    }

    /// Units other than the owner may act only when they are a desk (coordination, propaganda,
    /// cyberspace, supervision): a unit cannot acknowledge or answer another unit's case.
    fn check_actor(&self, config: &Config, actor: &Actor) -> Result<(), CommandError> {
        let Some(given) = actor.unit_id.as_deref() else {
            return Ok(());
        };
        // Accounts may carry a unit's name or alias rather than its id.
        let unit = config.find_unit(given).map_or(given, |u| u.id.as_str());
        let desks = [
            &config.coordination_unit,
            &config.coordination_partner_unit,
            &config.propaganda_unit,
            &config.cyberspace_unit,
            &config.supervision_unit,
        ];
        if unit == self.case.owner.id || desks.iter().any(|d| d.as_str() == unit) {
            Ok(())
        } else {
            Err(CommandError::NotOwner {
                case_id: self.case.case_id.clone(),
                actor_unit: given.to_string(),
            })
        }
    }

    /// Apply one command addressed to this case. `Open` and `Merge` involve the store and are
    /// handled by the tracker; here they are invalid.
    pub fn apply(
        &mut self,
        config: &Config,
        actor: &Actor,
        command: &CaseCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<Step>, CommandError> {
        use CaseState as S;
        let mut steps = Vec::new();
        let action = command.action();
        if matches!(action, CaseAction::Open | CaseAction::Merge) {
            return Err(CommandError::Invalid(
                "立案与合并不是针对单个案件的指令".into(),
            ));
        }
        // The same checks, in the same order, as the dashboards make before answering: the
        // state, who may act (a unit only on its own case), then the command on its own.
        self.require_allowed(action)?;
        if matches!(
            action,
            CaseAction::Acknowledge | CaseAction::RecordResponse | CaseAction::Dispute
        ) {
            self.check_actor(config, actor)?;
        }
        command.check(now)?;
        match command {
            CaseCommand::Open { .. } | CaseCommand::Merge { .. } => {}
            CaseCommand::Acknowledge { .. } => {
                self.case.state = S::Acknowledged;
                self.acknowledged_at.get_or_insert(now);
                let detail = format!("{}签收", self.case.owner.name);
                self.record(
                    config,
                    now,
                    actor,
                    "acknowledged",
                    detail,
                    serde_json::json!({}),
                    Vec::new(),
                    &mut steps,
                );
            }
            CaseCommand::RecordResponse {
                kind,
                at,
                evidence_url,
                text,
                ..
            } => {
                if self.acknowledged_at.is_none() {
                    // Answering is the strongest form of acknowledging.
                    self.acknowledged_at = Some(now);
                }
                self.responses.push(ResponseRecord {
                    kind: *kind,
                    at: *at,
                    evidence_url: evidence_url.clone(),
                    text: text.clone(),
                    actor: actor.name.clone(),
                });
                let mut notices = Vec::new();
                if *kind == ResponseKind::Referral {
                    if let Some(r) = self.referral.as_mut() {
                        r.handed_over_at.get_or_insert(*at);
                        r.evidence_url = evidence_url.clone().or(r.evidence_url.take());
                    }
                }
                if *kind == ResponseKind::Reply
                    && self.case.flags.notified_by_cyberspace_office
                    && self.cyberspace_reply_at.is_none()
                {
                    self.cyberspace_reply_at = Some(*at);
                    notices.push(self.cyberspace_notice(config, &format!("已回复:{text}")));
                }
                self.case.state = if self.primary_deadlines_met(config, now) {
                    S::Responded
                } else {
                    S::Responding
                };
                let detail = format!(
                    "{}{}{}",
                    response_label_zh(*kind),
                    evidence_url
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default(),
                    if text.is_empty() {
                        String::new()
                    } else {
                        format!(":{text}")
                    }
                );
                self.record(
                    config,
                    now,
                    actor,
                    "response_recorded",
                    detail,
                    serde_json::json!({ "kind": kind, "at": at, "evidence_url": evidence_url, "text": text }),
                    notices,
                    &mut steps,
                );
            }
            CaseCommand::Dispute { reason, .. } => {
                self.case.state = S::Disputed;
                self.dispute_reason = Some(reason.clone());
                let notice = Notice {
                    recipients: vec![
                        config.coordination_unit.clone(),
                        config.coordination_partner_unit.clone(),
                    ],
                    subject: format!("【交办异议】{}", self.case.title),
                    text: format!(
                        "{}对案件{}的交办提出异议:{reason}。请协调改派或维持。",
                        self.case.owner.name, self.case.case_id
                    ),
                };
                self.record(
                    config,
                    now,
                    actor,
                    "disputed",
                    format!("异议:{reason}"),
                    serde_json::json!({ "reason": reason }),
                    vec![notice],
                    &mut steps,
                );
            }
            CaseCommand::Reassign {
                owner_unit_id,
                reason,
                ..
            } => {
                let unit = config
                    .find_unit(owner_unit_id)
                    .ok_or_else(|| CommandError::UnknownUnit(owner_unit_id.clone()))?
                    .to_ref();
                if unit.id == self.case.owner.id {
                    if self.case.state != S::Disputed {
                        return Err(CommandError::Invalid(format!(
                            "案件{}已由{}负责",
                            self.case.case_id, unit.name
                        )));
                    }
                    // Reassigning a disputed case to its owner rejects the dispute.
                    self.case.state = S::Assigned;
                    self.dispute_reason = None;
                    let notice = Notice {
                        recipients: vec![unit.id.clone()],
                        subject: format!("【异议未采纳】{}", self.case.title),
                        text: format!("案件{}维持由{}回应:{reason}", self.case.case_id, unit.name),
                    };
                    self.record(
                        config,
                        now,
                        actor,
                        "dispute_rejected",
                        format!("维持交办:{reason}"),
                        serde_json::json!({ "reason": reason }),
                        vec![notice],
                        &mut steps,
                    );
                } else {
                    let old = std::mem::replace(&mut self.case.owner, unit.clone());
                    self.case.owner_reason = format!("人工改派:{reason}");
                    self.assignment_rule = Some(AssignRule::Override);
                    self.case.state = S::Reassigned;
                    self.dispute_reason = None;
                    let mut notice = self.assignment_notice(config);
                    notice.recipients = vec![unit.id.clone(), old.id.clone()];
                    self.record(
                        config,
                        now,
                        actor,
                        "reassigned",
                        format!("由{}改派{}:{reason}", old.name, unit.name),
                        serde_json::json!({ "from": old, "to": unit, "reason": reason }),
                        vec![notice],
                        &mut steps,
                    );
                }
            }
            CaseCommand::ChangeSeverity {
                severity, reason, ..
            } => {
                if self.case.severity == Some(*severity) && self.case.severity_confirmed {
                    return Err(CommandError::Invalid(format!(
                        "级别已确认为{}",
                        severity.label_zh()
                    )));
                }
                self.set_severity(
                    config,
                    actor,
                    Some(*severity),
                    true,
                    reason,
                    now,
                    &mut steps,
                );
            }
            CaseCommand::SetDisposition { disposition, .. } => {
                if self.case.disposition == Some(*disposition) {
                    return Err(CommandError::Invalid(format!(
                        "处置类型已是{}",
                        disposition_label_zh(*disposition)
                    )));
                }
                let old = self.case.disposition.replace(*disposition);
                let required = publish_requirement(*disposition);
                self.publish_required = Some(required.to_string());
                let mut notices = vec![Notice {
                    recipients: vec![self.case.owner.id.clone()],
                    subject: format!("【处置要求】{}", self.case.title),
                    text: format!("研判为{}:{required}。", disposition_label_zh(*disposition)),
                }];
                let mut data = serde_json::json!({ "from": old, "to": disposition, "publish_required": required });
                if *disposition == Disposition::FalseInformation && self.referral.is_none() {
                    let to: Vec<_> = config
                        .referral_units
                        .iter()
                        .map(|u| config.unit_ref(u))
                        .collect();
                    let names: Vec<_> = to.iter().map(|u| u.name.clone()).collect();
                    notices.push(Notice {
                        recipients: config.referral_units.clone(),
                        subject: format!("【线索移交】{}", self.case.title),
                        text: format!(
                            "案件{}经研判为虚假不实信息,涉嫌违法的情况和线索移交{}依法依规查处(七.3)。责任单位:{}。",
                            self.case.case_id,
                            names.join("、"),
                            self.case.owner.name
                        ),
                    });
                    data["referral_to"] = serde_json::json!(to);
                    self.referral = Some(Referral {
                        to,
                        at: now,
                        handed_over_at: None,
                        evidence_url: None,
                    });
                }
                self.record(
                    config,
                    now,
                    actor,
                    "disposition_set",
                    format!("研判为{}:{required}", disposition_label_zh(*disposition)),
                    data,
                    notices,
                    &mut steps,
                );
            }
            CaseCommand::SetPriorities {
                priorities, reason, ..
            } => {
                let mut to = priorities.clone();
                to.sort();
                to.dedup();
                if self.case.priorities_confirmed && self.case.priorities == to {
                    return Err(CommandError::Invalid("重点类别已按此确认".into()));
                }
                let from = std::mem::replace(&mut self.case.priorities, to.clone());
                self.case.priorities_confirmed = true;
                let labels: Vec<_> = to.iter().map(|p| p.label_zh()).collect();
                let labels = if labels.is_empty() {
                    "无".to_string()
                } else {
                    labels.join("、")
                };
                self.record(
                    config,
                    now,
                    actor,
                    "priorities_set",
                    format!("研判重点:{labels}({reason})"),
                    serde_json::json!({ "from": from, "to": to, "reason": reason }),
                    Vec::new(),
                    &mut steps,
                );
            }
            CaseCommand::MarkNotified {
                notified_at, note, ..
            } => {
                if self.case.flags.notified_by_cyberspace_office {
                    return Err(CommandError::Invalid(format!(
                        "案件{}已标记为网信部门通报",
                        self.case.case_id
                    )));
                }
                let at = notified_at.unwrap_or(now);
                let detail = if note.trim().is_empty() {
                    "网信部门通报,需及时回复".to_string()
                } else {
                    format!("网信部门通报,需及时回复:{}", note.trim())
                };
                self.mark_cyberspace_notified(
                    config,
                    actor,
                    at,
                    detail,
                    serde_json::json!({ "notified_at": at, "note": note }),
                    now,
                    &mut steps,
                );
            }
            CaseCommand::Close { reason, .. } => {
                let from = self.case.state;
                // Closing is the desk's call and is not blocked, but what is still owed is
                // written into the record so the evaluation (年度评估) can see it.
                let unmet: Vec<&str> = self
                    .planned(config, now)
                    .iter()
                    .filter(|p| p.deadline.met_at.is_none() && p.deadline.due_at <= now)
                    .map(|p| plan::deadline_kind_str(p.deadline.kind))
                    .collect();
                let referral_pending = self
                    .referral
                    .as_ref()
                    .is_some_and(|r| r.handed_over_at.is_none());
                let mut detail = format!("办结:{reason}");
                if referral_pending {
                    detail.push_str("(线索尚未移交)");
                }
                let data = serde_json::json!({
                    "from": from,
                    "reason": reason,
                    "disposition": self.case.disposition,
                    "overdue_unmet": unmet,
                    "referral_pending": referral_pending,
                });
                self.case.state = S::Closed;
                self.closed_at = Some(now);
                self.record(
                    config,
                    now,
                    actor,
                    "closed",
                    detail,
                    data,
                    Vec::new(),
                    &mut steps,
                );
            }
            CaseCommand::Reopen { reason, .. } => {
                if let Some(into) = &self.merged_into {
                    return Err(CommandError::Invalid(format!(
                        "案件{}已并入{into}，请重新打开{into}",
                        self.case.case_id
                    )));
                }
                self.case.state = S::Reopened;
                self.closed_at = None;
                self.reopened_at = Some(now);
                let notice = Notice {
                    recipients: vec![self.case.owner.id.clone()],
                    subject: format!("【案件重启】{}", self.case.title),
                    text: format!("案件{}重新办理:{reason}", self.case.case_id),
                };
                self.record(
                    config,
                    now,
                    actor,
                    "reopened",
                    format!("重启:{reason}"),
                    serde_json::json!({ "reason": reason }),
                    vec![notice],
                    &mut steps,
                );
            }
        }
        Ok(steps)
    }

    /// Whether the tier's own deadlines (not the continued releases) are all met.
    fn primary_deadlines_met(&self, config: &Config, now: DateTime<Utc>) -> bool {
        self.planned(config, now)
            .iter()
            .filter(|p| {
                !matches!(
                    p.deadline.kind,
                    common::wire::DeadlineKind::ContinuedRelease
                        | common::wire::DeadlineKind::CyberspaceReply
                )
            })
            .all(|p| p.deadline.met_at.is_some())
    }

    /// Change the severity (and with it the tier and deadlines), audited.
    #[allow(clippy::too_many_arguments)]
    pub fn set_severity(
        &mut self,
        config: &Config,
        actor: &Actor,
        severity: Option<Severity>,
        confirmed: bool,
        reason: &str,
        now: DateTime<Utc>,
        steps: &mut Vec<Step>,
    ) {
        let old = self.case.severity;
        let old_tier = self.case.tier;
        self.case.severity = severity;
        self.case.severity_confirmed = confirmed;
        self.case.tier = tier_for(severity);
        // A new tier can owe more (a press conference) or less: re-derive responded-ness.
        if matches!(
            self.case.state,
            CaseState::Responding | CaseState::Responded
        ) {
            self.case.state = if self.primary_deadlines_met(config, now) {
                CaseState::Responded
            } else {
                CaseState::Responding
            };
        }
        let label = |s: Option<Severity>| s.map_or("未定级", |s| s.label_zh());
        let mut notices = Vec::new();
        if self.case.tier != old_tier {
            let mut n = self.assignment_notice(config);
            n.subject = format!("【时限调整】{}", self.case.title);
            n.text = format!(
                "等级由{}调整为{},时限重新计算:{}",
                label(old),
                label(severity),
                n.text
            );
            notices.push(n);
            if self.case.tier == Tier::MajorEmergency {
                notices.push(self.major_notice(config, "升级为重大"));
            }
        }
        self.record(
            config,
            now,
            actor,
            "severity_changed",
            format!("等级由{}调整为{}:{reason}", label(old), label(severity)),
            serde_json::json!({ "from": old, "to": severity, "tier_from": old_tier, "tier_to": self.case.tier, "confirmed": confirmed, "reason": reason }),
            notices,
            steps,
        );
    }

    /// Fold a newer event update into an open case: a rising proposed severity re-plans
    /// (unless staff confirmed one), a cyberspace-office notification starts reply tracking,
    /// new priorities are noted. Heat alone changes nothing visible.
    pub fn on_event_update(
        &mut self,
        config: &Config,
        event: &EventUpdate,
        now: DateTime<Utc>,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        self.heat = event.heat;
        if !self.case.state.is_open() {
            return steps;
        }
        let actor = Actor::system();
        // The analyzer retitles an event when a news headline joins a thread a social post
        // started; the case follows, so the inbox shows the same name as the desk.
        if !event.title.trim().is_empty() && event.title != self.case.title {
            let from = std::mem::replace(&mut self.case.title, event.title.clone());
            self.record(
                config,
                now,
                &actor,
                "title_changed",
                format!("事件标题更新为:{}", event.title),
                serde_json::json!({ "from": from, "to": event.title }),
                Vec::new(),
                &mut steps,
            );
        }
        if let Some(proposed) = event.severity.level {
            if !self.case.severity_confirmed && self.case.severity.is_none_or(|s| proposed > s) {
                self.set_severity(
                    config,
                    &actor,
                    Some(proposed),
                    false,
                    "事件研判等级上升",
                    now,
                    &mut steps,
                );
            }
        }
        if event.flags.notified_by_cyberspace_office
            && !self.case.flags.notified_by_cyberspace_office
        {
            self.mark_cyberspace_notified(
                config,
                &actor,
                now,
                "网信部门通报,需及时回复".into(),
                serde_json::json!({}),
                now,
                &mut steps,
            );
        }
        let new: Vec<Priority> = event
            .priorities
            .iter()
            .filter(|p| !self.case.priorities.contains(p))
            .copied()
            .collect();
        // Priorities set by staff (研判) are the case's; the analyzer no longer adds to them.
        if !new.is_empty() && !self.case.priorities_confirmed {
            self.case.priorities.extend(new.iter().copied());
            self.case.priorities.sort();
            let labels: Vec<_> = new.iter().map(|p| p.label_zh()).collect();
            self.record(
                config,
                now,
                &actor,
                "priorities_changed",
                format!("新增重点:{}", labels.join("、")),
                serde_json::json!({ "added": new }),
                Vec::new(),
                &mut steps,
            );
        }
        steps
    }

    /// Flag the case as notified by the cyberspace office and start its reply clock at
    /// `notified_at`; tells the cyberspace desk and the owner.
    #[allow(clippy::too_many_arguments)]
    fn mark_cyberspace_notified(
        &mut self,
        config: &Config,
        actor: &Actor,
        notified_at: DateTime<Utc>,
        detail: String,
        data: serde_json::Value,
        now: DateTime<Utc>,
        steps: &mut Vec<Step>,
    ) {
        self.case.flags.notified_by_cyberspace_office = true;
        self.cyberspace_notified_at = Some(notified_at);
        let notice = self.cyberspace_notice(config, "已在办理中");
        let mut owner = notice.clone();
        owner.recipients = vec![self.case.owner.id.clone()];
        owner.text = format!("该舆情已被网信部门通报,请及时回复:{}", self.case.title);
        self.record(
            config,
            now,
            actor,
            "cyberspace_notified",
            detail,
            data,
            vec![notice, owner],
            steps,
        );
    }

    /// Fire the timers due by `now`; returns the steps and when to look again.
    pub fn fire_timers(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
    ) -> (Vec<Step>, Option<DateTime<Utc>>) {
        let mut steps = Vec::new();
        if !self.case.state.is_open() {
            return (steps, None);
        }
        // The cyberspace reply has its own reminders (owner and cyberspace desk, not 督办):
        // see `cyberspace_reply_timer`.
        let planned: Vec<Planned> = self
            .planned(config, now)
            .into_iter()
            .filter(|p| p.deadline.kind != common::wire::DeadlineKind::CyberspaceReply)
            .collect();
        let (due, mut next) = plan::due_timers(&config.reminders, &planned, &self.fired, now);
        for t in due {
            self.fired.insert(t.key.clone());
            self.fire(config, &t, now, &mut steps);
        }
        if let Some(at) = self.cyberspace_reply_timer(config, now, &mut steps) {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        (steps, next)
    }

    /// 对网信部门通报的政务舆情,要及时回复: until the reply is recorded, remind the owner and
    /// the cyberspace desk after `cyberspace_reply_hours`, then at the escalation cadence.
    fn cyberspace_reply_timer(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        steps: &mut Vec<Step>,
    ) -> Option<DateTime<Utc>> {
        let deadline = self.cyberspace_reply_deadline(config, now)?.deadline;
        if deadline.met_at.is_some() {
            return None;
        }
        let due = deadline.due_at;
        let every = plan::hours(config.reminders.escalate_every_hours);
        let (latest, next) = plan::repeating(due, every, now);
        if let Some((n, _)) = latest {
            let key = format!("cyberspace_reply@{}/o{n}", due.timestamp());
            if self.fired.insert(key.clone()) {
                let due_local = due.with_timezone(&china()).format("%m-%d %H:%M");
                let notice = Notice {
                    recipients: vec![self.case.owner.id.clone(), config.cyberspace_unit.clone()],
                    subject: format!("【网信通报未回复】{}", self.case.title),
                    text: format!(
                        "网信部门通报的舆情“{}”应于{due_local}(北京时间)前回复,{}尚未回复。",
                        self.case.title, self.case.owner.name
                    ),
                };
                self.record(
                    config,
                    now,
                    &Actor::system(),
                    "cyberspace_reply_overdue",
                    format!("网信通报回复逾期(第{}次提醒)", n + 1),
                    serde_json::json!({ "due_at": due, "timer": key }),
                    vec![notice],
                    steps,
                );
            }
        }
        Some(next)
    }

    fn fire(&mut self, config: &Config, t: &Timer, now: DateTime<Utc>, steps: &mut Vec<Step>) {
        let what = plan::deadline_label_zh(t.kind);
        let due = t
            .due_at
            .with_timezone(&china())
            .format("%m-%d %H:%M")
            .to_string();
        let owner = self.case.owner.clone();
        let data = serde_json::json!({ "deadline": t.kind, "due_at": t.due_at, "timer": t.key, "stage": t.stage });
        match t.stage {
            Stage::Reminder { fraction } => {
                let notice = Notice {
                    recipients: vec![owner.id.clone()],
                    subject: format!("【时限提醒】{}", self.case.title),
                    text: format!(
                        "案件{}“{what}”时限已过{:.0}%,截止{due}(北京时间)。",
                        self.case.case_id,
                        fraction * 100.0
                    ),
                };
                self.record(
                    config,
                    now,
                    &Actor::system(),
                    "reminder",
                    format!("{what}时限已过{:.0}%,截止{due}", fraction * 100.0),
                    data,
                    vec![notice],
                    steps,
                );
            }
            Stage::Breach | Stage::Escalation { .. } => {
                let leaders = config
                    .unit(&owner.id)
                    .map(|u| u.leaders.clone())
                    .unwrap_or_default();
                let supervision = config.unit_ref(&config.supervision_unit);
                let mut to = vec![supervision.name.clone()];
                to.extend(leaders.iter().cloned());
                let (kind, detail) = match t.stage {
                    Stage::Escalation { n } => (
                        "escalated",
                        format!("{what}逾期未办(第{}次督办),报{}", n + 1, to.join("、")),
                    ),
                    _ => (
                        "breached",
                        format!("{what}已逾期(截止{due}),报{}督办", to.join("、")),
                    ),
                };
                let notice = Notice {
                    recipients: vec![
                        config.supervision_unit.clone(),
                        format!("leaders:{}", owner.id),
                        owner.id.clone(),
                    ],
                    subject: format!("【逾期督办】{}", self.case.title),
                    text: format!(
                        "案件{}“{what}”已于{due}逾期,责任单位{}。请{}督办。",
                        self.case.case_id,
                        owner.name,
                        to.join("、")
                    ),
                };
                self.record(
                    config,
                    now,
                    &Actor::system(),
                    kind,
                    detail,
                    data,
                    vec![notice],
                    steps,
                );
            }
        }
    }

    /// Close this case as merged into `into` (audited on both sides by the tracker).
    pub fn merge_away(
        &mut self,
        config: &Config,
        actor: &Actor,
        into: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Step>, CommandError> {
        self.require_allowed(CaseAction::Merge)?;
        let mut steps = Vec::new();
        self.merged_into = Some(into.to_string());
        self.case.state = CaseState::Closed;
        self.closed_at = Some(now);
        self.record(
            config,
            now,
            actor,
            "merged",
            format!("并入案件{into}"),
            serde_json::json!({ "into": into }),
            Vec::new(),
            &mut steps,
        );
        Ok(steps)
    }

    pub fn absorb(
        &mut self,
        config: &Config,
        actor: &Actor,
        other: &CaseRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<Step>, CommandError> {
        self.require_allowed(CaseAction::Merge)?;
        let mut steps = Vec::new();
        for e in &other.case.event_ids {
            if !self.case.event_ids.contains(e) {
                self.case.event_ids.push(e.clone());
            }
        }
        for p in &other.case.priorities {
            if !self.case.priorities.contains(p) {
                self.case.priorities.push(*p);
            }
        }
        self.case.priorities.sort();
        // The merged case may have been detected first: the clock runs from the earliest.
        let earlier = other.case.detected_at < self.case.detected_at;
        if earlier {
            self.case.detected_at = other.case.detected_at;
        }
        self.responses.extend(other.responses.iter().cloned());
        self.responses.sort_by_key(|r| r.at);
        self.record(
            config,
            now,
            actor,
            "merged_in",
            format!("并入案件{}({})", other.case.case_id, other.case.title),
            serde_json::json!({ "from": other.case.case_id, "event_ids": other.case.event_ids, "detected_at_moved": earlier }),
            Vec::new(),
            &mut steps,
        );
        Ok(steps)
    }
}

/// Beijing time, for messages people read.
pub fn china() -> chrono::FixedOffset {
    // 8 h is always a valid offset; the fallback only satisfies the type.
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or(chrono::Offset::fix(&Utc))
}
