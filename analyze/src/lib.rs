//! The analyze stage: Chinese segmentation (jieba-rs with the project's user dictionary), the six
//! monitoring priorities of seed (七.2) as editable keyword schemes plus classifiers, domain →
//! department, place → jurisdiction, sentiment, rumour signals, severity proposals, and
//! incremental clustering of items into events (舆情事件) with heat and spikes.
//!
//! Code map:
//! - [`normalize`]: full/half width, Weibo markup, URLs, repeated punctuation;
//! - [`segment`]: the one shared jieba instance and the user dictionary;
//! - [`scheme`]: boolean keyword expressions (AND/OR/NOT, near/N, region × subject × event);
//! - [`lexicon`], [`classify`]: weighted lexicons and the emergency/domain/sentiment/rumour
//!   classifiers;
//! - [`places`]: gazetteer and jurisdiction with ambiguity;
//! - [`severity`]: casualties, missing, losses → national grade;
//! - [`analyzer`]: all of the above as one pure function per item;
//! - [`events`]: clustering, heat, spikes (pure, told the time);
//! - [`stage`]: `run` on the bus with sled state; [`tools`]: JSONL, eval, bench.
//!
//! Invariants: nothing here reads the wall clock (time comes from `StageContext::clock` or the
//! item); nothing loads from the network; analysis never blocks the async runtime (it runs on
//! the blocking pool); an item id is counted in an event at most once, across restarts.

pub mod analyzer;
pub mod classify;
pub mod dict;
pub mod events;
pub mod lexicon;
pub mod normalize;
pub mod places;
pub mod scheme;
pub mod segment;
pub mod severity;
mod stage;
pub mod tools;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use analyzer::{Analysis, Analyzer, Input};
pub use scheme::SchemeConfig;

/// Every default, as a TOML fragment starting with `[analyze]`.
pub const DEFAULT_CONFIG: &str = include_str!("../default.toml");

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "defaults::workers")]
    pub workers: usize,
    #[serde(default = "defaults::event_window_hours")]
    pub event_window_hours: u64,
    #[serde(default = "defaults::event_similarity")]
    pub event_similarity: f32,
    #[serde(default = "defaults::event_recent_docs")]
    pub event_recent_docs: usize,
    #[serde(default = "defaults::spike_factor")]
    pub spike_factor: f64,
    #[serde(default = "defaults::spike_min_docs")]
    pub spike_min_docs: u64,
    #[serde(default = "defaults::emergency_threshold")]
    pub emergency_threshold: f32,
    #[serde(default = "defaults::rumor_threshold")]
    pub rumor_threshold: f32,
    #[serde(default = "defaults::negative_threshold")]
    pub negative_threshold: f32,
    #[serde(default = "defaults::domain_min_score")]
    pub domain_min_score: f32,
    #[serde(default = "defaults::summary_chars")]
    pub summary_chars: usize,
    #[serde(default = "defaults::credible_sources")]
    pub credible_sources: Vec<String>,
    #[serde(default = "defaults::departments")]
    pub departments: BTreeMap<String, String>,
    #[serde(default = "defaults::schemes")]
    pub schemes: Vec<SchemeConfig>,
}

/// Field defaults read from the embedded `default.toml`, so that file is the one place where
/// defaults are written. The literals here are a last resort if it failed to parse (a unit test
/// makes sure it parses).
mod defaults {
    use std::collections::BTreeMap;
    use std::sync::OnceLock;

    use serde::de::DeserializeOwned;

    use crate::SchemeConfig;

    fn section() -> &'static toml::Table {
        static SECTION: OnceLock<toml::Table> = OnceLock::new();
        SECTION.get_or_init(|| {
            toml::from_str::<toml::Table>(crate::DEFAULT_CONFIG)
                .ok()
                .and_then(|t| t.get("analyze").and_then(|v| v.as_table()).cloned())
                .unwrap_or_default()
        })
    }

    fn get<T: DeserializeOwned>(key: &str, fallback: T) -> T {
        section()
            .get(key)
            .and_then(|v| T::deserialize(v.clone()).ok())
            .unwrap_or(fallback)
    }

    pub fn workers() -> usize {
        get("workers", 2)
    }
    pub fn event_window_hours() -> u64 {
        get("event_window_hours", 72)
    }
    pub fn event_similarity() -> f32 {
        get("event_similarity", 0.42)
    }
    pub fn event_recent_docs() -> usize {
        get("event_recent_docs", 20)
    }
    pub fn spike_factor() -> f64 {
        get("spike_factor", 3.0)
    }
    pub fn spike_min_docs() -> u64 {
        get("spike_min_docs", 3)
    }
    pub fn emergency_threshold() -> f32 {
        get("emergency_threshold", 0.5)
    }
    pub fn rumor_threshold() -> f32 {
        get("rumor_threshold", 0.5)
    }
    pub fn negative_threshold() -> f32 {
        get("negative_threshold", 0.5)
    }
    pub fn domain_min_score() -> f32 {
        get("domain_min_score", 1.5)
    }
    pub fn summary_chars() -> usize {
        get("summary_chars", 160)
    }
    pub fn credible_sources() -> Vec<String> {
        get("credible_sources", Vec::new())
    }
    pub fn departments() -> BTreeMap<String, String> {
        get("departments", BTreeMap::new())
    }
    pub fn schemes() -> Vec<SchemeConfig> {
        get("schemes", Vec::new())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: defaults::workers(),
            event_window_hours: defaults::event_window_hours(),
            event_similarity: defaults::event_similarity(),
            event_recent_docs: defaults::event_recent_docs(),
            spike_factor: defaults::spike_factor(),
            spike_min_docs: defaults::spike_min_docs(),
            emergency_threshold: defaults::emergency_threshold(),
            rumor_threshold: defaults::rumor_threshold(),
            negative_threshold: defaults::negative_threshold(),
            domain_min_score: defaults::domain_min_score(),
            summary_chars: defaults::summary_chars(),
            credible_sources: defaults::credible_sources(),
            departments: defaults::departments(),
            schemes: defaults::schemes(),
        }
    }
}

#[derive(Deserialize)]
struct DefaultFile {
    analyze: Config,
}

impl Config {
    /// The embedded defaults, strictly parsed (an error here is a bug in default.toml).
    pub fn from_defaults() -> Result<Self, Error> {
        let f: DefaultFile =
            toml::from_str(DEFAULT_CONFIG).map_err(|e| Error::Config(e.to_string()))?;
        Ok(f.analyze)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad analyze configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Scheme(#[from] scheme::SchemeError),
    #[error("bad shipped data: {0}")]
    Data(String),
    #[error("state store: {0}")]
    Store(#[from] sled::Error),
    #[error("bus: {0}")]
    Bus(#[from] common::BusError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Input(String),
}

impl Error {
    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Bus(e) => e.is_retryable(),
            Error::Store(_) | Error::Io(_) => true,
            _ => false,
        }
    }
}

pub use stage::run;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_strictly_and_match_default() {
        let strict = match Config::from_defaults() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(strict.schemes.len(), 6);
        let prios: std::collections::BTreeSet<_> =
            strict.schemes.iter().map(|s| s.priority).collect();
        assert_eq!(prios.len(), 6);
        assert_eq!(Config::default(), strict);
        assert!(scheme::SchemeSet::compile(&strict.schemes).is_ok());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let r: Result<DefaultFile, _> = toml::from_str("[analyze]\nworkerz = 3\n");
        assert!(r.is_err());
        let r: Result<DefaultFile, _> = toml::from_str("[analyze]\nworkers = 3\n");
        assert_eq!(r.map(|f| f.analyze.workers).ok(), Some(3));
    }
}
