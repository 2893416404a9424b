//! Load test: 100 live viewers on the SSE stream while 1,000 analyzed items/s arrive on the bus,
//! with a prober timing the JSON API meanwhile. Prints a markdown table for BENCHMARKS.md.
//!
//! `cargo bench -p dashboards --bench live_load` (env: BENCH_SECONDS, BENCH_VIEWERS, BENCH_RATE).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use support::{Harness, doc, event, public_config};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let seconds = env("BENCH_SECONDS", 10);
    let viewers = env("BENCH_VIEWERS", 100);
    let rate = env("BENCH_RATE", 1000);
    let h = Harness::start(public_config()).await;
    let http = reqwest::Client::new();
    h.wait_json(&http, "/healthz", |v| v["status"] == "ok")
        .await;

    // Viewers: count item frames and bytes.
    let frames = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let mut viewer_tasks = Vec::new();
    for _ in 0..viewers {
        let (frames, bytes, connected) = (frames.clone(), bytes.clone(), connected.clone());
        let url = h.url("/api/stream");
        viewer_tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let Ok(mut res) = client.get(url).send().await else {
                return;
            };
            connected.fetch_add(1, Ordering::Relaxed);
            while let Ok(Some(chunk)) = res.chunk().await {
                bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                let n = chunk.windows(11).filter(|w| w == b"event: item").count();
                frames.fetch_add(n as u64, Ordering::Relaxed);
            }
        }));
    }
    while connected.load(Ordering::Relaxed) < viewers {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Prober: API latency while the load runs.
    let stop = common::Shutdown::new();
    let prober = {
        let (http, stop) = (http.clone(), stop.clone());
        let urls = [
            h.url("/api/items?limit=100"),
            h.url("/api/events?limit=50"),
            h.url("/api/stats"),
        ];
        tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.is_cancelled() {
                for u in &urls {
                    let t = Instant::now();
                    if let Ok(r) = http.get(u).send().await {
                        let _ = r.bytes().await;
                    }
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            lat
        })
    };

    // Publisher: `rate` items/s in 10 ms ticks, plus an event update every 10 items.
    let total = seconds * rate;
    let per_tick = (rate / 100).max(1);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = 0u64;
    let t0 = Utc::now();
    while sent < total {
        tick.tick().await;
        for _ in 0..per_tick.min(total - sent) {
            let county = ["南明区", "云岩区", "花溪区", "乌当区", "白云区"][(sent % 5) as usize];
            let ev = format!("ev-{}", sent % 200);
            h.item(doc(
                &format!("bench-{sent}"),
                &ev,
                "贵阳市某区道路积水影响出行",
                county,
                t0,
            ))
            .await;
            if sent % 10 == 0 {
                h.event(event(&ev, "道路积水", (sent % 997) as f64, sent + 1, t0))
                    .await;
            }
            sent += 1;
        }
    }
    let publish_secs = started.elapsed().as_secs_f64();
    // Feed throughput: until the read model holds every item.
    h.wait_json(&http, "/api/stats", |v| v["items"].as_u64() == Some(total))
        .await;
    let drained_secs = started.elapsed().as_secs_f64();
    stop.cancel();
    let mut lat = prober.await.expect("prober");
    lat.sort_by(f64::total_cmp);
    let frames = frames.load(Ordering::Relaxed);
    let bytes = bytes.load(Ordering::Relaxed);
    for t in viewer_tasks {
        t.abort();
    }
    h.stop().await;

    println!("| measure | value |");
    println!("|---|---|");
    println!("| live viewers (SSE) | {viewers} |");
    println!(
        "| items published | {total} in {publish_secs:.1} s ({:.0}/s) |",
        total as f64 / publish_secs
    );
    println!(
        "| all items in read model after | {drained_secs:.1} s ({:.0} items/s applied) |",
        total as f64 / drained_secs
    );
    println!("| API requests timed | {} |", lat.len());
    println!(
        "| API latency p50 / p95 / p99 / max | {:.1} / {:.1} / {:.1} / {:.1} ms |",
        pct(&lat, 0.5),
        pct(&lat, 0.95),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    println!(
        "| item frames delivered (all viewers) | {frames} ({:.0} per viewer per s) |",
        frames as f64 / viewers as f64 / drained_secs
    );
    println!(
        "| SSE bytes per viewer per s | {:.0} KB |",
        bytes as f64 / viewers as f64 / drained_secs / 1024.0
    );
}
