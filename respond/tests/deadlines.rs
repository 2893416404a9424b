//! The running stage under a paused tokio clock: a major emergency goes through reminders,
//! breach and repeated escalation; a response stops the escalation; deadlines that passed while
//! the stage was down fire at start; failed notifications are retried with backoff.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::clock::TokioClock;
use common::wire::{
    Actor, CaseCommand, CaseCommandRequest, Envelope, EventUpdate, Jurisdiction, Priority,
    ResponseKind, Severity, SeverityProposal,
};
use common::{Clock, SharedBus, Shutdown, StageContext, topics};
use respond::Config;
use respond::config::ChannelKind;
use support::{MemoryBus, RecordingSender};

fn t0() -> DateTime<Utc> {
    "2026-07-01T00:00:00Z".parse().unwrap()
}

fn explosion() -> EventUpdate {
    EventUpdate {
        event_id: "blast".into(),
        title: "开阳县某矿山发生爆炸事故".into(),
        first_detected_at: t0(),
        last_seen_at: t0(),
        doc_count: 5,
        heat: 40.0,
        priorities: vec![Priority::Emergency],
        domain: Some("安全生产".into()),
        jurisdiction: Jurisdiction::Local {
            county: "开阳县".into(),
            township: None,
        },
        severity: SeverityProposal {
            level: Some(Severity::Major),
            deaths: Some(11),
            proposed: true,
            ..Default::default()
        },
        revision: 1,
        ..Default::default()
    }
}

struct Stage {
    bus: MemoryBus,
    sender: Arc<RecordingSender>,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), respond::Error>>,
}

/// The stage with the default config, one webhook channel and a recording sender.
fn start(dir: &std::path::Path, bus: &MemoryBus, clock: TokioClock) -> Stage {
    start_with(
        dir,
        bus,
        clock,
        Arc::new(RecordingSender::default()),
        |_| {},
    )
}

fn start_with(
    dir: &std::path::Path,
    bus: &MemoryBus,
    clock: TokioClock,
    sender: Arc<RecordingSender>,
    adjust: impl FnOnce(&mut Config),
) -> Stage {
    let mut config = Config::default();
    config.notify.channels.push(support::channel(
        "desk",
        ChannelKind::Webhook,
        Some("http://unused".into()),
    ));
    adjust(&mut config);
    let ctx = StageContext {
        bus: Arc::new(bus.clone()) as SharedBus,
        clock: Arc::new(clock),
        data_dir: dir.to_path_buf(),
    };
    let shutdown = Shutdown::new();
    let task = tokio::spawn(respond::tracker::run_with(
        config,
        ctx,
        shutdown.clone(),
        sender.clone(),
    ));
    Stage {
        bus: bus.clone(),
        sender,
        shutdown,
        task,
    }
}

impl Stage {
    /// Publish an event update as analyze does (keyed by event id).
    async fn update(&self, message_id: &str, event: EventUpdate) {
        let key = event.event_id.clone();
        common::bus::publish(
            &self.bus,
            topics::EVENT_UPDATES,
            &key,
            &Envelope::new(message_id, t0(), event),
        )
        .await
        .unwrap();
    }

    /// Publish ordinary (48 h) events `e0`, `e1`, ... each under its own id.
    async fn ordinary_events(&self, n: usize) {
        for i in 0..n {
            let id = format!("e{i}");
            self.update(&id, ordinary(&id)).await;
        }
    }

    /// Publish a command as the dashboards do (keyed by case id).
    async fn command(&self, message_id: &str, at: DateTime<Utc>, request: CaseCommandRequest) {
        let key = request.command.case_id().unwrap_or_default().to_string();
        common::bus::publish(
            &self.bus,
            topics::CASE_COMMANDS,
            &key,
            &Envelope::new(message_id, at, request),
        )
        .await
        .unwrap();
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }

    /// Let the stage work without letting paused time move: yield until `cond` holds. The
    /// sled flushes run on the blocking pool, which tokio does not auto-advance past.
    async fn until(&self, what: &str, cond: impl Fn(&Self) -> bool) {
        // A guard against hanging, not a measurement: generous for a loaded CI machine.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < give_up {
            if cond(self) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!(
            "timed out waiting for {what}; case events: {:?}",
            self.kinds()
        );
    }

    fn kinds(&self) -> Vec<String> {
        self.bus
            .case_events()
            .into_iter()
            .map(|e| e.payload.kind)
            .collect()
    }

    fn events_of(&self, kind: &str) -> Vec<(DateTime<Utc>, String)> {
        self.bus
            .case_events()
            .into_iter()
            .filter(|e| e.payload.kind == kind)
            .map(|e| (e.payload.at, e.payload.detail))
            .collect()
    }

    fn sent_to(&self, recipient: &str) -> usize {
        self.sender
            .sent
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.recipients.iter().any(|r| r == recipient))
            .count()
    }
}

/// Let every task run for a while without moving paused time, so that "nothing happened"
/// means nothing was due.
async fn settle(rounds: usize) {
    for _ in 0..rounds {
        tokio::task::yield_now().await;
    }
}

/// Someone of 开阳县人民政府, the owner of the explosion's case.
fn kaiyang(name: &str) -> Actor {
    Actor {
        name: name.into(),
        unit_id: Some("kaiyang".into()),
    }
}

/// Advance paused time so that the clock reads `at`.
async fn advance_to(clock: &TokioClock, at: DateTime<Utc>) {
    let d = (at - clock.now()).to_std().unwrap();
    tokio::time::advance(d).await;
}

#[tokio::test(start_paused = true)]
async fn reminders_breach_and_escalation_until_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let clock = TokioClock::starting_at(t0() + Duration::minutes(5));
    let stage = start(dir.path(), &bus, clock.clone());
    stage.update("u1", explosion()).await;
    stage.until("the case", |s| s.kinds().len() >= 2).await;
    assert_eq!(stage.kinds(), ["opened", "assigned"]);
    let case = bus.case_events()[1].payload.case.clone();
    assert_eq!(case.owner.name, "开阳县人民政府");
    assert_eq!(case.tier, common::wire::Tier::MajorEmergency);
    stage
        .until("the assignment notice", |s| s.sent_to("kaiyang") == 1)
        .await;

    // 50 % and 80 % of the 5 h window to the authoritative release.
    advance_to(&clock, t0() + Duration::minutes(150)).await;
    stage
        .until("first reminder", |s| s.kinds().len() == 3)
        .await;
    advance_to(&clock, t0() + Duration::minutes(240)).await;
    stage
        .until("second reminder", |s| s.kinds().len() == 4)
        .await;
    let reminders = stage.events_of("reminder");
    assert_eq!(reminders[0].0, t0() + Duration::minutes(150));
    assert!(
        reminders[0].1.contains("发布权威信息时限已过50%"),
        "{}",
        reminders[0].1
    );
    assert_eq!(reminders[1].0, t0() + Duration::minutes(240));
    assert!(reminders[1].1.contains("80%"));

    // Nothing between the reminders and the deadline.
    advance_to(&clock, t0() + Duration::minutes(299)).await;
    settle(1000).await;
    assert_eq!(stage.kinds().len(), 4);

    advance_to(&clock, t0() + Duration::hours(5)).await;
    stage.until("breach", |s| s.kinds().len() == 5).await;
    let breach = &bus.case_events()[4].payload;
    assert_eq!(breach.kind, "breached");
    assert_eq!(breach.at, t0() + Duration::hours(5));
    assert!(breach.detail.contains("市督办督查局"), "{}", breach.detail);
    assert!(
        breach.detail.contains("开阳县人民政府主要负责人"),
        "{}",
        breach.detail
    );
    assert!(breach.case.deadlines[0].breached);
    stage
        .until("escalation notice", |s| {
            // Supervision heard of the major case at opening, now of the breach.
            s.sent_to("supervision") == 2 && s.sent_to("leaders:kaiyang") == 1
        })
        .await;

    // Repeats every 4 h while unmet.
    advance_to(&clock, t0() + Duration::hours(9)).await;
    stage
        .until("first repeat", |s| s.events_of("escalated").len() == 1)
        .await;
    assert_eq!(stage.events_of("escalated")[0].0, t0() + Duration::hours(9));
    stage
        .until("repeat notice", |s| {
            s.sent_to("supervision") == 3 && s.sent_to("leaders:kaiyang") == 2
        })
        .await;

    // The unit publishes; the escalation of that deadline stops.
    let release = CaseCommandRequest {
        actor: kaiyang("县政府新闻办"),
        command: CaseCommand::RecordResponse {
            case_id: case.case_id.clone(),
            kind: ResponseKind::AuthoritativeRelease,
            at: t0() + Duration::minutes(570),
            evidence_url: Some("http://www.kaiyang.gov.cn/xwzx/notice.html".into()),
            text: "通报事故情况".into(),
        },
    };
    advance_to(&clock, t0() + Duration::minutes(575)).await;
    stage.command("c1", clock.now(), release).await;
    stage
        .until("the response", |s| {
            s.events_of("response_recorded").len() == 1
        })
        .await;

    // 12 h: half of the press-conference window. 13 h would have been the next escalation.
    advance_to(&clock, t0() + Duration::hours(12)).await;
    stage
        .until("press conference reminder", |s| {
            s.events_of("reminder").len() == 3
        })
        .await;
    advance_to(&clock, t0() + Duration::minutes(19 * 60 + 12)).await;
    stage
        .until("80 % reminder", |s| s.events_of("reminder").len() == 4)
        .await;
    assert_eq!(stage.events_of("escalated").len(), 1, "{:?}", stage.kinds());
    // The first continued release is due 24 h after the authoritative release (9:30 → 33:30);
    // its 50 % reminder comes at 21:30.
    advance_to(&clock, t0() + Duration::minutes(21 * 60 + 30)).await;
    stage
        .until("continued-release reminder", |s| {
            s.events_of("reminder").len() == 5
        })
        .await;
    assert!(
        stage.events_of("reminder")[4]
            .1
            .contains("持续发布权威信息")
    );

    advance_to(&clock, t0() + Duration::hours(24)).await;
    stage
        .until("press conference breach", |s| {
            s.events_of("breached").len() == 2
        })
        .await;
    assert!(stage.events_of("breached")[1].1.contains("举行新闻发布会"));

    // Every change reached the bus once, in order, with its message id.
    let envs = bus.case_events();
    let seqs: Vec<u64> = envs.iter().map(|e| e.payload.seq).collect();
    assert_eq!(seqs, (1..=envs.len() as u64).collect::<Vec<_>>());
    assert_eq!(envs[0].message_id, format!("case:{}:1", case.case_id));
    stage.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_passed_while_down_fires_at_start_once() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let clock = TokioClock::starting_at(t0() + Duration::minutes(5));
    let stage = start(dir.path(), &bus, clock);
    stage.update("u1", ordinary("blast")).await;
    stage.until("the case", |s| s.kinds().len() == 2).await;
    stage.stop().await;

    // Down for three days: the 48 h deadline passed at t0 + 48 h, reminders before it too.
    let clock = TokioClock::starting_at(t0() + Duration::hours(72) + Duration::minutes(1));
    let stage = start(dir.path(), &bus, clock);
    stage
        .until("the late breach", |s| s.kinds().len() >= 3)
        .await;
    settle(1000).await;
    // One notice of the latest stage (the 6th 4-hourly escalation), not a burst of stale ones.
    assert_eq!(stage.kinds(), ["opened", "assigned", "escalated"]);
    assert!(stage.events_of("escalated")[0].1.contains("第7次督办"));
    stage.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failed_notifications_are_retried_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let clock = TokioClock::starting_at(t0() + Duration::minutes(5));
    let sender = Arc::new(RecordingSender {
        fail_first: 3,
        ..Default::default()
    });
    let stage = start_with(dir.path(), &bus, clock.clone(), sender.clone(), |_| {});
    // An ordinary case: one notice (the assignment), so attempts count one item's tries.
    stage.update("u1", ordinary("blast")).await;
    stage
        .until("first attempt", |s| *s.sender.attempts.lock().unwrap() == 1)
        .await;
    let started = clock.now();
    // Backoff 2 s, 4 s, 8 s: delivered at the fourth attempt, 14 s later.
    tokio::time::sleep(std::time::Duration::from_secs(15)).await;
    stage
        .until("delivery", |s| s.sender.sent.lock().unwrap().len() == 1)
        .await;
    let sent = sender.sent.lock().unwrap()[0].clone();
    assert_eq!(sent.at - started, Duration::seconds(14));
    assert_eq!(*sender.attempts.lock().unwrap(), 4);
    stage.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_lost_store_is_rebuilt_from_the_case_event_topic() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let clock = TokioClock::starting_at(t0() + Duration::minutes(5));
    let stage = start(dir.path(), &bus, clock.clone());
    stage.update("u1", explosion()).await;
    stage.until("the case", |s| s.kinds().len() == 2).await;
    let case_id = bus.case_events()[0].payload.case_id.clone();
    let ack = CaseCommandRequest {
        actor: kaiyang("值班员"),
        command: CaseCommand::Acknowledge {
            case_id: case_id.clone(),
        },
    };
    stage.command("c1", clock.now(), ack).await;
    stage
        .until("the acknowledgement", |s| s.kinds().len() == 3)
        .await;
    advance_to(&clock, t0() + Duration::minutes(150)).await;
    stage
        .until("first reminder", |s| s.kinds().len() == 4)
        .await;
    stage.stop().await;

    // The disk with the case store is lost; the bus (Kafka, in production) is not.
    std::fs::remove_dir_all(dir.path().join("respond")).unwrap();
    let clock = TokioClock::starting_at(t0() + Duration::minutes(151));
    let subscribed = bus.subscriptions();
    let stage = start(dir.path(), &bus, clock.clone());
    // The stage opens its store on the blocking pool before it reads the bus.
    stage
        .until("the stage running again", |s| {
            s.bus.subscriptions() > subscribed
        })
        .await;
    // The same update redelivered, and a newer one: still the one case.
    stage.update("u1", explosion()).await;
    let mut newer = explosion();
    newer.revision = 2;
    stage.update("u2", newer).await;
    settle(2000).await;
    assert_eq!(
        stage.kinds(),
        ["opened", "assigned", "acknowledged", "reminder"],
        "nothing is repeated after the rebuild"
    );
    // Timers carry on where they were: the 80 % reminder, not the 50 % one again.
    advance_to(&clock, t0() + Duration::minutes(240)).await;
    stage
        .until("second reminder", |s| s.kinds().len() == 5)
        .await;
    assert!(stage.events_of("reminder")[1].1.contains("80%"));
    stage.stop().await;

    let store = respond::CaseStore::open(&dir.path().join("respond/cases")).unwrap();
    let full = store.get_with_audit(&case_id).unwrap().unwrap();
    assert_eq!(full.tampering, None);
    assert_eq!(full.audit.len(), 5);
    assert_eq!(
        full.record.acknowledged_at,
        Some(t0() + Duration::minutes(5))
    );
    assert_eq!(
        store.list(&Default::default(), clock.now()).unwrap().len(),
        1
    );
}

fn ordinary(id: &str) -> EventUpdate {
    let mut e = explosion();
    e.event_id = id.into();
    e.severity.level = Some(Severity::General);
    e
}

#[tokio::test(start_paused = true)]
async fn robots_are_kept_under_their_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let clock = TokioClock::starting_at(t0() + Duration::minutes(5));
    let stage = start_with(
        dir.path(),
        &bus,
        clock.clone(),
        Arc::new(RecordingSender::default()),
        |c| {
            let mut robot =
                support::channel("robot", ChannelKind::Dingtalk, Some("http://unused".into()));
            robot.max_per_minute = Some(2);
            c.notify.channels = vec![robot];
        },
    );
    let started = clock.now();
    stage.ordinary_events(5).await;
    stage.until("five cases", |s| s.kinds().len() == 10).await;
    tokio::time::sleep(std::time::Duration::from_secs(150)).await;
    stage
        .until("five notices", |s| s.sender.sent.lock().unwrap().len() == 5)
        .await;
    let offsets: Vec<i64> = stage
        .sender
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.at - started).num_seconds())
        .collect();
    assert_eq!(offsets, [0, 0, 60, 60, 120]);
    stage.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_channel_is_paused_not_hammered() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let clock = TokioClock::starting_at(t0() + Duration::minutes(5));
    let sender = Arc::new(RecordingSender {
        fail_first: 1,
        ..Default::default()
    });
    let stage = start_with(dir.path(), &bus, clock.clone(), sender.clone(), |_| {});
    stage.ordinary_events(3).await;
    stage.until("three cases", |s| s.kinds().len() == 6).await;
    stage
        .until("the failure", |s| *s.sender.attempts.lock().unwrap() >= 1)
        .await;
    let failed_at = clock.now();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    stage
        .until("three notices", |s| {
            s.sender.sent.lock().unwrap().len() == 3
        })
        .await;
    // One failed attempt, then each item once after the 2 s pause.
    assert_eq!(*sender.attempts.lock().unwrap(), 4);
    for s in sender.sent.lock().unwrap().iter() {
        assert_eq!(s.at - failed_at, Duration::seconds(2));
    }
    stage.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_unit_registry_is_published_at_start_and_again_daily() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let clock = TokioClock::starting_at(t0());
    let stage = start(dir.path(), &bus, clock.clone());
    stage
        .until("the registry", |s| {
            !s.bus.messages(topics::UNIT_REGISTRY).is_empty()
        })
        .await;
    let first: Envelope<common::wire::UnitRegistry> =
        Envelope::decode(&bus.messages(topics::UNIT_REGISTRY)[0]).unwrap();
    let config = Config::from_default_toml().unwrap();
    assert_eq!(first.payload.units.len(), config.units.len());
    assert!(
        first
            .payload
            .units
            .iter()
            .all(|u| !u.name.is_empty() && u.name != u.id)
    );
    advance_to(&clock, t0() + Duration::hours(24) + Duration::seconds(1)).await;
    stage
        .until("the daily republish", |s| {
            s.bus.messages(topics::UNIT_REGISTRY).len() >= 2
        })
        .await;
    let again: Envelope<common::wire::UnitRegistry> =
        Envelope::decode(&bus.messages(topics::UNIT_REGISTRY)[1]).unwrap();
    assert_eq!(again.message_id, first.message_id, "same content, same id");
    stage.stop().await;
}

#[tokio::test(start_paused = true)]
async fn every_command_gets_a_result_and_a_rejection_says_why_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let clock = TokioClock::starting_at(t0() + Duration::minutes(5));
    let stage = start(dir.path(), &bus, clock.clone());
    stage.update("u1", ordinary("blast")).await;
    stage.until("the case", |s| s.kinds().len() == 2).await;
    let case_id = bus.case_events()[0].payload.case_id.clone();
    let at = clock.now();
    // An open case cannot be reopened; a unit may acknowledge its own.
    stage
        .command(
            "cmd-reopen",
            at,
            CaseCommandRequest {
                actor: Actor {
                    name: "desk1".into(),
                    unit_id: None,
                },
                command: CaseCommand::Reopen {
                    case_id: case_id.clone(),
                    reason: "再次反映".into(),
                },
            },
        )
        .await;
    stage
        .command(
            "cmd-ack",
            at,
            CaseCommandRequest {
                actor: kaiyang("张三"),
                command: CaseCommand::Acknowledge {
                    case_id: case_id.clone(),
                },
            },
        )
        .await;
    stage
        .until("two results", |s| {
            s.bus.messages(topics::COMMAND_RESULTS).len() == 2
        })
        .await;
    let results: Vec<common::wire::CommandResult> = bus
        .messages(topics::COMMAND_RESULTS)
        .iter()
        .map(|b| Envelope::decode(b).unwrap().payload)
        .collect();
    let reopen = results
        .iter()
        .find(|r| r.command_id == "cmd-reopen")
        .unwrap();
    assert!(!reopen.accepted);
    assert_eq!(reopen.case_id.as_deref(), Some(case_id.as_str()));
    assert_eq!(reopen.code.as_deref(), Some("illegal_transition"));
    assert!(
        reopen.message.contains("不能重新打开"),
        "{}",
        reopen.message
    );
    assert_eq!(reopen.actor.name, "desk1");
    let ack = results.iter().find(|r| r.command_id == "cmd-ack").unwrap();
    assert!(ack.accepted && ack.message.is_empty());
    // The rejection is on the case's record too, in the same words.
    assert!(
        stage
            .events_of("command_rejected")
            .iter()
            .any(|(_, d)| d.contains("不能重新打开"))
    );
    stage.stop().await;
}
