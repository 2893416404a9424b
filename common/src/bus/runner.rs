//! The consume loop every stage uses: decode, handle, acknowledge. Undecodable messages and
//! permanent failures go to the dead-letter topic with the reason; retryable failures are retried
//! with backoff and never acknowledged early.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Bus, BusError, Delivery, SharedBus};
use crate::shutdown::Shutdown;
use crate::topics;
use crate::wire::{DeadLetter, Envelope, new_message_id};

/// What a message handler reports when it fails.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A dependency is unavailable (store, bus, network): the message is retried.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The message itself cannot be processed: it goes to the dead-letter topic.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Publish one envelope.
pub async fn publish<T: Serialize + Sync>(
    bus: &dyn Bus,
    topic: &str,
    key: &str,
    envelope: &Envelope<T>,
) -> Result<(), BusError> {
    bus.publish(topic, key, envelope.encode()).await
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(9))).min(MAX_BACKOFF)
}

/// Run `handler` on every message of `topic` for consumer group `group` until `shutdown`.
///
/// A message is acknowledged only after `handler` returned `Ok` (or after it was dead-lettered),
/// so a crash at any point means redelivery, never loss.
pub async fn consume<T, F, Fut>(
    bus: SharedBus,
    topic: &str,
    group: &str,
    shutdown: Shutdown,
    mut handler: F,
) -> Result<(), BusError>
where
    T: DeserializeOwned + Clone + Send,
    F: FnMut(Envelope<T>) -> Fut + Send,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let mut sub = bus.subscribe(topic, group).await?;
    let mut recv_failures = 0u32;
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            d = sub.recv() => d,
        };
        let Some(delivery) =
            received(delivery, topic, group, &mut recv_failures, &shutdown).await?
        else {
            continue;
        };
        if !process(&bus, &delivery, group, &shutdown, &mut handler).await {
            return Ok(());
        }
        sub.ack(&delivery).await?;
    }
}

/// Like [`consume`], for CPU-bound stages: each message is handled in two phases. `prepare`
/// (the expensive, side-effect-free part) runs for up to `concurrency` messages at once;
/// `commit` (state changes and publishing) runs one message at a time in log order, and a message
/// is acknowledged right after its commit. So outputs keep the input order, and a crash
/// redelivers exactly the unfinished tail. Both phases retry retryable failures with backoff and
/// dead-letter permanent ones, as [`consume`] does.
pub async fn consume_concurrent<T, P, Prep, PrepFut, Commit, CommitFut>(
    bus: SharedBus,
    topic: &str,
    group: &str,
    shutdown: Shutdown,
    concurrency: usize,
    prepare: Prep,
    mut commit: Commit,
) -> Result<(), BusError>
where
    T: DeserializeOwned + Clone + Send,
    P: Clone + Send,
    Prep: FnMut(Envelope<T>) -> PrepFut + Clone + Send,
    PrepFut: Future<Output = Result<P, HandlerError>> + Send,
    Commit: FnMut(Envelope<T>, P) -> CommitFut + Send,
    CommitFut: Future<Output = Result<(), HandlerError>> + Send,
{
    use futures::stream::{FuturesOrdered, StreamExt};

    let concurrency = concurrency.max(1);
    let mut sub = bus.subscribe(topic, group).await?;
    let mut recv_failures = 0u32;
    let mut in_flight = FuturesOrdered::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(()),
            Some((delivery, prepared)) = in_flight.next(), if !in_flight.is_empty() => {
                let (delivery, prepared): (Delivery, Attempt<(Envelope<T>, P)>) = (delivery, prepared);
                let done = match prepared {
                    Attempt::Stopped => false,
                    Attempt::Rejected(reason) => {
                        dead_letter(bus.as_ref(), &delivery, group, reason, &shutdown).await
                    }
                    Attempt::Done((envelope, value)) => {
                        let mut commit_one = |env: Envelope<T>| commit(env, value.clone());
                        retry(&bus, &delivery, group, &shutdown, envelope, &mut commit_one).await
                    }
                };
                if !done {
                    // Stopped while retrying: leave it (and what follows) unacknowledged.
                    return Ok(());
                }
                sub.ack(&delivery).await?;
            }
            d = sub.recv(), if in_flight.len() < concurrency => {
                if let Some(delivery) = received(d, topic, group, &mut recv_failures, &shutdown).await? {
                    let (shutdown, mut prepare) = (shutdown.clone(), prepare.clone());
                    let (topic, group) = (topic.to_string(), group.to_string());
                    in_flight.push_back(async move {
                        let envelope = match Envelope::<T>::decode(&delivery.payload) {
                            Ok(envelope) => envelope,
                            Err(e) => {
                                tracing::warn!(%topic, %group, offset = delivery.offset, error = %e, "undecodable message sent to dead letters");
                                return (delivery, Attempt::Rejected(e.to_string()));
                            }
                        };
                        let prepared = attempt(&topic, &group, &shutdown, envelope, &mut prepare).await;
                        (delivery, prepared)
                    });
                }
            }
        }
    }
}

/// Turn a receive result into a delivery, backing off after failures. `Ok(None)`: try again.
async fn received(
    delivery: Result<Delivery, BusError>,
    topic: &str,
    group: &str,
    failures: &mut u32,
    shutdown: &Shutdown,
) -> Result<Option<Delivery>, BusError> {
    match delivery {
        Ok(d) => {
            *failures = 0;
            Ok(Some(d))
        }
        Err(e) => {
            *failures += 1;
            tracing::warn!(topic, group, error = %e, "receive failed");
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(backoff(*failures)) => {}
            }
            Ok(None)
        }
    }
}

/// Decode and handle one delivery: retry retryable failures with backoff, dead-letter the rest.
/// Returns true when the delivery may be acknowledged, false when shutdown interrupted it.
async fn process<T, F, Fut>(
    bus: &SharedBus,
    delivery: &Delivery,
    group: &str,
    shutdown: &Shutdown,
    handler: &mut F,
) -> bool
where
    T: DeserializeOwned + Clone + Send,
    F: FnMut(Envelope<T>) -> Fut + Send,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    match Envelope::<T>::decode(&delivery.payload) {
        Ok(envelope) => retry(bus, delivery, group, shutdown, envelope, handler).await,
        Err(e) => {
            tracing::warn!(topic = %delivery.topic, group, offset = delivery.offset, error = %e, "undecodable message sent to dead letters");
            dead_letter(bus.as_ref(), delivery, group, e.to_string(), shutdown).await
        }
    }
}

/// How running a handler on one message ended.
enum Attempt<R> {
    Done(R),
    /// A permanent failure, with the reason for the dead-letter record.
    Rejected(String),
    /// Shutdown came while waiting to retry.
    Stopped,
}

/// Run `handler` on `envelope` until it succeeds or fails permanently, retrying retryable
/// failures with backoff. On success the envelope comes back with the handler's value.
async fn attempt<T, R, F, Fut>(
    topic: &str,
    group: &str,
    shutdown: &Shutdown,
    envelope: Envelope<T>,
    handler: &mut F,
) -> Attempt<(Envelope<T>, R)>
where
    T: Clone,
    F: FnMut(Envelope<T>) -> Fut,
    Fut: Future<Output = Result<R, HandlerError>>,
{
    let mut attempt = 0u32;
    loop {
        match handler(envelope.clone()).await {
            Ok(value) => return Attempt::Done((envelope, value)),
            Err(HandlerError::Permanent(reason)) => {
                tracing::warn!(topic, group, message_id = %envelope.message_id, %reason, "message sent to dead letters");
                return Attempt::Rejected(reason);
            }
            Err(HandlerError::Retryable(reason)) => {
                attempt += 1;
                tracing::warn!(topic, group, message_id = %envelope.message_id, attempt, %reason, "handler failed, will retry");
                tokio::select! {
                    // Not acknowledged: the message comes again after restart.
                    _ = shutdown.cancelled() => return Attempt::Stopped,
                    _ = tokio::time::sleep(backoff(attempt)) => {}
                }
            }
        }
    }
}

/// Run `handler` on `envelope` until it succeeds, dead-lettering a permanent failure. Returns
/// true when the delivery may be acknowledged, false when shutdown interrupted the retries.
async fn retry<T, F, Fut>(
    bus: &SharedBus,
    delivery: &Delivery,
    group: &str,
    shutdown: &Shutdown,
    envelope: Envelope<T>,
    handler: &mut F,
) -> bool
where
    T: Clone,
    F: FnMut(Envelope<T>) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    match attempt(&delivery.topic, group, shutdown, envelope, handler).await {
        Attempt::Done(_) => true,
        Attempt::Rejected(reason) => {
            dead_letter(bus.as_ref(), delivery, group, reason, shutdown).await
        }
        Attempt::Stopped => false,
    }
}

/// Publish a dead-letter record, retrying until it is accepted. Returns false on shutdown.
async fn dead_letter(
    bus: &dyn Bus,
    delivery: &Delivery,
    group: &str,
    reason: String,
    shutdown: &Shutdown,
) -> bool {
    let record = Envelope::new(
        new_message_id(),
        chrono::Utc::now(),
        DeadLetter {
            topic: delivery.topic.clone(),
            partition: delivery.partition,
            offset: delivery.offset,
            consumer_group: group.to_string(),
            reason,
            payload: String::from_utf8_lossy(&delivery.payload).into_owned(),
        },
    );
    let mut attempt = 0;
    loop {
        match publish(bus, topics::DEAD_LETTER, &delivery.topic, &record).await {
            Ok(()) => return true,
            Err(e) => {
                attempt += 1;
                tracing::error!(error = %e, attempt, "cannot publish dead letter");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(backoff(attempt)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::bus::EmbeddedBus;

    #[tokio::test]
    async fn bad_messages_go_to_dead_letters_and_the_stage_keeps_going() {
        let dir = tempfile::tempdir().unwrap();
        let bus: SharedBus = Arc::new(EmbeddedBus::open(dir.path(), "", 100).unwrap());
        bus.publish("in", "k", b"not json".to_vec()).await.unwrap();
        let good = Envelope::new("m1", chrono::Utc::now(), 7u32);
        publish(bus.as_ref(), "in", "k", &good).await.unwrap();
        let perm = Envelope::new("m2", chrono::Utc::now(), 13u32);
        publish(bus.as_ref(), "in", "k", &perm).await.unwrap();

        let seen = Arc::new(AtomicU32::new(0));
        let shutdown = Shutdown::new();
        let (s, b, sd) = (seen.clone(), bus.clone(), shutdown.clone());
        let task = tokio::spawn(async move {
            consume::<u32, _, _>(b, "in", "g", sd, move |env| {
                let s = s.clone();
                async move {
                    if env.payload == 13 {
                        return Err(HandlerError::Permanent("unlucky".into()));
                    }
                    s.fetch_add(env.payload, Ordering::SeqCst);
                    Ok(())
                }
            })
            .await
        });
        let mut dl = bus.subscribe(topics::DEAD_LETTER, "t").await.unwrap();
        let first = Envelope::<DeadLetter>::decode(&dl.recv().await.unwrap().payload).unwrap();
        assert!(
            first.payload.reason.contains("invalid json"),
            "{:?}",
            first.payload
        );
        assert_eq!(first.payload.payload, "not json");
        let second = Envelope::<DeadLetter>::decode(&dl.recv().await.unwrap().payload).unwrap();
        assert_eq!(second.payload.reason, "unlucky");
        shutdown.cancel();
        task.await.unwrap().unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 7);
        assert_eq!(bus.lag("in", "g").await.unwrap(), Some(0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_consume_prepares_side_by_side_but_commits_and_acknowledges_in_order() {
        use std::sync::Mutex;
        use std::sync::atomic::AtomicUsize;
        use tokio::sync::Notify;

        let dir = tempfile::tempdir().unwrap();
        let bus: SharedBus = Arc::new(EmbeddedBus::open(dir.path(), "", 100).unwrap());
        for i in 0..6u32 {
            publish(
                bus.as_ref(),
                "in",
                "k",
                &Envelope::new(format!("m{i}"), chrono::Utc::now(), i),
            )
            .await
            .unwrap();
        }
        let release_first = Arc::new(Notify::new());
        let prepared = Arc::new(AtomicU32::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let most_running = Arc::new(AtomicUsize::new(0));
        let committed = Arc::new(Mutex::new(Vec::new()));
        let shutdown = Shutdown::new();
        let prepare = {
            let (release_first, prepared, running, most_running) = (
                release_first.clone(),
                prepared.clone(),
                running.clone(),
                most_running.clone(),
            );
            move |env: Envelope<u32>| {
                let (release_first, prepared, running, most_running) = (
                    release_first.clone(),
                    prepared.clone(),
                    running.clone(),
                    most_running.clone(),
                );
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most_running.fetch_max(now, Ordering::SeqCst);
                    if env.payload == 0 {
                        // The first message is slow: later ones are prepared before it.
                        release_first.notified().await;
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    prepared.fetch_add(1, Ordering::SeqCst);
                    Ok(env.payload * 10)
                }
            }
        };
        let commit = {
            let committed = committed.clone();
            move |env: Envelope<u32>, value: u32| {
                committed.lock().unwrap().push((env.payload, value));
                async { Ok(()) }
            }
        };
        let (b, sd) = (bus.clone(), shutdown.clone());
        let task = tokio::spawn(async move {
            consume_concurrent::<u32, u32, _, _, _, _>(b, "in", "g", sd, 3, prepare, commit).await
        });
        // Messages 1 and 2 are prepared while 0 waits; nothing may be committed or acknowledged.
        while prepared.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(committed.lock().unwrap().is_empty());
        assert_eq!(
            bus.lag("in", "g").await.unwrap(),
            Some(6),
            "nothing acknowledged past a slow message"
        );
        assert!(
            most_running.load(Ordering::SeqCst) >= 2,
            "prepared side by side"
        );
        assert!(
            most_running.load(Ordering::SeqCst) <= 3,
            "never more than the concurrency"
        );
        release_first.notify_one();
        while bus.lag("in", "g").await.unwrap() != Some(0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let order: Vec<(u32, u32)> = committed.lock().unwrap().clone();
        assert_eq!(
            order,
            (0..6).map(|i| (i, i * 10)).collect::<Vec<_>>(),
            "commits in log order"
        );
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }
}
