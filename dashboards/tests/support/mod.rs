//! Test harness: a dashboards server on 127.0.0.1:0 fed through an embedded bus in a tempdir,
//! and builders for the wire messages it consumes.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::bus::{EmbeddedBus, publish};
use common::wire::*;
use common::{SharedBus, Shutdown, StageContext, topics};

pub const PASSWORD: &str = "测试密码-correct-horse";

pub struct Harness {
    pub bus: SharedBus,
    pub base: String,
    pub data: Arc<tempfile::TempDir>,
    pub shutdown: Shutdown,
    pub task: Option<tokio::task::JoinHandle<Result<(), dashboards::Error>>>,
    pub config: dashboards::Config,
    pub clock: common::SharedClock,
}

/// The shipped defaults (anonymous reads off).
pub fn default_config() -> dashboards::Config {
    common::config::load::<Wrapper>(dashboards::DEFAULT_CONFIG, None)
        .expect("default config parses")
        .dashboards
}

/// The loopback test setup: anonymous reads of the JSON API and the desk page, turned on
/// explicitly as `yuqing demo` does (the default is off).
pub fn public_config() -> dashboards::Config {
    let mut c = default_config();
    c.auth.public_read_api = true;
    c
}

#[derive(serde::Deserialize)]
struct Wrapper {
    dashboards: dashboards::Config,
}

impl Harness {
    pub async fn start(config: dashboards::Config) -> Harness {
        let data = Arc::new(tempfile::tempdir().expect("tempdir"));
        Self::start_in(config, data).await
    }

    /// Start on an existing data directory (restart tests).
    pub async fn start_in(config: dashboards::Config, data: Arc<tempfile::TempDir>) -> Harness {
        Self::start_clocked(config, data, Arc::new(common::SystemClock)).await
    }

    /// Start with an injected clock (report tests pin "now" to local noon, away from midnight).
    pub async fn start_clocked(
        config: dashboards::Config,
        data: Arc<tempfile::TempDir>,
        clock: common::SharedClock,
    ) -> Harness {
        let bus: SharedBus =
            Arc::new(EmbeddedBus::open(&data.path().join("bus"), "", 1_000_000).expect("bus"));
        let ctx = StageContext {
            bus: bus.clone(),
            clock: clock.clone(),
            data_dir: data.path().to_path_buf(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = Shutdown::new();
        let task = tokio::spawn(dashboards::run_with_listener(
            config.clone(),
            ctx,
            listener,
            shutdown.clone(),
        ));
        let mut h = Harness {
            bus,
            base,
            data,
            shutdown,
            task: Some(task),
            config,
            clock,
        };
        h.wait_until_serving().await;
        h
    }

    /// The listener is bound before the server task runs, so connections queue even while the
    /// store opens; "could not connect" therefore only happens when the task has already ended
    /// and dropped the listener. Wait for `/healthz`, and when the task is gone, fail with its own
    /// error instead of letting the first request of the test report a refused connection.
    async fn wait_until_serving(&mut self) {
        let probe = reqwest::Client::new();
        for _ in 0..1200 {
            if let Some(task) = self.task.as_mut()
                && task.is_finished()
            {
                let outcome = task.await;
                panic!("dashboards server ended before serving: {outcome:?}");
            }
            if let Ok(res) = probe.get(self.url("/healthz")).send().await
                && res.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("dashboards server never answered /healthz");
    }

    pub async fn stop(mut self) -> Arc<tempfile::TempDir> {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("dashboards ran cleanly");
        }
        // The embedded bus holds its sled lock until every handle is gone.
        drop(self.bus);
        self.data.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send<T: serde::Serialize + Sync>(&self, topic: &str, key: &str, payload: T) {
        let env = Envelope::new(new_message_id(), Utc::now(), payload);
        publish(self.bus.as_ref(), topic, key, &env)
            .await
            .expect("publish");
    }

    pub async fn item(&self, doc: AnalyzedDocument) {
        let key = doc.event_id.clone();
        self.send(topics::ANALYZED_DOCUMENTS, &key, doc).await;
    }

    pub async fn event(&self, ev: EventUpdate) {
        let key = ev.event_id.clone();
        self.send(topics::EVENT_UPDATES, &key, ev).await;
    }

    pub async fn case_event(&self, ev: CaseEvent) {
        let key = ev.case_id.clone();
        self.send(topics::CASE_EVENTS, &key, ev).await;
    }

    /// GET `path` as `client`: the response, whatever its status.
    pub async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.expect("get")
    }

    pub async fn get_text(&self, client: &reqwest::Client, path: &str) -> String {
        self.get(client, path).await.text().await.expect("text")
    }

    pub async fn get_bytes(&self, client: &reqwest::Client, path: &str) -> Vec<u8> {
        let body = self.get(client, path).await.bytes().await.expect("bytes");
        body.to_vec()
    }

    /// `/api/me` as `client` sees it (a null user when not logged in).
    pub async fn me(&self, client: &reqwest::Client) -> serde_json::Value {
        self.get(client, "/api/me")
            .await
            .json()
            .await
            .expect("json")
    }

    pub async fn get_json(&self, client: &reqwest::Client, path: &str) -> serde_json::Value {
        let res = self.get(client, path).await;
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.expect("json")
    }

    /// Poll `path` until `pred` holds (the feed is asynchronous); fail with the last body.
    pub async fn wait_json(
        &self,
        client: &reqwest::Client,
        path: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        for _ in 0..1200 {
            if let Ok(res) = client.get(self.url(path)).send().await
                && res.status().is_success()
                && let Ok(v) = res.json::<serde_json::Value>().await
            {
                if pred(&v) {
                    return v;
                }
                last = v;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("condition on {path} never held; last body: {last}");
    }

    /// Read every command the dashboards published, in order.
    pub async fn commands(&self, group: &str, n: usize) -> Vec<Envelope<CaseCommandRequest>> {
        self.read(topics::CASE_COMMANDS, group, n, "command arrives")
            .await
    }

    pub async fn raw_documents(&self, group: &str, n: usize) -> Vec<Envelope<RawDocument>> {
        self.read(topics::RAW_DOCUMENTS, group, n, "raw document arrives")
            .await
    }

    /// The first `n` messages of `topic` for consumer group `group`, acknowledged.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        topic: &str,
        group: &str,
        n: usize,
        what: &str,
    ) -> Vec<Envelope<T>> {
        let mut sub = self.bus.subscribe(topic, group).await.expect("subscribe");
        let mut out = Vec::new();
        while out.len() < n {
            let d = tokio::time::timeout(Duration::from_secs(30), sub.recv())
                .await
                .expect(what)
                .expect("recv");
            out.push(Envelope::decode(&d.payload).expect("decode"));
            sub.ack(&d).await.expect("ack");
        }
        out
    }

    /// Start with accounts created the way the CLI does it (before the server opens the store).
    pub async fn start_with_users(
        config: dashboards::Config,
        users: &[(&str, &str, Option<&str>)],
    ) -> Harness {
        Self::start_with_users_at(config, users, Arc::new(common::SystemClock)).await
    }

    pub async fn start_with_users_at(
        config: dashboards::Config,
        users: &[(&str, &str, Option<&str>)],
        clock: common::SharedClock,
    ) -> Harness {
        let data = Arc::new(tempfile::tempdir().expect("tempdir"));
        for (name, role, unit) in users {
            dashboards::tools::create_user(&config, data.path(), name, role, *unit, PASSWORD)
                .expect("create user");
        }
        Self::start_clocked(config, data, clock).await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Run the real response tracker (default registry and rules) on this harness's bus, as
    /// the pipeline would: it consumes the commands the pages send and publishes case events,
    /// command results and the unit registry.
    pub fn start_respond(&self) -> Respond {
        let mut config = respond::Config::from_default_toml().expect("respond defaults");
        // Nothing to rebuild from: the tests start with an empty bus.
        config.rebuild_from_case_events = false;
        let ctx = StageContext {
            bus: self.bus.clone(),
            clock: self.clock.clone(),
            data_dir: self.data.path().to_path_buf(),
        };
        let shutdown = Shutdown::new();
        let task = tokio::spawn(respond::run(config, ctx, shutdown.clone()));
        Respond { shutdown, task }
    }
}

/// A response tracker running next to the dashboards.
pub struct Respond {
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), respond::Error>>,
}

impl Respond {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("join respond")
            .expect("respond ran cleanly");
    }
}

pub fn doc(
    id: &str,
    event: &str,
    title: &str,
    county: &str,
    at: DateTime<Utc>,
) -> AnalyzedDocument {
    AnalyzedDocument {
        doc_id: id.into(),
        source_id: "gyrb".into(),
        source_kind: SourceKind::Rss,
        url: Some(format!("https://news.example.cn/{id}.html")),
        title: title.into(),
        summary: format!("{title}。摘要"),
        detected_at: at,
        site_name: Some("贵阳日报".into()),
        priorities: vec![PriorityMatch {
            priority: Priority::PublicInterest,
            scheme: "test".into(),
            evidence: vec!["停水".into()],
            score: 1.0,
        }],
        jurisdiction: Jurisdiction::Local {
            county: county.into(),
            township: None,
        },
        sentiment: Sentiment {
            label: SentimentLabel::Negative,
            negative_score: 0.8,
        },
        event_id: event.into(),
        source_weight: 1.0,
        ..AnalyzedDocument::default()
    }
}

pub fn event(id: &str, title: &str, heat: f64, revision: u64, at: DateTime<Utc>) -> EventUpdate {
    EventUpdate {
        event_id: id.into(),
        title: title.into(),
        first_detected_at: at,
        last_seen_at: at + chrono::Duration::minutes(revision as i64),
        doc_count: revision,
        source_count: 1,
        heat,
        priorities: vec![Priority::PublicInterest],
        jurisdiction: Jurisdiction::Local {
            county: "南明区".into(),
            township: None,
        },
        revision,
        ..EventUpdate::default()
    }
}

pub fn case(id: &str, unit: &str, seq: u64, state: CaseState, at: DateTime<Utc>) -> CaseEvent {
    let c = Case {
        case_id: id.into(),
        event_ids: vec!["ev-1".into()],
        title: format!("案件 {id}"),
        state,
        owner: UnitRef {
            id: unit.into(),
            name: format!("{unit}名称"),
        },
        owner_reason: "属地管理".into(),
        tier: Tier::Standard,
        severity: Some(Severity::General),
        severity_confirmed: false,
        priorities_confirmed: false,
        priorities: vec![Priority::PublicInterest],
        disposition: None,
        detected_at: at,
        opened_at: at,
        updated_at: at + chrono::Duration::seconds(seq as i64),
        deadlines: vec![Deadline {
            kind: DeadlineKind::Response,
            due_at: at + chrono::Duration::hours(48),
            met_at: None,
            breached: false,
        }],
        flags: DocFlags::default(),
        audit_len: seq,
        audit_head: format!("h{seq}"),
    };
    CaseEvent {
        case_id: id.into(),
        seq,
        at: at + chrono::Duration::seconds(seq as i64),
        actor: Actor::system(),
        kind: if seq == 1 {
            "opened".into()
        } else {
            "updated".into()
        },
        detail: String::new(),
        case: c,
    }
}

/// A client without automatic redirects (tests look at the 303s) and with a cookie jar.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The hidden `csrf` field of a server-rendered form.
pub fn form_csrf(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("csrf field") + marker.len();
    let end = html[start..].find('"').expect("end of value") + start;
    html[start..end].to_string()
}

/// The CSRF token of the login form, as `c` gets it (with its cookie twin in `c`'s jar).
pub async fn login_csrf(h: &Harness, c: &reqwest::Client) -> String {
    form_csrf(&h.get_text(c, "/login").await)
}

/// Log in through the real form; returns the response of the POST.
pub async fn login_as(
    h: &Harness,
    c: &reqwest::Client,
    name: &str,
    password: &str,
) -> reqwest::Response {
    let csrf = login_csrf(h, c).await;
    c.post(h.url("/login"))
        .form(&[
            ("username", name),
            ("password", password),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .expect("login post")
}

/// A logged-in client and its CSRF token.
pub async fn session(h: &Harness, name: &str) -> (reqwest::Client, String) {
    let c = client();
    let res = login_as(h, &c, name, PASSWORD).await;
    assert_eq!(res.status(), 303, "login of {name}");
    let me = h.me(&c).await;
    assert_eq!(me["user"], name);
    (c, me["csrf"].as_str().expect("csrf").to_string())
}

/// Every page and API behind a login (the default, spelled out so these tests do not depend
/// on it).
pub fn private_config() -> dashboards::Config {
    let mut c = default_config();
    c.auth.public_read_api = false;
    c
}

/// A fixed clock at 12:00 Beijing time of today's UTC date: report periods computed from it are
/// never split by a midnight, whenever the test runs.
pub fn noon_clock() -> common::SharedClock {
    let noon = Utc::now()
        .date_naive()
        .and_hms_opt(4, 0, 0)
        .expect("valid time")
        .and_utc();
    Arc::new(common::clock::ManualClock::new(noon))
}
