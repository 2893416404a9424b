//! `yuqing learn` → the corrections topic → analyzers that answer with the learned model: the
//! offline tool on the embedded bus, and two analyzer processes on Kafka that converge on one
//! model.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::bus::{Bus, KafkaBus};
use common::topics;
use common::wire::{AnalyzedDocument, Envelope, RawDocument};
use serde_json::{Value, json};

/// Praise in a phrase the lexicon does not know (made up for the tests), in a sentence that
/// sounds weary: the lexicon reads it as negative.
fn slang(i: usize) -> String {
    let places = ["南明区", "云岩区", "花溪区", "乌当区", "白云区", "观山湖区"];
    let things = [
        "地铁站",
        "菜市场",
        "医院门口",
        "小区门口",
        "公交站",
        "学校旁边",
    ];
    format!(
        "{}{}今天又是咕噜咕噜的样子，第{i}次了",
        places[i % 6],
        things[(i / 6) % 6]
    )
}

const PROBE: &str = "小河区公交站今天又是咕噜咕噜的样子，第99次了";

fn corrections_file(dir: &Path, name: &str, withdrawn: bool) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..60 {
        let row = json!({"id": format!("s{i}"), "text": slang(i), "field": "sentiment",
            "value": "positive", "withdrawn": withdrawn, "source": "test"});
        text.push_str(&format!("{row}\n"));
    }
    // A department by the unit's registry id.
    let row = json!({"id": "d1", "text": "新学期中小学课后服务全面推开", "field": "department", "value": "education"});
    text.push_str(&format!("{row}\n"));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn yuqing(args: &[&str], data_dir: &Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(args)
        .env("YUQING__DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The analysis of the probe by `yuqing analyze --jsonl` on `data_dir`.
fn analyze_probe(data_dir: &Path) -> Value {
    let out = yuqing(
        &["analyze", "--jsonl"],
        data_dir,
        &format!("{}\n", json!({"id": 1, "text": PROBE})),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn learn_then_analyze_jsonl_answers_with_the_learned_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let before = analyze_probe(&data);
    assert_eq!(before["model"]["version"], "lexicon");
    assert_eq!(before["sentiment"]["label"], "negative", "{before}");

    let file = corrections_file(dir.path(), "corrections.jsonl", false);
    let out = yuqing(&["learn", file.to_str().unwrap()], &data, "");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("61 条研判已发布"), "{said}");

    let after = analyze_probe(&data);
    let version = after["model"]["version"].as_str().unwrap().to_string();
    assert!(version.starts_with("learned-"), "{after}");
    assert_eq!(after["model"]["corrections"], 61);
    assert_eq!(after["sentiment"]["label"], "positive", "{after}");
    let sentiment = &after["model"]["fields"]["sentiment"];
    assert_eq!(sentiment["source"], "learned");
    assert_eq!(sentiment["calibrated"], true);
    assert!(
        sentiment["confidence"].as_f64().unwrap() > 0.5,
        "{sentiment}"
    );
    // The same import again changes nothing: same corrections, same model.
    let again = yuqing(&["learn", file.to_str().unwrap()], &data, "");
    assert!(again.status.success());
    assert_eq!(analyze_probe(&data)["model"]["version"], version.as_str());

    // Withdrawn: the sentiment corrections are unlearned.
    let withdraw = corrections_file(dir.path(), "withdraw.jsonl", true);
    assert!(
        yuqing(&["learn", withdraw.to_str().unwrap()], &data, "")
            .status
            .success()
    );
    let unlearned = analyze_probe(&data);
    assert_eq!(unlearned["sentiment"]["label"], "negative", "{unlearned}");
    assert_eq!(unlearned["model"]["corrections"], 1);
    assert_eq!(
        unlearned["model"]["fields"]["sentiment"]["source"],
        "lexicon"
    );
}

#[test]
fn a_bad_import_is_refused_whole_with_a_chinese_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id": "a", "text": "好", "field": "sentiment", "value": "positive"}"#,
            "\n",
            r#"{"id": "b", "text": "新游戏", "field": "department", "value": "市游戏局"}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = yuqing(&["learn", file.to_str().unwrap()], &data, "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("不在单位名录中") && err.contains("未导入任何记录"),
        "{err}"
    );
    // Nothing reached the bus.
    assert_eq!(analyze_probe(&data)["model"]["version"], "lexicon");

    std::fs::write(
        &file,
        "{\"id\": \"a\", \"text\": \"t\", \"field\": \"mood\", \"value\": 1}\n",
    )
    .unwrap();
    let out = yuqing(&["learn", file.to_str().unwrap()], &data, "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("第 1 行"), "{err}");
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kafka_config(dir: &Path, namespace: &str) -> std::path::PathBuf {
    let text = format!(
        "[bus]\nkind = \"kafka\"\nnamespace = \"{namespace}\"\n[bus.kafka]\nbootstrap = \"{}\"\npartitions = 3\n",
        tests::kafka_bootstrap()
    );
    let path = dir.join("yuqing.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn_analyzer(config: &Path, data_dir: &Path) -> (Process, std::path::PathBuf) {
    let log = data_dir.with_extension("log");
    let child = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["analyze", "--config"])
        .arg(config)
        .env("YUQING__DATA_DIR", data_dir)
        .env("RUST_LOG", "analyze=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (Process(child), log)
}

/// The model versions an analyzer logged, in order.
fn versions(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("model learned from corrections"))
        .filter_map(|l| l.split("version=").nth(1))
        .filter_map(|v| v.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_analyzers_on_kafka_answer_alike_after_the_same_corrections() {
    let dir = tempfile::tempdir().unwrap();
    let namespace = tests::fresh_namespace("learn");
    let config = kafka_config(dir.path(), &namespace);
    let (_a, log_a) = spawn_analyzer(&config, &dir.path().join("a"));
    let (_b, log_b) = spawn_analyzer(&config, &dir.path().join("b"));
    wait_for("both analyzers start from the lexicon", || {
        versions(&log_a).len() == 1 && versions(&log_b).len() == 1
    })
    .await;

    let file = corrections_file(dir.path(), "corrections.jsonl", false);
    let out = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["learn", file.to_str().unwrap(), "--config"])
        .arg(&config)
        .env("YUQING__DATA_DIR", dir.path().join("cli"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("both analyzers relearn", || {
        versions(&log_a).len() >= 2 && versions(&log_b).len() >= 2
    })
    .await;
    let learned = versions(&log_a).last().cloned().unwrap();
    assert!(learned.starts_with("learned-"), "{learned}");
    assert_eq!(versions(&log_b).last(), Some(&learned));

    // An analyzer started later rebuilds the same model from the topic.
    let (_c, log_c) = spawn_analyzer(&config, &dir.path().join("c"));
    wait_for("a new analyzer learns", || !versions(&log_c).is_empty()).await;
    assert_eq!(versions(&log_c).first(), Some(&learned));

    // The same text under many ids and sources (so every partition, hence both first
    // analyzers, get copies): every analysis is the same.
    let kafka = common::config::KafkaConfig {
        bootstrap: tests::kafka_bootstrap(),
        client_id: "yuqing-tests".into(),
        partitions: 3,
        replication: 1,
        properties: Default::default(),
    };
    let bus = KafkaBus::new(&kafka, &namespace).unwrap();
    let now = chrono::Utc::now();
    let n = 12;
    for i in 0..n {
        let doc = RawDocument {
            doc_id: format!("doc-{i}"),
            source_id: format!("source-{i}"),
            body: PROBE.into(),
            fetched_at: now,
            ..RawDocument::default()
        };
        let env = Envelope::new(format!("raw:{i}"), now, &doc);
        common::bus::publish(&bus, topics::RAW_DOCUMENTS, &doc.source_id, &env)
            .await
            .unwrap();
    }
    let mut sub = bus
        .subscribe(topics::ANALYZED_DOCUMENTS, "test-reader")
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < n {
        let d = tokio::time::timeout(Duration::from_secs(120), sub.recv())
            .await
            .expect("analyzed documents within 120 s")
            .unwrap();
        let a: Envelope<AnalyzedDocument> = Envelope::decode(&d.payload).unwrap();
        seen.push(a.payload);
    }
    let first = &seen[0];
    let model = first.model.clone().unwrap();
    assert_eq!(model.version, learned);
    assert_eq!(model.fields["sentiment"].value, json!("positive"));
    for a in &seen {
        assert_eq!(a.model.as_ref(), Some(&model), "{}", a.doc_id);
        assert_eq!(a.sentiment, first.sentiment);
        assert_eq!(a.department, first.department);
        assert_eq!(a.priorities, first.priorities);
    }
}
