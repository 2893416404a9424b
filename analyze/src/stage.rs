//! The stage on the bus: raw documents in, analyzed documents and event updates out.
//!
//! Exactly-once counting on top of at-least-once delivery: the item's record (its event and
//! its analyzed form) and the event's new state are written to sled in one atomic batch and
//! flushed *before* anything is published. A redelivered item (same `doc_id`) finds its record
//! and is only re-published (same message ids, so downstream drops the copies); it is never
//! counted again, across restarts too. A crash between the batch and the publish is healed by
//! that same path when the bus redelivers the item.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use common::bus::{HandlerError, consume_concurrent, publish};
use common::wire::{
    AnalyzedDocument, Envelope, RawDocument, Sentiment, SentimentLabel, SourceKind,
};
use common::{Shutdown, StageContext, topics};
use serde::{Deserialize, Serialize};

use crate::analyzer::{Analysis, Analyzer, Input, summary};
use crate::events::{EventParams, EventState, Events, Item};
use crate::learn::Model;
use crate::learner::{self, ModelCell};
use crate::{Config, Error};

/// What the store keeps per item.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DocRecord {
    event_id: String,
    detected_at: DateTime<Utc>,
    analyzed: AnalyzedDocument,
}

struct Store {
    db: sled::Db,
}

fn doc_key(doc_id: &str) -> Vec<u8> {
    format!("d/{doc_id}").into_bytes()
}

fn event_key(event_id: &str) -> Vec<u8> {
    format!("e/{event_id}").into_bytes()
}

fn time_key(at: DateTime<Utc>, doc_id: &str) -> Vec<u8> {
    format!("t/{:020}/{doc_id}", at.timestamp().max(0)).into_bytes()
}

impl Store {
    fn doc(&self, doc_id: &str) -> Result<Option<DocRecord>, Error> {
        match self.db.get(doc_key(doc_id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    fn event(&self, event_id: &str) -> Result<Option<EventState>, Error> {
        match self.db.get(event_key(event_id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    fn active_events(
        &self,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Vec<EventState>, Error> {
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(b"e/") {
            let (_, v) = kv?;
            match serde_json::from_slice::<EventState>(&v) {
                Ok(s) if s.update.last_seen_at + window >= now => out.push(s),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "unreadable event state skipped"),
            }
        }
        Ok(out)
    }

    fn commit(&self, record: &DocRecord, event: &EventState) -> Result<(), Error> {
        let mut batch = sled::Batch::default();
        batch.insert(
            doc_key(&record.analyzed.doc_id),
            serde_json::to_vec(record)?,
        );
        batch.insert(
            time_key(record.detected_at, &record.analyzed.doc_id),
            Vec::<u8>::new(),
        );
        batch.insert(
            event_key(&event.update.event_id),
            serde_json::to_vec(event)?,
        );
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Forget items and events older than `keep` before `now`. Items are remembered for twice
    /// the event window, which bounds how late a redelivery can come and still be recognised.
    fn prune(&self, now: DateTime<Utc>, keep: Duration) -> Result<usize, Error> {
        let cutoff = format!("t/{:020}/", (now - keep).timestamp().max(0)).into_bytes();
        let mut removed = 0;
        let mut batch = sled::Batch::default();
        for kv in self.db.range(b"t/".to_vec()..cutoff) {
            let (k, _) = kv?;
            if let Some(doc_id) = std::str::from_utf8(&k)
                .ok()
                .and_then(|s| s.splitn(3, '/').nth(2))
            {
                batch.remove(doc_key(doc_id));
            }
            batch.remove(k);
            removed += 1;
        }
        for kv in self.db.scan_prefix(b"e/") {
            let (k, v) = kv?;
            if let Ok(s) = serde_json::from_slice::<EventState>(&v) {
                if s.update.last_seen_at + keep < now {
                    batch.remove(k);
                }
            }
        }
        self.db.apply_batch(batch)?;
        Ok(removed)
    }
}

/// The on-wire sentiment: neutral when no sentiment-bearing word was found.
pub(crate) fn wire_sentiment(a: &Analysis, threshold: f32) -> Sentiment {
    let label = if !a.has_sentiment {
        SentimentLabel::Neutral
    } else if a.negative_score >= threshold {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Positive
    };
    Sentiment {
        label,
        negative_score: a.negative_score,
    }
}

fn to_wire(doc: &RawDocument, a: &Analysis, event_id: &str, config: &Config) -> AnalyzedDocument {
    AnalyzedDocument {
        doc_id: doc.doc_id.clone(),
        source_id: doc.source_id.clone(),
        source_kind: doc.source_kind,
        url: doc.url.clone(),
        title: doc.title.clone(),
        summary: summary(
            if doc.body.is_empty() {
                &doc.title
            } else {
                &doc.body
            },
            config.summary_chars,
        ),
        published_at: doc.published_at,
        detected_at: doc.fetched_at,
        site_name: doc.site_name.clone(),
        priorities: a.priorities.clone(),
        domain: a.domain.clone(),
        department: a.department.clone(),
        jurisdiction: a.jurisdiction.clone(),
        places: a.places.clone(),
        sentiment: wire_sentiment(a, config.negative_threshold),
        rumor_score: a.rumor_score,
        is_rumor: a.is_rumor,
        severity: a.severity.clone(),
        keywords: a.keywords.words().map(str::to_string).collect(),
        event_id: event_id.to_string(),
        engagement: doc.engagement.clone(),
        source_weight: doc.source_weight,
        flags: doc.flags.clone(),
        near_duplicate_of: doc.near_duplicate_of.clone(),
        model: Some(crate::learn::stamp(a, config.negative_threshold)),
    }
}

struct State {
    store: Store,
    events: Events,
    processed: u64,
}

impl State {
    fn reload(&mut self, now: DateTime<Utc>, window: Duration) -> Result<(), Error> {
        self.events = Events::from_states(self.store.active_events(now, window)?);
        Ok(())
    }
}

fn retryable(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Retryable(e.to_string())
}

/// Run the analyze stage until `shutdown`.
pub async fn run(config: Config, ctx: StageContext, shutdown: Shutdown) -> Result<(), Error> {
    let cfg = config.clone();
    let analyzer = tokio::task::spawn_blocking(move || Analyzer::new(&cfg))
        .await
        .map_err(|e| Error::Input(format!("analyzer setup panicked: {e}")))??;
    let analyzer = Arc::new(analyzer);
    let dir = ctx.stage_dir("analyze")?;
    let durable = common::durable::Durable::open_async(dir.join("state")).await?;
    let db = durable.db().clone();
    let window = Duration::hours(config.event_window_hours as i64);
    let params = EventParams {
        window,
        similarity: config.event_similarity,
        recent_docs: config.event_recent_docs.max(1),
        spike_factor: config.spike_factor,
        spike_min_docs: config.spike_min_docs,
    };
    let now = ctx.clock.now();
    // The async side flushes through the database's one flusher and never takes the state lock
    // (which a prune on the blocking pool may hold for a while).
    let flush_db = durable;
    let store = Store { db };
    let events = Events::from_states(store.active_events(now, window)?);
    tracing::info!(
        active_events = events.events.len(),
        "analyze stage starting"
    );
    let state = Arc::new(Mutex::new(State {
        store,
        events,
        processed: 0,
    }));
    ctx.bus
        .ensure_topics(&[
            topics::RAW_DOCUMENTS,
            topics::ANALYZED_DOCUMENTS,
            topics::EVENT_UPDATES,
            topics::CORRECTIONS,
        ])
        .await?;
    // The model first, from every correction on the topic: no item is analyzed by a model
    // that has not caught up with the desk.
    let corrections = learner::load(ctx.bus.as_ref()).await?;
    let snapshot = learner::snapshot_path(&ctx.data_dir);
    learner::write_snapshot(&snapshot, &corrections)?;
    let model = Arc::new(ModelCell::new(
        learner::train(analyzer.clone(), corrections.clone()).await?,
    ));
    // The follower stops with the stage (a child token), and a follower that lost the bus
    // stops the stage: an analyzer must not go on with a model that silently stopped learning.
    let follow_stop = shutdown.child_token();
    let follower = tokio::spawn({
        let follow = learner::follow(
            ctx.bus.clone(),
            analyzer.clone(),
            corrections,
            model.clone(),
            Some(snapshot),
            follow_stop.clone(),
        );
        let shutdown = shutdown.clone();
        async move {
            let r = follow.await;
            if let Err(e) = &r {
                tracing::error!(error = %e, "following corrections failed; stopping the stage");
                shutdown.cancel();
            }
            r
        }
    });

    let bus = ctx.bus.clone();
    let clock = ctx.clock.clone();
    let workers = config.workers.max(1);
    let config = Arc::new(config);
    let prepare = {
        let (analyzer, state, model) = (analyzer.clone(), state.clone(), model.clone());
        move |env: Envelope<RawDocument>| {
            let (analyzer, state, model) = (analyzer.clone(), state.clone(), model.get());
            async move {
                let doc = env.payload;
                if doc.doc_id.is_empty() {
                    return Err(HandlerError::Permanent(
                        "raw document without doc_id".into(),
                    ));
                }
                // CPU-bound: off the async runtime, several items at once.
                tokio::task::spawn_blocking(move || prepare(&analyzer, &model, &state, &doc))
                    .await
                    .map_err(retryable)?
                    .map_err(classify)
            }
        }
    };
    let commit = move |env: Envelope<RawDocument>, analysis: Option<Arc<Analysis>>| {
        let (analyzer, state, db, bus, model) = (
            analyzer.clone(),
            state.clone(),
            flush_db.clone(),
            bus.clone(),
            model.get(),
        );
        let (config, params, now) = (config.clone(), params.clone(), clock.now());
        async move {
            let doc = env.payload;
            let (analyzed, event) = tokio::task::spawn_blocking(move || {
                finish(
                    &analyzer, &model, &state, &config, &params, doc, analysis, now,
                )
            })
            .await
            .map_err(retryable)?
            .map_err(classify)?;
            // Durable before visible: a publish never runs ahead of the stored state.
            db.flush().await.map_err(retryable)?;
            let msg = Envelope::new(format!("analyzed:{}", analyzed.doc_id), now, &analyzed);
            let doc = publish(
                bus.as_ref(),
                topics::ANALYZED_DOCUMENTS,
                &analyzed.event_id,
                &msg,
            );
            // The two topics carry no order between them, so the publishes overlap: one
            // round trip on Kafka, one group commit on the embedded bus.
            let update = async {
                match &event {
                    Some(event) => {
                        let u = &event.update;
                        let msg =
                            Envelope::new(format!("event:{}:{}", u.event_id, u.revision), now, u);
                        publish(bus.as_ref(), topics::EVENT_UPDATES, &u.event_id, &msg).await
                    }
                    None => Ok(()),
                }
            };
            tokio::try_join!(doc, update).map_err(retryable)?;
            Ok(())
        }
    };
    // Items are analyzed `workers` at a time; clustering, the store and publishing run one item
    // at a time in log order, so one event's outputs keep their order and acks stay in order.
    let consume = consume_concurrent::<RawDocument, Option<Arc<Analysis>>, _, _, _, _>(
        ctx.bus.clone(),
        topics::RAW_DOCUMENTS,
        topics::groups::ANALYZE,
        shutdown.clone(),
        workers,
        prepare,
        commit,
    );
    // The consume loop drains on shutdown (it acknowledges what it committed); then the
    // follower stops.
    let consumed = consume.await;
    follow_stop.cancel();
    let followed = follower
        .await
        .map_err(|e| Error::Input(format!("corrections follower panicked: {e}")))?;
    consumed?;
    followed?;
    tracing::info!("analyze stage stopped");
    Ok(())
}

/// An item already counted: its stored analysis and its event, to be re-published as they were.
fn recall(
    st: &State,
    doc_id: &str,
) -> Result<Option<(AnalyzedDocument, Option<EventState>)>, Error> {
    let Some(rec) = st.store.doc(doc_id)? else {
        return Ok(None);
    };
    let event = match st.events.events.get(&rec.event_id) {
        Some(e) => Some(e.clone()),
        None => st.store.event(&rec.event_id)?,
    };
    tracing::debug!(doc_id, "redelivered item re-published, not recounted");
    Ok(Some((rec.analyzed, event)))
}

fn classify(e: Error) -> HandlerError {
    if e.is_retryable() {
        retryable(e)
    } else {
        HandlerError::Permanent(e.to_string())
    }
}

fn analyze_doc(analyzer: &Analyzer, model: &Model, doc: &RawDocument) -> Analysis {
    analyzer.analyze_with(
        &Input {
            title: &doc.title,
            body: &doc.body,
            source: doc.site_name.as_deref().unwrap_or(&doc.source_id),
            social: doc.source_kind == SourceKind::Social,
        },
        Some(model),
    )
}

/// The concurrent phase: analyze an item not seen before (`None` for one already counted).
/// Runs on the blocking pool.
fn prepare(
    analyzer: &Analyzer,
    model: &Model,
    state: &Mutex<State>,
    doc: &RawDocument,
) -> Result<Option<Arc<Analysis>>, Error> {
    {
        let st = state
            .lock()
            .map_err(|_| Error::Input("state lock poisoned".into()))?;
        if st.store.doc(&doc.doc_id)?.is_some() {
            return Ok(None);
        }
    }
    Ok(Some(Arc::new(analyze_doc(analyzer, model, doc))))
}

/// The ordered phase: cluster and store one item, or recall it if already counted. Runs on the
/// blocking pool, one item at a time.
#[allow(clippy::too_many_arguments)]
fn finish(
    analyzer: &Analyzer,
    model: &Model,
    state: &Mutex<State>,
    config: &Config,
    params: &EventParams,
    doc: RawDocument,
    analysis: Option<Arc<Analysis>>,
    now: DateTime<Utc>,
) -> Result<(AnalyzedDocument, Option<EventState>), Error> {
    let mut st = state
        .lock()
        .map_err(|_| Error::Input("state lock poisoned".into()))?;
    // Look under the lock that also guards the commit: a copy of this item may have been
    // counted after it was prepared.
    if let Some(seen) = recall(&st, &doc.doc_id)? {
        return Ok(seen);
    }
    // Seen when prepared but forgotten since (pruned): analyze it now.
    let analysis = analysis.unwrap_or_else(|| Arc::new(analyze_doc(analyzer, model, &doc)));
    st.processed += 1;
    if st.processed % 500 == 0 {
        st.events.expire(now, params.window);
        let removed = st.store.prune(now, params.window * 2)?;
        if removed > 0 {
            tracing::info!(removed, "forgot items older than twice the event window");
        }
    }
    let event = st.events.add(
        &Item {
            doc_id: &doc.doc_id,
            source_id: &doc.source_id,
            title: &doc.title,
            text: &doc.body,
            social: doc.source_kind == SourceKind::Social,
            detected_at: doc.fetched_at,
            source_weight: doc.source_weight,
            engagement: doc.engagement.total(),
            near_duplicate_of: doc.near_duplicate_of.as_deref(),
            flags: &doc.flags,
            analysis: analysis.as_ref(),
        },
        params,
    );
    let analyzed = to_wire(&doc, analysis.as_ref(), &event.update.event_id, config);
    let record = DocRecord {
        event_id: event.update.event_id.clone(),
        detected_at: doc.fetched_at,
        analyzed: analyzed.clone(),
    };
    if let Err(e) = st.store.commit(&record, &event) {
        // Roll the in-memory state back to what is stored, so the retry counts the item once.
        if let Err(reload) = st.reload(now, params.window) {
            tracing::error!(error = %reload, "cannot reload event state");
        }
        return Err(e);
    }
    Ok((analyzed, Some(event)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::SharedBus;
    use common::bus::EmbeddedBus;
    use common::clock::ManualClock;

    fn raw(id: &str, title: &str, body: &str, at: DateTime<Utc>) -> RawDocument {
        RawDocument {
            doc_id: id.into(),
            source_id: "test-feed".into(),
            title: title.into(),
            body: body.into(),
            fetched_at: at,
            source_weight: 1.0,
            ..RawDocument::default()
        }
    }

    async fn collect<T: serde::de::DeserializeOwned>(
        bus: &SharedBus,
        topic: &str,
        group: &str,
        n: usize,
    ) -> Vec<Envelope<T>> {
        let mut sub = match bus.subscribe(topic, group).await {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let mut out = Vec::new();
        while out.len() < n {
            let d = tokio::time::timeout(std::time::Duration::from_secs(60), sub.recv()).await;
            match d {
                Ok(Ok(d)) => match Envelope::<T>::decode(&d.payload) {
                    Ok(e) => out.push(e),
                    Err(e) => panic!("{e}"),
                },
                other => panic!("no message: {other:?}"),
            }
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redelivery_and_restart_never_double_count() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let bus: SharedBus = Arc::new(EmbeddedBus::open(&dir.path().join("bus"), "", 1000)?);
        let t0: DateTime<Utc> = "2026-03-01T08:00:00Z".parse()?;
        let ctx = StageContext {
            bus: bus.clone(),
            clock: Arc::new(ManualClock::new(t0)),
            data_dir: dir.path().to_path_buf(),
        };
        let title = "南明区一小区发生火灾 3人受伤";
        let body = "南明区花果园一小区发生火灾，造成3人受伤，消防救援人员正在扑救。";
        let first = raw("doc-1", title, body, t0);
        for d in [&first, &first] {
            let env = Envelope::new(format!("raw:{}", d.doc_id), t0, d);
            publish(bus.as_ref(), topics::RAW_DOCUMENTS, "k", &env).await?;
        }

        let shutdown = Shutdown::new();
        let task = tokio::spawn(run(Config::default(), ctx.clone(), shutdown.clone()));
        let analyzed: Vec<Envelope<AnalyzedDocument>> =
            collect(&bus, topics::ANALYZED_DOCUMENTS, "t1", 2).await;
        assert_eq!(analyzed[0].message_id, "analyzed:doc-1");
        assert_eq!(analyzed[1].message_id, "analyzed:doc-1");
        let a = &analyzed[0].payload;
        assert!(
            a.priorities
                .iter()
                .any(|p| p.priority == common::wire::Priority::Emergency)
        );
        assert_eq!(a.detected_at, t0);
        let updates: Vec<Envelope<common::wire::EventUpdate>> =
            collect(&bus, topics::EVENT_UPDATES, "t1", 2).await;
        assert_eq!(updates[0].message_id, updates[1].message_id);
        assert_eq!(updates[1].payload.doc_count, 1);
        shutdown.cancel();
        task.await??;

        // Restart: the same item again, then a follow-up report of the same incident.
        let again = raw(
            "doc-2",
            "南明区花果园小区火灾已扑灭",
            "南明区花果园小区火灾明火已扑灭，3人受伤送医。",
            t0,
        );
        for d in [&first, &again] {
            let env = Envelope::new(format!("raw:{}", d.doc_id), t0, d);
            publish(bus.as_ref(), topics::RAW_DOCUMENTS, "k", &env).await?;
        }
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run(Config::default(), ctx.clone(), shutdown.clone()));
        let updates: Vec<Envelope<common::wire::EventUpdate>> =
            collect(&bus, topics::EVENT_UPDATES, "t1", 4).await;
        shutdown.cancel();
        task.await??;
        let last = &updates[3].payload;
        assert_eq!(last.event_id, updates[0].payload.event_id);
        assert_eq!(last.doc_count, 2, "{last:?}");
        assert_eq!(last.revision, 2);
        assert_eq!(
            bus.lag(topics::RAW_DOCUMENTS, topics::groups::ANALYZE)
                .await?,
            Some(0)
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_stage_learns_corrections_published_to_the_bus()
    -> Result<(), Box<dyn std::error::Error>> {
        use common::wire::{Correction, CorrectionField};
        let dir = tempfile::tempdir()?;
        let bus: SharedBus = Arc::new(EmbeddedBus::open(&dir.path().join("bus"), "", 1000)?);
        let t0: DateTime<Utc> = "2026-03-01T08:00:00Z".parse()?;
        let ctx = StageContext {
            bus: bus.clone(),
            clock: Arc::new(ManualClock::new(t0)),
            data_dir: dir.path().to_path_buf(),
        };
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run(Config::default(), ctx.clone(), shutdown.clone()));
        // Praise in a made-up phrase that the lexicon reads as weary.
        let text = |i: usize| format!("第{i}号公交站今天又是咕噜咕噜的样子，第{}次了", i * 7);
        for i in 0..40 {
            let c = Correction {
                item_id: format!("c{i}"),
                field: CorrectionField::Sentiment,
                value: "positive".into(),
                text: text(i),
                title: None,
                source: None,
                source_kind: SourceKind::Rss,
                by: None,
                origin: None,
                at: t0,
                withdrawn: false,
            };
            let env = Envelope::new(format!("correction:{i}"), t0, &c);
            publish(bus.as_ref(), topics::CORRECTIONS, &c.key(), &env).await?;
        }
        // The follower retrains and records the set it learned.
        let snapshot = learner::snapshot_path(dir.path());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while learner::read_snapshot(&snapshot)?.len() < 40 {
            assert!(std::time::Instant::now() < deadline, "no retraining");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let plain = Analyzer::new(&Config::default())?.analyze(&Input {
            body: &text(99),
            ..Input::default()
        });
        assert!(
            plain.is_negative(0.5),
            "precondition: the lexicon reads it as negative"
        );
        let doc = raw("doc-1", "", &text(99), t0);
        let env = Envelope::new("raw:doc-1", t0, &doc);
        publish(bus.as_ref(), topics::RAW_DOCUMENTS, "k", &env).await?;
        let analyzed: Vec<Envelope<AnalyzedDocument>> =
            collect(&bus, topics::ANALYZED_DOCUMENTS, "t1", 1).await;
        shutdown.cancel();
        task.await??;
        let model = analyzed[0].payload.model.clone().unwrap_or_default();
        assert!(model.version.starts_with("learned-"), "{model:?}");
        assert_eq!(model.corrections, 40);
        assert_eq!(
            analyzed[0].payload.sentiment.label,
            SentimentLabel::Positive
        );
        Ok(())
    }
}
