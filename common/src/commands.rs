//! What a case command must be to be accepted, decided once for everyone who sends or applies
//! one: which case states accept which command ([`allowed`]), and the checks a command passes
//! on its own, before any case is looked at ([`CaseCommand::check`]: reasons, links, times, text
//! lengths). The response tracker applies them; the dashboards run the same functions before
//! answering `202`, and offer only the forms [`allowed`] lets through, so a person learns at once
//! what would otherwise be a silent rejection later. Messages are for people, in Chinese.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::wire::{CaseCommand, CaseState};

/// The longest title of a case or an intake report (characters).
pub const TITLE_MAX_CHARS: usize = 200;
/// The longest reason, note or judgement comment.
pub const REASON_MAX_CHARS: usize = 1000;
/// The longest response text or intake body.
pub const TEXT_MAX_CHARS: usize = 5000;
/// The longest link (evidence, intake source).
pub const URL_MAX_CHARS: usize = 2000;
/// How far ahead of the clock a reported time may be (clock skew between machines).
pub const FUTURE_SKEW_MINUTES: i64 = 5;

/// The kinds of case command, as the state machine tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseAction {
    Open,
    Acknowledge,
    RecordResponse,
    Dispute,
    Reassign,
    ChangeSeverity,
    SetDisposition,
    SetPriorities,
    MarkNotified,
    Close,
    Reopen,
    Merge,
}

impl CaseAction {
    /// Every action addressed to an existing case (all but `open`).
    pub const ON_A_CASE: [CaseAction; 11] = [
        CaseAction::Acknowledge,
        CaseAction::RecordResponse,
        CaseAction::Dispute,
        CaseAction::Reassign,
        CaseAction::ChangeSeverity,
        CaseAction::SetDisposition,
        CaseAction::SetPriorities,
        CaseAction::MarkNotified,
        CaseAction::Close,
        CaseAction::Reopen,
        CaseAction::Merge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseAction::Open => "open",
            CaseAction::Acknowledge => "acknowledge",
            CaseAction::RecordResponse => "record_response",
            CaseAction::Dispute => "dispute",
            CaseAction::Reassign => "reassign",
            CaseAction::ChangeSeverity => "change_severity",
            CaseAction::SetDisposition => "set_disposition",
            CaseAction::SetPriorities => "set_priorities",
            CaseAction::MarkNotified => "mark_notified",
            CaseAction::Close => "close",
            CaseAction::Reopen => "reopen",
            CaseAction::Merge => "merge",
        }
    }

    /// What the action is called on the screens ("不能{label}").
    pub fn label_zh(self) -> &'static str {
        match self {
            CaseAction::Open => "立案",
            CaseAction::Acknowledge => "确认接收",
            CaseAction::RecordResponse => "记录回应",
            CaseAction::Dispute => "提出异议",
            CaseAction::Reassign => "改派",
            CaseAction::ChangeSeverity => "调整级别",
            CaseAction::SetDisposition => "确定处置类型",
            CaseAction::SetPriorities => "研判类别",
            CaseAction::MarkNotified => "标记网信部门通报",
            CaseAction::Close => "办结",
            CaseAction::Reopen => "重新打开",
            CaseAction::Merge => "合并",
        }
    }
}

/// Whether a case in `state` accepts `action`: the state machine's one table. A unit answers
/// and disputes only while the case is its to answer; an open case can be judged, reassigned
/// and closed; only a closed one reopened.
pub fn allowed(state: CaseState, action: CaseAction) -> bool {
    use CaseAction as A;
    use CaseState as S;
    match action {
        A::Open => false,
        A::Acknowledge => matches!(state, S::Assigned | S::Reassigned | S::Reopened),
        A::RecordResponse => matches!(
            state,
            S::Assigned
                | S::Acknowledged
                | S::Responding
                | S::Responded
                | S::Reassigned
                | S::Reopened
        ),
        A::Dispute => matches!(
            state,
            S::Assigned | S::Acknowledged | S::Reassigned | S::Reopened
        ),
        A::Reopen => state == S::Closed,
        A::Reassign
        | A::ChangeSeverity
        | A::SetDisposition
        | A::SetPriorities
        | A::MarkNotified
        | A::Close
        | A::Merge => state.is_open(),
    }
}

/// The actions a case in `state` accepts, in [`CaseAction::ON_A_CASE`] order.
pub fn allowed_actions(state: CaseState) -> Vec<CaseAction> {
    CaseAction::ON_A_CASE
        .into_iter()
        .filter(|a| allowed(state, *a))
        .collect()
}

/// Why a command cannot be accepted, in words for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// The refusal of `action` on a case in `state`.
pub fn not_allowed(state: CaseState, action: CaseAction) -> Refusal {
    Refusal(format!(
        "案件当前为“{}”，不能{}",
        state.label_zh(),
        action.label_zh()
    ))
}

/// `what` must be given and at most `max` characters.
pub fn required_text(what: &str, value: &str, max: usize) -> Result<(), Refusal> {
    if value.trim().is_empty() {
        return Err(Refusal(format!("请填写{what}")));
    }
    limited_text(what, value, max)
}

/// `what` may be empty but at most `max` characters.
pub fn limited_text(what: &str, value: &str, max: usize) -> Result<(), Refusal> {
    let n = value.chars().count();
    if n > max {
        return Err(Refusal(format!("{what}最多{max}个字符（现有{n}个）")));
    }
    Ok(())
}

/// An `http(s)` link of at most [`URL_MAX_CHARS`].
pub fn web_link(what: &str, url: &str) -> Result<(), Refusal> {
    limited_text(what, url, URL_MAX_CHARS)?;
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(())
    } else {
        Err(Refusal(format!("{what}须为 http(s) 地址")))
    }
}

fn not_after(what: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    if at > now + Duration::minutes(FUTURE_SKEW_MINUTES) {
        Err(Refusal(format!("{what}不能晚于现在")))
    } else {
        Ok(())
    }
}

impl CaseCommand {
    pub fn action(&self) -> CaseAction {
        match self {
            CaseCommand::Open { .. } => CaseAction::Open,
            CaseCommand::Acknowledge { .. } => CaseAction::Acknowledge,
            CaseCommand::RecordResponse { .. } => CaseAction::RecordResponse,
            CaseCommand::Dispute { .. } => CaseAction::Dispute,
            CaseCommand::Reassign { .. } => CaseAction::Reassign,
            CaseCommand::ChangeSeverity { .. } => CaseAction::ChangeSeverity,
            CaseCommand::SetDisposition { .. } => CaseAction::SetDisposition,
            CaseCommand::SetPriorities { .. } => CaseAction::SetPriorities,
            CaseCommand::MarkNotified { .. } => CaseAction::MarkNotified,
            CaseCommand::Close { .. } => CaseAction::Close,
            CaseCommand::Reopen { .. } => CaseAction::Reopen,
            CaseCommand::Merge { .. } => CaseAction::Merge,
        }
    }

    /// Everything about the command that needs no case: what must be given, how long a text
    /// may be, that links are http(s) and reported times are not in the future.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), Refusal> {
        match self {
            CaseCommand::Open { title, .. } => required_text("标题", title, TITLE_MAX_CHARS),
            CaseCommand::Acknowledge { .. } | CaseCommand::SetDisposition { .. } => Ok(()),
            CaseCommand::RecordResponse {
                at,
                evidence_url,
                text,
                ..
            } => {
                if let Some(url) = evidence_url {
                    web_link("证据链接", url)?;
                }
                limited_text("回应内容", text, TEXT_MAX_CHARS)?;
                if evidence_url.is_none() && text.trim().is_empty() {
                    return Err(Refusal("请填写回应内容或证据链接".into()));
                }
                not_after("回应时间", *at, now)
            }
            CaseCommand::Dispute { reason, .. } => {
                required_text("异议理由", reason, REASON_MAX_CHARS)
            }
            CaseCommand::Reassign {
                owner_unit_id,
                reason,
                ..
            } => {
                required_text("责任单位", owner_unit_id, TITLE_MAX_CHARS)?;
                required_text("改派理由", reason, REASON_MAX_CHARS)
            }
            CaseCommand::ChangeSeverity { reason, .. } => {
                required_text("调整级别的说明", reason, REASON_MAX_CHARS)
            }
            CaseCommand::SetPriorities { reason, .. } => {
                required_text("研判意见", reason, REASON_MAX_CHARS)
            }
            CaseCommand::MarkNotified {
                notified_at, note, ..
            } => {
                limited_text("通报说明", note, REASON_MAX_CHARS)?;
                match notified_at {
                    Some(at) => not_after("通报时间", *at, now),
                    None => Ok(()),
                }
            }
            CaseCommand::Close { reason, .. } => {
                required_text("办结说明", reason, REASON_MAX_CHARS)
            }
            CaseCommand::Reopen { reason, .. } => {
                required_text("重新打开理由", reason, REASON_MAX_CHARS)
            }
            CaseCommand::Merge {
                case_id,
                into_case_id,
            } => {
                if case_id == into_case_id {
                    Err(Refusal("案件不能并入它自己".into()))
                } else {
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-07-01T00:00:00Z".parse().unwrap_or_default()
    }

    #[test]
    fn the_state_table_lets_each_state_do_what_it_should() {
        use CaseAction as A;
        use CaseState as S;
        for (state, want) in [
            (
                S::Assigned,
                vec![A::Acknowledge, A::RecordResponse, A::Dispute, A::Close],
            ),
            (S::Acknowledged, vec![A::RecordResponse, A::Dispute]),
            (S::Responded, vec![A::RecordResponse, A::Reassign]),
            (S::Disputed, vec![A::Reassign, A::ChangeSeverity, A::Close]),
            (S::Closed, vec![A::Reopen]),
        ] {
            for a in want {
                assert!(allowed(state, a), "{state:?} allows {a:?}");
            }
        }
        for (state, refused) in [
            (S::Acknowledged, vec![A::Acknowledge, A::Reopen]),
            (S::Responded, vec![A::Dispute, A::Acknowledge]),
            (
                S::Disputed,
                vec![A::RecordResponse, A::Dispute, A::Acknowledge],
            ),
            (S::Closed, vec![A::Close, A::Reassign, A::RecordResponse]),
        ] {
            for a in refused {
                assert!(!allowed(state, a), "{state:?} refuses {a:?}");
            }
        }
        assert_eq!(allowed_actions(S::Closed), [A::Reopen]);
        assert!(!allowed(S::Assigned, A::Open));
        assert_eq!(
            not_allowed(S::Disputed, A::RecordResponse).to_string(),
            "案件当前为“有异议”，不能记录回应"
        );
    }

    #[test]
    fn a_command_is_checked_on_its_own_in_chinese() {
        let refusal = |c: CaseCommand| c.check(now()).err().map(|r| r.0).unwrap_or_default();
        let close = |reason: &str| CaseCommand::Close {
            case_id: "c".into(),
            reason: reason.into(),
        };
        assert_eq!(refusal(close(" ")), "请填写办结说明");
        assert!(refusal(close(&"长".repeat(1001))).contains("最多1000个字符"));
        assert!(close("已回应").check(now()).is_ok());
        let respond = |url: Option<&str>, text: &str, minutes: i64| CaseCommand::RecordResponse {
            case_id: "c".into(),
            kind: crate::wire::ResponseKind::Reply,
            at: now() + Duration::minutes(minutes),
            evidence_url: url.map(String::from),
            text: text.into(),
        };
        assert_eq!(
            refusal(respond(Some("ftp://x"), "", 0)),
            "证据链接须为 http(s) 地址"
        );
        assert_eq!(refusal(respond(None, " ", 0)), "请填写回应内容或证据链接");
        assert_eq!(refusal(respond(None, "已回复", 60)), "回应时间不能晚于现在");
        assert!(respond(Some("HTTPS://x.cn/a"), "", 4).check(now()).is_ok());
        let open = CaseCommand::Open {
            event_id: None,
            title: "标".repeat(201),
            severity: None,
            owner_unit_id: None,
            detected_at: None,
            notified_by_cyberspace_office: false,
        };
        assert!(refusal(open).contains("标题最多200个字符"));
    }
}
