//! Events (舆情事件): the hottest-first list, one event with its items, and the category 研判.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::topics;
use common::wire::{CaseCommand, Correction, CorrectionField, Envelope, Priority, new_message_id};
use serde::{Deserialize, Serialize};

use super::{ApiResult, ListQuery, cases, matches, publish_command, publish_counted};
use crate::audience::Reader;
use crate::feed::LiveMessage;
use crate::web::ApiError;
use crate::web::access::{Caller, SignedIn};
use crate::{SharedState, views};

pub async fn list(
    State(state): State<SharedState>,
    Caller(cur): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<views::EventView>>> {
    let reader = Reader::of(&state.store, &state.config.auth, cur.as_ref())?;
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
        if reader
            .only_events()
            .is_some_and(|own| !own.contains(&e.event.event_id))
        {
            continue;
        }
        let v = views::event_view(&state.store, e)?;
        if !reader.sees_event(&v) {
            continue;
        }
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
            out.push(reader.event(v));
        }
    }
    Ok(Json(out))
}

#[derive(Serialize)]
pub struct EventDetail {
    event: views::EventView,
    items: Vec<views::ItemView>,
}

pub async fn detail(
    State(state): State<SharedState>,
    Caller(cur): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<EventDetail>> {
    let reader = Reader::of(&state.store, &state.config.auth, cur.as_ref())?;
    let ev = state.store.event(&id)?.ok_or(ApiError::NotFound)?;
    let event = views::event_view(&state.store, &ev)?;
    if !reader.sees_event(&event) {
        // The same answer as a missing event.
        return Err(ApiError::NotFound);
    }
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
        event: reader.event(event),
        items: items
            .into_iter()
            .filter(|i| reader.sees_item(i))
            .map(|i| reader.item(i))
            .collect(),
    }))
}

/// The fields an event's category 研判 settles for each of its items, as corrections the
/// analyzers learn from: emergency or not, false information or not. A confirmation teaches as
/// much as an override (a model fed only its mistakes would learn to distrust itself).
async fn publish_corrections(
    state: &SharedState,
    by: &str,
    doc_ids: &[String],
    priorities: &[Priority],
) -> ApiResult<()> {
    let at = state.ctx.clock.now();
    for doc_id in doc_ids {
        let Some(item) = state.store.item(doc_id)? else {
            continue;
        };
        let d = &item.doc;
        for (field, priority) in [
            (CorrectionField::Emergency, Priority::Emergency),
            (CorrectionField::FalseInfo, Priority::FalseInfo),
        ] {
            let c = Correction {
                item_id: d.doc_id.clone(),
                field,
                value: priorities.contains(&priority).into(),
                text: d.summary.clone(),
                title: (!d.title.is_empty()).then(|| d.title.clone()),
                source: d.site_name.clone(),
                source_kind: d.source_kind,
                by: Some(by.to_string()),
                origin: None,
                at,
                withdrawn: false,
            };
            let env = Envelope::new(new_message_id(), at, &c);
            publish_counted(state, topics::CORRECTIONS, &c.key(), &env).await?;
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct Judge {
    priorities: Vec<common::wire::Priority>,
    #[serde(default)]
    note: String,
}

/// 研判 of an event's categories: the desk confirms the machine's or sets its own. With a case,
/// it is the case's (`set_priorities`, audited by respond; the read model takes it from the
/// case event that comes back, answer 202). Without one, the read model keeps it (200).
pub async fn judge(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Path(id): Path<String>,
    Json(req): Json<Judge>,
) -> ApiResult<Response> {
    let ev = state.store.event(&id)?.ok_or(ApiError::NotFound)?;
    common::commands::limited_text("研判意见", &req.note, common::commands::REASON_MAX_CHARS)
        .map_err(|r| ApiError::Invalid(r.0))?;
    let mut priorities = req.priorities;
    priorities.sort();
    priorities.dedup();
    // First, so a 研判 that could not teach the analyzers is not half done.
    publish_corrections(
        &state,
        &cur.user.name,
        &ev.event.recent_doc_ids,
        &priorities,
    )
    .await?;
    let cases = cases::open_cases_of_event(&state, &id)?;
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
