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
use common::commands::{allowed, not_allowed};
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

/// Everything about `command` that can be known here, checked with the very functions the
/// response tracker applies (`common::commands`): the command on its own (422), whether the
/// case's state accepts it (409), whether a unit it names is in the registry (422). What only
/// the tracker can know comes back on the command-results topic.
fn vet(state: &SharedState, command: &CaseCommand) -> ApiResult<()> {
    command
        .check(state.ctx.clock.now())
        .map_err(|r| ApiError::Invalid(r.0))?;
    if let Some(id) = command.case_id()
        && let Some(c) = state.store.case(id)?
        && !allowed(c.case.state, command.action())
    {
        return Err(ApiError::Conflict(
            not_allowed(c.case.state, command.action()).0,
        ));
    }
    let unit = match command {
        CaseCommand::Open {
            owner_unit_id: Some(u),
            ..
        }
        | CaseCommand::Reassign {
            owner_unit_id: u, ..
        } => Some(u),
        _ => None,
    };
    if let Some(u) = unit
        && !state.store.registry_knows(u)?
    {
        return Err(ApiError::Invalid(format!("单位“{u}”不在单位名录中")));
    }
    Ok(())
}

/// Vet and publish one command to respond, keyed by `key` (the case id, or the event id of an
/// open); remembers it for its sender and returns its message id.
async fn publish_command(
    state: &SharedState,
    key: &str,
    actor: Actor,
    command: CaseCommand,
) -> ApiResult<String> {
    vet(state, &command)?;
    let message_id = new_message_id();
    let now = state.ctx.clock.now();
    let sent = crate::store::SentCommand {
        command_id: message_id.clone(),
        actor: actor.name.clone(),
        action: command.action().as_str().to_string(),
        case_id: command.case_id().map(String::from),
        sent_at: now,
        result: None,
    };
    let env = Envelope::new(
        message_id.clone(),
        now,
        CaseCommandRequest { actor, command },
    );
    // Remembered before it is sent, so a fast answer always finds its command.
    state.store.record_sent(&sent)?;
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
