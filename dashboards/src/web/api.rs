//! JSON API and the live stream. Read routes go through [`gate`], writes through [`gate_write`];
//! a unit account is narrowed to its own cases here, on the server, whatever the page asks for.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use common::bus::publish;
use common::topics;
use common::wire::{
    CaseCommand, CaseCommandRequest, DocFlags, Envelope, RawDocument, ResponseKind, Severity,
    SourceKind, new_message_id,
};
use serde::{Deserialize, Serialize};

use super::{ALL_ROLES, ApiError, DESK, STAFF, gate, gate_write};
use crate::feed::LiveMessage;
use crate::reports::{self, Period};
use crate::store::{Role, StoredItem};
use crate::{SharedState, export, views};

type ApiResult<T> = Result<T, ApiError>;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[derive(Serialize)]
pub struct Me {
    user: Option<String>,
    role: Option<&'static str>,
    role_label: Option<&'static str>,
    unit_id: Option<String>,
    unit_name: Option<String>,
    /// Sent back as `X-CSRF-Token` on writes. Only same-origin script can read this response.
    csrf: Option<String>,
    public_read_api: bool,
    near_due_minutes: i64,
    utc_offset_hours: i32,
    districts: Vec<String>,
    server_now: DateTime<Utc>,
}

pub async fn me(State(state): State<SharedState>, headers: HeaderMap) -> ApiResult<Json<Me>> {
    let cur = crate::auth::current(&state, &headers)?;
    let units = state.store.units()?;
    let unit_id = cur.as_ref().and_then(|c| c.user.unit_id.clone());
    Ok(Json(Me {
        user: cur.as_ref().map(|c| c.user.name.clone()),
        role: cur.as_ref().map(|c| c.role().as_str()),
        role_label: cur.as_ref().map(|c| c.role().label_zh()),
        unit_name: unit_id
            .as_ref()
            .and_then(|u| units.iter().find(|x| &x.id == u).map(|x| x.name.clone())),
        unit_id,
        csrf: cur.as_ref().map(|c| c.session.csrf.clone()),
        public_read_api: state.config.auth.public_read_api,
        near_due_minutes: state.config.ui.near_due_minutes,
        utc_offset_hours: state.config.ui.utc_offset_hours,
        districts: state.config.ui.districts.clone(),
        server_now: state.ctx.clock.now(),
    }))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    limit: Option<usize>,
    priority: Option<String>,
    district: Option<String>,
    source: Option<String>,
    sentiment: Option<String>,
}

impl ListQuery {
    fn matches_item(&self, i: &StoredItem) -> bool {
        let v = views::item_view(i);
        matches(
            self.priority.as_deref(),
            self.district.as_deref(),
            self.source.as_deref(),
            self.sentiment.as_deref(),
            &v.priority_keys,
            v.district.as_deref(),
            Some(i.doc.source_id.as_str()),
            Some(v.sentiment_label),
        )
    }
}

/// One filter rule for the list and the live stream: an empty filter passes everything.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matches(
    priority: Option<&str>,
    district: Option<&str>,
    source: Option<&str>,
    sentiment: Option<&str>,
    item_priorities: &[&str],
    item_district: Option<&str>,
    item_source: Option<&str>,
    item_sentiment: Option<&str>,
) -> bool {
    fn want(f: Option<&str>) -> Option<&str> {
        f.map(str::trim).filter(|s| !s.is_empty())
    }
    want(priority).is_none_or(|p| item_priorities.contains(&p))
        && want(district).is_none_or(|d| item_district == Some(d))
        && want(source).is_none_or(|s| item_source == Some(s))
        && want(sentiment).is_none_or(|s| item_sentiment == Some(s))
}

pub async fn items(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<views::ItemView>>> {
    gate(&state, &headers, ALL_ROLES, true)?;
    let limit = q
        .limit
        .unwrap_or(state.config.ui.items_default_limit)
        .min(state.config.ui.items_max_limit);
    let filtered =
        q.priority.is_some() || q.district.is_some() || q.source.is_some() || q.sentiment.is_some();
    // With a filter, look further back so a rare category still fills the page (bounded).
    let scan = if filtered {
        limit.saturating_mul(20)
    } else {
        limit
    };
    let out = state
        .store
        .latest_items(scan)?
        .iter()
        .filter(|i| q.matches_item(i))
        .take(limit)
        .map(views::item_view)
        .collect();
    Ok(Json(out))
}

pub async fn events(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<views::EventView>>> {
    gate(&state, &headers, ALL_ROLES, true)?;
    let mut events = state.store.events()?;
    events.sort_by(|a, b| {
        b.event
            .heat
            .total_cmp(&a.event.heat)
            .then_with(|| b.event.last_seen_at.cmp(&a.event.last_seen_at))
    });
    let mut out = Vec::new();
    for e in &events {
        if out.len() >= q.limit.unwrap_or(usize::MAX) {
            break;
        }
        let v = views::event_view(&state.store, e)?;
        let ps: Vec<&str> = v
            .effective_priorities()
            .iter()
            .map(|p| p.as_str())
            .collect();
        if matches(
            q.priority.as_deref(),
            q.district.as_deref(),
            None,
            None,
            &ps,
            v.district.as_deref(),
            None,
            None,
        ) {
            out.push(v);
        }
    }
    Ok(Json(out))
}

#[derive(Serialize)]
pub struct EventDetail {
    event: views::EventView,
    items: Vec<views::ItemView>,
}

pub async fn event_detail(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<EventDetail>> {
    gate(&state, &headers, ALL_ROLES, true)?;
    let ev = state.store.event(&id)?.ok_or(ApiError::NotFound)?;
    let mut items = Vec::new();
    for doc_id in ev.event.recent_doc_ids.iter().rev() {
        if let Some(i) = state.store.item(doc_id)? {
            items.push(views::item_view(&i));
        }
    }
    if items.is_empty() {
        // An analyzer that does not list recent ids: look for the event's items among the
        // newest (bounded, so a cold event costs one short scan).
        items = state
            .store
            .latest_items(5_000)?
            .iter()
            .filter(|i| i.doc.event_id == id)
            .take(20)
            .map(views::item_view)
            .collect();
    }
    Ok(Json(EventDetail {
        event: views::event_view(&state.store, &ev)?,
        items,
    }))
}

#[derive(Debug, Deserialize)]
pub struct Judge {
    priorities: Vec<common::wire::Priority>,
    #[serde(default)]
    note: String,
}

/// The open cases of an event, as the read model knows them (normally one).
fn open_cases_of_event(state: &SharedState, event_id: &str) -> ApiResult<Vec<String>> {
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

/// 研判 of an event's categories: the desk confirms the machine's or sets its own. With a case,
/// it is the case's (`set_priorities`, audited by respond; the read model takes it from the
/// case event that comes back, answer 202). Without one, the read model keeps it (200).
pub async fn judge_event(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(req): Json<Judge>,
) -> ApiResult<Response> {
    let cur = gate_write(&state, &headers, DESK, None)?;
    let ev = state.store.event(&id)?.ok_or(ApiError::NotFound)?;
    let mut priorities = req.priorities;
    priorities.sort();
    priorities.dedup();
    let cases = open_cases_of_event(&state, &id)?;
    if !cases.is_empty() {
        let note = req.note.trim();
        let reason = if note.is_empty() {
            "研判确认"
        } else {
            note
        };
        for case_id in &cases {
            publish_command(
                &state,
                case_id,
                cur.actor(),
                CaseCommand::SetPriorities {
                    case_id: case_id.clone(),
                    priorities: priorities.clone(),
                    reason: reason.to_string(),
                },
            )
            .await?;
        }
        let view = views::event_view(&state.store, &ev)?;
        return Ok((StatusCode::ACCEPTED, Json(view)).into_response());
    }
    state.store.put_judgement(
        &id,
        &crate::store::Judgement {
            priorities,
            by: cur.user.name.clone(),
            at: state.ctx.clock.now(),
            note: req.note.trim().to_string(),
        },
    )?;
    let view = views::event_view(&state.store, &ev)?;
    if let Ok(m) = LiveMessage::for_event(&view) {
        let _ = state.live.send(m);
    }
    Ok(Json(view).into_response())
}

#[derive(Deserialize, Default)]
pub struct CaseQuery {
    /// `open` or `closed`.
    state: Option<String>,
    unit: Option<String>,
}

/// The cases `cur` may see: a unit account only its own unit's, everyone else all.
fn visible_cases(
    state: &SharedState,
    cur: Option<&crate::auth::Current>,
) -> ApiResult<Vec<views::CaseView>> {
    let now = state.ctx.clock.now();
    let own_unit = match cur {
        Some(c) if c.role() == Role::Unit => Some(c.user.unit_id.clone().unwrap_or_default()),
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

pub async fn cases(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<CaseQuery>,
) -> ApiResult<Json<Vec<views::CaseView>>> {
    let cur = gate(&state, &headers, ALL_ROLES, true)?;
    let out = visible_cases(&state, cur.as_ref())?
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

pub async fn case_detail(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseDetail>> {
    let cur = gate(&state, &headers, ALL_ROLES, true)?;
    let c = state.store.case(&id)?.ok_or(ApiError::NotFound)?;
    if let Some(cur) = &cur
        && cur.role() == Role::Unit
        && cur.user.unit_id.as_deref() != Some(c.case.owner.id.as_str())
    {
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

fn required(what: &str, v: &str) -> ApiResult<()> {
    if v.trim().is_empty() {
        Err(ApiError::BadRequest(format!("{what}不能为空")))
    } else {
        Ok(())
    }
}

pub async fn case_command(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(cmd): Json<UiCommand>,
) -> ApiResult<Response> {
    let cur = gate_write(
        &state,
        &headers,
        &[Role::Desk, Role::Unit, Role::Admin],
        None,
    )?;
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
    let command = match cmd {
        UiCommand::Acknowledge => CaseCommand::Acknowledge {
            case_id: id.clone(),
        },
        UiCommand::Respond {
            kind,
            at,
            evidence_url,
            text,
        } => {
            let evidence_url = evidence_url.filter(|u| !u.trim().is_empty());
            if let Some(u) = &evidence_url
                && views::safe_link(Some(u)).is_none()
            {
                return Err(ApiError::BadRequest("证据链接须为 http(s) 地址".into()));
            }
            if text.trim().is_empty() && evidence_url.is_none() {
                return Err(ApiError::BadRequest("请填写回应内容或证据链接".into()));
            }
            let at = at.unwrap_or(now);
            if at > now + Duration::minutes(5) {
                return Err(ApiError::BadRequest("回应时间不能晚于现在".into()));
            }
            CaseCommand::RecordResponse {
                case_id: id.clone(),
                kind,
                at,
                evidence_url,
                text,
            }
        }
        UiCommand::Dispute { reason } => {
            required("异议理由", &reason)?;
            CaseCommand::Dispute {
                case_id: id.clone(),
                reason,
            }
        }
        UiCommand::Reassign {
            owner_unit_id,
            reason,
        } => {
            required("责任单位", &owner_unit_id)?;
            CaseCommand::Reassign {
                case_id: id.clone(),
                owner_unit_id,
                reason,
            }
        }
        UiCommand::Severity { severity, reason } => CaseCommand::ChangeSeverity {
            case_id: id.clone(),
            severity,
            reason: if reason.trim().is_empty() {
                "研判确认".into()
            } else {
                reason
            },
        },
        UiCommand::Disposition { disposition } => CaseCommand::SetDisposition {
            case_id: id.clone(),
            disposition,
        },
        UiCommand::Close { reason } => {
            required("办结说明", &reason)?;
            CaseCommand::Close {
                case_id: id.clone(),
                reason,
            }
        }
        UiCommand::Reopen { reason } => {
            required("重新打开理由", &reason)?;
            CaseCommand::Reopen {
                case_id: id.clone(),
                reason,
            }
        }
    };
    send_command(&state, &id, cur.actor(), command).await
}

async fn send_command(
    state: &SharedState,
    key: &str,
    actor: common::wire::Actor,
    command: CaseCommand,
) -> ApiResult<Response> {
    let message_id = publish_command(state, key, actor, command).await?;
    // Accepted, not applied: the case changes when the respond stage publishes its case event.
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "message_id": message_id })),
    )
        .into_response())
}

/// Publish one command to respond, keyed by `key` (the case id, or the event id of an open);
/// returns its message id.
async fn publish_command(
    state: &SharedState,
    key: &str,
    actor: common::wire::Actor,
    command: CaseCommand,
) -> ApiResult<String> {
    let message_id = new_message_id();
    let env = Envelope::new(
        message_id.clone(),
        state.ctx.clock.now(),
        CaseCommandRequest { actor, command },
    );
    publish(state.ctx.bus.as_ref(), topics::CASE_COMMANDS, key, &env)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    state
        .metrics
        .commands_published
        .fetch_add(1, Ordering::Relaxed);
    Ok(message_id)
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

pub async fn open_case(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Json(req): Json<OpenCase>,
) -> ApiResult<Response> {
    let cur = gate_write(&state, &headers, DESK, None)?;
    required("标题", &req.title)?;
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

/// Mark an item as notified by the cyberspace office (网信部门通报): its event's open case gets
/// `mark_notified`; an event without a case gets one opened with the flag (respond marks the
/// event's case instead if it opened one meanwhile). Respond then tracks the reply deadline.
pub async fn notify_item(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(doc_id): Path<String>,
) -> ApiResult<Response> {
    let cur = gate_write(&state, &headers, DESK, None)?;
    let item = state.store.item(&doc_id)?.ok_or(ApiError::NotFound)?;
    let now = state.ctx.clock.now();
    let event_id = item.doc.event_id.clone();
    let cases = open_cases_of_event(&state, &event_id)?;
    let mut message_ids = Vec::new();
    if cases.is_empty() {
        // The response clock keeps running from the event's (or the item's) first detection.
        let detected_at = state
            .store
            .event(&event_id)?
            .map_or(item.doc.detected_at, |ev| ev.event.first_detected_at);
        let title = if item.doc.title.trim().is_empty() {
            item.doc.summary.chars().take(60).collect()
        } else {
            item.doc.title.clone()
        };
        let command = CaseCommand::Open {
            event_id: Some(event_id.clone()),
            title,
            severity: None,
            owner_unit_id: None,
            detected_at: Some(detected_at),
            notified_by_cyberspace_office: true,
        };
        message_ids.push(publish_command(&state, &event_id, cur.actor(), command).await?);
    }
    for case_id in &cases {
        let command = CaseCommand::MarkNotified {
            case_id: case_id.clone(),
            notified_at: Some(now),
            note: format!("条目 {doc_id}"),
        };
        message_ids.push(publish_command(&state, case_id, cur.actor(), command).await?);
    }
    state.store.mark_notified(&doc_id, now)?;
    if let Some(item) = state.store.item(&doc_id)? {
        // Other desks see the mark at once.
        if let Ok(m) = LiveMessage::for_item(&item) {
            let _ = state.live.send(m);
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "ok": true, "message_ids": message_ids })),
    )
        .into_response())
}

async fn publish_raw(state: &SharedState, raw: RawDocument) -> ApiResult<()> {
    let env = Envelope::new(raw.doc_id.clone(), state.ctx.clock.now(), raw);
    publish(
        state.ctx.bus.as_ref(),
        topics::RAW_DOCUMENTS,
        &env.payload.source_id,
        &env,
    )
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    state
        .metrics
        .commands_published
        .fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct Intake {
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    reported_by_unit: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// An emergency a unit reports before it spreads online (七.3): it enters the pipeline like a
/// crawled item, flagged so propaganda and cyberspace desks are notified.
pub async fn intake(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Json(req): Json<Intake>,
) -> ApiResult<Response> {
    let cur = gate_write(
        &state,
        &headers,
        &[Role::Desk, Role::Unit, Role::Admin],
        None,
    )?;
    required("标题", &req.title)?;
    // A unit reports in its own name only; the desk records on behalf of the named unit.
    let unit = if cur.role() == Role::Unit {
        cur.user.unit_id.clone()
    } else {
        req.reported_by_unit.filter(|u| !u.trim().is_empty())
    };
    let unit = unit.ok_or_else(|| ApiError::BadRequest("请选择报送单位".into()))?;
    let url = req.url.filter(|u| !u.trim().is_empty());
    if url.is_some() && views::safe_link(url.as_deref()).is_none() {
        return Err(ApiError::BadRequest("链接须为 http(s) 地址".into()));
    }
    let district = req.district.filter(|d| !d.trim().is_empty());
    let mut body = req.body.trim().to_string();
    if let Some(d) = &district
        && !body.contains(d.as_str())
        && !req.title.contains(d.as_str())
    {
        // The analyzer finds places in the text; name the district so the owner rule applies.
        body = format!("（{d}）{body}");
    }
    let now = state.ctx.clock.now();
    let doc_id = format!("intake:{}", new_message_id());
    let raw = RawDocument {
        doc_id: doc_id.clone(),
        source_id: "unit-intake".into(),
        source_kind: SourceKind::Manual,
        url,
        title: req.title.trim().to_string(),
        body,
        published_at: Some(now),
        fetched_at: now,
        author: Some(cur.user.name.clone()),
        site_name: Some("单位报送".into()),
        tags: district.into_iter().collect(),
        source_weight: 1.0,
        flags: DocFlags {
            notified_by_cyberspace_office: false,
            reported_by_unit: Some(unit),
            manual: true,
        },
        ..RawDocument::default()
    };
    publish_raw(&state, raw).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "doc_id": doc_id })),
    )
        .into_response())
}

pub async fn stats(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    gate(&state, &headers, ALL_ROLES, true)?;
    let (items, events, cases) = state.store.counts();
    Ok(Json(
        serde_json::json!({ "items": items, "events": events, "cases": cases }),
    ))
}

#[derive(Serialize, Clone)]
pub struct DistrictCell {
    district: String,
    items_24h: u64,
    negative_24h: u64,
    events_active: u64,
    max_heat: f64,
    open_cases: u64,
    breached_cases: u64,
}

/// How long one computation of the district grid is shared by every viewer: it scans a day of
/// items, and a hundred open desks should not each do that on every case change.
const DISTRICTS_TTL: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn districts(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<DistrictCell>>> {
    gate(&state, &headers, ALL_ROLES, true)?;
    let cached = state
        .metrics
        .districts_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|(at, _)| at.elapsed() < DISTRICTS_TTL)
        .map(|(_, cells)| cells.clone());
    if let Some(cells) = cached {
        return Ok(Json(cells));
    }
    let cells = compute_districts(&state)?;
    *state
        .metrics
        .districts_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), cells.clone()));
    Ok(Json(cells))
}

fn compute_districts(state: &SharedState) -> ApiResult<Vec<DistrictCell>> {
    let now = state.ctx.clock.now();
    let since = now - Duration::hours(24);
    let mut cells: Vec<DistrictCell> = state
        .config
        .ui
        .districts
        .iter()
        .map(|d| DistrictCell {
            district: d.clone(),
            items_24h: 0,
            negative_24h: 0,
            events_active: 0,
            max_heat: 0.0,
            open_cases: 0,
            breached_cases: 0,
        })
        .collect();
    // Recent items only: the newest-first scan stops soon after the first item older than a day.
    for item in state
        .store
        .recent_items(since, Duration::hours(1), 200_000)?
    {
        if let Some(c) = crate::store::county_of(&item.doc.jurisdiction)
            .and_then(|d| cells.iter_mut().find(|c| c.district == d))
        {
            c.items_24h += 1;
            if item.doc.sentiment.label == common::wire::SentimentLabel::Negative {
                c.negative_24h += 1;
            }
        }
    }
    for ev in state.store.events()? {
        if ev.event.last_seen_at < since {
            continue;
        }
        if let Some(c) = crate::store::county_of(&ev.event.jurisdiction)
            .and_then(|d| cells.iter_mut().find(|c| c.district == d))
        {
            c.events_active += 1;
            c.max_heat = c.max_heat.max(ev.event.heat);
        }
    }
    for case in state.store.cases()? {
        if !case.case.state.is_open() {
            continue;
        }
        // Locality governments are named after their locality (南明区人民政府).
        if let Some(c) = cells
            .iter_mut()
            .find(|c| case.case.owner.name.contains(c.district.as_str()))
        {
            c.open_cases += 1;
            let v = views::case_view(&case, now, state.config.ui.near_due_minutes);
            if v.status == views::DueStatus::Breached {
                c.breached_cases += 1;
            }
        }
    }
    Ok(cells)
}

pub async fn units(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<common::wire::UnitRef>>> {
    gate(&state, &headers, ALL_ROLES, false)?;
    Ok(Json(state.store.units()?))
}

/// The (stage, group, topic) pairs whose lag the ops page shows.
const LAG_WATCH: &[(&str, &str, &str)] = &[
    ("analyze", topics::groups::ANALYZE, topics::RAW_DOCUMENTS),
    ("respond", topics::groups::RESPOND, topics::EVENT_UPDATES),
    ("respond", topics::groups::RESPOND, topics::CASE_COMMANDS),
    (
        "dashboards",
        topics::groups::DASHBOARDS,
        topics::ANALYZED_DOCUMENTS,
    ),
    (
        "dashboards",
        topics::groups::DASHBOARDS,
        topics::EVENT_UPDATES,
    ),
    (
        "dashboards",
        topics::groups::DASHBOARDS,
        topics::CASE_EVENTS,
    ),
    (
        "dashboards",
        topics::groups::DASHBOARDS,
        topics::SOURCE_HEALTH,
    ),
];

#[derive(Serialize)]
pub struct LagRow {
    stage: &'static str,
    group: &'static str,
    topic: &'static str,
    lag: Option<u64>,
    error: Option<String>,
}

async fn lag_rows(state: &SharedState) -> Vec<LagRow> {
    let mut rows = Vec::new();
    for (stage, group, topic) in LAG_WATCH {
        let r = state.ctx.bus.lag(topic, group).await;
        rows.push(LagRow {
            stage,
            group,
            topic,
            lag: r.as_ref().ok().copied().flatten(),
            error: r.err().map(|e| e.to_string()),
        });
    }
    rows
}

#[derive(Serialize)]
pub struct SourceRow {
    #[serde(flatten)]
    health: common::wire::SourceHealth,
    ok: bool,
}

pub async fn ops(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    gate(&state, &headers, DESK, false)?;
    let mut sources: Vec<SourceRow> = state
        .store
        .sources()?
        .into_iter()
        .map(|h| SourceRow {
            ok: h.consecutive_failures == 0,
            health: h,
        })
        .collect();
    sources.sort_by(|a, b| {
        b.health
            .consecutive_failures
            .cmp(&a.health.consecutive_failures)
            .then_with(|| a.health.source_id.cmp(&b.health.source_id))
    });
    let (items, events, cases) = state.store.counts();
    Ok(Json(serde_json::json!({
        "sources": sources,
        "lag": lag_rows(&state).await,
        "counts": { "items": items, "events": events, "cases": cases },
        "sse_viewers": state.metrics.sse_viewers.load(Ordering::Relaxed),
    })))
}

/// Prometheus text format. Left unauthenticated like `/healthz`: it holds counts, not content.
pub async fn metrics(State(state): State<SharedState>) -> Response {
    use std::fmt::Write;
    let mut out = String::new();
    let (items, events, cases) = state.store.counts();
    let m = &state.metrics;
    let _ = writeln!(
        out,
        "# HELP yuqing_dashboards_items Distinct analyzed items in the read model.\n# TYPE yuqing_dashboards_items gauge\nyuqing_dashboards_items {items}"
    );
    let _ = writeln!(
        out,
        "# HELP yuqing_dashboards_events Events in the read model.\n# TYPE yuqing_dashboards_events gauge\nyuqing_dashboards_events {events}"
    );
    let _ = writeln!(
        out,
        "# HELP yuqing_dashboards_cases Cases in the read model.\n# TYPE yuqing_dashboards_cases gauge\nyuqing_dashboards_cases {cases}"
    );
    let _ = writeln!(
        out,
        "# HELP yuqing_dashboards_http_requests_total HTTP requests served.\n# TYPE yuqing_dashboards_http_requests_total counter\nyuqing_dashboards_http_requests_total {}",
        m.requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP yuqing_dashboards_live_viewers Open live-stream connections.\n# TYPE yuqing_dashboards_live_viewers gauge\nyuqing_dashboards_live_viewers {}",
        m.sse_viewers.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP yuqing_dashboards_commands_published_total Commands and intake documents published.\n# TYPE yuqing_dashboards_commands_published_total counter\nyuqing_dashboards_commands_published_total {}",
        m.commands_published.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP yuqing_dashboards_messages_total Bus messages applied, by topic.\n# TYPE yuqing_dashboards_messages_total counter"
    );
    for (topic, n) in m.messages.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "yuqing_dashboards_messages_total{{topic=\"{topic}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP yuqing_consumer_lag Messages not yet acknowledged by a consumer group.\n# TYPE yuqing_consumer_lag gauge"
    );
    for row in lag_rows(&state).await {
        if let Some(lag) = row.lag {
            let _ = writeln!(
                out,
                "yuqing_consumer_lag{{stage=\"{}\",group=\"{}\",topic=\"{}\"}} {lag}",
                row.stage, row.group, row.topic
            );
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    /// Any day inside the period, `YYYY-MM-DD` in local time; default today.
    pub date: Option<String>,
}

pub fn build_report(
    state: &SharedState,
    period: &str,
    q: &ReportQuery,
) -> ApiResult<reports::Report> {
    let period = Period::parse(period).ok_or(ApiError::NotFound)?;
    let offset = state.config.ui.utc_offset_hours;
    let now = state.ctx.clock.now();
    let day = match q.date.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| ApiError::BadRequest("日期格式应为 YYYY-MM-DD".into()))?,
        None => reports::local_date(now, offset),
    };
    Ok(reports::build(
        &state.store,
        period,
        day,
        offset,
        now,
        state.config.ui.near_due_minutes,
    )?)
}

pub async fn report(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(period): Path<String>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<reports::Report>> {
    gate(&state, &headers, STAFF, false)?;
    Ok(Json(build_report(&state, &period, &q)?))
}

fn download(bytes: Vec<u8>, mime: &'static str, filename: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// The download formats of a report.
#[derive(Clone, Copy)]
enum FileFormat {
    Docx,
    Xlsx,
}

impl FileFormat {
    /// The format a file name ends in (`report.docx`, `daily-2026-11-25.xlsx`).
    fn of(name: &str) -> Option<Self> {
        if name.ends_with(".docx") {
            Some(FileFormat::Docx)
        } else if name.ends_with(".xlsx") {
            Some(FileFormat::Xlsx)
        } else {
            None
        }
    }

    fn ext(self) -> &'static str {
        match self {
            FileFormat::Docx => "docx",
            FileFormat::Xlsx => "xlsx",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            FileFormat::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    fn render(self, r: &reports::Report) -> Result<Vec<u8>, crate::Error> {
        match self {
            FileFormat::Docx => export::docx(r),
            FileFormat::Xlsx => export::xlsx(r),
        }
    }
}

/// `/reports/{period}/report.docx` and `/reports/{period}/report.xlsx`.
pub async fn report_file(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((period, file)): Path<(String, String)>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let format = file
        .strip_prefix("report.")
        .and_then(|_| FileFormat::of(&file))
        .ok_or(ApiError::NotFound)?;
    gate(&state, &headers, STAFF, false)?;
    let r = build_report(&state, &period, &q)?;
    let bytes = format.render(&r)?;
    Ok(download(
        bytes,
        format.mime(),
        format!("yuqing-{}-{}.{}", r.period, r.start_date, format.ext()),
    ))
}

#[derive(Serialize)]
pub struct ArchiveEntry {
    name: String,
    url: String,
    bytes: u64,
}

/// The scheduled daily reports kept on disk, newest first.
pub async fn archive(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<ArchiveEntry>>> {
    gate(&state, &headers, STAFF, false)?;
    let dir = crate::schedule::archive_dir(&state)?;
    let mut out = Vec::new();
    let mut rd = tokio::fs::read_dir(&dir)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    while let Some(e) = rd
        .next_entry()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if crate::schedule::is_archive_name(&name) {
            let bytes = e.metadata().await.map(|m| m.len()).unwrap_or(0);
            out.push(ArchiveEntry {
                url: format!("/reports/archive/{name}"),
                name,
                bytes,
            });
        }
    }
    out.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(Json(out))
}

pub async fn archive_file(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    gate(&state, &headers, STAFF, false)?;
    if !crate::schedule::is_archive_name(&name) {
        return Err(ApiError::NotFound);
    }
    let path = crate::schedule::archive_dir(&state)?.join(&name);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::NotFound)?;
    // `is_archive_name` admits only the two formats.
    let format = FileFormat::of(&name).ok_or(ApiError::NotFound)?;
    Ok(download(bytes, format.mime(), name))
}
