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
