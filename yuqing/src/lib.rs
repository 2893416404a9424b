#![warn(clippy::unwrap_used)]
//! The `yuqing` command's library half: configuration, pipeline assembly and the demo feed site,
//! shared by the binary and the cross-stage tests.

pub mod bench;
pub mod config;
pub mod demo;
pub mod learn;
pub mod pipeline;

pub use config::Config;
pub use pipeline::{Pipeline, Stage};

/// Ingest sources that crawl the demo site at `base` (e.g. `http://127.0.0.1:8081`).
pub fn demo_sources(base: &str, interval_secs: u64) -> Vec<ingest::SourceConfig> {
    use ingest::{SourceConfig, SourceType};
    let mut sources = vec![
        SourceConfig::new(
            "demo-news",
            SourceType::Rss,
            &format!("{base}/news/rss.xml"),
        ),
        SourceConfig::new("demo-gov", SourceType::Rss, &format!("{base}/gov/atom.xml")),
        SourceConfig::new(
            "demo-weibo",
            SourceType::Weibo,
            &format!("{base}/weibo/timeline.json"),
        ),
    ];
    for s in &mut sources {
        s.interval_secs = interval_secs;
        // The demo site runs on loopback, which the crawler refuses unless told otherwise.
        s.allow_private = true;
    }
    sources
}
