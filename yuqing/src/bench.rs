//! `yuqing bench pipeline`: the stage loop under load, next to the analysis alone.
//!
//! N raw documents of realistic length (the dev texts, with the demo feed's items mixed in so
//! a share of them are incidents that open cases) are published onto the raw-documents topic
//! of a fresh namespace; the analyze and respond stages run in this process on the chosen bus;
//! the bench reads their output topics as any other consumer would. It prints, in one run:
//!
//! - `analyzer_docs_per_s_per_core`: the analyzer alone on the same documents, one thread;
//! - `pipeline_docs_per_s`: N over the time from the first publish to the last analyzed
//!   document on the bus;
//! - `feed_to_case_p50_s` / `p99_s`: from a case's first document being published (its
//!   `detected_at`) to the case's `opened` event on the case-events topic;
//! - `cpu_s`: the CPU time the process used while the pipeline ran.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use common::config::BusKind;
use common::topics;
use common::wire::{CaseEvent, RawDocument};
use common::{Envelope, Shutdown};

use crate::{Config, Pipeline, Stage};

/// Publishing tasks running at once (many sources publish concurrently in production).
const PUBLISHERS: usize = 32;
/// Give up when the pipeline has not moved for this long.
const STALL: Duration = Duration::from_secs(120);

/// The documents the bench feeds: dev texts of every kind, every tenth one a demo feed item.
fn documents(n: usize) -> Vec<RawDocument> {
    let texts = analyze::tools::bench_texts();
    let demo: Vec<_> = crate::demo::items()
        .into_iter()
        .filter(|d| !d.body.is_empty() || !d.title.is_empty())
        .collect();
    (0..n)
        .map(|i| {
            let (title, body) = match demo.get((i / 10) % demo.len().max(1)) {
                Some(d) if i % 10 == 0 => (d.title.clone(), d.body.clone()),
                _ => (String::new(), texts[i % texts.len().max(1)].clone()),
            };
            RawDocument {
                doc_id: format!("bench-{i}"),
                source_id: format!("bench-source-{}", i % 16),
                title,
                body,
                fetched_at: Utc::now(),
                site_name: Some("压力测试".into()),
                ..RawDocument::default()
            }
        })
        .collect()
}

/// The analyzer alone, one thread, on (up to 2 000 of) the same documents.
fn analyzer_rate(config: &Config, docs: &[RawDocument]) -> anyhow::Result<f64> {
    let analyzer = analyze::Analyzer::new(&config.analyze)?;
    let sample = &docs[..docs.len().min(2000)];
    let input = |d: &RawDocument| {
        analyzer.analyze(&analyze::Input {
            title: &d.title,
            body: &d.body,
            ..analyze::Input::default()
        })
    };
    for d in sample.iter().take(50) {
        let _ = input(d);
    }
    let start = Instant::now();
    for d in sample {
        let _ = input(d);
    }
    Ok(sample.len() as f64 / start.elapsed().as_secs_f64())
}

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn pipeline(
    mut config: Config,
    bus: BusKind,
    n: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if n == 0 {
        bail!("--docs must be at least 1");
    }
    let stamp = Utc::now().timestamp_millis();
    let dir = std::env::temp_dir().join(format!("yuqing-bench-{stamp}"));
    config.data_dir = dir.clone();
    config.bus.kind = bus;
    config.bus.namespace = format!("bench-{stamp}.");
    let docs = documents(n);
    writeln!(
        out,
        "bench pipeline: bus={} docs={n} (analyze and respond stages in this process)",
        match bus {
            BusKind::Embedded => "embedded",
            BusKind::Kafka => "kafka",
        }
    )?;
    let per_core = analyzer_rate(&config, &docs)?;
    writeln!(out, "analyzer_docs_per_s_per_core={per_core:.0}")?;

    let pipeline = Pipeline::new(config)
        .await
        .context("cannot open the bus for the bench")?;
    let bus = pipeline.bus.clone();
    // Observers join before anything is fed, from the start of the fresh topics.
    let mut analyzed = bus
        .subscribe(topics::ANALYZED_DOCUMENTS, "bench-observer")
        .await?;
    let mut case_events = bus.subscribe(topics::CASE_EVENTS, "bench-observer").await?;
    let shutdown = Shutdown::new();
    let stages = tokio::spawn({
        let sd = shutdown.clone();
        async move { pipeline.run(&[Stage::Analyze, Stage::Respond], sd).await }
    });

    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let cases = tokio::spawn({
        let latencies = latencies.clone();
        async move {
            while let Ok(d) = case_events.recv().await {
                let _ = case_events.ack(&d).await;
                if let Ok(env) = Envelope::<CaseEvent>::decode(&d.payload)
                    && env.payload.kind == "opened"
                {
                    let waited = (Utc::now() - env.payload.case.detected_at).num_milliseconds()
                        as f64
                        / 1000.0;
                    latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(waited);
                }
            }
        }
    });

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let docs = Arc::new(docs);
    let mut publishers = tokio::task::JoinSet::new();
    for p in 0..PUBLISHERS {
        let (bus, docs) = (bus.clone(), docs.clone());
        publishers.spawn(async move {
            for doc in docs.iter().skip(p).step_by(PUBLISHERS) {
                let mut doc = doc.clone();
                doc.fetched_at = Utc::now();
                let env = Envelope::new(doc.doc_id.clone(), doc.fetched_at, &doc);
                common::bus::publish(bus.as_ref(), topics::RAW_DOCUMENTS, &doc.source_id, &env)
                    .await?;
            }
            Ok::<(), common::BusError>(())
        });
    }
    let mut seen = HashSet::new();
    let mut last_progress = Instant::now();
    while seen.len() < n {
        match tokio::time::timeout(Duration::from_secs(1), analyzed.recv()).await {
            Ok(Ok(d)) => {
                analyzed.ack(&d).await?;
                if let Ok(env) = Envelope::<serde_json::Value>::decode(&d.payload)
                    && let Some(id) = env.payload["doc_id"].as_str()
                    && seen.insert(id.to_string())
                {
                    last_progress = Instant::now();
                }
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_) if stages.is_finished() => bail!("the stages stopped during the bench"),
            Err(_) => {}
        }
        if last_progress.elapsed() > STALL {
            bail!("no document analyzed for {STALL:?} ({} of {n})", seen.len());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    while let Some(p) = publishers.join_next().await {
        p??;
    }
    let cpu = cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a);
    // Cases open right after their event's documents: let the last ones arrive.
    let mut quiet = latencies.lock().unwrap_or_else(|p| p.into_inner()).len();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = latencies.lock().unwrap_or_else(|p| p.into_inner()).len();
        if now == quiet {
            break;
        }
        quiet = now;
    }
    shutdown.cancel();
    cases.abort();
    let rate = n as f64 / elapsed;
    let mut waits = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    waits.sort_by(f64::total_cmp);
    writeln!(out, "pipeline_docs_per_s={rate:.0}")?;
    writeln!(out, "ratio={:.3}", rate / per_core)?;
    writeln!(out, "cases={}", waits.len())?;
    writeln!(out, "feed_to_case_p50_s={:.2}", percentile(&waits, 0.5))?;
    writeln!(out, "feed_to_case_p99_s={:.2}", percentile(&waits, 0.99))?;
    if let Some(cpu) = cpu {
        writeln!(
            out,
            "cpu_s={cpu:.1} (cores busy {:.2}, all stages and the bench)",
            cpu / elapsed
        )?;
    }
    match tokio::time::timeout(Duration::from_secs(60), stages).await {
        Ok(joined) => joined.context("the stages panicked")??,
        Err(_) => tracing::warn!("the stages did not stop within 60 s"),
    }
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!(error = %e, dir = %dir.display(), "bench data left behind");
    }
    Ok(())
}
