//! The live stream (SSE). Each viewer is paced: at most one batch per
//! `ui.stream_interval_ms`, holding the latest message per thing and at most
//! `ui.stream_max_items` new items, so a viewer's cost does not grow with the ingest rate.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiError;
use super::access::Caller;
use super::api::matches;
use crate::SharedState;
use crate::feed::LiveMessage;
use crate::store::Role;

#[derive(Deserialize, Default, Clone)]
pub struct StreamQuery {
    priority: Option<String>,
    district: Option<String>,
    source: Option<String>,
    sentiment: Option<String>,
}

struct ViewerGuard(SharedState);

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.0.metrics.sse_viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

fn passes(m: &LiveMessage, q: &StreamQuery) -> bool {
    match m.kind {
        "item" => matches(
            q.priority.as_deref(),
            q.district.as_deref(),
            q.source.as_deref(),
            q.sentiment.as_deref(),
            &m.priorities,
            m.district.as_deref(),
            m.source.as_deref(),
            m.sentiment,
        ),
        _ => true,
    }
}

/// Who watches a stream (see [`crate::audience`]).
enum Audience {
    Staff,
    /// Its own cases; items and events in the shape anonymous readers get (without case ids),
    /// and, unless `whole_feed`, only those about its own cases.
    Unit {
        unit: String,
        whole_feed: bool,
    },
    /// Items and events in their public shape; no cases, no source health.
    Public,
}

/// The message as this viewer gets it, or `None` when it is not for them.
fn for_viewer(state: &SharedState, a: &Audience, mut m: LiveMessage) -> Option<LiveMessage> {
    match a {
        Audience::Staff => return Some(m),
        Audience::Unit { unit, .. } if m.kind == "case" => {
            return (m.owner_unit.as_deref() == Some(unit.as_str())).then_some(m);
        }
        Audience::Unit {
            unit,
            whole_feed: false,
        } if m.kind == "item" || m.kind == "event" => {
            let event = m.event_id.as_deref()?;
            match crate::audience::unit_owns_event(&state.store, unit, event) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "live stream: case lookup failed");
                    return None;
                }
            }
        }
        _ => {}
    }
    if m.kind != "item" && m.kind != "event" {
        return None;
    }
    m.json = m.public_json.clone()?;
    Some(m)
}

/// What one viewer is owed since its last batch: the latest message per (kind, id), in the
/// order of their latest change.
#[derive(Default)]
struct Batch {
    order: u64,
    by_key: std::collections::HashMap<(&'static str, Arc<str>), u64>,
    msgs: std::collections::BTreeMap<u64, LiveMessage>,
    resync: bool,
}

impl Batch {
    fn add(&mut self, m: LiveMessage) {
        self.order += 1;
        if let Some(old) = self.by_key.insert((m.kind, m.id.clone()), self.order) {
            self.msgs.remove(&old);
        }
        self.msgs.insert(self.order, m);
    }

    fn into_events(self, max_items: usize) -> Vec<Result<Event, Infallible>> {
        let items = self.msgs.values().filter(|m| m.kind == "item").count();
        let mut skip = items.saturating_sub(max_items);
        let skipped = skip;
        let mut out = Vec::with_capacity(self.msgs.len() + 2);
        if self.resync {
            out.push(Ok(Event::default().event("resync").data("{}")));
        }
        // Announced before the items, so a viewer knows the batch is partial as it reads it.
        if skipped > 0 {
            out.push(Ok(Event::default()
                .event("skipped")
                .data(format!("{{\"items\":{skipped}}}"))));
        }

        for m in self.msgs.into_values() {
            // Keep the newest items: the oldest of the batch are the ones left out.
            if m.kind == "item" && skip > 0 {
                skip -= 1;
                continue;
            }
            out.push(Ok(Event::default().event(m.kind).data(&*m.json)));
        }
        out
    }
}

struct Viewer {
    rx: tokio::sync::broadcast::Receiver<LiveMessage>,
    guard: ViewerGuard,
    q: StreamQuery,
    audience: Audience,
    shutdown: common::Shutdown,
    interval: std::time::Duration,
    max_items: usize,
    last_batch: Option<tokio::time::Instant>,
}

/// Server-sent events: `item` (a slim item), `event`, `case`, `source` carry the list routes'
/// JSON; `skipped` says how many items were left out of a batch (the viewer can reload the
/// list); `resync` tells a viewer that fell behind to reload everything. Each viewer gets at
/// most one batch per `ui.stream_interval_ms`, so a burst of 1,000 items/s costs a viewer a
/// few small writes per second instead of a thousand.
pub async fn stream(
    State(state): State<SharedState>,
    Caller(cur): Caller,
    Query(q): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    use futures::StreamExt;
    let audience = match cur {
        None => Audience::Public,
        Some(c) if c.role() == Role::Unit => Audience::Unit {
            unit: c.user.unit_id.unwrap_or_default(),
            whole_feed: state.config.auth.units_read_whole_feed,
        },
        Some(_) => Audience::Staff,
    };
    state.metrics.sse_viewers.fetch_add(1, Ordering::Relaxed);
    let viewer = Viewer {
        rx: state.live.subscribe(),
        guard: ViewerGuard(state.clone()),
        q,
        audience,
        shutdown: state.shutdown.clone(),
        interval: std::time::Duration::from_millis(state.config.ui.stream_interval_ms),
        max_items: state.config.ui.stream_max_items.max(1),
        last_batch: None,
    };
    let stream = futures::stream::unfold(viewer, |mut v| async move {
        use tokio::sync::broadcast::error::{RecvError, TryRecvError};
        loop {
            if let Some(t) = v.last_batch {
                tokio::select! {
                    // Open streams would otherwise hold graceful shutdown forever.
                    _ = v.shutdown.cancelled() => return None,
                    _ = tokio::time::sleep_until(t + v.interval) => {}
                }
            }
            let first = tokio::select! {
                _ = v.shutdown.cancelled() => return None,
                r = v.rx.recv() => r,
            };
            let mut batch = Batch::default();
            let take = |r: Result<LiveMessage, ()>, batch: &mut Batch| match r {
                Ok(m) if passes(&m, &v.q) => {
                    if let Some(m) = for_viewer(&v.guard.0, &v.audience, m) {
                        batch.add(m);
                    }
                }
                Ok(_) => {}
                Err(()) => batch.resync = true,
            };
            match first {
                Ok(m) => take(Ok(m), &mut batch),
                Err(RecvError::Lagged(_)) => take(Err(()), &mut batch),
                Err(RecvError::Closed) => return None,
            }
            loop {
                match v.rx.try_recv() {
                    Ok(m) => take(Ok(m), &mut batch),
                    Err(TryRecvError::Lagged(_)) => take(Err(()), &mut batch),
                    Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => break,
                }
            }
            if batch.msgs.is_empty() && !batch.resync {
                continue;
            }
            v.last_batch = Some(tokio::time::Instant::now());
            let events = batch.into_events(v.max_items);
            return Some((futures::stream::iter(events), v));
        }
    })
    .flatten();
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: &'static str, id: &str, json: &str) -> LiveMessage {
        LiveMessage::with_json(kind, id, json)
    }

    #[test]
    fn a_batch_keeps_the_latest_per_thing_and_the_newest_items() {
        let mut b = Batch::default();
        b.add(msg("event", "e1", "old"));
        for i in 0..5 {
            b.add(msg("item", &format!("d{i}"), &format!("item{i}")));
        }
        b.add(msg("event", "e1", "new"));
        let kept: Vec<(&str, String)> = b
            .msgs
            .values()
            .map(|m| (m.kind, m.json.to_string()))
            .collect();
        assert_eq!(kept.len(), 6, "one event, five items");
        assert_eq!(kept.last().map(|k| k.1.as_str()), Some("new"));
        // Room for two items: the three oldest are counted, announced first.
        assert_eq!(b.into_events(2).len(), 1 + 2 + 1);
    }
}
