//! Layered configuration: an embedded `default.toml`, then an optional file, then `YUQING__*`
//! environment variables (`YUQING__BUS__KIND=kafka` sets `bus.kind`). Unknown keys are errors, so
//! a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
#[error("bad configuration: {0}")]
pub struct ConfigError(String);

/// Load `T` from the embedded defaults, an optional file and the environment.
pub fn load<T: DeserializeOwned>(defaults: &str, file: Option<&Path>) -> Result<T, ConfigError> {
    let mut figment = Figment::from(Toml::string(defaults));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment.merge(Env::prefixed("YUQING__").split("__"));
    figment
        .extract()
        .map_err(|e| ConfigError(e.to_string().to_lowercase()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// A durable local log in sled: one process, no broker.
    Embedded,
    /// Apache Kafka (or any Kafka-protocol broker) through rdkafka.
    Kafka,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    pub kind: BusKind,
    /// Prepended to every topic name (and consumer group), so several deployments or tests can
    /// share one broker.
    #[serde(default)]
    pub namespace: String,
    pub embedded: EmbeddedBusConfig,
    pub kafka: KafkaConfig,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedBusConfig {
    /// Directory of the sled log (relative paths are under `data_dir`).
    pub path: PathBuf,
    /// Messages kept per topic; older ones are trimmed once every consumer group has passed them.
    pub retain_per_topic: u64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub bootstrap: String,
    pub client_id: String,
    pub partitions: i32,
    pub replication: i32,
    /// Extra librdkafka properties (e.g. `security.protocol`, `sasl.mechanism`).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}
