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
        let delivery = match delivery {
            Ok(d) => {
                recv_failures = 0;
                d
            }
            Err(e) => {
                recv_failures += 1;
                tracing::warn!(topic, group, error = %e, "receive failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(backoff(recv_failures)) => continue,
                }
            }
        };
        match Envelope::<T>::decode(&delivery.payload) {
            Err(e) => {
                tracing::warn!(topic, group, offset = delivery.offset, error = %e, "undecodable message sent to dead letters");
                if !dead_letter(bus.as_ref(), &delivery, group, e.to_string(), &shutdown).await {
                    return Ok(());
                }
            }
            Ok(envelope) => {
                let mut attempt = 0u32;
                loop {
                    match handler(envelope.clone()).await {
                        Ok(()) => break,
                        Err(HandlerError::Permanent(reason)) => {
                            tracing::warn!(topic, group, message_id = %envelope.message_id, %reason, "message sent to dead letters");
                            if !dead_letter(bus.as_ref(), &delivery, group, reason, &shutdown).await
                            {
                                return Ok(());
                            }
                            break;
                        }
                        Err(HandlerError::Retryable(reason)) => {
                            attempt += 1;
                            tracing::warn!(topic, group, message_id = %envelope.message_id, attempt, %reason, "handler failed, will retry");
                            tokio::select! {
                                // Not acknowledged: the message comes again after restart.
                                _ = shutdown.cancelled() => return Ok(()),
                                _ = tokio::time::sleep(backoff(attempt)) => {}
                            }
                        }
                    }
                }
            }
        }
        sub.ack(&delivery).await?;
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
}
