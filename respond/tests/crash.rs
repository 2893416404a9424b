//! kill -9 in the middle of a burst: the stage runs in a child process (this test binary
//! re-executed), is SIGKILLed while opening cases and sending notifications, and restarted.
//! Afterwards every event has exactly one case, every case event is on the bus, and every
//! notification was delivered; the only duplicate possible is the one delivery in flight at the
//! kill, which carries the same idempotency key.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::bus::EmbeddedBus;
use common::wire::{CaseEvent, Envelope, EventUpdate, Jurisdiction, Priority};
use common::{Bus, SharedBus, Shutdown, StageContext, SystemClock, topics};
use respond::{CaseFilter, CaseStore};

const CHILD_DIR: &str = "RESPOND_CRASH_CHILD_DIR";
const CHILD_URL: &str = "RESPOND_CRASH_CHILD_URL";
const TEST_NAME: &str = "kill_9_mid_burst_loses_and_duplicates_nothing";
const EVENTS: usize = 120;
const COUNTIES: [&str; 10] = [
    "南明区",
    "云岩区",
    "花溪区",
    "乌当区",
    "白云区",
    "观山湖区",
    "清镇市",
    "开阳县",
    "息烽县",
    "修文县",
];

/// The child: the stage on the embedded bus until killed or terminated.
fn run_child(dir: String, url: String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = std::path::PathBuf::from(dir);
        let config = respond::Config::from_toml(&format!(
            "[respond.notify]\nbackoff_initial_secs = 0.05\nbackoff_max_secs = 0.5\n\
             [[respond.notify.channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\n"
        ))
        .unwrap();
        let bus: SharedBus = Arc::new(EmbeddedBus::open(&dir.join("bus"), "", 1_000_000).unwrap());
        let ctx = StageContext {
            bus,
            clock: Arc::new(SystemClock),
            data_dir: dir,
        };
        let shutdown = Shutdown::new();
        common::shutdown::cancel_on_signal(shutdown.clone());
        respond::run(config, ctx, shutdown).await.unwrap();
    });
}

fn spawn_child(dir: &std::path::Path, url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_URL, url)
        .spawn()
        .unwrap()
}

#[derive(Default)]
struct Received {
    ids: Vec<String>,
}

async fn receive(State(r): State<Arc<Mutex<Received>>>, headers: HeaderMap) -> StatusCode {
    // Slow enough that notifications are still going out when the kill lands.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let id = headers["idempotency-key"].to_str().unwrap().to_string();
    r.lock().unwrap().ids.push(id);
    StatusCode::OK
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1200 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn kill_9_mid_burst_loses_and_duplicates_nothing() {
    if let (Ok(dir), Ok(url)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_URL)) {
        return run_child(dir, url);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let received: Arc<Mutex<Received>> = Arc::default();
    let url = rt.block_on(async {
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    let dir = tempfile::tempdir().unwrap();

    // The burst: every event opens a case with one assignment notice.
    rt.block_on(async {
        let bus = EmbeddedBus::open(&dir.path().join("bus"), "", 1_000_000).unwrap();
        let now = chrono::Utc::now();
        for i in 0..EVENTS {
            let event = EventUpdate {
                event_id: format!("ev-{i}"),
                title: format!("{}突发事件{i}", COUNTIES[i % 10]),
                first_detected_at: now,
                last_seen_at: now,
                heat: 10.0,
                priorities: vec![Priority::Emergency],
                jurisdiction: Jurisdiction::Local {
                    county: COUNTIES[i % 10].into(),
                    township: None,
                },
                revision: 1,
                ..Default::default()
            };
            let env = Envelope::new(format!("ev-{i}:1"), now, event);
            common::bus::publish(&bus, topics::EVENT_UPDATES, &format!("ev-{i}"), &env)
                .await
                .unwrap();
        }
    });

    let mut child = spawn_child(dir.path(), &url);
    wait_until("the first notifications", || {
        received.lock().unwrap().ids.len() >= 5
    });
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no goodbye.
    child.wait().unwrap();
    let before_restart = received.lock().unwrap().ids.len();
    assert!(
        before_restart < EVENTS,
        "the kill came too late to test anything"
    );
    {
        let store = CaseStore::open(&dir.path().join("respond/cases")).unwrap();
        let opened = store
            .list(&CaseFilter::default(), chrono::Utc::now())
            .unwrap()
            .len();
        let queued = store.outbox().unwrap().len();
        eprintln!(
            "killed with {opened} cases opened, {before_restart} notices delivered, {queued} queued"
        );
    }

    let mut child = spawn_child(dir.path(), &url);
    wait_until("every notification", || {
        received
            .lock()
            .unwrap()
            .ids
            .iter()
            .collect::<BTreeSet<_>>()
            .len()
            >= EVENTS
    });
    // Let it settle, then stop it cleanly so the bus and store can be opened here.
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());

    let ids = received.lock().unwrap().ids.clone();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), EVENTS);
    assert!(
        ids.len() <= EVENTS + 1,
        "{} deliveries for {EVENTS} notifications",
        ids.len()
    );

    let store = CaseStore::open(&dir.path().join("respond/cases")).unwrap();
    let cases = store
        .list(&CaseFilter::default(), chrono::Utc::now())
        .unwrap();
    assert_eq!(cases.len(), EVENTS);
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(store.sent_count(), EVENTS);
    for c in &cases {
        assert_eq!(store.verify(&c.case_id).unwrap(), Ok(()));
    }
    drop(store);

    // On the bus: each event has one case, and each case both of its events, maybe repeated
    // with the same message id (a republish after the kill) but never two different cases.
    rt.block_on(async {
        let bus = EmbeddedBus::open(&dir.path().join("bus"), "", 1_000_000).unwrap();
        let mut sub = bus.subscribe(topics::CASE_EVENTS, "check").await.unwrap();
        let mut by_event: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut seqs: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        let mut ids_seen = BTreeSet::new();
        while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await {
            let env = Envelope::<CaseEvent>::decode(&d.payload).unwrap();
            assert_eq!(
                env.message_id,
                format!("case:{}:{}", env.payload.case_id, env.payload.seq)
            );
            ids_seen.insert(env.message_id.clone());
            for e in &env.payload.case.event_ids {
                by_event
                    .entry(e.clone())
                    .or_default()
                    .insert(env.payload.case_id.clone());
            }
            seqs.entry(env.payload.case_id.clone())
                .or_default()
                .insert(env.payload.seq);
        }
        assert_eq!(by_event.len(), EVENTS);
        assert!(by_event.values().all(|cases| cases.len() == 1));
        assert_eq!(seqs.len(), EVENTS);
        assert!(seqs.values().all(|s| s == &BTreeSet::from([1, 2])));
        assert_eq!(ids_seen.len(), EVENTS * 2);
        let _ = bus.lag(topics::CASE_EVENTS, "check").await;
    });
}
