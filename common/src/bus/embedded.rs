//! A durable append-only log per topic in sled, with consumer-group offsets persisted beside it.
//!
//! Layout: tree `log/<topic>` maps a big-endian `u64` offset to `[u32 key len][key][payload]`;
//! tree `offsets` maps `<group>\0<topic>` to the next offset the group will read. A publish
//! returns only after the log is on disk, so an acknowledged publish survives a crash: the
//! database's one flusher ([`Durable`]) group-commits every publish waiting, so concurrent
//! publishers share fsyncs and never flush sled concurrently (which can deadlock sled 0.34).
//! Acks are flushed lazily by the same flusher: after a crash a group may see a few messages
//! again, which consumers tolerate (they are idempotent on message id).
//!
//! One process owns the directory (sled locks it); it is not a way to share a log between
//! processes — that is what the Kafka bus is for.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Bus, BusError, Delivery, Subscription};
use crate::durable::Durable;

const TRIM_EVERY: u64 = 1024;

pub struct EmbeddedBus {
    db: Durable,
    offsets: sled::Tree,
    namespace: String,
    retain_per_topic: u64,
    topics: Mutex<HashMap<String, Arc<TopicLog>>>,
}

struct TopicLog {
    name: String,
    tree: sled::Tree,
    /// Serialises appends so offsets are dense and ordered.
    append: Mutex<()>,
    appended: Notify,
}

impl EmbeddedBus {
    /// Open (and recover) the log at `path`. Blocks: async code uses [`EmbeddedBus::open_async`].
    pub fn open(path: &Path, namespace: &str, retain_per_topic: u64) -> Result<Self, BusError> {
        Self::with_db(Durable::open(path)?, namespace, retain_per_topic)
    }

    /// [`EmbeddedBus::open`] on the blocking pool.
    pub async fn open_async(
        path: &Path,
        namespace: &str,
        retain_per_topic: u64,
    ) -> Result<Self, BusError> {
        let db = Durable::open_async(path.to_path_buf()).await?;
        Self::with_db(db, namespace, retain_per_topic)
    }

    fn with_db(db: Durable, namespace: &str, retain_per_topic: u64) -> Result<Self, BusError> {
        let offsets = db.db().open_tree("offsets")?;
        Ok(Self {
            db,
            offsets,
            namespace: namespace.to_string(),
            retain_per_topic: retain_per_topic.max(1),
            topics: Mutex::new(HashMap::new()),
        })
    }

    fn topic(&self, topic: &str) -> Result<Arc<TopicLog>, BusError> {
        let name = format!("{}{}", self.namespace, topic);
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = topics.get(&name) {
            return Ok(t.clone());
        }
        let log = Arc::new(TopicLog {
            tree: self.db.db().open_tree(format!("log/{name}"))?,
            name: name.clone(),
            append: Mutex::new(()),
            appended: Notify::new(),
        });
        topics.insert(name, log.clone());
        Ok(log)
    }

    fn group_key(&self, group: &str, topic: &TopicLog) -> Vec<u8> {
        let mut key = format!("{}{}", self.namespace, group).into_bytes();
        key.push(0);
        key.extend_from_slice(topic.name.as_bytes());
        key
    }

    fn committed(&self, key: &[u8]) -> Result<Option<u64>, BusError> {
        Ok(self.offsets.get(key)?.map(|v| decode_u64(&v)))
    }

    /// Drop the oldest messages beyond the retention count that every group has passed. A
    /// compacted topic (see [`crate::topics::COMPACTED`]) is its readers' state: never trimmed.
    fn trim(&self, log: &TopicLog) -> Result<(), BusError> {
        if crate::topics::COMPACTED
            .iter()
            .any(|t| log.name == format!("{}{t}", self.namespace))
        {
            return Ok(());
        }
        let Some(next) = log.tree.last()?.map(|(k, _)| decode_u64(&k) + 1) else {
            return Ok(());
        };
        let mut suffix = vec![0];
        suffix.extend_from_slice(log.name.as_bytes());
        let slowest = self
            .offsets
            .iter()
            .filter_map(Result::ok)
            .filter(|(k, _)| k.ends_with(&suffix))
            .map(|(_, v)| decode_u64(&v))
            .min()
            .unwrap_or(0);
        let keep_from = next.saturating_sub(self.retain_per_topic).min(slowest);
        let mut removed = 0u64;
        for entry in log.tree.range(..keep_from.to_be_bytes()) {
            let (k, _) = entry?;
            log.tree.remove(k)?;
            removed += 1;
        }
        if removed > 0 {
            tracing::debug!(topic = %log.name, removed, "trimmed embedded log");
        }
        Ok(())
    }
}

fn decode_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(buf)
}

fn encode_record(key: &str, payload: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(4 + key.len() + payload.len());
    rec.extend_from_slice(&(key.len() as u32).to_be_bytes());
    rec.extend_from_slice(key.as_bytes());
    rec.extend_from_slice(payload);
    rec
}

fn decode_record(rec: &[u8]) -> (Option<String>, Vec<u8>) {
    if rec.len() < 4 {
        return (None, rec.to_vec());
    }
    let key_len = u32::from_be_bytes([rec[0], rec[1], rec[2], rec[3]]) as usize;
    let key_end = (4 + key_len).min(rec.len());
    let key = String::from_utf8_lossy(&rec[4..key_end]).into_owned();
    (Some(key), rec[key_end..].to_vec())
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError> {
        let log = self.topic(topic)?;
        let offset = {
            let _guard = log.append.lock().unwrap_or_else(|p| p.into_inner());
            let next = log
                .tree
                .last()?
                .map(|(k, _)| decode_u64(&k) + 1)
                .unwrap_or(0);
            log.tree
                .insert(next.to_be_bytes(), encode_record(key, &payload))?;
            next
        };
        self.db.flush().await?;
        log.appended.notify_waiters();
        if offset % TRIM_EVERY == TRIM_EVERY - 1 {
            self.trim(&log)?;
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        let log = self.topic(topic)?;
        let group_key = self.group_key(group, &log);
        let next = self.committed(&group_key)?.unwrap_or(0);
        Ok(Box::new(EmbeddedSubscription {
            topic: topic.to_string(),
            log,
            offsets: self.offsets.clone(),
            group_key,
            next,
        }))
    }

    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        for t in topics {
            self.topic(t)?;
        }
        Ok(())
    }

    async fn lag(&self, topic: &str, group: &str) -> Result<Option<u64>, BusError> {
        let log = self.topic(topic)?;
        let end = log
            .tree
            .last()?
            .map(|(k, _)| decode_u64(&k) + 1)
            .unwrap_or(0);
        let committed = self.committed(&self.group_key(group, &log))?.unwrap_or(0);
        Ok(Some(end.saturating_sub(committed)))
    }

    async fn read_all(&self, topic: &str) -> Result<Vec<Delivery>, BusError> {
        let log = self.topic(topic)?;
        let mut out = Vec::new();
        for entry in log.tree.iter() {
            let (k, v) = entry?;
            let (key, payload) = decode_record(&v);
            out.push(Delivery {
                topic: topic.to_string(),
                partition: 0,
                offset: decode_u64(&k) as i64,
                key,
                payload,
            });
        }
        Ok(out)
    }
}

struct EmbeddedSubscription {
    topic: String,
    log: Arc<TopicLog>,
    offsets: sled::Tree,
    group_key: Vec<u8>,
    /// The next offset to hand out (may run ahead of the acknowledged offset).
    next: u64,
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    async fn recv(&mut self) -> Result<Delivery, BusError> {
        loop {
            // Register interest before looking, so a publish between the look and the wait
            // still wakes us.
            let appended = self.log.appended.notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            if let Some(entry) = self.log.tree.range(self.next.to_be_bytes()..).next() {
                let (k, v) = entry?;
                let offset = decode_u64(&k);
                self.next = offset + 1;
                let (key, payload) = decode_record(&v);
                return Ok(Delivery {
                    topic: self.topic.clone(),
                    partition: 0,
                    offset: offset as i64,
                    key,
                    payload,
                });
            }
            // The timeout is a safety net only; wake-ups come from `appended`.
            let _ = tokio::time::timeout(Duration::from_secs(1), appended).await;
        }
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let next = (delivery.offset.max(0) as u64) + 1;
        self.offsets.insert(&self.group_key, &next.to_be_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resumes_after_last_ack_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let bus = EmbeddedBus::open(dir.path(), "", 100).unwrap();
            for i in 0..5 {
                bus.publish("t", "k", format!("m{i}").into_bytes())
                    .await
                    .unwrap();
            }
            let mut sub = bus.subscribe("t", "g").await.unwrap();
            for _ in 0..2 {
                let d = sub.recv().await.unwrap();
                sub.ack(&d).await.unwrap();
            }
            // A third message is received but not acknowledged: it must come again.
            let _ = sub.recv().await.unwrap();
        }
        let bus = EmbeddedBus::open(dir.path(), "", 100).unwrap();
        let mut sub = bus.subscribe("t", "g").await.unwrap();
        let d = sub.recv().await.unwrap();
        assert_eq!(d.payload, b"m2");
        assert_eq!(d.key.as_deref(), Some("k"));
        // Another group starts from the beginning.
        let mut other = bus.subscribe("t", "g2").await.unwrap();
        assert_eq!(other.recv().await.unwrap().payload, b"m0");
    }

    #[tokio::test]
    async fn recv_wakes_on_publish() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Arc::new(EmbeddedBus::open(dir.path(), "ns.", 100).unwrap());
        let mut sub = bus.subscribe("t", "g").await.unwrap();
        let publisher = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            publisher.publish("t", "k", b"late".to_vec()).await.unwrap();
        });
        let d = tokio::time::timeout(Duration::from_millis(900), sub.recv())
            .await
            .expect("woken by publish, not by the safety timeout")
            .unwrap();
        assert_eq!(d.payload, b"late");
        assert_eq!(bus.lag("t", "g").await.unwrap(), Some(1));
        sub.ack(&d).await.unwrap();
        assert_eq!(bus.lag("t", "g").await.unwrap(), Some(0));
    }

    #[tokio::test]
    async fn trim_keeps_what_a_slow_group_has_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(dir.path(), "", 10).unwrap();
        bus.publish("t", "k", b"first".to_vec()).await.unwrap();
        let mut slow = bus.subscribe("t", "slow").await.unwrap();
        let first = slow.recv().await.unwrap();
        slow.ack(&first).await.unwrap();
        for i in 0..(TRIM_EVERY * 2) {
            bus.publish("t", "k", i.to_string().into_bytes())
                .await
                .unwrap();
        }
        // "slow" acknowledged offset 0 only, so nothing after it may be trimmed.
        assert_eq!(slow.recv().await.unwrap().offset, 1);
        // A group with no offset at all pins nothing; older messages beyond retention go.
        assert!(bus.topic("t").unwrap().tree.len() as u64 > TRIM_EVERY);
    }

    #[tokio::test]
    async fn a_compacted_topic_is_read_whole_and_never_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(dir.path(), "ns.", 10).unwrap();
        let topic = crate::topics::CORRECTIONS;
        assert!(bus.read_all(topic).await.unwrap().is_empty());
        for i in 0..(TRIM_EVERY * 2) {
            bus.publish(topic, &format!("k{i}"), i.to_string().into_bytes())
                .await
                .unwrap();
        }
        let all = bus.read_all(topic).await.unwrap();
        assert_eq!(all.len() as u64, TRIM_EVERY * 2);
        assert_eq!(all[5].payload, b"5");
        assert_eq!(all[5].key.as_deref(), Some("k5"));
        // Reading left no group behind.
        assert_eq!(bus.offsets.len(), 0);
    }
}
