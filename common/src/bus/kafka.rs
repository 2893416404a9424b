//! The Kafka bus through rdkafka: an idempotent producer (`acks=all`) and consumer groups that
//! store an offset only after the consumer acknowledged the message (at-least-once).

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::{Bus, BusError, Delivery, Subscription};
use crate::config::KafkaConfig;

const SEND_TIMEOUT: Duration = Duration::from_secs(30);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

pub struct KafkaBus {
    config: KafkaConfig,
    namespace: String,
    producer: FutureProducer,
}

fn err(e: KafkaError) -> BusError {
    BusError::Kafka(e.to_string())
}

impl KafkaBus {
    pub fn new(config: &KafkaConfig, namespace: &str) -> Result<Self, BusError> {
        let producer = Self::client_config(config)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "30000")
            .create()
            .map_err(err)?;
        Ok(Self {
            config: config.clone(),
            namespace: namespace.to_string(),
            producer,
        })
    }

    fn client_config(config: &KafkaConfig) -> ClientConfig {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &config.bootstrap)
            .set("client.id", &config.client_id);
        for (k, v) in &config.properties {
            cc.set(k, v);
        }
        cc
    }

    fn full(&self, name: &str) -> String {
        format!("{}{}", self.namespace, name)
    }
}

#[async_trait]
impl Bus for KafkaBus {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError> {
        let topic = self.full(topic);
        let record = FutureRecord::to(&topic).key(key).payload(&payload);
        self.producer
            .send(record, Timeout::After(SEND_TIMEOUT))
            .await
            .map(|_| ())
            .map_err(|(e, _)| err(e))
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        let consumer: StreamConsumer = Self::client_config(&self.config)
            .set("group.id", self.full(group))
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            // Offsets are stored by `ack`, after the downstream write succeeded.
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // A consumer that subscribed before its topic's metadata reached the broker it asked
            // would otherwise wait for the default 5-minute refresh to see the partitions.
            .set("topic.metadata.refresh.interval.ms", "5000")
            .create()
            .map_err(err)?;
        let full = self.full(topic);
        consumer.subscribe(&[&full]).map_err(err)?;
        Ok(Box::new(KafkaSubscription {
            topic: topic.to_string(),
            full_topic: full,
            consumer,
        }))
    }

    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        let admin: AdminClient<DefaultClientContext> =
            Self::client_config(&self.config).create().map_err(err)?;
        let names: Vec<String> = topics.iter().map(|t| self.full(t)).collect();
        let new: Vec<NewTopic> = names
            .iter()
            .zip(topics)
            .map(|(n, logical)| {
                let topic = NewTopic::new(
                    n,
                    self.config.partitions,
                    TopicReplication::Fixed(self.config.replication),
                );
                // A compacted topic is its readers' state: the latest message per key, kept
                // for good (a topic that exists already keeps the settings it was made with).
                if crate::topics::is_compacted(logical) {
                    topic
                        .set("cleanup.policy", "compact")
                        .set("retention.ms", "-1")
                } else {
                    topic
                }
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        for result in admin.create_topics(new.iter(), &opts).await.map_err(err)? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::Kafka(format!("create topic {name}: {code}")));
                }
            }
        }
        // Creation is acknowledged before every partition has a leader in the metadata; wait for
        // that, so producers and consumers that start next see the topics whole.
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || -> Result<(), BusError> {
            let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
            loop {
                let md = producer
                    .client()
                    .fetch_metadata(None, Timeout::After(ADMIN_TIMEOUT))
                    .map_err(err)?;
                let ready = names.iter().all(|name| {
                    md.topics().iter().any(|t| {
                        t.name() == name
                            && t.error().is_none()
                            && !t.partitions().is_empty()
                            && t.partitions().iter().all(|p| p.leader() >= 0)
                    })
                });
                // A leader in the metadata may not serve yet (a KRaft broker applies its new
                // leadership a moment later, longer under load: "Not leader for partition").
                // The topics are whole when every partition answers a watermark query.
                let ready = ready
                    && names.iter().all(|name| {
                        md.topics()
                            .iter()
                            .filter(|t| t.name() == name)
                            .flat_map(|t| t.partitions())
                            .all(|p| {
                                producer
                                    .client()
                                    .fetch_watermarks(name, p.id(), Timeout::After(ADMIN_TIMEOUT))
                                    .is_ok()
                            })
                    });
                if ready {
                    return Ok(());
                }
                if std::time::Instant::now() >= deadline {
                    return Err(BusError::Kafka(format!(
                        "topics {names:?} have no leader after {ADMIN_TIMEOUT:?}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .await
        .map_err(|e| BusError::Kafka(e.to_string()))?
    }

    async fn read_all(&self, topic: &str) -> Result<Vec<Delivery>, BusError> {
        let (config, logical, full) = (
            Self::client_config(&self.config),
            topic.to_string(),
            self.full(topic),
        );
        tokio::task::spawn_blocking(move || Self::replay(config, &logical, &full))
            .await
            .map_err(|e| BusError::Kafka(e.to_string()))?
    }

    async fn lag(&self, topic: &str, group: &str) -> Result<Option<u64>, BusError> {
        let topic = self.full(topic);
        let group = self.full(group);
        let config = Self::client_config(&self.config);
        // Metadata and watermark calls block: keep them off the async workers. A partition
        // whose leader moves (a new topic, a broker restart) answers "not leader" for a moment:
        // ask again until ADMIN_TIMEOUT before calling it an error.
        tokio::task::spawn_blocking(move || -> Result<Option<u64>, BusError> {
            let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
            loop {
                match lag_once(&config, &topic, &group) {
                    Err(e) if std::time::Instant::now() < deadline => {
                        tracing::debug!(error = %e, %topic, "lag query failed, asking again");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    r => return r,
                }
            }
        })
        .await
        .map_err(|e| BusError::Kafka(e.to_string()))?
    }
}

/// One attempt of [`KafkaBus::lag`].
fn lag_once(config: &ClientConfig, topic: &str, group: &str) -> Result<Option<u64>, BusError> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", group)
        .create()
        .map_err(err)?;
    let md = consumer
        .fetch_metadata(Some(topic), Timeout::After(ADMIN_TIMEOUT))
        .map_err(err)?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions() {
        tpl.add_partition(topic, p.id());
    }
    let committed = consumer
        .committed_offsets(tpl, Timeout::After(ADMIN_TIMEOUT))
        .map_err(err)?;
    let mut lag = 0u64;
    for elem in committed.elements() {
        let (low, high) = consumer
            .fetch_watermarks(topic, elem.partition(), Timeout::After(ADMIN_TIMEOUT))
            .map_err(err)?;
        let done = match elem.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        lag += (high - done).max(0) as u64;
    }
    Ok(Some(lag))
}

impl KafkaBus {
    /// [`Bus::read_all`]: assign every partition from its start and read up to the high
    /// watermarks taken first (blocking; runs on the blocking pool). No group offset is stored.
    fn replay(config: ClientConfig, logical: &str, full: &str) -> Result<Vec<Delivery>, BusError> {
        let consumer: BaseConsumer = config
            .clone()
            .set("group.id", format!("{full}-replay"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()
            .map_err(err)?;
        let md = consumer
            .fetch_metadata(Some(full), Timeout::After(ADMIN_TIMEOUT))
            .map_err(err)?;
        let Some(t) = md
            .topics()
            .iter()
            .find(|t| t.name() == full && t.error().is_none())
        else {
            return Ok(Vec::new());
        };
        let mut tpl = TopicPartitionList::new();
        // partition → the offset one past its last message when the replay started
        let mut ends: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(full, p.id(), Timeout::After(ADMIN_TIMEOUT))
                .map_err(err)?;
            if high > low {
                tpl.add_partition_offset(full, p.id(), Offset::Beginning)
                    .map_err(err)?;
                ends.insert(p.id(), high);
            }
        }
        let mut out = Vec::new();
        if ends.is_empty() {
            return Ok(out);
        }
        consumer.assign(&tpl).map_err(err)?;
        let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
        while !ends.is_empty() {
            if std::time::Instant::now() >= deadline {
                return Err(BusError::Kafka(format!(
                    "reading {full} from its start did not finish in {ADMIN_TIMEOUT:?}"
                )));
            }
            let Some(m) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let m = m.map_err(err)?;
            let (partition, offset) = (m.partition(), m.offset());
            if let Some(&end) = ends.get(&partition) {
                if offset < end {
                    out.push(Delivery {
                        topic: logical.to_string(),
                        partition,
                        offset,
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    });
                }
                if offset + 1 >= end {
                    ends.remove(&partition);
                }
            }
        }
        Ok(out)
    }
}

struct KafkaSubscription {
    topic: String,
    full_topic: String,
    consumer: StreamConsumer,
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn recv(&mut self) -> Result<Delivery, BusError> {
        let m = self.consumer.recv().await.map_err(err)?;
        Ok(Delivery {
            topic: self.topic.clone(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        })
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let mut tpl = TopicPartitionList::new();
        // Kafka offsets name the next message to read.
        tpl.add_partition_offset(
            &self.full_topic,
            delivery.partition,
            Offset::Offset(delivery.offset + 1),
        )
        .map_err(err)?;
        self.consumer.store_offsets(&tpl).map_err(err)
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        // Commit what was stored so a clean stop resumes exactly where it left off.
        if let Err(e) = self
            .consumer
            .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        {
            tracing::debug!(error = %e, topic = %self.full_topic, "final offset commit skipped");
        }
    }
}
