//! Consumes the topics the dashboards show into the read model and announces every real change
//! on the live stream. Acknowledgement happens only after the sled write (the shared consume loop
//! acks after the handler returns), so a crash means redelivery, which the store absorbs.

use std::sync::Arc;

use common::bus::{HandlerError, consume};
use common::topics;
use common::wire::{
    AnalyzedDocument, CaseEvent, CommandResult, EventUpdate, SourceHealth, UnitRegistry,
};
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
    /// The body for viewers who are not staff (see [`crate::audience`]); `None`: not for them.
    pub public_json: Option<Arc<str>>,
    /// The event an item or event message is about, for unit viewers limited to their cases.
    pub event_id: Option<Arc<str>>,
    /// What viewers filter on (items only; other kinds pass every filter).
    pub priorities: Vec<&'static str>,
    pub district: Option<String>,
    pub source: Option<String>,
    pub sentiment: Option<&'static str>,
    /// Owning unit (cases only), so a unit viewer only hears about its own cases.
    pub owner_unit: Option<String>,
}

impl LiveMessage {
    pub fn for_event(view: &views::EventView) -> Result<LiveMessage, HandlerError> {
        let mut msg = LiveMessage::new("event", &view.event.event_id, view)?;
        msg.district = view.district.clone();
        msg.event_id = Some(view.event.event_id.as_str().into());
        if crate::audience::is_public(&view.event.flags) {
            msg.public_json = Some(to_json(&crate::audience::public_event(view.clone()))?.into());
        }
        Ok(msg)
    }

    /// An item as live viewers get it, with the fields their filters look at.
    pub fn for_item(item: &crate::store::StoredItem) -> Result<LiveMessage, HandlerError> {
        let view = views::live_item(item);
        let mut msg = LiveMessage::new("item", &item.doc.doc_id, &view)?;
        msg.priorities = view.priority_keys.clone();
        msg.district = view.district.clone();
        msg.source = Some(item.doc.source_id.clone());
        msg.sentiment = Some(view.sentiment_label);
        msg.event_id = Some(view.event_id.as_str().into());
        if let Some(public) = crate::audience::public_live_item(&view) {
            msg.public_json = Some(to_json(&public)?.into());
        }
        Ok(msg)
    }

    fn new<T: Serialize>(
        kind: &'static str,
        id: &str,
        body: &T,
    ) -> Result<LiveMessage, HandlerError> {
        Ok(LiveMessage::with_json(kind, id, &to_json(body)?))
    }

    /// A message with its body already serialized and nothing to filter on.
    pub(crate) fn with_json(kind: &'static str, id: &str, json: &str) -> LiveMessage {
        LiveMessage {
            kind,
            id: id.into(),
            json: json.into(),
            public_json: None,
            event_id: None,
            priorities: Vec::new(),
            district: None,
            source: None,
            sentiment: None,
            owner_unit: None,
        }
    }
}

fn to_json<T: Serialize>(body: &T) -> Result<String, HandlerError> {
    serde_json::to_string(body).map_err(|e| HandlerError::Permanent(e.to_string()))
}

/// The write must be on disk before the consume loop acknowledges the message: an ack that
/// outlives a lost write would drop the item from the screens for good after a kill. sled
/// coalesces concurrent flushes, so the four feeds share their fsyncs.
async fn durable(s: &SharedState) -> Result<(), HandlerError> {
    s.store.flush().await.map_err(retryable)
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
    // Creating topics is a courtesy (the producers create them too): a broker that refuses it
    // must not keep the dashboards from serving what they already hold.
    if let Err(e) = state
        .ctx
        .bus
        .ensure_topics(&[
            topics::ANALYZED_DOCUMENTS,
            topics::EVENT_UPDATES,
            topics::CASE_EVENTS,
            topics::SOURCE_HEALTH,
            topics::CASE_COMMANDS,
            topics::RAW_DOCUMENTS,
            topics::NOTIFICATIONS,
            topics::UNIT_REGISTRY,
            topics::COMMAND_RESULTS,
        ])
        .await
    {
        tracing::warn!(error = %e, "cannot ensure topics");
    }
    Ok(vec![
        supervise(&state, &shutdown, topics::ANALYZED_DOCUMENTS, on_item),
        supervise(&state, &shutdown, topics::EVENT_UPDATES, on_event),
        supervise(&state, &shutdown, topics::CASE_EVENTS, on_case_event),
        supervise(&state, &shutdown, topics::SOURCE_HEALTH, on_source_health),
        supervise(&state, &shutdown, topics::UNIT_REGISTRY, on_unit_registry),
        supervise(
            &state,
            &shutdown,
            topics::COMMAND_RESULTS,
            on_command_result,
        ),
    ])
}

/// Run the consume loop for `topic`; when the bus fails (broker gone, subscription refused),
/// start it again with backoff instead of leaving the screens silently stale.
fn supervise<T, F, Fut>(
    state: &SharedState,
    shutdown: &common::Shutdown,
    topic: &'static str,
    handler: F,
) -> JoinHandle<()>
where
    T: serde::de::DeserializeOwned + Clone + Send + 'static,
    F: Fn(SharedState, common::Envelope<T>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let (state, shutdown) = (state.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut attempt = 0u32;
        loop {
            let (s, h) = (state.clone(), handler.clone());
            let run = consume::<T, _, _>(
                state.ctx.bus.clone(),
                topic,
                topics::groups::DASHBOARDS,
                shutdown.clone(),
                move |env| h(s.clone(), env),
            )
            .await;
            match run {
                Ok(()) => return,
                Err(e) => {
                    attempt += 1;
                    tracing::error!(topic, attempt, error = %e, "dashboard feed failed, restarting");
                    let wait =
                        std::time::Duration::from_millis((200u64 << attempt.min(8)).min(30_000));
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    })
}

async fn on_item(
    s: SharedState,
    env: common::Envelope<AnalyzedDocument>,
) -> Result<(), HandlerError> {
    let (applied, item) = s.store.apply_item(env.payload).map_err(retryable)?;
    durable(&s).await?;
    s.metrics.count_message("analyzed_documents");
    if applied != Applied::Unchanged {
        // No viewers is fine: the send only fails when nobody listens.
        let _ = s.live.send(LiveMessage::for_item(&item)?);
    }
    Ok(())
}

async fn on_event(s: SharedState, env: common::Envelope<EventUpdate>) -> Result<(), HandlerError> {
    let (applied, ev) = s.store.apply_event(env.payload).map_err(retryable)?;
    durable(&s).await?;
    s.metrics.count_message("event_updates");
    if applied != Applied::Unchanged {
        let view = views::event_view(&s.store, &ev).map_err(retryable)?;
        let _ = s.live.send(LiveMessage::for_event(&view)?);
    }
    Ok(())
}

async fn on_case_event(
    s: SharedState,
    env: common::Envelope<CaseEvent>,
) -> Result<(), HandlerError> {
    let (applied, case) = s.store.apply_case_event(env.payload).map_err(retryable)?;
    let case = s.store.named(case).map_err(retryable)?;
    durable(&s).await?;
    s.metrics.count_message("case_events");
    if applied != Applied::Unchanged {
        // An event shows its case: the case's severity, its 研判 of the categories, that it
        // has one at all. Cases change a few times a day, so every change is re-announced.
        for event_id in &case.case.event_ids {
            if let Some(ev) = s.store.event(event_id).map_err(retryable)? {
                let view = views::event_view(&s.store, &ev).map_err(retryable)?;
                let _ = s.live.send(LiveMessage::for_event(&view)?);
            }
        }
    }
    if applied != Applied::Unchanged {
        let now = s.ctx.clock.now();
        let view = views::case_view(&case, now, s.config.ui.near_due_minutes);
        let mut msg = LiveMessage::new("case", &case.case.case_id, &view)?;
        msg.owner_unit = Some(case.case.owner.id.clone());
        let _ = s.live.send(msg);
    }
    Ok(())
}

async fn on_source_health(
    s: SharedState,
    env: common::Envelope<SourceHealth>,
) -> Result<(), HandlerError> {
    let h = env.payload;
    let applied = s.store.apply_source_health(h.clone()).map_err(retryable)?;
    durable(&s).await?;
    s.metrics.count_message("source_health");
    if applied != Applied::Unchanged {
        let _ = s.live.send(LiveMessage::new("source", &h.source_id, &h)?);
    }
    Ok(())
}

/// Respond's unit registry: every unit list on the screens offers exactly these units.
async fn on_unit_registry(
    s: SharedState,
    env: common::Envelope<UnitRegistry>,
) -> Result<(), HandlerError> {
    let applied = s.store.apply_registry(&env.payload).map_err(retryable)?;
    durable(&s).await?;
    s.metrics.count_message("unit_registry");
    if applied != Applied::Unchanged {
        tracing::info!(units = env.payload.units.len(), "unit registry received");
    }
    Ok(())
}

/// What respond made of a command: kept for the sender, whose page asks for it.
async fn on_command_result(
    s: SharedState,
    env: common::Envelope<CommandResult>,
) -> Result<(), HandlerError> {
    s.store
        .apply_command_result(&env.payload, env.produced_at)
        .map_err(retryable)?;
    durable(&s).await?;
    s.metrics.count_message("command_results");
    Ok(())
}
