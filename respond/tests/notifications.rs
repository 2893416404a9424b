//! Notifications end to end on the embedded bus with the real senders against local servers on
//! 127.0.0.1: a signed generic webhook, a DingTalk robot (verifying its 加签 signature), a WeCom
//! robot, an SMTP server, and a flaky webhook that fails twice before accepting.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use common::bus::EmbeddedBus;
use common::wire::{Envelope, EventUpdate, Jurisdiction, NotificationRequest, Priority};
use common::{SharedBus, Shutdown, StageContext, SystemClock, topics};
use respond::Config;
use respond::config::{ChannelKind, SmtpTls};
use respond::notify::{dingtalk_sign, webhook_signature};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Default)]
struct Seen {
    webhook: Vec<(HeaderMap, Vec<u8>)>,
    dingtalk: Vec<(std::collections::HashMap<String, String>, Value)>,
    wecom: Vec<Value>,
    flaky_attempts: u32,
    flaky_ok: Vec<Value>,
    mail: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

async fn webhook(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    s.lock().unwrap().webhook.push((headers, body.to_vec()));
    StatusCode::OK
}

async fn dingtalk(
    State(s): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let ts: i64 = q.get("timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    let ok = q.get("access_token").map(String::as_str) == Some("tok")
        && q.get("sign") == Some(&dingtalk_sign(ts, "SECtest"));
    s.lock().unwrap().dingtalk.push((q, body));
    if ok {
        Json(json!({"errcode": 0, "errmsg": "ok"}))
    } else {
        Json(json!({"errcode": 310000, "errmsg": "sign not match"}))
    }
}

async fn wecom(State(s): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    s.lock().unwrap().wecom.push(body);
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn flaky(State(s): State<Shared>, Json(body): Json<Value>) -> StatusCode {
    let mut s = s.lock().unwrap();
    s.flaky_attempts += 1;
    if s.flaky_attempts <= 2 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    s.flaky_ok.push(body);
    StatusCode::OK
}

/// Just enough SMTP for one client: greet, accept EHLO/MAIL/RCPT, collect DATA, QUIT.
async fn smtp_server(listener: tokio::net::TcpListener, seen: Shared) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let seen = seen.clone();
        tokio::spawn(async move {
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"220 localhost ESMTP test\r\n").await.ok();
            let mut in_data = false;
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        seen.lock().unwrap().mail.push(std::mem::take(&mut data));
                        w.write_all(b"250 2.0.0 queued\r\n").await.ok();
                    } else {
                        data.push_str(&line);
                        data.push('\n');
                    }
                    continue;
                }
                let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 localhost\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 end with .\r\n"
                    }
                    "QUIT" => {
                        w.write_all(b"221 bye\r\n").await.ok();
                        return;
                    }
                    _ => b"250 OK\r\n",
                };
                w.write_all(reply).await.ok();
            }
        });
    }
}

async fn wait_for(what: &str, seen: &Shared, cond: impl Fn(&Seen) -> bool) {
    for _ in 0..2400 {
        if cond(&seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The receivers on 127.0.0.1, recording into `seen`; returns their base URL.
async fn serve_receivers(seen: &Shared) -> String {
    let app = Router::new()
        .route("/hook", post(webhook))
        .route("/robot/send", post(dingtalk))
        .route("/cgi-bin/webhook/send", post(wecom))
        .route("/flaky", post(flaky))
        .with_state(seen.clone());
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
    base
}

struct Running {
    _dir: tempfile::TempDir,
    bus: SharedBus,
    store: respond::CaseStore,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), respond::Error>>,
}

/// The stage with the real senders on an embedded bus in a temporary directory.
fn run_stage(config: Config) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let bus: SharedBus = Arc::new(EmbeddedBus::open(&dir.path().join("bus"), "", 10_000).unwrap());
    let ctx = StageContext {
        bus: bus.clone(),
        clock: Arc::new(SystemClock),
        data_dir: dir.path().to_path_buf(),
    };
    let shutdown = Shutdown::new();
    // Keep a clone of the store to read cases while the stage runs (one opener per directory).
    let store = respond::open_store(&ctx).unwrap();
    let task = tokio::spawn(respond::run_with_store(
        store.clone(),
        config,
        ctx,
        shutdown.clone(),
    ));
    Running {
        _dir: dir,
        bus,
        store,
        shutdown,
        task,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_request_on_the_bus_is_delivered_once() {
    let seen: Shared = Arc::default();
    let base = serve_receivers(&seen).await;
    let mut config = Config::default();
    config.notify.case_link = "https://yq.example/inbox?case={case_id}".into();
    let everyone = support::channel("all", ChannelKind::Webhook, Some(format!("{base}/hook")));
    let mut unit = support::channel(
        "unit",
        ChannelKind::Wecom,
        Some(format!("{base}/cgi-bin/webhook/send?key=k")),
    );
    unit.recipients = vec!["yunyan".into()];
    config.notify.channels = vec![everyone, unit];
    let stage = run_stage(config);

    let link = "https://yq.example/reports/archive/daily-2026-11-25.docx";
    let request = Envelope::new(
        "daily_report:2026-11-25",
        chrono::Utc::now(),
        NotificationRequest {
            kind: "daily_report".into(),
            title: "舆情日报(2026-11-25)".into(),
            text: "新增事件 3 起,案件 2 件".into(),
            link: Some(link.into()),
            recipients: vec![],
        },
    );
    for _ in 0..2 {
        // Published twice (a make-up run after a crash): delivered once.
        common::bus::publish(
            stage.bus.as_ref(),
            topics::NOTIFICATIONS,
            "daily_report",
            &request,
        )
        .await
        .unwrap();
    }
    wait_for("the notice", &seen, |s| s.webhook.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.webhook.len(), 1);
        assert!(
            s.wecom.is_empty(),
            "the unit's channel serves only its unit"
        );
        let body: Value = serde_json::from_slice(&s.webhook[0].1).unwrap();
        assert_eq!(body["kind"], "daily_report");
        assert_eq!(body["subject"], "舆情日报(2026-11-25)");
        assert_eq!(body["link"], link);
        assert_eq!(body["case_id"], "");
        assert_eq!(
            body["text"],
            format!("新增事件 3 起,案件 2 件\n详情:{link}")
        );
    }
    stage.shutdown.cancel();
    stage.task.await.unwrap().unwrap();
    assert_eq!(stage.store.sent_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_delivers_in_its_format() {
    let seen: Shared = Arc::default();
    let base = serve_receivers(&seen).await;
    let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = smtp.local_addr().unwrap().port();
    tokio::spawn(smtp_server(smtp, seen.clone()));

    let mut config = Config::default();
    config.notify.backoff_initial_secs = 0.05;
    config.notify.request_timeout_secs = 5.0;
    config.notify.case_link = "https://yq.example/inbox?case={case_id}".into();
    let mut hook = support::channel(
        "unit-hook",
        ChannelKind::Webhook,
        Some(format!("{base}/hook")),
    );
    hook.recipients = vec!["nanming".into()];
    hook.secret = Some("hooksecret".into());
    let mut ding = support::channel(
        "desk-dingtalk",
        ChannelKind::Dingtalk,
        Some(format!("{base}/robot/send?access_token=tok")),
    );
    ding.secret = Some("SECtest".into());
    let wecom = support::channel(
        "desk-wecom",
        ChannelKind::Wecom,
        Some(format!("{base}/cgi-bin/webhook/send?key=k")),
    );
    let flaky = support::channel("flaky", ChannelKind::Webhook, Some(format!("{base}/flaky")));
    let mut mail = support::channel("mail", ChannelKind::Smtp, None);
    mail.smtp_host = Some("127.0.0.1".into());
    mail.smtp_port = Some(smtp_port);
    mail.smtp_tls = SmtpTls::None;
    mail.from = Some("舆情系统 <yuqing@gy.example>".into());
    mail.to = vec!["duty@nanming.example".into()];
    // Not for this case's recipients: must stay silent.
    let mut other = support::channel(
        "other-unit",
        ChannelKind::Webhook,
        Some(format!("{base}/hook")),
    );
    other.recipients = vec!["yunyan".into()];
    config.notify.channels = vec![hook, ding, wecom, flaky, mail, other];
    let Running {
        _dir,
        bus,
        store,
        shutdown,
        task: stage,
    } = run_stage(config);

    let now = chrono::Utc::now();
    let event = EventUpdate {
        event_id: "ev-hook".into(),
        title: "南明区某小区电梯困人事故".into(),
        first_detected_at: now,
        last_seen_at: now,
        heat: 5.0,
        priorities: vec![Priority::Credibility],
        jurisdiction: Jurisdiction::Local {
            county: "南明区".into(),
            township: None,
        },
        revision: 1,
        ..Default::default()
    };
    common::bus::publish(
        bus.as_ref(),
        topics::EVENT_UPDATES,
        "ev-hook",
        &Envelope::new("u1", now, event),
    )
    .await
    .unwrap();

    wait_for("all channels", &seen, |s| {
        s.webhook.len() == 1
            && s.dingtalk.len() == 1
            && s.wecom.len() == 1
            && s.flaky_ok.len() == 1
            && s.mail.len() == 1
    })
    .await;

    {
        let s = seen.lock().unwrap();
        let (headers, body) = &s.webhook[0];
        assert_eq!(
            headers["x-yuqing-signature"].to_str().unwrap(),
            webhook_signature("hooksecret", body)
        );
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            headers["idempotency-key"].to_str().unwrap(),
            body["id"].as_str().unwrap()
        );
        assert_eq!(body["subject"], "【舆情交办】南明区某小区电梯困人事故");
        assert!(body["text"].as_str().unwrap().contains("南明区人民政府"));
        let link = format!(
            "详情:https://yq.example/inbox?case={}",
            body["case_id"].as_str().unwrap()
        );
        assert!(
            body["text"].as_str().unwrap().ends_with(&link),
            "{}",
            body["text"]
        );

        let (query, ding) = &s.dingtalk[0];
        let ts: i64 = query["timestamp"].parse().unwrap();
        assert_eq!(query["sign"], dingtalk_sign(ts, "SECtest"));
        assert_eq!(ding["msgtype"], "markdown");
        assert_eq!(
            ding["markdown"]["title"],
            "【舆情交办】南明区某小区电梯困人事故"
        );

        assert_eq!(s.wecom[0]["msgtype"], "markdown");
        assert!(
            s.wecom[0]["markdown"]["content"]
                .as_str()
                .unwrap()
                .starts_with("**【舆情交办】")
        );

        assert_eq!(s.flaky_attempts, 3);
        let mail = &s.mail[0];
        assert!(mail.contains("To: duty@nanming.example"), "{mail}");
        assert!(mail.contains("@yuqing>"), "{mail}");
    }

    // Nothing more trickles in (the `other-unit` channel serves another unit).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().webhook.len(), 1);

    shutdown.cancel();
    stage.await.unwrap().unwrap();

    let cases = store
        .list(
            &respond::CaseFilter {
                owner_unit_id: Some("nanming".into()),
                open_only: true,
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .unwrap();
    assert_eq!(cases.len(), 1);
    let full = store.get_with_audit(&cases[0].case_id).unwrap().unwrap();
    assert_eq!(full.tampering, None);
    assert_eq!(full.audit.len(), 2);
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(store.sent_count(), 5);

    let mut sub = bus.subscribe(topics::CASE_EVENTS, "check").await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let d = tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .unwrap()
            .unwrap();
        kinds.push(
            Envelope::<common::wire::CaseEvent>::decode(&d.payload)
                .unwrap()
                .payload
                .kind,
        );
    }
    assert_eq!(kinds, ["opened", "assigned"]);
}
