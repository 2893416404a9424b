//! Operations: health, Prometheus metrics, counts, source health and bus lag.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use common::topics;
use serde::Serialize;

use super::ApiResult;
use crate::SharedState;
use crate::web::access::Caller;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn stats(
    State(state): State<SharedState>,
    Caller(_): Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let (items, events, cases) = state.store.counts();
    Ok(Json(
        serde_json::json!({ "items": items, "events": events, "cases": cases }),
    ))
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

#[derive(Clone, Serialize)]
pub struct LagRow {
    stage: &'static str,
    group: &'static str,
    topic: &'static str,
    lag: Option<u64>,
    error: Option<String>,
}

/// How often the one background sampler asks the bus for consumer lag. Requests read the last
/// sample: on Kafka each question opens a consumer and asks the broker, which no page view or
/// Prometheus scrape should cause (and an open `/metrics` must not let anyone cause at will).
pub const LAG_SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The last lag sample and when it was taken.
#[derive(Clone, Serialize)]
pub struct LagSample {
    pub at: chrono::DateTime<chrono::Utc>,
    pub rows: Vec<LagRow>,
}

/// Sample lag every [`LAG_SAMPLE_EVERY`] until `shutdown` (the first sample at once).
pub async fn sample_lag(state: SharedState, shutdown: common::Shutdown) {
    loop {
        let rows = lag_rows(&state).await;
        let sample = LagSample {
            at: state.ctx.clock.now(),
            rows,
        };
        *state.metrics.lag.lock().unwrap_or_else(|p| p.into_inner()) = Some(sample);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(LAG_SAMPLE_EVERY) => {}
        }
    }
}

fn latest_lag(state: &SharedState) -> Option<LagSample> {
    state
        .metrics
        .lag
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
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
    Caller(_): Caller,
) -> ApiResult<Json<serde_json::Value>> {
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
    let lag = latest_lag(&state);
    Ok(Json(serde_json::json!({
        "sources": sources,
        "lag": lag.as_ref().map(|l| l.rows.clone()).unwrap_or_default(),
        "lag_sampled_at": lag.map(|l| l.at),
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
    for row in latest_lag(&state).map(|l| l.rows).unwrap_or_default() {
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
