//! The whole configuration: yuqing's defaults + each stage's defaults, then a file, then
//! `YUQING__*` environment variables.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use common::config::BusConfig;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub bus: BusConfig,
    pub ingest: ingest::Config,
    pub analyze: analyze::Config,
    pub respond: respond::Config,
    pub dashboards: dashboards::Config,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every default, as one TOML document.
pub fn defaults() -> String {
    [
        include_str!("../default.toml"),
        ingest::DEFAULT_CONFIG,
        analyze::DEFAULT_CONFIG,
        respond::DEFAULT_CONFIG,
        dashboards::DEFAULT_CONFIG,
    ]
    .join("\n")
}

/// Load the configuration: defaults, then `file`, then the environment.
pub fn load(file: Option<&Path>) -> Result<Config, common::config::ConfigError> {
    common::config::load(&defaults(), file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_a_file_overrides_them() {
        let defaults = load(None).unwrap();
        assert_eq!(defaults.bus.kind, common::config::BusKind::Embedded);
        assert!(defaults.ingest.sources.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("yuqing.toml");
        std::fs::write(
            &file,
            "data_dir = \"/var/lib/yuqing\"\n[bus]\nkind = \"kafka\"\n[bus.kafka]\nbootstrap = \"kafka:9092\"\n",
        )
        .unwrap();
        let config = load(Some(&file)).unwrap();
        assert_eq!(config.bus.kind, common::config::BusKind::Kafka);
        assert_eq!(config.bus.kafka.bootstrap, "kafka:9092");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/yuqing"));
        // Untouched keys keep their defaults.
        assert_eq!(config.bus.kafka.partitions, defaults.bus.kafka.partitions);
    }

    #[test]
    fn the_deployment_example_config_loads() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/yuqing.toml");
        load(Some(Path::new(example))).unwrap();
    }
}
