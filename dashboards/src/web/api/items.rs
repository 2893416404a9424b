//! Analyzed items: the newest-first list and marking an item 网信部门通报.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::wire::CaseCommand;

use super::{ApiResult, ListQuery, cases, matches, publish_command};
use crate::audience::Reader;
use crate::feed::LiveMessage;
use crate::store::StoredItem;
use crate::web::ApiError;
use crate::web::access::{Caller, SignedIn};
use crate::{SharedState, views};

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

pub async fn list(
    State(state): State<SharedState>,
    Caller(cur): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<views::ItemView>>> {
    let reader = Reader::of(&state.store, &state.config.auth, cur.as_ref())?;
    let limit = q
        .limit
        .unwrap_or(state.config.ui.items_default_limit)
        .min(state.config.ui.items_max_limit);
    let candidates = match reader.only_events() {
        // A unit limited to its own cases: the items behind them, newest first.
        Some(events) => items_of_events(&state, events)?,
        None => {
            let filtered = q.priority.is_some()
                || q.district.is_some()
                || q.source.is_some()
                || q.sentiment.is_some();
            // With a filter, look further back so a rare category still fills the page
            // (bounded); anonymous readers skip the rare internal items (manual intake).
            let scan = if filtered {
                limit.saturating_mul(20)
            } else if matches!(reader, Reader::Public) {
                limit.saturating_mul(2)
            } else {
                limit
            };
            state.store.latest_items(scan)?
        }
    };
    let out = candidates
        .iter()
        .filter(|i| q.matches_item(i))
        .map(views::item_view)
        .filter(|v| reader.sees_item(v))
        .take(limit)
        .map(|v| reader.item(v))
        .collect();
    Ok(Json(out))
}

/// The stored items of these events, newest first: each event lists its recent items; for an
/// analyzer that does not, one bounded scan of the newest items looks for them.
fn items_of_events(
    state: &SharedState,
    events: &std::collections::HashSet<String>,
) -> ApiResult<Vec<StoredItem>> {
    let mut out = Vec::new();
    let mut unlisted = false;
    for event_id in events {
        let Some(ev) = state.store.event(event_id)? else {
            unlisted = true;
            continue;
        };
        unlisted |= ev.event.recent_doc_ids.is_empty();
        for doc_id in &ev.event.recent_doc_ids {
            if let Some(i) = state.store.item(doc_id)? {
                out.push(i);
            }
        }
    }
    if unlisted {
        let newest = state.store.latest_items(5_000)?;
        out.extend(
            newest
                .into_iter()
                .filter(|i| events.contains(&i.doc.event_id)),
        );
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.seq));
    out.dedup_by(|a, b| a.doc.doc_id == b.doc.doc_id);
    Ok(out)
}

/// Mark an item as notified by the cyberspace office (网信部门通报): its event's open case gets
/// `mark_notified`; an event without a case gets one opened with the flag (respond marks the
/// event's case instead if it opened one meanwhile). Respond then tracks the reply deadline.
pub async fn notify(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Path(doc_id): Path<String>,
) -> ApiResult<Response> {
    let item = state.store.item(&doc_id)?.ok_or(ApiError::NotFound)?;
    let now = state.ctx.clock.now();
    let event_id = item.doc.event_id.clone();
    let cases = cases::open_cases_of_event(&state, &event_id)?;
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

/// The sources the stream can be filtered by, by outlet name (the filter sends the id).
pub async fn sources(
    State(state): State<SharedState>,
    Caller(_): Caller,
) -> ApiResult<Json<Vec<crate::store::SourceRef>>> {
    Ok(Json(state.store.source_list()?))
}
