//! The JSON API, one module per resource. Who may call a route is the router's business (see
//! [`super::access`]); what a caller sees is decided here: a unit account is narrowed to its own
//! cases on the server, whatever the page asks for.

pub mod cases;
pub mod directory;
pub mod districts;
pub mod events;
pub mod intake;
pub mod items;
pub mod ops;
pub mod reports;

use std::sync::atomic::Ordering;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::bus::publish;
use common::topics;
use common::wire::{Actor, CaseCommand, CaseCommandRequest, Envelope, new_message_id};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::SharedState;

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The filters of the item and event lists and of the live stream.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    limit: Option<usize>,
    priority: Option<String>,
    district: Option<String>,
    source: Option<String>,
    sentiment: Option<String>,
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

fn required(what: &str, v: &str) -> ApiResult<()> {
    if v.trim().is_empty() {
        Err(ApiError::BadRequest(format!("{what}不能为空")))
    } else {
        Ok(())
    }
}

/// Publish one command and answer 202 with its message id.
async fn send_command(
    state: &SharedState,
    key: &str,
    actor: Actor,
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
    actor: Actor,
    command: CaseCommand,
) -> ApiResult<String> {
    let message_id = new_message_id();
    let env = Envelope::new(
        message_id.clone(),
        state.ctx.clock.now(),
        CaseCommandRequest { actor, command },
    );
    publish_counted(state, topics::CASE_COMMANDS, key, &env).await?;
    Ok(message_id)
}

/// Publish what a person sent from the UI (a command, an intake document), counted for metrics.
async fn publish_counted<T: Serialize + Sync>(
    state: &SharedState,
    topic: &str,
    key: &str,
    env: &Envelope<T>,
) -> ApiResult<()> {
    publish(state.ctx.bus.as_ref(), topic, key, env)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    state
        .metrics
        .commands_published
        .fetch_add(1, Ordering::Relaxed);
    Ok(())
}
