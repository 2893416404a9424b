//! The same end-to-end scenario on both buses: the real crawlers fetch a local feed site
//! (RSS with GBK article pages, Atom, a Weibo-style timeline) → analyze → respond → the API,
//! and every published item is processed exactly once in effect.

use std::time::Duration;

use common::Shutdown;
use common::config::BusKind;
use tests::{Running, assert_exactly_once, config, fresh_namespace, published_items};

const SETTLE: Duration = Duration::from_secs(120);

async fn scenario(bus: BusKind, namespace: &str) -> anyhow::Result<()> {
    let site_shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // Release the whole feed at once.
    let site = yuqing::demo::serve(listener, 10_000.0, site_shutdown.clone())?;
    let dir = tempfile::tempdir()?;
    let run = Running::start(config(dir.path(), &site.base_url(), bus, namespace)).await?;
    let expected = published_items();
    run.wait_for_stats(SETTLE, "every item analyzed", |s| {
        s["items"].as_u64() == Some(expected as u64)
    })
    .await?;
    run.wait_for_stats(SETTLE, "cases opened", |s| s["cases"].as_u64() > Some(0))
        .await?;
    // Let any straggling duplicates arrive before checking none did.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_exactly_once(&run, expected).await?;
    let health = run.get("/healthz").await?;
    assert_eq!(health["status"], "ok");
    run.stop().await?;
    site_shutdown.cancel();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_to_end_on_the_embedded_bus() -> anyhow::Result<()> {
    scenario(BusKind::Embedded, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_to_end_on_apache_kafka() -> anyhow::Result<()> {
    scenario(BusKind::Kafka, &fresh_namespace("e2e")).await
}

/// Stop the embedded pipeline mid-stream and start it again on the same data: nothing is lost
/// and nothing is processed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_mid_stream_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let site_shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // The feed's 165 s of releases in about 16 s.
    let site = yuqing::demo::serve(listener, 10.0, site_shutdown.clone())?;
    let dir = tempfile::tempdir()?;
    let expected = published_items() as u64;

    let first = Running::start(config(dir.path(), &site.base_url(), BusKind::Embedded, "")).await?;
    let seen = first
        .wait_for_stats(SETTLE, "a first part of the feed", |s| {
            s["items"].as_u64().is_some_and(|n| n >= 3)
        })
        .await?;
    assert!(
        seen["items"].as_u64() < Some(expected),
        "stopped mid-stream, before the whole feed was out: {seen}"
    );
    first.stop().await?;

    let second =
        Running::start(config(dir.path(), &site.base_url(), BusKind::Embedded, "")).await?;
    second
        .wait_for_stats(SETTLE, "the whole feed after restart", |s| {
            s["items"].as_u64() == Some(expected)
        })
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_exactly_once(&second, expected as usize).await?;
    second.stop().await?;
    site_shutdown.cancel();
    Ok(())
}
