//! Cases: the list and one case with its audit log, opening a case by hand, and the commands
//! the desk and the owning unit send about a case. A unit account sees and acts on its own
//! unit's cases only; another unit's case answers as if it did not exist.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use common::wire::{CaseCommand, ResponseKind, Severity, new_message_id};
use serde::{Deserialize, Serialize};

use super::{ApiResult, send_command};
use crate::store::Role;
use crate::web::ApiError;
use crate::web::access::SignedIn;
use crate::{SharedState, views};

/// The open cases of an event, as the read model knows them (normally one).
pub(super) fn open_cases_of_event(state: &SharedState, event_id: &str) -> ApiResult<Vec<String>> {
    let mut open = Vec::new();
    for case_id in state.store.cases_of_event(event_id)? {
        if state
            .store
            .case(&case_id)?
            .is_some_and(|c| c.case.state.is_open())
        {
            open.push(case_id);
        }
    }
    Ok(open)
}

#[derive(Deserialize, Default)]
pub struct CaseQuery {
    /// `open` or `closed`.
    state: Option<String>,
    unit: Option<String>,
}

/// The cases `cur` may see: a unit account only its own unit's, everyone else all. Anonymous
/// readers see none: the case routes are not public even with `auth.public_read_api`.
fn visible_cases(
    state: &SharedState,
    cur: &crate::auth::Current,
) -> ApiResult<Vec<views::CaseView>> {
    let now = state.ctx.clock.now();
    let own_unit = match cur.role() {
        Role::Unit => Some(cur.user.unit_id.clone().unwrap_or_default()),
        _ => None,
    };
    let mut out: Vec<views::CaseView> = state
        .store
        .cases()?
        .iter()
        .filter(|c| own_unit.as_ref().is_none_or(|u| &c.case.owner.id == u))
        .map(|c| views::case_view(c, now, state.config.ui.near_due_minutes))
        .collect();
    views::sort_cases(&mut out);
    Ok(out)
}

pub async fn list(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Query(q): Query<CaseQuery>,
) -> ApiResult<Json<Vec<views::CaseView>>> {
    let out = visible_cases(&state, &cur)?
        .into_iter()
        .filter(|c| match q.state.as_deref() {
            Some("open") => c.case.state.is_open(),
            Some("closed") => !c.case.state.is_open(),
            _ => true,
        })
        .filter(|c| q.unit.as_ref().is_none_or(|u| &c.case.owner.id == u))
        .collect();
    Ok(Json(out))
}

#[derive(Serialize)]
pub struct CaseDetail {
    case: views::CaseView,
    log: Vec<crate::store::CaseLogEntry>,
}

pub async fn detail(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseDetail>> {
    let c = state.store.case(&id)?.ok_or(ApiError::NotFound)?;
    if cur.role() == Role::Unit && cur.user.unit_id.as_deref() != Some(c.case.owner.id.as_str()) {
        // Same answer as a missing case: a unit cannot even learn that the case exists.
        return Err(ApiError::NotFound);
    }
    Ok(Json(CaseDetail {
        case: views::case_view(&c, state.ctx.clock.now(), state.config.ui.near_due_minutes),
        log: state.store.case_log(&id)?,
    }))
}

/// What the UI can ask of a case; mapped onto the respond stage's commands.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum UiCommand {
    Acknowledge,
    Respond {
        kind: ResponseKind,
        /// When the response happened; defaults to now.
        #[serde(default)]
        at: Option<DateTime<Utc>>,
        #[serde(default)]
        evidence_url: Option<String>,
        #[serde(default)]
        text: String,
    },
    Dispute {
        reason: String,
    },
    Reassign {
        owner_unit_id: String,
        reason: String,
    },
    Severity {
        severity: Severity,
        reason: String,
    },
    Disposition {
        disposition: common::wire::Disposition,
    },
    Close {
        reason: String,
    },
    Reopen {
        reason: String,
    },
}

pub async fn command(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Path(id): Path<String>,
    Json(cmd): Json<UiCommand>,
) -> ApiResult<Response> {
    let case = state.store.case(&id)?.ok_or(ApiError::NotFound)?;
    let unit_action = matches!(
        cmd,
        UiCommand::Acknowledge | UiCommand::Respond { .. } | UiCommand::Dispute { .. }
    );
    if cur.role() == Role::Unit {
        if cur.user.unit_id.as_deref() != Some(case.case.owner.id.as_str()) {
            return Err(ApiError::NotFound);
        }
        // 研判 (reassign, severity, disposition, close) belongs to the desk.
        if !unit_action {
            return Err(ApiError::Forbidden);
        }
    }
    let now = state.ctx.clock.now();
    // Only the mapping is here: what a command must be is checked by `vet` (in
    // `send_command`), with the tracker's own functions.
    let case_id = id.clone();
    let command = match cmd {
        UiCommand::Acknowledge => CaseCommand::Acknowledge { case_id },
        UiCommand::Respond {
            kind,
            at,
            evidence_url,
            text,
        } => CaseCommand::RecordResponse {
            case_id,
            kind,
            at: at.unwrap_or(now),
            evidence_url: evidence_url.filter(|u| !u.trim().is_empty()),
            text,
        },
        UiCommand::Dispute { reason } => CaseCommand::Dispute { case_id, reason },
        UiCommand::Reassign {
            owner_unit_id,
            reason,
        } => CaseCommand::Reassign {
            case_id,
            owner_unit_id,
            reason,
        },
        UiCommand::Severity { severity, reason } => CaseCommand::ChangeSeverity {
            case_id,
            severity,
            reason: if reason.trim().is_empty() {
                "研判确认".into()
            } else {
                reason
            },
        },
        UiCommand::Disposition { disposition } => CaseCommand::SetDisposition {
            case_id,
            disposition,
        },
        UiCommand::Close { reason } => CaseCommand::Close { case_id, reason },
        UiCommand::Reopen { reason } => CaseCommand::Reopen { case_id, reason },
    };
    send_command(&state, &id, cur.actor(), command).await
}

#[derive(Debug, Deserialize)]
pub struct OpenCase {
    title: String,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    owner_unit_id: Option<String>,
}

pub async fn open(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Json(req): Json<OpenCase>,
) -> ApiResult<Response> {
    let event_id = req.event_id.filter(|e| !e.trim().is_empty());
    let detected_at = match &event_id {
        Some(e) => state.store.event(e)?.map(|ev| ev.event.first_detected_at),
        None => None,
    };
    // Keyed by event id so the open lands in the same partition as that event's other commands.
    let key = event_id.clone().unwrap_or_else(new_message_id);
    send_command(
        &state,
        &key,
        cur.actor(),
        CaseCommand::Open {
            event_id,
            title: req.title.trim().to_string(),
            severity: req.severity,
            owner_unit_id: req.owner_unit_id.filter(|u| !u.trim().is_empty()),
            detected_at,
            notified_by_cyberspace_office: false,
        },
    )
    .await
}

#[derive(Serialize)]
pub struct CommandOutcome {
    command_id: String,
    action: String,
    case_id: Option<String>,
    /// `pending` until respond answered, then `accepted` or `rejected`.
    status: &'static str,
    /// Why it was rejected, in Chinese.
    message: String,
}

/// What became of a command this user sent (answered `202` with its id). Someone else's
/// command answers as if it did not exist.
pub async fn command_outcome(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<CommandOutcome>> {
    let sent = state
        .store
        .sent_command(&id)?
        .filter(|s| s.actor == cur.user.name)
        .ok_or(ApiError::NotFound)?;
    let (status, message) = match &sent.result {
        None => ("pending", String::new()),
        Some(r) if r.accepted => ("accepted", String::new()),
        Some(r) => ("rejected", r.message.clone()),
    };
    Ok(Json(CommandOutcome {
        command_id: sent.command_id,
        action: sent.action,
        case_id: sent.case_id,
        status,
        message,
    }))
}
