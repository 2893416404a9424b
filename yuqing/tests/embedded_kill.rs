//! The embedded default under crashes: `yuqing run` with many sources publishing at once is
//! killed with SIGKILL in the middle of a burst, again and again, and restarted on the same data
//! directory. It must resume every time (sled 0.34 used to deadlock here, every I/O thread in
//! `flush_async`, when many tasks flushed at once) and lose nothing.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// Sources crawled concurrently (the deadlock needed ≥ 8).
const SOURCES: usize = 10;
const PER_SOURCE: usize = 60;
/// Every `BURST_EVERY` each source's feed gains `BURST` items at once.
const BURST: usize = 6;
const BURST_EVERY: Duration = Duration::from_secs(4);
const KILLS: usize = 5;
/// A restart that makes no progress for this long is hung.
const STALL: Duration = Duration::from_secs(90);

struct Feeds {
    started: Instant,
}

impl Feeds {
    fn released(&self) -> usize {
        let bursts = self.started.elapsed().as_millis() / BURST_EVERY.as_millis() + 1;
        (bursts as usize * BURST).min(PER_SOURCE)
    }
}

fn item_text(source: usize, i: usize) -> (String, String) {
    let districts = ["南明区", "云岩区", "花溪区", "乌当区", "白云区", "观山湖区"];
    let topics = [
        "道路施工",
        "社区服务",
        "公交线路",
        "学校招生",
        "农贸市场",
        "供水管网",
    ];
    let d = districts[(source + i) % districts.len()];
    let t = topics[(source * 7 + i) % topics.len()];
    let title = format!("{d}{t}情况通报（第{source}源第{i}条）");
    let body = format!(
        "{d}相关部门今日通报{t}的最新进展，编号{source}-{i}。居民反映的问题已登记，\
         工作人员表示将在{n}个工作日内答复，并在{d}政务服务网站公布处理结果。\
         据介绍，本次涉及{m}户居民，现场秩序良好，有关单位正在核实情况，后续进展将及时发布。",
        n = 3 + i % 5,
        m = 10 + source * 13 + i,
    );
    (title, body)
}

async fn feed(State(feeds): State<Arc<Feeds>>, UrlPath(n): UrlPath<usize>) -> impl IntoResponse {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>压力测试源</title>",
    );
    for i in (0..feeds.released()).rev() {
        let (title, body) = item_text(n, i);
        xml.push_str(&format!(
            "<item><title>{title}</title><link>http://stress.invalid/{n}/{i}.html</link>\
             <guid>stress-{n}-{i}</guid><pubDate>Wed, 02 Dec 2026 08:00:00 +0800</pubDate>\
             <description>{body}</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")],
        xml,
    )
}

struct Run {
    child: Child,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, log: &Path) -> Run {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Run { child }
}

async fn items(api: &str) -> Option<u64> {
    let resp = reqwest::get(format!("{api}/api/stats")).await.ok()?;
    let stats: serde_json::Value = resp.json().await.ok()?;
    stats["items"].as_u64()
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sources_killed_mid_burst_resume_every_time_and_lose_nothing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let feeds = Arc::new(Feeds {
        started: Instant::now(),
    });
    let app = Router::new()
        .route("/feed/{n}", get(feed))
        .with_state(feeds.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = format!(
        "data_dir = {data:?}\n\n[dashboards]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [dashboards.auth]\npublic_read_api = true\n\n\
         [ingest]\nper_host_min_interval_ms = 0\nfollow_links = false\n\
         max_concurrent_sources = {SOURCES}\n",
        data = dir.path().join("data").display().to_string(),
    );
    for n in 0..SOURCES {
        config.push_str(&format!(
            "\n[[ingest.sources]]\nid = \"stress-{n}\"\nkind = \"rss\"\n\
             url = \"{base}/feed/{n}\"\ninterval_secs = 1\nallow_private = true\n"
        ));
    }
    let config_path = dir.path().join("yuqing.toml");
    std::fs::write(&config_path, config).unwrap();
    let log = dir.path().join("yuqing.log");
    let api = format!("http://127.0.0.1:{port}");
    let total = (SOURCES * PER_SOURCE) as u64;

    let mut seen = 0u64;
    let mut killed_mid_stream = 0;
    let mut last = None;
    for kill in 0..=KILLS {
        let mut run = start(&config_path, &log);
        // Every start must make progress: a hung restart shows no new item for STALL.
        let since = Instant::now();
        let before = seen;
        loop {
            if let Some(n) = items(&api).await {
                seen = seen.max(n);
            }
            if seen == total || (kill < KILLS && seen >= before + (BURST as u64)) {
                break;
            }
            assert!(
                since.elapsed() < STALL,
                "start {} made no progress for {STALL:?} ({seen} of {total} items): hung?\n{}",
                kill + 1,
                log_tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if kill == KILLS {
            last = Some(run);
            break;
        }
        // Land the kill at different points of the next burst.
        tokio::time::sleep(Duration::from_millis(150 * kill as u64)).await;
        if seen < total {
            killed_mid_stream += 1;
        }
        run.child.kill().unwrap(); // SIGKILL
        run.child.wait().unwrap();
        drop(run);
    }
    assert!(
        killed_mid_stream >= 3,
        "only {killed_mid_stream} kills landed before the feed was through"
    );

    // Nothing lost, nothing doubled.
    let listed: serde_json::Value = reqwest::get(format!("{api}/api/items?limit={}", total * 2))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["doc_id"].as_str())
        .collect();
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len(), "an item is listed twice");
    assert_eq!(distinct.len() as u64, total, "{}", log_tail(&log));
    drop(last);
}
