//! Configuration of the ingest stage: politeness and limits (all with defaults in
//! `default.toml`) and the list of sources with their per-site rules.

use std::time::Duration;

use chrono::FixedOffset;
use serde::{Deserialize, Serialize};

/// The `[ingest]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    #[serde(default = "d::user_agent")]
    pub user_agent: String,
    #[serde(default = "d::connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    #[serde(default = "d::request_timeout_secs")]
    pub request_timeout_secs: u64,
    #[serde(default = "d::max_body_bytes")]
    pub max_body_bytes: u64,
    #[serde(default = "d::max_redirects")]
    pub max_redirects: usize,
    #[serde(default = "d::max_retries")]
    pub max_retries: u32,
    #[serde(default = "d::backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "d::backoff_max_secs")]
    pub backoff_max_secs: u64,
    #[serde(default = "d::per_host_concurrency")]
    pub per_host_concurrency: usize,
    #[serde(default = "d::per_host_min_interval_ms")]
    pub per_host_min_interval_ms: u64,
    #[serde(default = "d::yes")]
    pub respect_robots: bool,
    #[serde(default = "d::robots_cache_secs")]
    pub robots_cache_secs: u64,
    #[serde(default = "d::summary_min_chars")]
    pub summary_min_chars: usize,
    #[serde(default = "d::yes")]
    pub follow_links: bool,
    #[serde(default = "d::max_items_per_round")]
    pub max_items_per_round: usize,
    #[serde(default = "d::max_concurrent_sources")]
    pub max_concurrent_sources: usize,
    #[serde(default = "d::state_ttl_days")]
    pub state_ttl_days: u64,
    #[serde(default = "d::near_duplicate_max_distance")]
    pub near_duplicate_max_distance: u32,
    #[serde(default = "d::fingerprint_window")]
    pub fingerprint_window: usize,
    /// Scaling out: this worker crawls the sources whose id hashes to `worker_index` modulo
    /// `worker_count` (each worker keeps its own state directory).
    #[serde(default)]
    pub worker_index: u32,
    #[serde(default = "d::worker_count")]
    pub worker_count: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            user_agent: d::user_agent(),
            connect_timeout_secs: d::connect_timeout_secs(),
            request_timeout_secs: d::request_timeout_secs(),
            max_body_bytes: d::max_body_bytes(),
            max_redirects: d::max_redirects(),
            max_retries: d::max_retries(),
            backoff_base_ms: d::backoff_base_ms(),
            backoff_max_secs: d::backoff_max_secs(),
            per_host_concurrency: d::per_host_concurrency(),
            per_host_min_interval_ms: d::per_host_min_interval_ms(),
            respect_robots: true,
            robots_cache_secs: d::robots_cache_secs(),
            summary_min_chars: d::summary_min_chars(),
            follow_links: true,
            max_items_per_round: d::max_items_per_round(),
            max_concurrent_sources: d::max_concurrent_sources(),
            state_ttl_days: d::state_ttl_days(),
            near_duplicate_max_distance: d::near_duplicate_max_distance(),
            fingerprint_window: d::fingerprint_window(),
            worker_index: 0,
            worker_count: d::worker_count(),
        }
    }
}

impl Config {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }
    pub fn backoff_max(&self) -> Duration {
        Duration::from_secs(self.backoff_max_secs)
    }

    /// The enabled sources this worker crawls.
    pub fn my_sources(&self) -> impl Iterator<Item = &SourceConfig> {
        let count = self.worker_count.max(1);
        self.sources
            .iter()
            .filter(move |s| s.enabled && shard_of(&s.id, count) == self.worker_index)
    }
}

/// A stable shard for a source id (FNV-1a: the same on every build and machine).
pub fn shard_of(id: &str, count: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % count.max(1)
}

/// What kind of source a URL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// RSS 2.0, Atom, RDF (RSS 1.0) or JSON Feed, RSSHub-style feeds included.
    Rss,
    /// An HTML list page whose article links are followed.
    Html,
    /// A Weibo-style mobile JSON timeline or search result (`data.cards[].mblog`).
    Weibo,
    /// Any JSON document, mapped with [`JsonMapping`].
    Json,
}

impl SourceType {
    pub fn wire_kind(self) -> common::wire::SourceKind {
        use common::wire::SourceKind;
        match self {
            SourceType::Rss => SourceKind::Rss,
            SourceType::Html => SourceKind::Html,
            SourceType::Weibo => SourceKind::Social,
            SourceType::Json => SourceKind::Json,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub id: String,
    pub kind: SourceType,
    pub url: String,
    #[serde(default = "d::interval_secs")]
    pub interval_secs: u64,
    #[serde(default = "d::weight")]
    pub weight: f32,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "d::yes")]
    pub enabled: bool,
    /// Exempts this source's own host from the SSRF guard (private, loopback, link-local
    /// targets); its links and redirects to other private hosts are still refused.
    #[serde(default)]
    pub allow_private: bool,
    /// The outlet's name (来源) when the pages do not say it.
    #[serde(default)]
    pub site_name: Option<String>,
    /// Time zone of times written without one: `Asia/Shanghai` (default), `UTC`, or `+08:00`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Per-site CSS selectors for HTML sources (and for article pages of any source).
    #[serde(default)]
    pub rules: Option<SiteRules>,
    /// Field mapping of a generic JSON source.
    #[serde(default)]
    pub json: Option<JsonMapping>,
}

impl SourceConfig {
    pub fn new(id: &str, kind: SourceType, url: &str) -> Self {
        Self {
            id: id.to_string(),
            kind,
            url: url.to_string(),
            interval_secs: d::interval_secs(),
            weight: d::weight(),
            tags: Vec::new(),
            enabled: true,
            allow_private: false,
            site_name: None,
            timezone: None,
            rules: None,
            json: None,
        }
    }

    /// The offset applied to times without a zone; unknown names fall back to +08:00.
    pub fn offset(&self) -> FixedOffset {
        self.timezone
            .as_deref()
            .and_then(parse_offset)
            .unwrap_or_else(china_offset)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs.max(1))
    }
}

/// China Standard Time. Named zones without daylight saving are all we need for the region, so
/// a fixed offset table keeps the tz database out of the binary.
pub fn china_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// `Asia/Shanghai`, `UTC`, `+08:00`, `+0800`, `-05:00` ...
pub fn parse_offset(tz: &str) -> Option<FixedOffset> {
    let tz = tz.trim();
    let named = match tz.to_ascii_lowercase().as_str() {
        "asia/shanghai" | "asia/chongqing" | "asia/harbin" | "asia/urumqi" | "prc" | "cst"
        | "asia/hong_kong" | "asia/macau" | "asia/taipei" | "asia/singapore" | "beijing" => {
            Some(8 * 3600)
        }
        "utc" | "gmt" | "z" | "etc/utc" => Some(0),
        "asia/tokyo" | "asia/seoul" => Some(9 * 3600),
        _ => None,
    };
    if let Some(secs) = named {
        return FixedOffset::east_opt(secs);
    }
    let (sign, rest) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() != 4 && digits.len() != 2 {
        return None;
    }
    let h: i32 = digits.get(0..2)?.parse().ok()?;
    let m: i32 = digits
        .get(2..4)
        .map(|s| s.parse().unwrap_or(0))
        .unwrap_or(0);
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// CSS selectors for one site. Any selector left out falls back to generic extraction.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRules {
    /// On a list page: the article links (`a` elements, or elements containing one).
    #[serde(default)]
    pub list_links: Option<String>,
    /// On a list page: the link to the next page.
    #[serde(default)]
    pub next_page: Option<String>,
    /// List pages followed per round (1 = only the configured URL).
    #[serde(default = "d::max_pages")]
    pub max_pages: usize,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// Element whose text (or `datetime`/`content` attribute) holds the publish time.
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
}

/// Where the fields of a generic JSON source are. Paths are dot-separated (`data.items`,
/// `user.name`); numeric segments index arrays.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMapping {
    /// Path of the array of items (empty = the document itself is the array).
    #[serde(default)]
    pub items: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub text: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub published_at: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub reposts: Option<String>,
    #[serde(default)]
    pub comments: Option<String>,
    #[serde(default)]
    pub likes: Option<String>,
    #[serde(default)]
    pub views: Option<String>,
}

mod d {
    pub fn user_agent() -> String {
        "yuqing-monitor/0.1 (+government public-opinion monitoring)".into()
    }
    pub fn connect_timeout_secs() -> u64 {
        10
    }
    pub fn request_timeout_secs() -> u64 {
        30
    }
    pub fn max_body_bytes() -> u64 {
        10 * 1024 * 1024
    }
    pub fn max_redirects() -> usize {
        5
    }
    pub fn max_retries() -> u32 {
        3
    }
    pub fn backoff_base_ms() -> u64 {
        500
    }
    pub fn backoff_max_secs() -> u64 {
        60
    }
    pub fn per_host_concurrency() -> usize {
        2
    }
    pub fn per_host_min_interval_ms() -> u64 {
        1000
    }
    pub fn robots_cache_secs() -> u64 {
        3600
    }
    pub fn summary_min_chars() -> usize {
        200
    }
    pub fn max_items_per_round() -> usize {
        50
    }
    pub fn max_concurrent_sources() -> usize {
        8
    }
    pub fn state_ttl_days() -> u64 {
        90
    }
    pub fn near_duplicate_max_distance() -> u32 {
        10
    }
    pub fn fingerprint_window() -> usize {
        50_000
    }
    pub fn worker_count() -> u32 {
        1
    }
    pub fn interval_secs() -> u64 {
        300
    }
    pub fn weight() -> f32 {
        1.0
    }
    pub fn max_pages() -> usize {
        1
    }
    pub fn yes() -> bool {
        true
    }
}
