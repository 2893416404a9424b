#![warn(clippy::unwrap_used)]
//! Shared by every yuqing stage: the wire contract, topic names, the bus (Kafka and embedded),
//! layered config, injected time and shutdown. It knows nothing of crawling, segmentation or
//! HTML, and of cases only what the wire contract must say for both sides of it: which case
//! command a case state accepts and what a command must be on its own ([`commands`]).

pub mod bus;
pub mod clock;
pub mod commands;
pub mod config;
pub mod durable;
pub mod shutdown;
pub mod topics;
pub mod wire;

pub use bus::{Bus, BusError, Delivery, HandlerError, SharedBus, Subscription};
pub use clock::{Clock, SharedClock, SystemClock};
pub use shutdown::Shutdown;
pub use wire::Envelope;

/// What every stage's `run` receives besides its own config.
#[derive(Clone)]
pub struct StageContext {
    pub bus: SharedBus,
    pub clock: SharedClock,
    /// The stage keeps its local state (sled) under `data_dir/<stage>`.
    pub data_dir: std::path::PathBuf,
}

impl StageContext {
    /// The state directory of one stage, created if missing.
    pub fn stage_dir(&self, stage: &str) -> std::io::Result<std::path::PathBuf> {
        let dir = self.data_dir.join(stage);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}
