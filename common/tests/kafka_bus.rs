//! The Kafka bus against a genuine Apache Kafka broker: idempotent publish, consumer groups that
//! resume after the last acknowledged message, dead letters.

use std::sync::Arc;
use std::time::Duration;

use common::bus::{Bus, KafkaBus};
use common::config::KafkaConfig;

/// The broker `scripts/test.sh` started. Failing (not skipping) without one keeps CI honest.
fn kafka_bootstrap() -> String {
    match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) if !b.is_empty() => {
            eprintln!("kafka bus tests run against the broker at {b}");
            b
        }
        _ => panic!(
            "KAFKA_BOOTSTRAP is not set: run the suite with scripts/test.sh, which starts Apache Kafka"
        ),
    }
}

/// A fresh topic namespace per test.
fn fresh_namespace(test: &str) -> String {
    format!("t-{test}-{}.", uuid::Uuid::now_v7())
}

fn bus(namespace: &str) -> Arc<KafkaBus> {
    let config = KafkaConfig {
        bootstrap: kafka_bootstrap(),
        client_id: "yuqing-tests".into(),
        partitions: 3,
        replication: 1,
        properties: Default::default(),
    };
    Arc::new(KafkaBus::new(&config, namespace).expect("kafka client"))
}

async fn recv(sub: &mut Box<dyn common::Subscription>) -> common::Delivery {
    tokio::time::timeout(Duration::from_secs(60), sub.recv())
        .await
        .expect("a message within 60 s")
        .expect("receive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_group_resumes_after_last_acknowledged_message() {
    let ns = fresh_namespace("resume");
    let bus = bus(&ns);
    bus.ensure_topics(&["t"]).await.unwrap();
    // One key: one partition, so order is defined.
    for i in 0..6 {
        bus.publish("t", "event-1", format!("m{i}").into_bytes())
            .await
            .unwrap();
    }
    {
        let mut sub = bus.subscribe("t", "g").await.unwrap();
        for i in 0..3 {
            let d = recv(&mut sub).await;
            assert_eq!(d.payload, format!("m{i}").into_bytes());
            assert_eq!(d.key.as_deref(), Some("event-1"));
            sub.ack(&d).await.unwrap();
        }
        // Received but never acknowledged: must be delivered again.
        let unacked = recv(&mut sub).await;
        assert_eq!(unacked.payload, b"m3");
    }
    let mut again = bus.subscribe("t", "g").await.unwrap();
    let d = recv(&mut again).await;
    assert_eq!(
        d.payload, b"m3",
        "resumes after the last acknowledged message"
    );
    // A different group reads from the beginning.
    let mut other = bus.subscribe("t", "other").await.unwrap();
    assert_eq!(recv(&mut other).await.payload, b"m0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ensure_topics_is_idempotent_and_lag_counts_unacknowledged() {
    let ns = fresh_namespace("lag");
    let bus = bus(&ns);
    bus.ensure_topics(&["a", "b"]).await.unwrap();
    bus.ensure_topics(&["a", "b"]).await.unwrap();
    for i in 0..4 {
        bus.publish("a", &format!("k{i}"), b"x".to_vec())
            .await
            .unwrap();
    }
    let mut sub = bus.subscribe("a", "g").await.unwrap();
    for _ in 0..4 {
        let d = recv(&mut sub).await;
        sub.ack(&d).await.unwrap();
    }
    drop(sub); // commits the stored offsets
    let lag = bus.lag("a", "g").await.unwrap();
    assert_eq!(lag, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_read_all_replays_a_compacted_topic_from_its_start() {
    let ns = fresh_namespace("replay");
    let bus = bus(&ns);
    let topic = common::topics::CORRECTIONS;
    bus.ensure_topics(&[topic]).await.unwrap();
    assert!(bus.read_all(topic).await.unwrap().is_empty());
    // Keys spread over the three partitions; one key twice, in order.
    for i in 0..20 {
        bus.publish(topic, &format!("k{i}"), format!("v{i}").into_bytes())
            .await
            .unwrap();
    }
    bus.publish(topic, "k3", b"again".to_vec()).await.unwrap();
    let all = bus.read_all(topic).await.unwrap();
    assert_eq!(all.len(), 21);
    let k3: Vec<&[u8]> = all
        .iter()
        .filter(|d| d.key.as_deref() == Some("k3"))
        .map(|d| d.payload.as_slice())
        .collect();
    assert_eq!(k3, [b"v3".as_slice(), b"again".as_slice()]);
    // A second reader sees the same messages: nothing was consumed.
    assert_eq!(bus.read_all(topic).await.unwrap().len(), 21);
}
