//! Each stage as its own `yuqing` process on Apache Kafka, as a deployment runs them; the
//! analyzer is killed with SIGKILL mid-stream and restarted, and nothing is lost or doubled.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Shutdown;

struct Stage {
    name: &'static str,
    child: Child,
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(stage: &'static str, config: &Path, data_dir: &Path) -> Stage {
    let log = std::fs::File::create(data_dir.with_extension(format!("{stage}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args([stage, "--config"])
        .arg(config)
        .env("YUQING__DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Stage { name: stage, child }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get_json(url: &str) -> Option<serde_json::Value> {
    let resp = reqwest::get(url).await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_as_separate_processes_on_kafka_survive_a_kill() {
    let bootstrap = tests::kafka_bootstrap();
    let site_shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // The feed's ~165 s of releases in about 20 s, so the kill lands mid-stream.
    let site = yuqing::demo::serve(listener, 8.0, site_shutdown.clone()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let namespace = tests::fresh_namespace("proc");
    let mut doc = toml::Table::new();
    let mut bus = toml::Table::new();
    bus.insert("kind".into(), "kafka".into());
    bus.insert("namespace".into(), namespace.into());
    let mut kafka = toml::Table::new();
    kafka.insert("bootstrap".into(), bootstrap.into());
    kafka.insert("partitions".into(), 3.into());
    bus.insert("kafka".into(), kafka.into());
    doc.insert("bus".into(), bus.into());
    let sources = toml::Value::try_from(yuqing::demo_sources(&site.base_url(), 1)).unwrap();
    let mut ingest = toml::Table::new();
    ingest.insert("sources".into(), sources);
    ingest.insert("per_host_min_interval_ms".into(), 0.into());
    doc.insert("ingest".into(), ingest.into());
    let mut dashboards = toml::Table::new();
    dashboards.insert("listen".into(), format!("127.0.0.1:{port}").into());
    let mut auth = toml::Table::new();
    auth.insert("public_read_api".into(), true.into());
    dashboards.insert("auth".into(), auth.into());
    doc.insert("dashboards".into(), dashboards.into());
    let config = dir.path().join("yuqing.toml");
    std::fs::write(&config, toml::to_string(&doc).unwrap()).unwrap();

    let state = |s: &str| dir.path().join(s);
    let _ingest = spawn("ingest", &config, &state("ingest"));
    let mut analyze = spawn("analyze", &config, &state("analyze"));
    let _respond = spawn("respond", &config, &state("respond"));
    let _dashboards = spawn("dashboards", &config, &state("dashboards"));
    let api = format!("http://127.0.0.1:{port}");
    let expected = yuqing::demo::items().len() as u64;

    let items = |stats: &serde_json::Value| stats["items"].as_u64().unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    // Wait for a first part of the feed, then kill the analyzer without warning.
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no items reached the dashboard"
        );
        if let Some(stats) = get_json(&format!("{api}/api/stats")).await {
            if items(&stats) >= 3 {
                assert!(items(&stats) < expected, "killed mid-stream: {stats}");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    analyze.child.kill().unwrap(); // SIGKILL
    analyze.child.wait().unwrap();
    eprintln!("killed {} with SIGKILL", analyze.name);
    drop(analyze);
    let _analyze = spawn("analyze", &config, &state("analyze"));

    let mut last = serde_json::Value::Null;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the whole feed did not arrive after the restart; last stats {last}"
        );
        if let Some(stats) = get_json(&format!("{api}/api/stats")).await {
            if items(&stats) == expected && stats["cases"].as_u64() > Some(0) {
                break;
            }
            last = stats;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Redeliveries after the kill must not double anything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let listed = get_json(&format!("{api}/api/items?limit=500"))
        .await
        .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["doc_id"].as_str())
        .collect();
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len());
    assert_eq!(distinct.len() as u64, expected);
    let events = get_json(&format!("{api}/api/events")).await.unwrap();
    let counted: u64 = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["doc_count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        counted, expected,
        "events count each document once after the kill"
    );
    site_shutdown.cancel();
}

#[test]
fn a_lone_stage_on_the_embedded_bus_is_refused_with_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["analyze"])
        .env(
            "YUQING__DATA_DIR",
            std::env::temp_dir().join("yuqing-lone-stage"),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("use `yuqing run`"), "{err}");
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[bus]\nkindd = \"kafka\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown field") && err.contains("kindd"),
        "{err}"
    );
    assert!(!err.contains("backtrace"), "{err}");
}
