//! The analyze stage end to end on the embedded bus, with 1 and with N workers: raw documents
//! in, analyzed documents and event updates out, state in sled. Shows whether one process uses
//! more than one core. `cargo run --release -p analyze --example stage_throughput -- [N]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bus::{EmbeddedBus, publish};
use common::wire::{Envelope, RawDocument};
use common::{SharedBus, Shutdown, StageContext, SystemClock, topics};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let most: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let texts = analyze::tools::bench_texts();
    let docs = 2000.min(texts.len().max(1) * 4);
    println!("analyze stage throughput: {docs} documents, embedded bus");
    for workers in [1, most] {
        let dir = tempfile::tempdir()?;
        let bus: SharedBus = Arc::new(EmbeddedBus::open(&dir.path().join("bus"), "", 1_000_000)?);
        let now = chrono::Utc::now();
        for i in 0..docs {
            let doc = RawDocument {
                doc_id: format!("d{i}"),
                source_id: format!("s{}", i % 7),
                title: String::new(),
                body: texts[i % texts.len()].clone(),
                fetched_at: now,
                ..RawDocument::default()
            };
            publish(
                bus.as_ref(),
                topics::RAW_DOCUMENTS,
                &doc.source_id,
                &Envelope::new(doc.doc_id.clone(), now, &doc),
            )
            .await?;
        }
        let config = analyze::Config {
            workers,
            ..analyze::Config::default()
        };
        let ctx = StageContext {
            bus: bus.clone(),
            clock: Arc::new(SystemClock),
            data_dir: dir.path().to_path_buf(),
        };
        let shutdown = Shutdown::new();
        let start = Instant::now();
        let stage = tokio::spawn(analyze::run(config, ctx, shutdown.clone()));
        while bus
            .lag(topics::RAW_DOCUMENTS, topics::groups::ANALYZE)
            .await?
            != Some(0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        shutdown.cancel();
        stage.await??;
        println!(
            "  workers {workers}: {:.0} docs/s ({secs:.2} s, including start-up)",
            docs as f64 / secs
        );
    }
    Ok(())
}
