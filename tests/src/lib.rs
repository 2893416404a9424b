//! Harness for the cross-stage tests in `tests/tests/`: a whole pipeline in-process against a
//! real local HTTP feed site, on the embedded bus or on the Kafka broker that `scripts/test.sh`
//! started (`KAFKA_BOOTSTRAP`).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use common::Shutdown;
use common::config::BusKind;
use yuqing::{Config, Pipeline, Stage};

/// The Kafka broker for the tests. Failing (not skipping) without one keeps CI honest: the
/// README's test command always starts a broker.
pub fn kafka_bootstrap() -> String {
    match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) if !b.is_empty() => {
            eprintln!("kafka tests run against the broker at {b}");
            b
        }
        _ => panic!(
            "KAFKA_BOOTSTRAP is not set: run the suite with scripts/test.sh, which starts Apache Kafka"
        ),
    }
}

/// A fresh topic namespace, so tests never see each other's messages on a shared broker.
pub fn fresh_namespace(test: &str) -> String {
    format!("t-{test}-{}.", uuid::Uuid::now_v7())
}

/// The built-in configuration pointed at `data_dir`, crawling the feed site at `feed_base`.
pub fn config(data_dir: &Path, feed_base: &str, bus: BusKind, namespace: &str) -> Config {
    let mut config = yuqing::config::load(None).expect("built-in defaults load");
    config.data_dir = data_dir.to_path_buf();
    config.bus.kind = bus;
    config.bus.namespace = namespace.to_string();
    if bus == BusKind::Kafka {
        config.bus.kafka.bootstrap = kafka_bootstrap();
        config.bus.kafka.partitions = 3;
    }
    config.ingest.sources = yuqing::demo_sources(feed_base, 1);
    // The feed site is ours: no need to pace requests to it.
    config.ingest.per_host_min_interval_ms = 0;
    // The checks read the public feed anonymously, and cases as a desk account (cases are never
    // public).
    config.dashboards.auth.public_read_api = true;
    config
}

/// The desk account the checks read cases with.
const CHECKER: &str = "checker";
const CHECKER_PASSWORD: &str = "checker-password-1";

/// A pipeline running in the background, with its dashboard's address.
pub struct Running {
    pub api: String,
    pub shutdown: Shutdown,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        // `RUST_LOG=warn cargo test …` shows what the stages say when a scenario fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        // Accounts are made the way the CLI makes them: before the server holds the store.
        dashboards::tools::create_user(
            &config.dashboards,
            &config.data_dir,
            CHECKER,
            "desk",
            None,
            CHECKER_PASSWORD,
        )?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let api = format!("http://{}", listener.local_addr()?);
        let mut pipeline = Pipeline::new(config).await?;
        pipeline.dashboards_listener = Some(listener);
        let shutdown = Shutdown::new();
        let sd = shutdown.clone();
        let task = tokio::spawn(async move { pipeline.run(&Stage::ALL, sd).await });
        Ok(Self {
            api,
            shutdown,
            task,
        })
    }

    /// Stop gracefully and wait for every stage to finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .context("pipeline did not stop within 60 s")??
    }

    /// GET `path` anonymously (the public feed).
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.get_with(path, None).await
    }

    /// GET `path` as the desk account (cases).
    pub async fn get_signed_in(&self, path: &str) -> anyhow::Result<Value> {
        let session = self.login().await?;
        self.get_with(path, Some(&session)).await
    }

    async fn get_with(&self, path: &str, cookie: Option<&str>) -> anyhow::Result<Value> {
        let url = format!("{}{}", self.api, path);
        let mut req = reqwest::Client::new().get(&url);
        if let Some(c) = cookie {
            req = req.header(reqwest::header::COOKIE, c);
        }
        let resp = req.send().await.with_context(|| format!("GET {url}"))?;
        if !resp.status().is_success() {
            bail!("GET {url}: {}", resp.status());
        }
        Ok(resp.json().await?)
    }

    /// Log in through the real form; returns the session cookie (`name=value`).
    async fn login(&self) -> anyhow::Result<String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let form = http.get(format!("{}/login", self.api)).send().await?;
        let csrf_cookie = set_cookie(&form, "yq_login_csrf=").context("login form cookie")?;
        let html = form.text().await?;
        let marker = r#"name="csrf" value=""#;
        let start = html.find(marker).context("csrf field")? + marker.len();
        let end = start + html[start..].find('"').context("end of csrf field")?;
        let res = http
            .post(format!("{}/login", self.api))
            .header(reqwest::header::COOKIE, csrf_cookie)
            .form(&[
                ("username", CHECKER),
                ("password", CHECKER_PASSWORD),
                ("csrf", &html[start..end]),
            ])
            .send()
            .await?;
        set_cookie(&res, "yq_session=").with_context(|| format!("login: {}", res.status()))
    }

    /// Poll `/api/stats` until `pred` holds, or fail after `timeout`.
    pub async fn wait_for_stats(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = Value::Null;
        while tokio::time::Instant::now() < deadline {
            if let Ok(stats) = self.get("/api/stats").await {
                if pred(&stats) {
                    return Ok(stats);
                }
                last = stats;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bail!("timed out waiting for {what}; last stats: {last}")
    }
}

/// The `name=value` of the cookie a response sets, by its `name=` prefix.
fn set_cookie(res: &reqwest::Response, prefix: &str) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(prefix))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .find(|v| v.len() > prefix.len())
}

/// The number of items the demo feed publishes (each crawled item is one document).
pub fn published_items() -> usize {
    yuqing::demo::items().len()
}

/// Check that every published item was processed exactly once in effect: the dashboard holds
/// each document once, events count each document once, and no event has two cases.
pub async fn assert_exactly_once(run: &Running, expected: usize) -> anyhow::Result<()> {
    let items = run
        .get(&format!("/api/items?limit={}", expected * 4))
        .await?;
    let items = items.as_array().context("/api/items is an array")?;
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| i.get("doc_id").and_then(Value::as_str))
        .collect();
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        ids.len(),
        distinct.len(),
        "an item is listed twice: {ids:?}"
    );
    assert_eq!(distinct.len(), expected, "items: {ids:?}");

    let events = run.get("/api/events").await?;
    let events = events.as_array().context("/api/events is an array")?;
    let counted: u64 = events
        .iter()
        .map(|e| e.get("doc_count").and_then(Value::as_u64).unwrap_or(0))
        .sum();
    assert_eq!(counted, expected as u64, "events count each document once");
    let heats: Vec<f64> = events
        .iter()
        .map(|e| e.get("heat").and_then(Value::as_f64).unwrap_or(0.0))
        .collect();
    assert!(
        heats.windows(2).all(|w| w[0] >= w[1]),
        "events are hottest first: {heats:?}"
    );

    // The public feed names no case; the cases themselves need a login.
    assert!(
        events.iter().all(|e| e
            .get("case_ids")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)),
        "an anonymous reader sees no case ids: {events:?}"
    );
    let anonymous = reqwest::get(format!("{}/api/cases", run.api)).await?;
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let cases = run.get_signed_in("/api/cases").await?;
    let cases = cases.as_array().context("/api/cases is an array")?;
    assert!(!cases.is_empty(), "the demo's emergencies open cases");
    let mut case_events = HashSet::new();
    for case in cases {
        assert!(
            case.pointer("/owner/name")
                .and_then(Value::as_str)
                .is_some(),
            "{case}"
        );
        assert!(
            case.get("deadlines")
                .and_then(Value::as_array)
                .is_some_and(|d| !d.is_empty()),
            "{case}"
        );
        for ev in case
            .get("event_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert!(
                case_events.insert(ev.to_string()),
                "event {ev} has two cases"
            );
        }
    }
    Ok(())
}
