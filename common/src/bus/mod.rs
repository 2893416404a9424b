//! The bus between stages. Stages only see [`Bus`]; the implementations are Kafka (through
//! rdkafka) and an embedded durable log in sled for one-process deployments.
//!
//! Delivery is at-least-once: a consumer calls [`Subscription::ack`] only after its downstream
//! write succeeded, and every consumer is idempotent on `message_id`, so a redelivery after a
//! crash is harmless.

mod embedded;
mod kafka;
mod runner;

use std::sync::Arc;

use async_trait::async_trait;

pub use embedded::EmbeddedBus;
pub use kafka::KafkaBus;
pub use runner::{HandlerError, consume, consume_concurrent, publish};

use crate::config::{BusConfig, BusKind};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("embedded log: {0}")]
    Embedded(#[from] sled::Error),
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("bus closed")]
    Closed,
}

impl BusError {
    /// Whether trying again later can succeed (broker down, timeouts) as opposed to a bug or a
    /// misconfiguration.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BusError::Kafka(_))
    }
}

/// One message as a consumer receives it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The logical topic name (without namespace).
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Append one message; returns once the bus has durably accepted it.
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError>;

    /// Join consumer group `group` on `topic`. The group resumes after its last acknowledged
    /// message, or from the start of the log when it is new.
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError>;

    /// Create the topics that do not exist yet (partitions and replication from config).
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError>;

    /// Messages published to `topic` that `group` has not acknowledged yet, when known.
    async fn lag(&self, topic: &str, group: &str) -> Result<Option<u64>, BusError>;

    /// Every message `topic` holds now, from its start, in log order per partition, without
    /// joining a group or storing an offset: how a reader rebuilds state that lives in a
    /// compacted topic. An empty or missing topic gives nothing.
    ///
    /// The default reads as many messages as a fresh group's lag counts, which is exact for a
    /// log without gaps; Kafka overrides it (compaction leaves gaps in its offsets).
    async fn read_all(&self, topic: &str) -> Result<Vec<Delivery>, BusError> {
        let group = format!("replay-{}", crate::wire::new_message_id());
        let n = self.lag(topic, &group).await?.unwrap_or(0);
        let mut out = Vec::with_capacity(n as usize);
        if n > 0 {
            let mut sub = self.subscribe(topic, &group).await?;
            while (out.len() as u64) < n {
                out.push(sub.recv().await?);
            }
        }
        Ok(out)
    }
}

#[async_trait]
pub trait Subscription: Send {
    /// The next message; waits until one arrives.
    async fn recv(&mut self) -> Result<Delivery, BusError>;

    /// Mark `delivery` (and everything before it in its partition) as processed.
    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError>;
}

pub type SharedBus = Arc<dyn Bus>;

/// Open the bus that `config` describes. `data_dir` anchors the embedded log's relative path;
/// the embedded log is opened (and recovered) on the blocking pool.
pub async fn open(config: &BusConfig, data_dir: &std::path::Path) -> Result<SharedBus, BusError> {
    Ok(match config.kind {
        BusKind::Embedded => {
            let path = data_dir.join(&config.embedded.path);
            Arc::new(
                EmbeddedBus::open_async(&path, &config.namespace, config.embedded.retain_per_topic)
                    .await?,
            )
        }
        BusKind::Kafka => Arc::new(KafkaBus::new(&config.kafka, &config.namespace)?),
    })
}
