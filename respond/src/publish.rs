//! Publishing what the tracker committed: case events, then command results, from the durable
//! queues in the store, in commit order; while the bus is down it retries with backoff, and a
//! crash leaves the queues to be drained at the next start (consumers drop the repeats by id).

use std::sync::Arc;
use std::time::Duration;

use common::{SharedBus, Shutdown, topics};

use crate::Error;
use crate::tracker::Tracker;

/// Publish everything queued, in commit order (case events, then command results, so a result
/// never arrives before the case change it reports); stops at the first bus error.
async fn publish_pending(
    tracker: &Tracker,
    bus: &dyn common::Bus,
) -> Result<Result<(), common::BusError>, Error> {
    if let Err(e) = publish_case_events(tracker, bus).await? {
        return Ok(Err(e));
    }
    loop {
        let batch = tracker.store.pending_results(256)?;
        if batch.is_empty() {
            return Ok(Ok(()));
        }
        for (key, pending) in batch {
            if let Err(e) = common::bus::publish(
                bus,
                topics::COMMAND_RESULTS,
                &pending.key,
                &pending.envelope,
            )
            .await
            {
                return Ok(Err(e));
            }
            tracker.store.published(&key)?;
        }
    }
}

async fn publish_case_events(
    tracker: &Tracker,
    bus: &dyn common::Bus,
) -> Result<Result<(), common::BusError>, Error> {
    loop {
        let batch = tracker.store.pending_publishes(256)?;
        if batch.is_empty() {
            return Ok(Ok(()));
        }
        for (key, pending) in batch {
            if let Err(e) =
                common::bus::publish(bus, topics::CASE_EVENTS, &pending.key, &pending.envelope)
                    .await
            {
                return Ok(Err(e));
            }
            tracker.store.published(&key)?;
        }
    }
}

/// Publish queued case events, retrying with backoff while the bus is down. On shutdown, one
/// last pass so a clean stop leaves nothing queued.
pub(crate) async fn publish_loop(
    tracker: Arc<Tracker>,
    bus: SharedBus,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let mut failures = 0u32;
    loop {
        let wait = match publish_pending(&tracker, bus.as_ref()).await? {
            Ok(()) => {
                failures = 0;
                None
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, attempt = failures, "publishing case event failed");
                Some(Duration::from_millis(200u64 << failures.min(8)))
            }
        };
        let stop = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tracker.publish_ready.notified(), if wait.is_none() => false,
            _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => false,
        };
        if stop {
            if let Err(e) = publish_pending(&tracker, bus.as_ref()).await? {
                tracing::warn!(error = %e, "case events left queued at shutdown; published at next start");
            }
            return Ok(());
        }
    }
}
