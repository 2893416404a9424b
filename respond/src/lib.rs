//! The response tracker (seed section (七)): every event that needs a response becomes a case,
//! assigned to its owning unit with the reason (七.1), held to the response-time tiers (七.4),
//! reminded and escalated on breach, with its disposition (七.3), a hash-chained audit trail
//! and notifications through an outbox.
//!
//! # Code map
//! - [`config`]: rules, unit registry, domain → department map, tiers, reminders, channels.
//! - [`assign`]: who owns a case and whether an event opens one (pure).
//! - [`plan`]: deadlines and reminder / breach / escalation timers (pure).
//! - [`case`]: the case record and its state machine (pure; every change is audited).
//! - [`audit`]: the hash chain, its verification, response-time metrics.
//! - [`registry`]: the unit registry published on `yuqing.unit-registry.v1` for the screens.
//! - [`store`]: sled persistence and the read API ([`CaseStore`]) for dashboards and tools.
//! - [`notify`]: webhook, DingTalk, WeCom and SMTP delivery.
//! - [`tracker`]: the running stage: consumers, deadline loop, outbox; `publish` drains the
//!   committed case events and command results to the bus.
//! - [`tools`]: `yuqing assign --jsonl`.
//!
//! # Invariants
//! - Time comes only from the injected clock; nothing reads the wall clock.
//! - One event has at most one case; the case id is derived from the event id.
//! - Every change of a case is one audit record and one case event with the same `seq`; a
//!   case event's message id is `case:<case id>:<seq>`, so republishing is harmless.
//! - A message is acknowledged only after its effects (case, audit, publish queue, outbox,
//!   processed-message marker) are committed in one atomic, flushed sled batch.

pub mod assign;
pub mod audit;
pub mod case;
pub mod config;
pub mod notify;
pub mod plan;
mod publish;
pub mod registry;
pub mod store;
pub mod tools;
pub mod tracker;

use std::sync::Arc;

pub use case::{CaseRecord, CommandError};
pub use config::Config;
pub use store::{CaseFilter, CaseStore, CaseWithAudit};

/// The stage's defaults as a TOML fragment starting with `[respond]`.
pub const DEFAULT_CONFIG: &str = include_str!("../default.toml");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad respond configuration: {0}")]
    Config(String),
    #[error("case store: {0}")]
    Store(#[from] sled::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("bus: {0}")]
    Bus(#[from] common::BusError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("corrupt record {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("respond task failed: {0}")]
    Task(String),
    #[error("rejected: {0}")]
    Rejected(String),
}

impl Error {
    /// Whether trying again later can succeed (store or bus trouble) as opposed to bad input
    /// or a misconfiguration.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(_) | Error::Io(_) | Error::Task(_) => true,
            Error::Bus(e) => e.is_retryable(),
            Error::Config(_)
            | Error::Json(_)
            | Error::Corrupt { .. }
            | Error::Command(_)
            | Error::Rejected(_) => false,
        }
    }
}

/// Run the response tracker until `shutdown`: consume event updates and case commands, keep
/// cases in sled under `ctx.stage_dir("respond")`, publish case events, send notifications.
pub async fn run(
    config: Config,
    ctx: common::StageContext,
    shutdown: common::Shutdown,
) -> Result<(), Error> {
    let store = tracker::open_store(&ctx)?;
    run_with_store(store, config, ctx, shutdown).await
}

/// [`run`] on a store the caller opened with [`open_store`] and may keep a clone of, to read
/// cases in the same process (e.g. a dashboard's case detail with its audit trail).
pub async fn run_with_store(
    store: CaseStore,
    config: Config,
    ctx: common::StageContext,
    shutdown: common::Shutdown,
) -> Result<(), Error> {
    let timeout = std::time::Duration::from_secs_f64(config.notify.request_timeout_secs.max(0.1));
    let sender = notify::ChannelSender::new(timeout)
        .map_err(|e| Error::Config(format!("notification client: {e}")))?;
    tracker::run_on(store, config, ctx, shutdown, Arc::new(sender)).await
}

pub use tracker::open_store;
