//! The ingest stage: crawls RSS/Atom/RDF feeds, HTML news sites (list pages → articles) and
//! social JSON feeds (Weibo-style, or any JSON with a field mapping), extracts Chinese articles
//! into plain text, dedups them, and publishes [`common::wire::RawDocument`]s to
//! [`common::topics::RAW_DOCUMENTS`] with a [`common::wire::SourceHealth`] record per round.
//!
//! ## Code map
//! - [`config`]: the `[ingest]` section and per-source settings (`default.toml` holds defaults).
//! - [`crawler`]: `run`, one task per source, article pages (with their 下一页 continuations,
//!   bounded, same host), dedup, publishing, health.
//! - [`fetch`]: the polite, defensive HTTP client (SSRF guard, robots, pacing, retries, caps).
//! - [`decode`]: bytes → text (BOM, header, meta, detection; GBK/GB18030/Big5).
//! - [`extract`]: generic and rule-based article extraction, list-page links. Pure.
//! - [`timeparse`]: Chinese and RFC times → UTC against the injected clock. Pure.
//! - [`feed`], [`social`]: feed and JSON documents → items. Pure.
//! - [`canon`], [`simhash`]: canonical URLs / document ids, fingerprints. Pure.
//! - [`state`]: crawl state in sled (seen ids, validators, fingerprints, health) with expiry.
//! - [`manual`]: manual intake (网信通报, unit-reported emergencies) as a function and a route.
//! - [`tools`]: `yuqing extract`, `yuqing eval extraction`, `yuqing bench ingest`.
//!
//! ## Invariants
//! - A `doc_id` is published at most once per state directory: it is marked seen after the bus
//!   accepted it, and the mark survives restarts.
//! - Bodies on the bus are plain text, decoded to UTF-8; HTML never leaves this crate.
//! - Logic never reads the wall clock: `fetched_at` and relative times come from `ctx.clock`.
//! - Parsing and extraction run on the blocking pool, never on the async workers.
//! - No request goes to a non-public address unless its source says `allow_private`.

pub mod canon;
pub mod config;
mod crawler;
pub mod decode;
pub mod error;
pub mod extract;
pub mod feed;
pub mod fetch;
pub mod item;
pub mod manual;
pub mod simhash;
pub mod social;
pub mod state;
pub mod timeparse;
pub mod tools;

pub use config::{Config, JsonMapping, SiteRules, SourceConfig, SourceType};
pub use error::Error;

/// Every default of the stage, as a TOML fragment starting with `[ingest]`.
pub const DEFAULT_CONFIG: &str = include_str!("../default.toml");

/// Crawl every enabled source on its interval until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    ctx: common::StageContext,
    shutdown: common::Shutdown,
) -> Result<(), Error> {
    crawler::run(config, ctx, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Wrapper {
        ingest: Config,
    }

    #[test]
    fn default_config_parses_and_matches_code_defaults() {
        let w: Wrapper = toml::from_str(DEFAULT_CONFIG).unwrap();
        let code = Config::default();
        assert_eq!(
            serde_json::to_value(&w.ingest).unwrap(),
            serde_json::to_value(&code).unwrap()
        );
    }

    #[test]
    fn workers_split_the_sources() {
        let sources: Vec<SourceConfig> = (0..40)
            .map(|i| SourceConfig::new(&format!("s{i}"), SourceType::Rss, "http://x.cn/"))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for w in 0..3 {
            let cfg = Config {
                sources: sources.clone(),
                worker_index: w,
                worker_count: 3,
                ..Config::default()
            };
            let mine: Vec<_> = cfg.my_sources().map(|s| s.id.clone()).collect();
            assert!(!mine.is_empty());
            for id in mine {
                assert!(seen.insert(id), "a source on two workers");
            }
        }
        assert_eq!(seen.len(), 40);
    }

    /// The README's example configuration is real configuration.
    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml").unwrap() + "```toml".len();
        let end = start + readme[start..].find("```").unwrap();
        let w: Wrapper = toml::from_str(&readme[start..end]).unwrap();
        assert_eq!(w.ingest.sources.len(), 3);
        assert_eq!(w.ingest.sources[1].rules.as_ref().unwrap().max_pages, 2);
    }

    #[test]
    fn source_defaults() {
        let s: SourceConfig =
            toml::from_str("id = \"a\"\nkind = \"rss\"\nurl = \"http://x.cn/\"").unwrap();
        assert_eq!(s.interval_secs, 300);
        assert_eq!(s.weight, 1.0);
        assert!(s.enabled && !s.allow_private);
        let n = SourceConfig::new("a", SourceType::Rss, "http://x.cn/");
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::to_value(&n).unwrap()
        );
        assert!(
            toml::from_str::<SourceConfig>("id = \"a\"\nkind = \"rss\"\nurl = \"u\"\ntypo = 1")
                .is_err()
        );
    }
}
