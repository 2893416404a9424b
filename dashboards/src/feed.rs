//! Consumes the topics the dashboards show into the read model and announces every real change
//! on the live stream. Acknowledgement happens only after the sled write (the shared consume loop
//! acks after the handler returns), so a crash means redelivery, which the store absorbs.

use std::sync::Arc;

use common::bus::{HandlerError, consume};
use common::topics;
use common::wire::{AnalyzedDocument, CaseEvent, EventUpdate, SourceHealth};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::store::Applied;
use crate::{Error, SharedState, views};

/// One change pushed to live viewers; `json` is serialized once and shared by every viewer.
#[derive(Debug, Clone)]
pub struct LiveMessage {
    /// SSE event name: `item`, `event`, `case` or `source`.
    pub kind: &'static str,
    /// What the message is about (doc, event, case or source id): a viewer that falls behind
    /// only gets the latest message per id.
    pub id: Arc<str>,
    pub json: Arc<str>,
    /// What viewers filter on (items only; other kinds pass every filter).
    pub priorities: Vec<&'static str>,
    pub district: Option<String>,
    pub source: Option<String>,
    pub sentiment: Option<&'static str>,
    /// Owning unit (cases only), so a unit viewer only hears about its own cases.
    pub owner_unit: Option<String>,
}

impl LiveMessage {
    /// An item as live viewers get it, with the fields their filters look at.
    pub fn for_item(item: &crate::store::StoredItem) -> Result<LiveMessage, HandlerError> {
        let view = views::live_item(item);
        let mut msg = LiveMessage::new("item", &item.doc.doc_id, &view)?;
        msg.priorities = view.priority_keys.clone();
        msg.district = view.district.clone();
        msg.source = Some(item.doc.source_id.clone());
        msg.sentiment = Some(view.sentiment_label);
        Ok(msg)
    }

    fn new<T: Serialize>(
        kind: &'static str,
        id: &str,
        body: &T,
    ) -> Result<LiveMessage, HandlerError> {
        let json =
            serde_json::to_string(body).map_err(|e| HandlerError::Permanent(e.to_string()))?;
        Ok(LiveMessage {
            kind,
            id: id.into(),
            json: json.into(),
            priorities: Vec::new(),
            district: None,
            source: None,
            sentiment: None,
            owner_unit: None,
        })
    }
}

fn retryable(e: Error) -> HandlerError {
    if e.is_retryable() {
        HandlerError::Retryable(e.to_string())
    } else {
        HandlerError::Permanent(e.to_string())
    }
}

/// Start one consumer task per topic. They stop when `shutdown` is cancelled.
pub async fn spawn(
    state: SharedState,
    shutdown: common::Shutdown,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let bus = state.ctx.bus.clone();
    bus.ensure_topics(&[
        topics::ANALYZED_DOCUMENTS,
        topics::EVENT_UPDATES,
        topics::CASE_EVENTS,
        topics::SOURCE_HEALTH,
        topics::CASE_COMMANDS,
        topics::RAW_DOCUMENTS,
    ])
    .await?;
    let mut tasks = Vec::new();

    let s = state.clone();
    tasks.push(task(
        consume::<AnalyzedDocument, _, _>(
            bus.clone(),
            topics::ANALYZED_DOCUMENTS,
            topics::groups::DASHBOARDS,
            shutdown.clone(),
            move |env| {
                let s = s.clone();
                async move {
                    let (applied, item) = s.store.apply_item(env.payload).map_err(retryable)?;
                    s.metrics.count_message("analyzed_documents");
                    if applied != Applied::Unchanged {
                        // No viewers is fine: the send only fails when nobody listens.
                        let _ = s.live.send(LiveMessage::for_item(&item)?);
                    }
                    Ok(())
                }
            },
        ),
        "analyzed documents",
    ));

    let s = state.clone();
    tasks.push(task(
        consume::<EventUpdate, _, _>(
            bus.clone(),
            topics::EVENT_UPDATES,
            topics::groups::DASHBOARDS,
            shutdown.clone(),
            move |env| {
                let s = s.clone();
                async move {
                    let (applied, ev) = s.store.apply_event(env.payload).map_err(retryable)?;
                    s.metrics.count_message("event_updates");
                    if applied != Applied::Unchanged {
                        let case_ids = s
                            .store
                            .cases_of_event(&ev.event.event_id)
                            .map_err(retryable)?;
                        let view = views::event_view_with(&ev, case_ids);
                        let mut msg = LiveMessage::new("event", &ev.event.event_id, &view)?;
                        msg.district = view.district.clone();
                        let _ = s.live.send(msg);
                    }
                    Ok(())
                }
            },
        ),
        "event updates",
    ));

    let s = state.clone();
    tasks.push(task(
        consume::<CaseEvent, _, _>(
            bus.clone(),
            topics::CASE_EVENTS,
            topics::groups::DASHBOARDS,
            shutdown.clone(),
            move |env| {
                let s = s.clone();
                async move {
                    let (applied, case) =
                        s.store.apply_case_event(env.payload).map_err(retryable)?;
                    s.metrics.count_message("case_events");
                    if applied != Applied::Unchanged {
                        let now = s.ctx.clock.now();
                        let view = views::case_view(&case, now, s.config.ui.near_due_minutes);
                        let mut msg = LiveMessage::new("case", &case.case.case_id, &view)?;
                        msg.owner_unit = Some(case.case.owner.id.clone());
                        let _ = s.live.send(msg);
                    }
                    Ok(())
                }
            },
        ),
        "case events",
    ));

    let s = state.clone();
    tasks.push(task(
        consume::<SourceHealth, _, _>(
            bus.clone(),
            topics::SOURCE_HEALTH,
            topics::groups::DASHBOARDS,
            shutdown.clone(),
            move |env| {
                let s = s.clone();
                async move {
                    let h = env.payload;
                    let applied = s.store.apply_source_health(h.clone()).map_err(retryable)?;
                    s.metrics.count_message("source_health");
                    if applied != Applied::Unchanged {
                        let _ = s.live.send(LiveMessage::new("source", &h.source_id, &h)?);
                    }
                    Ok(())
                }
            },
        ),
        "source health",
    ));
    Ok(tasks)
}

fn task(
    fut: impl std::future::Future<Output = Result<(), common::BusError>> + Send + 'static,
    what: &'static str,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            tracing::error!(feed = what, error = %e, "dashboard feed stopped");
        }
    })
}
