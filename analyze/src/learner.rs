//! Corrections on the bus → the model every analysis uses.
//!
//! Every analyzer reads the whole corrections topic: first as a snapshot ([`load`], before the
//! first item is analyzed, so a restarted or added analyzer starts from the same model as the
//! others), then by following it ([`follow`]) with a consumer group of its own that never
//! stores an offset, so each process sees every correction. The model is a pure function of the
//! set of live corrections, so N analyzers that read the same topic answer alike.
//!
//! The stage also writes the live set to `analyze/corrections.jsonl` under the data directory:
//! `yuqing analyze --jsonl` reads it when a running pipeline holds the embedded bus.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::wire::{Correction, Envelope};
use common::{Bus, Shutdown, topics};
use tokio::time::Instant;

use crate::Error;
use crate::analyzer::Analyzer;
use crate::learn::{CorrectionSet, Hyper, Model};

/// Quiet time after a correction before the model is rebuilt (a burst of imports trains once).
const SETTLE: Duration = Duration::from_millis(300);
/// A steady trickle of corrections still rebuilds at least this often.
const MAX_DELAY: Duration = Duration::from_secs(3);

/// The consumer group prefix of the followers (each process appends its own id).
pub const FOLLOW_GROUP: &str = "yuqing-analyze-corrections";

/// The model in use, swapped whole when corrections change it.
pub struct ModelCell {
    current: RwLock<Arc<Model>>,
}

impl ModelCell {
    pub fn new(model: Model) -> Self {
        Self {
            current: RwLock::new(Arc::new(model)),
        }
    }

    pub fn get(&self) -> Arc<Model> {
        match self.current.read() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, model: Model) {
        let model = Arc::new(model);
        match self.current.write() {
            Ok(mut m) => *m = model,
            Err(p) => *p.into_inner() = model,
        }
    }
}

/// Apply one message of the corrections topic; whether the set changed. An undecodable one is
/// logged and skipped (it is nobody's to retry, and every analyzer skips it alike).
fn apply(set: &mut CorrectionSet, payload: &[u8]) -> bool {
    match Envelope::<Correction>::decode(payload) {
        Ok(env) => set.apply(env.payload),
        Err(e) => {
            tracing::warn!(error = %e, "undecodable correction skipped");
            false
        }
    }
}

/// Every correction the topic holds now.
pub async fn load(bus: &dyn Bus) -> Result<CorrectionSet, Error> {
    let mut set = CorrectionSet::default();
    for d in bus.read_all(topics::CORRECTIONS).await? {
        apply(&mut set, &d.payload);
    }
    Ok(set)
}

/// Train on the blocking pool.
pub async fn train(analyzer: Arc<Analyzer>, set: CorrectionSet) -> Result<Model, Error> {
    tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        let model = Model::train(&analyzer, &set, &Hyper::default());
        tracing::info!(
            version = %model.version(),
            corrections = model.corrections(),
            rejected = model.rejected(),
            seconds = start.elapsed().as_secs_f64(),
            "model learned from corrections"
        );
        model
    })
    .await
    .map_err(|e| Error::Input(format!("training panicked: {e}")))
}

/// Where the stage keeps the live corrections for the offline tool.
pub fn snapshot_path(data_dir: &Path) -> PathBuf {
    data_dir.join("analyze").join("corrections.jsonl")
}

/// Write the live set, one correction per line, atomically (a reader sees the old file or
/// the new one).
pub fn write_snapshot(path: &Path, set: &CorrectionSet) -> Result<(), Error> {
    let mut text = String::new();
    for c in set.iter() {
        text.push_str(&serde_json::to_string(c)?);
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Read a snapshot written by [`write_snapshot`]; a missing file is an empty set.
pub fn read_snapshot(path: &Path) -> Result<CorrectionSet, Error> {
    let mut set = CorrectionSet::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(set),
        Err(e) => return Err(e.into()),
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let c: Correction = serde_json::from_str(line)
            .map_err(|e| Error::Input(format!("{}: line {}: {e}", path.display(), i + 1)))?;
        set.apply(c);
    }
    Ok(set)
}

/// Follow the corrections topic until `shutdown`, rebuilding the model in `cell` when the set
/// changes (after [`SETTLE`] of quiet, at most [`MAX_DELAY`] late).
pub async fn follow(
    bus: common::SharedBus,
    analyzer: Arc<Analyzer>,
    mut set: CorrectionSet,
    cell: Arc<ModelCell>,
    snapshot: Option<PathBuf>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let group = format!("{FOLLOW_GROUP}-{}", common::wire::new_message_id());
    let mut sub = bus.subscribe(topics::CORRECTIONS, &group).await?;
    // (first unapplied change, rebuild deadline)
    let mut pending: Option<(Instant, Instant)> = None;
    loop {
        let deadline = pending.map(|(_, d)| d);
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            d = sub.recv() => {
                let d = d?;
                if apply(&mut set, &d.payload) {
                    let now = Instant::now();
                    let first = pending.map_or(now, |(f, _)| f);
                    pending = Some((first, (now + SETTLE).min(first + MAX_DELAY)));
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                pending = None;
                let model = train(analyzer.clone(), set.clone()).await?;
                cell.set(model);
                if let Some(path) = &snapshot {
                    let (path, set) = (path.clone(), set.clone());
                    let written = tokio::task::spawn_blocking(move || write_snapshot(&path, &set))
                        .await
                        .map_err(|e| Error::Input(e.to_string()))?;
                    if let Err(e) = written {
                        tracing::warn!(error = %e, "corrections snapshot not written");
                    }
                }
            }
        }
    }
}
