//! Test doubles: an in-memory bus behind the real `Bus` trait (deterministic under a paused
//! tokio clock, unlike the sled log whose flushes run on threads), and a recording sender.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::bus::{Bus, BusError, Delivery, Subscription};
use common::wire::{CaseEvent, Envelope};
use respond::config::{Channel, ChannelKind};
use respond::notify::{Deliver, SendError};
use respond::store::OutboxItem;
use tokio::sync::watch;

#[derive(Default)]
struct Logs {
    topics: HashMap<String, Vec<(String, Vec<u8>)>>,
    committed: HashMap<(String, String), usize>,
    /// Every `subscribe` so far, in order: (group, topic).
    subscriptions: Vec<(String, String)>,
}

struct Shared {
    logs: Mutex<Logs>,
    version: watch::Sender<u64>,
}

#[derive(Clone)]
pub struct MemoryBus(Arc<Shared>);

impl MemoryBus {
    pub fn new() -> Self {
        Self(Arc::new(Shared {
            logs: Mutex::new(Logs::default()),
            version: watch::channel(0).0,
        }))
    }

    /// How many times a stage has subscribed to anything: a stage that opened its store
    /// and started consuming has subscribed.
    pub fn subscriptions(&self) -> usize {
        self.0.logs.lock().unwrap().subscriptions.len()
    }

    pub fn messages(&self, topic: &str) -> Vec<Vec<u8>> {
        let logs = self.0.logs.lock().unwrap();
        logs.topics
            .get(topic)
            .map(|l| l.iter().map(|(_, p)| p.clone()).collect())
            .unwrap_or_default()
    }

    /// Every case event published so far (duplicates included).
    pub fn case_events(&self) -> Vec<Envelope<CaseEvent>> {
        self.messages(common::topics::CASE_EVENTS)
            .iter()
            .map(|p| Envelope::decode(p).unwrap())
            .collect()
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError> {
        self.0
            .logs
            .lock()
            .unwrap()
            .topics
            .entry(topic.to_string())
            .or_default()
            .push((key.to_string(), payload));
        self.0.version.send_modify(|v| *v += 1);
        Ok(())
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        let key = (group.to_string(), topic.to_string());
        self.0.logs.lock().unwrap().subscriptions.push(key.clone());
        let next = *self
            .0
            .logs
            .lock()
            .unwrap()
            .committed
            .get(&key)
            .unwrap_or(&0);
        Ok(Box::new(MemorySub {
            shared: self.0.clone(),
            key,
            next,
            rx: self.0.version.subscribe(),
        }))
    }

    async fn ensure_topics(&self, _topics: &[&str]) -> Result<(), BusError> {
        Ok(())
    }

    async fn lag(&self, topic: &str, group: &str) -> Result<Option<u64>, BusError> {
        let logs = self.0.logs.lock().unwrap();
        let len = logs.topics.get(topic).map_or(0, |l| l.len());
        let at = *logs
            .committed
            .get(&(group.to_string(), topic.to_string()))
            .unwrap_or(&0);
        Ok(Some((len - at) as u64))
    }
}

struct MemorySub {
    shared: Arc<Shared>,
    /// (group, topic)
    key: (String, String),
    next: usize,
    rx: watch::Receiver<u64>,
}

#[async_trait]
impl Subscription for MemorySub {
    async fn recv(&mut self) -> Result<Delivery, BusError> {
        loop {
            self.rx.borrow_and_update();
            {
                let logs = self.shared.logs.lock().unwrap();
                if let Some((key, payload)) =
                    logs.topics.get(&self.key.1).and_then(|l| l.get(self.next))
                {
                    let d = Delivery {
                        topic: self.key.1.clone(),
                        partition: 0,
                        offset: self.next as i64,
                        key: Some(key.clone()),
                        payload: payload.clone(),
                    };
                    self.next += 1;
                    return Ok(d);
                }
            }
            if self.rx.changed().await.is_err() {
                return Err(BusError::Closed);
            }
        }
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let mut logs = self.shared.logs.lock().unwrap();
        logs.committed
            .insert(self.key.clone(), delivery.offset as usize + 1);
        Ok(())
    }
}

/// What a fake sender saw.
#[derive(Debug, Clone)]
pub struct Sent {
    pub channel: String,
    pub id: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub at: DateTime<Utc>,
}

/// Records deliveries; the first `fail_first` attempts fail.
#[derive(Default)]
pub struct RecordingSender {
    pub sent: Mutex<Vec<Sent>>,
    pub attempts: Mutex<u32>,
    pub fail_first: u32,
}

#[async_trait]
impl Deliver for RecordingSender {
    async fn deliver(
        &self,
        channel: &Channel,
        item: &OutboxItem,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        let attempt = {
            let mut a = self.attempts.lock().unwrap();
            *a += 1;
            *a
        };
        if attempt <= self.fail_first {
            return Err(SendError::Refused("down for maintenance".into()));
        }
        self.sent.lock().unwrap().push(Sent {
            channel: channel.name.clone(),
            id: item.id.clone(),
            recipients: item.notice.recipients.clone(),
            subject: item.notice.subject.clone(),
            at: now,
        });
        Ok(())
    }
}

pub fn channel(name: &str, kind: ChannelKind, url: Option<String>) -> Channel {
    Channel {
        name: name.into(),
        kind,
        enabled: true,
        recipients: vec!["*".into()],
        url,
        secret: None,
        smtp_host: None,
        smtp_port: None,
        smtp_tls: Default::default(),
        smtp_user: None,
        smtp_password: None,
        from: None,
        to: vec![],
        max_per_minute: None,
    }
}
