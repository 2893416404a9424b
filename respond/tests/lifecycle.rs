//! The case life cycle through the tracker (no bus): state machine, idempotency, severity
//! changes, overrides, dispositions, cyberspace-office replies, unit reports, merges, audit.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::clock::ManualClock;
use common::wire::{
    Actor, CaseCommand, CaseCommandRequest, CaseState, DeadlineKind, Disposition, Envelope,
    EventUpdate, Jurisdiction, NotificationRequest, Priority, ResponseKind, Severity,
    SeverityProposal, Tier,
};
use respond::config::{Channel, ChannelKind};
use respond::tracker::{CommandResult, Tracker};
use respond::{CaseRecord, CaseStore, CommandError, Config};

fn t0() -> DateTime<Utc> {
    "2026-05-10T02:00:00Z".parse().unwrap()
}

struct Harness {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    tracker: Arc<Tracker>,
    n: u64,
}

/// Never delivered here (no outbox loop runs); it makes every notice visible in the outbox.
fn catch_all_channel() -> Channel {
    support::channel(
        "all",
        ChannelKind::Webhook,
        Some("http://127.0.0.1:9/".into()),
    )
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let clock = ManualClock::new(t0() + Duration::minutes(10));
        let mut config = Config::default();
        config.notify.channels.push(catch_all_channel());
        let tracker = Tracker::new(store, config, Arc::new(clock.clone()));
        Self {
            _dir: dir,
            clock,
            tracker,
            n: 0,
        }
    }

    async fn event(&mut self, e: EventUpdate) {
        self.n += 1;
        let id = format!("ev:{}:{}", e.event_id, self.n);
        self.event_with_id(&id, e).await;
    }

    async fn event_with_id(&self, message_id: &str, e: EventUpdate) {
        let env = Envelope::new(message_id, self.clock.now_utc(), e);
        self.tracker.handle_event_update(env).await.unwrap();
    }

    async fn cmd(&mut self, actor: Actor, command: CaseCommand) -> CommandResult {
        self.n += 1;
        let id = format!("cmd:{}", self.n);
        self.cmd_with_id(&id, actor, command).await
    }

    async fn cmd_with_id(
        &self,
        message_id: &str,
        actor: Actor,
        command: CaseCommand,
    ) -> CommandResult {
        let env = Envelope::new(
            message_id,
            self.clock.now_utc(),
            CaseCommandRequest { actor, command },
        );
        self.tracker.handle_command(env).await.unwrap()
    }

    fn case(&self, event_id: &str) -> CaseRecord {
        let id = self
            .tracker
            .store
            .case_for_event(event_id)
            .unwrap()
            .expect("case for event");
        self.tracker.store.get(&id).unwrap().unwrap()
    }

    fn kinds(&self, case_id: &str) -> Vec<String> {
        self.tracker
            .store
            .audit(case_id)
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .collect()
    }

    fn notices_to(&self, recipient: &str) -> Vec<String> {
        self.tracker
            .store
            .outbox()
            .unwrap()
            .into_iter()
            .filter(|o| o.notice.recipients.iter().any(|r| r == recipient))
            .map(|o| o.notice.subject)
            .collect()
    }
}

trait NowUtc {
    fn now_utc(&self) -> DateTime<Utc>;
}
impl NowUtc for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        common::Clock::now(self)
    }
}

fn unit(name: &str, unit_id: &str) -> Actor {
    Actor {
        name: name.into(),
        unit_id: Some(unit_id.into()),
    }
}

fn desk() -> Actor {
    unit("值班员", "propaganda")
}

fn event(id: &str, county: &str, priorities: Vec<Priority>) -> EventUpdate {
    EventUpdate {
        event_id: id.into(),
        title: format!("{county}某小学食堂饭菜变质引家长不满({id})"),
        first_detected_at: t0(),
        last_seen_at: t0(),
        doc_count: 3,
        heat: 10.0,
        priorities,
        domain: Some("教育".into()),
        jurisdiction: Jurisdiction::Local {
            county: county.into(),
            township: None,
        },
        revision: 1,
        ..Default::default()
    }
}

fn ack(case_id: &str) -> CaseCommand {
    CaseCommand::Acknowledge {
        case_id: case_id.into(),
    }
}

fn reply(case_id: &str, at: DateTime<Utc>) -> CaseCommand {
    CaseCommand::RecordResponse {
        case_id: case_id.into(),
        kind: ResponseKind::Reply,
        at,
        evidence_url: Some("https://www.gygov.gov.cn/art/2026/5/10/reply.html".into()),
        text: "已责令整改".into(),
    }
}

#[tokio::test]
async fn full_life_cycle_with_illegal_transitions_as_clear_errors() {
    let mut h = Harness::new();
    h.event(event("e1", "南明区", vec![Priority::Credibility]))
        .await;
    let c = h.case("e1");
    let id = c.case.case_id.clone();
    assert_eq!(c.case.state, CaseState::Assigned);
    assert_eq!(c.case.owner.name, "南明区人民政府");
    assert_eq!(c.case.tier, Tier::Standard);
    assert_eq!(c.case.deadlines.len(), 1);
    assert_eq!(c.case.deadlines[0].due_at, t0() + Duration::hours(48));
    assert_eq!(
        h.notices_to("nanming"),
        vec![format!("【舆情交办】{}", c.case.title)]
    );

    let err = h.cmd(unit("张三", "yunyan"), ack(&id)).await.unwrap_err();
    assert_eq!(
        err,
        CommandError::NotOwner {
            case_id: id.clone(),
            actor_unit: "yunyan".into()
        }
    );

    h.clock.advance(Duration::hours(1));
    h.cmd(unit("李四", "nanming"), ack(&id)).await.unwrap();
    let err = h.cmd(unit("李四", "nanming"), ack(&id)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("案件当前为“已接收”，不能确认接收（案件{id}）")
    );

    let err = h
        .cmd(
            unit("李四", "nanming"),
            CaseCommand::RecordResponse {
                case_id: id.clone(),
                kind: ResponseKind::Reply,
                at: h.clock.now_utc(),
                evidence_url: Some("ftp://x".into()),
                text: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("证据链接须为 http(s) 地址"),
        "{err}"
    );

    h.clock.advance(Duration::hours(5));
    let at = h.clock.now_utc() - Duration::minutes(30);
    h.cmd(unit("李四", "nanming"), reply(&id, at))
        .await
        .unwrap();
    let c = h.case("e1");
    assert_eq!(c.case.state, CaseState::Responded);
    assert_eq!(c.case.deadlines[0].met_at, Some(at));
    assert!(!c.case.deadlines[0].breached);
    // The continued-release chain starts at the first response.
    assert_eq!(c.case.deadlines[1].kind, DeadlineKind::ContinuedRelease);
    assert_eq!(c.case.deadlines[1].due_at, at + Duration::hours(24));

    let err = h
        .cmd(
            unit("李四", "nanming"),
            CaseCommand::Dispute {
                case_id: id.clone(),
                reason: "不归我们管".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        CommandError::IllegalTransition {
            action: common::commands::CaseAction::Dispute,
            ..
        }
    ));

    let err = h
        .cmd(
            desk(),
            CaseCommand::Close {
                case_id: id.clone(),
                reason: " ".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "请填写办结说明");
    h.cmd(
        desk(),
        CaseCommand::Close {
            case_id: id.clone(),
            reason: "已回应,舆情平息".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(h.case("e1").case.state, CaseState::Closed);
    assert!(h.tracker.store.open_case_ids().unwrap().is_empty());
    let err = h.cmd(unit("李四", "nanming"), ack(&id)).await.unwrap_err();
    assert!(matches!(
        err,
        CommandError::IllegalTransition {
            state: CaseState::Closed,
            ..
        }
    ));

    h.cmd(
        desk(),
        CaseCommand::Reopen {
            case_id: id.clone(),
            reason: "家长再次集中反映".into(),
        },
    )
    .await
    .unwrap();
    let c = h.case("e1");
    assert_eq!(c.case.state, CaseState::Reopened);
    let err = h
        .cmd(
            desk(),
            CaseCommand::Reopen {
                case_id: id.clone(),
                reason: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        CommandError::IllegalTransition {
            state: CaseState::Reopened,
            ..
        }
    ));

    assert_eq!(
        h.kinds(&id),
        [
            "opened",
            "assigned",
            "command_rejected",
            "acknowledged",
            "command_rejected",
            "command_rejected",
            "response_recorded",
            "command_rejected",
            "command_rejected",
            "closed",
            "command_rejected",
            "reopened",
            "command_rejected",
        ]
    );
    let full = h.tracker.store.get_with_audit(&id).unwrap().unwrap();
    assert_eq!(full.tampering, None);
    assert_eq!(full.metrics.to_acknowledgement_secs, Some(70 * 60));
    assert_eq!(
        full.metrics.to_first_response_secs,
        Some((6 * 60 + 10 - 30) * 60)
    );
    assert_eq!(full.metrics.to_first_authoritative_release_secs, None);
}

#[tokio::test]
async fn redelivered_messages_never_open_a_second_case_or_apply_twice() {
    let h = Harness::new();
    let e = event("e2", "花溪区", vec![Priority::Emergency]);
    h.event_with_id("m-1", e.clone()).await;
    h.event_with_id("m-1", e.clone()).await;
    let mut later = e.clone();
    later.revision = 2;
    later.heat = 50.0;
    h.event_with_id("m-2", later).await;
    // An older revision arriving late changes nothing.
    h.event_with_id("m-0", e.clone()).await;
    assert_eq!(
        h.tracker
            .store
            .list(&Default::default(), h.clock.now_utc())
            .unwrap()
            .len(),
        1
    );
    let id = h.case("e2").case.case_id;
    assert_eq!(h.case("e2").heat, 50.0);

    h.cmd_with_id("c-1", unit("王五", "huaxi"), ack(&id))
        .await
        .unwrap();
    // The same command redelivered is recognised, not rejected as an illegal transition.
    h.cmd_with_id("c-1", unit("王五", "huaxi"), ack(&id))
        .await
        .unwrap();
    assert_eq!(h.kinds(&id), ["opened", "assigned", "acknowledged"]);
}

#[tokio::test]
async fn the_case_takes_the_events_new_title_audited() {
    let mut h = Harness::new();
    let mut e = event("e-title", "南明区", vec![Priority::Emergency]);
    e.title = "#南明区燃气爆炸# 太吓人了".into();
    h.event(e.clone()).await;
    assert_eq!(h.case("e-title").case.title, "#南明区燃气爆炸# 太吓人了");

    // A news headline joins the thread and the analyzer retitles the event.
    e.revision = 2;
    e.title = "南明区一居民楼发生燃气爆炸 已致3人死亡12人受伤".into();
    h.event(e.clone()).await;
    let c = h.case("e-title");
    assert_eq!(c.case.title, e.title);
    let trail = h.tracker.store.audit(&c.case.case_id).unwrap();
    let change = trail.iter().find(|r| r.kind == "title_changed").unwrap();
    assert_eq!(change.data["from"], "#南明区燃气爆炸# 太吓人了");

    // The same title again changes nothing and records nothing.
    e.revision = 3;
    h.event(e).await;
    let trail = h.tracker.store.audit(&c.case.case_id).unwrap();
    assert_eq!(
        trail.iter().filter(|r| r.kind == "title_changed").count(),
        1
    );
}

#[tokio::test]
async fn a_rising_severity_replans_deadlines_and_staff_confirmation_wins() {
    let mut h = Harness::new();
    let mut e = event("e3", "开阳县", vec![Priority::Emergency]);
    e.domain = Some("安全生产".into());
    e.severity = SeverityProposal {
        level: Some(Severity::Large),
        deaths: Some(3),
        ..Default::default()
    };
    h.event(e.clone()).await;
    let c = h.case("e3");
    assert_eq!(c.case.tier, Tier::Standard);

    // The death toll rises past the 重大 threshold.
    h.clock.advance(Duration::hours(2));
    e.revision = 2;
    e.severity.level = Some(Severity::Major);
    e.severity.deaths = Some(11);
    h.event(e.clone()).await;
    let c = h.case("e3");
    assert_eq!(c.case.tier, Tier::MajorEmergency);
    assert_eq!(c.case.severity, Some(Severity::Major));
    let due: Vec<_> = c
        .case
        .deadlines
        .iter()
        .map(|d| (d.kind, d.due_at))
        .collect();
    assert_eq!(
        due,
        [
            (DeadlineKind::AuthoritativeInfo, t0() + Duration::hours(5)),
            (DeadlineKind::PressConference, t0() + Duration::hours(24)),
        ]
    );
    let trail = h.tracker.store.audit(&c.case.case_id).unwrap();
    let change = trail.iter().find(|r| r.kind == "severity_changed").unwrap();
    assert_eq!(change.data["from"], "large");
    assert_eq!(change.data["tier_to"], "major_emergency");
    assert!(
        h.notices_to("kaiyang")
            .iter()
            .any(|s| s.starts_with("【时限调整】"))
    );
    for desk in [
        "propaganda",
        "emergency_office",
        "cyberspace",
        "news_office",
    ] {
        assert_eq!(
            h.notices_to(desk),
            [format!("【重大舆情】{}", c.case.title)],
            "{desk}"
        );
    }

    // Staff downgrade after checking (研判), and a later proposal does not override them.
    let id = c.case.case_id.clone();
    h.cmd(
        desk(),
        CaseCommand::ChangeSeverity {
            case_id: id.clone(),
            severity: Severity::Large,
            reason: "核实死亡2人".into(),
        },
    )
    .await
    .unwrap();
    e.revision = 3;
    h.event(e.clone()).await;
    let c = h.case("e3");
    assert_eq!(c.case.tier, Tier::Standard);
    assert!(c.case.severity_confirmed);
    assert_eq!(c.case.deadlines[0].due_at, t0() + Duration::hours(48));
    let err = h
        .cmd(
            desk(),
            CaseCommand::ChangeSeverity {
                case_id: id.clone(),
                severity: Severity::Large,
                reason: "again".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("已确认为较大"), "{err}");
}

#[tokio::test]
async fn override_and_dispute_are_audited() {
    let mut h = Harness::new();
    h.event(event(
        "e4",
        "云岩区",
        vec![Priority::PublicInterest, Priority::Credibility],
    ))
    .await;
    let id = h.case("e4").case.case_id;
    h.cmd(
        unit("赵六", "yunyan"),
        CaseCommand::Dispute {
            case_id: id.clone(),
            reason: "学校由市教育局直管".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(h.case("e4").case.state, CaseState::Disputed);
    assert!(
        h.notices_to("general_office")
            .iter()
            .any(|s| s.starts_with("【交办异议】"))
    );

    let err = h
        .cmd(
            desk(),
            CaseCommand::Reassign {
                case_id: id.clone(),
                owner_unit_id: "nobody".into(),
                reason: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, CommandError::UnknownUnit("nobody".into()));
    h.cmd(
        desk(),
        CaseCommand::Reassign {
            case_id: id.clone(),
            owner_unit_id: "市教育局".into(),
            reason: "市属学校".into(),
        },
    )
    .await
    .unwrap();
    let c = h.case("e4");
    assert_eq!(c.case.state, CaseState::Reassigned);
    assert_eq!(c.case.owner.id, "education");
    assert!(c.case.owner_reason.contains("人工改派:市属学校"));
    // Deadlines still count from first detection.
    assert_eq!(c.case.deadlines[0].due_at, t0() + Duration::hours(48));
    let trail = h.tracker.store.audit(&id).unwrap();
    let r = trail.iter().find(|r| r.kind == "reassigned").unwrap();
    assert_eq!(r.actor, desk());
    assert_eq!(r.data["from"]["id"], "yunyan");
    assert_eq!(r.data["to"]["id"], "education");
    assert!(
        h.notices_to("education")
            .iter()
            .any(|s| s.starts_with("【舆情交办】"))
    );

    // The new owner disputes too; the desk keeps it there.
    h.cmd(
        unit("钱七", "education"),
        CaseCommand::Dispute {
            case_id: id.clone(),
            reason: "属区管".into(),
        },
    )
    .await
    .unwrap();
    h.cmd(
        desk(),
        CaseCommand::Reassign {
            case_id: id.clone(),
            owner_unit_id: "education".into(),
            reason: "维持".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(h.case("e4").case.state, CaseState::Assigned);
    assert_eq!(h.kinds(&id).last().unwrap(), "dispute_rejected");
}

#[tokio::test]
async fn false_information_gets_a_referral_to_police_and_regulator() {
    let mut h = Harness::new();
    h.event(event("e5", "观山湖区", vec![Priority::FalseInfo]))
        .await;
    let id = h.case("e5").case.case_id;
    h.cmd(
        desk(),
        CaseCommand::SetDisposition {
            case_id: id.clone(),
            disposition: Disposition::FalseInformation,
        },
    )
    .await
    .unwrap();
    let c = h.case("e5");
    assert_eq!(c.case.disposition, Some(Disposition::FalseInformation));
    assert!(
        c.publish_required
            .as_deref()
            .unwrap()
            .contains("移交公安机关、网络监管部门")
    );
    let referral = c.referral.clone().unwrap();
    let to: Vec<_> = referral.to.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(to, ["市公安局", "市网信办"]);
    assert!(
        h.notices_to("public_security")
            .iter()
            .any(|s| s.starts_with("【线索移交】"))
    );
    h.cmd(
        unit("孙八", "guanshanhu"),
        CaseCommand::RecordResponse {
            case_id: id.clone(),
            kind: ResponseKind::Referral,
            at: h.clock.now_utc(),
            evidence_url: None,
            text: "线索已移交市公安局网安支队".into(),
        },
    )
    .await
    .unwrap();
    let c = h.case("e5");
    assert!(c.referral.unwrap().handed_over_at.is_some());
    // A referral alone is not the public response the 48 h deadline wants.
    assert_eq!(c.case.state, CaseState::Responding);
    assert_eq!(c.case.deadlines[0].met_at, None);
}

#[tokio::test]
async fn cyberspace_office_notifications_get_a_tracked_reply() {
    let mut h = Harness::new();
    let mut e = event("e6", "白云区", vec![]);
    e.flags.notified_by_cyberspace_office = true;
    h.event(e).await;
    let c = h.case("e6");
    assert_eq!(c.open_reason, "网信部门通报");
    assert_eq!(c.cyberspace_reply_at, None);
    assert_eq!(h.notices_to("cyberspace").len(), 1);
    let at = h.clock.now_utc();
    h.cmd(unit("周九", "baiyun"), reply(&c.case.case_id, at))
        .await
        .unwrap();
    assert_eq!(h.case("e6").cyberspace_reply_at, Some(at));
    let to_cyber = h.notices_to("cyberspace");
    assert_eq!(to_cyber.len(), 2, "{to_cyber:?}");

    // An event that becomes notified later starts the tracking on its open case.
    let mut e = event("e6b", "白云区", vec![Priority::Credibility]);
    h.event(e.clone()).await;
    e.revision = 2;
    e.flags.notified_by_cyberspace_office = true;
    h.event(e).await;
    let c = h.case("e6b");
    assert!(c.case.flags.notified_by_cyberspace_office);
    assert_eq!(
        h.kinds(&c.case.case_id).last().unwrap(),
        "cyberspace_notified"
    );
}

#[tokio::test]
async fn a_unit_report_notifies_propaganda_and_cyberspace_desks() {
    let mut h = Harness::new();
    let mut e = event("e7", "息烽县", vec![]);
    e.title = "息烽县某化工厂发生爆燃".into();
    e.flags.reported_by_unit = Some("息烽县人民政府".into());
    h.event(e).await;
    let c = h.case("e7");
    assert_eq!(c.case.owner.id, "xifeng");
    let subject = "【突发事件上报】息烽县某化工厂发生爆燃".to_string();
    assert!(h.notices_to("propaganda").contains(&subject));
    assert!(h.notices_to("cyberspace").contains(&subject));
}

#[tokio::test]
async fn merged_cases_become_one() {
    let mut h = Harness::new();
    h.event(event("e8", "修文县", vec![Priority::Emergency]))
        .await;
    let mut b = event("e9", "修文县", vec![Priority::Moral]);
    b.first_detected_at = t0() - Duration::hours(3);
    h.event(b.clone()).await;
    let a_id = h.case("e8").case.case_id;
    let b_id = h.case("e9").case.case_id;
    h.cmd(
        desk(),
        CaseCommand::Merge {
            case_id: b_id.clone(),
            into_case_id: a_id.clone(),
        },
    )
    .await
    .unwrap();
    let a = h.case("e8");
    assert_eq!(a.case.event_ids, ["e8", "e9"]);
    // The clock now runs from the earlier detection.
    assert_eq!(a.case.detected_at, t0() - Duration::hours(3));
    assert!(a.case.priorities.contains(&Priority::Moral));
    let gone = h.tracker.store.get(&b_id).unwrap().unwrap();
    assert_eq!(gone.case.state, CaseState::Closed);
    assert_eq!(gone.merged_into.as_deref(), Some(a_id.as_str()));
    // Updates of the merged event land on the surviving case.
    assert_eq!(h.case("e9").case.case_id, a_id);
    let err = h
        .cmd(
            desk(),
            CaseCommand::Reopen {
                case_id: b_id.clone(),
                reason: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("已并入"), "{err}");
    let err = h
        .cmd(
            desk(),
            CaseCommand::Merge {
                case_id: a_id.clone(),
                into_case_id: b_id,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommandError::IllegalTransition { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn staff_open_cases_by_hand_once_per_event() {
    let mut h = Harness::new();
    // Below every rule: no case yet, but the event is remembered.
    let mut quiet = event("e10", "乌当区", vec![]);
    quiet.heat = 1.0;
    h.event(quiet).await;
    assert_eq!(h.tracker.store.case_for_event("e10").unwrap(), None);
    let open = CaseCommand::Open {
        event_id: Some("e10".into()),
        title: "乌当区某小区停水三天".into(),
        severity: None,
        owner_unit_id: None,
        detected_at: None,
        notified_by_cyberspace_office: false,
    };
    h.cmd(desk(), open.clone()).await.unwrap();
    let c = h.case("e10");
    assert_eq!(c.case.owner.id, "wudang");
    assert_eq!(c.case.detected_at, t0());
    assert!(c.case.flags.manual);
    let err = h.cmd(desk(), open).await.unwrap_err();
    assert!(matches!(err, CommandError::AlreadyOpen { .. }));
    assert_eq!(h.kinds(&c.case.case_id).last().unwrap(), "command_rejected");

    // Without an event, with the owner named (an audited override).
    let steps = h
        .cmd(
            desk(),
            CaseCommand::Open {
                event_id: None,
                title: "群众来电反映某景区乱收费".into(),
                severity: Some(Severity::General),
                owner_unit_id: Some("tourism".into()),
                detected_at: Some(t0()),
                notified_by_cyberspace_office: false,
            },
        )
        .await
        .unwrap();
    let case = &steps.last().unwrap().event.case;
    assert_eq!(case.owner.name, "市旅游产业发展委");
    assert!(case.severity_confirmed);
    assert!(case.owner_reason.contains("人工立案指定"));
}

#[tokio::test]
async fn tampering_with_a_stored_audit_record_is_detected() {
    let mut h = Harness::new();
    h.event(event("e11", "南明区", vec![Priority::Credibility]))
        .await;
    let id = h.case("e11").case.case_id;
    h.cmd(unit("李四", "nanming"), ack(&id)).await.unwrap();
    assert_eq!(h.tracker.store.verify(&id).unwrap(), Ok(()));
    let mut trail = h.tracker.store.audit(&id).unwrap();
    // Someone with database access backdates the acknowledgement.
    trail[2].at -= Duration::hours(1);
    h.tracker.store.overwrite_audit_record(&trail[2]).unwrap();
    let err = h.tracker.store.verify(&id).unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("audit record 3 of case {id} was altered (hash mismatch)")
    );
    let full = h.tracker.store.get_with_audit(&id).unwrap().unwrap();
    assert!(full.tampering.unwrap().contains("altered"));
}

#[tokio::test]
async fn processed_message_ids_are_pruned_after_retention_only() {
    let mut h = Harness::new();
    h.event(event("e12", "南明区", vec![Priority::Credibility]))
        .await;
    let id = h.case("e12").case.case_id;
    h.cmd_with_id("c-7", unit("李四", "nanming"), ack(&id))
        .await
        .unwrap();
    let store = &h.tracker.store;
    assert_eq!(store.prune_processed(t0()).unwrap(), 0);
    assert!(
        store
            .is_processed(common::topics::CASE_COMMANDS, "c-7")
            .unwrap()
    );
    h.clock.advance(Duration::days(31));
    let removed = store
        .prune_processed(h.clock.now_utc() - Duration::days(30))
        .unwrap();
    assert_eq!(removed, 2, "the event update and the command");
    assert!(
        !store
            .is_processed(common::topics::CASE_COMMANDS, "c-7")
            .unwrap()
    );
}

/// Held-back-style scenarios as data (`fixtures/lifecycle_scenarios.json`): events and
/// commands at hours after first detection, each followed by what the case must look like.
#[tokio::test]
async fn lifecycle_scenarios() {
    use serde_json::{Value, json};
    let scenarios: Vec<Value> =
        serde_json::from_str(include_str!("fixtures/lifecycle_scenarios.json")).unwrap();
    assert!(scenarios.len() >= 6);
    let mut failures = Vec::new();
    for sc in &scenarios {
        let name = sc["name"].as_str().unwrap();
        let mut h = Harness::new();
        let mut events: std::collections::BTreeMap<String, Value> = Default::default();
        let mut first_event: Option<String> = None;
        let mut last_result: Option<CommandResult> = None;
        let mut seen_seq = 0u64;
        let hours = |v: &Value| t0() + Duration::minutes((v.as_f64().unwrap() * 60.0) as i64);
        for (i, step) in sc["steps"].as_array().unwrap().iter().enumerate() {
            if let Some(at) = step.get("at") {
                h.clock.set(hours(at));
            }
            if let Some(ev) = step.get("event") {
                let id = ev["event_id"].as_str().unwrap().to_string();
                first_event.get_or_insert(id.clone());
                let base = events.entry(id.clone()).or_insert_with(|| {
                    json!({
                        "title": id, "first_detected_at": t0(), "last_seen_at": t0(),
                        "doc_count": 1, "heat": 10.0, "revision": 0
                    })
                });
                for (k, v) in ev.as_object().unwrap() {
                    base[k] = v.clone();
                }
                base["revision"] = json!(base["revision"].as_u64().unwrap() + 1);
                let update: EventUpdate = serde_json::from_value(base.clone()).unwrap();
                h.event(update).await;
            }
            if let Some(cmd) = step.get("command") {
                let mut cmd = cmd.clone();
                let case_id = h.case(first_event.as_ref().unwrap()).case.case_id;
                if cmd.get("case_id").is_none() {
                    cmd["case_id"] = json!(case_id);
                }
                if let Some(at) = cmd.get("at_hours").cloned() {
                    cmd["at"] = json!(hours(&at));
                    cmd.as_object_mut().unwrap().remove("at_hours");
                }
                let actor: Actor = serde_json::from_value(step["actor"].clone()).unwrap();
                let command: CaseCommand = serde_json::from_value(cmd).unwrap();
                last_result = Some(h.cmd(actor, command).await);
            }
            let Some(expect) = step.get("expect") else {
                continue;
            };
            let rec = h.case(first_event.as_ref().unwrap());
            let case = &rec.case;
            let mut check = |what: &str, ok: bool, got: String| {
                if !ok {
                    failures.push(format!("{name} (step {i}): {what}: got {got}"));
                }
            };
            let as_json = |v: &dyn erased::Ser| v.json();
            if let Some(v) = expect.get("state") {
                check(
                    "state",
                    as_json(&case.state) == *v,
                    format!("{:?}", case.state),
                );
            }
            if let Some(v) = expect.get("owner") {
                check(
                    "owner",
                    case.owner.id == v.as_str().unwrap(),
                    case.owner.id.clone(),
                );
            }
            if let Some(v) = expect["owner_reason_contains"].as_str() {
                check(
                    "owner reason",
                    case.owner_reason.contains(v),
                    case.owner_reason.clone(),
                );
            }
            if let Some(v) = expect.get("tier") {
                check(
                    "tier",
                    as_json(&case.tier) == *v,
                    format!("{:?}", case.tier),
                );
            }
            if let Some(v) = expect.get("severity") {
                check(
                    "severity",
                    as_json(&case.severity) == *v,
                    format!("{:?}", case.severity),
                );
            }
            if let Some(want) = expect["deadlines"].as_array() {
                let want: Vec<(Value, DateTime<Utc>, Option<DateTime<Utc>>)> = want
                    .iter()
                    .map(|d| (d[0].clone(), hours(&d[1]), d.get(2).map(hours)))
                    .collect();
                let got: Vec<(Value, DateTime<Utc>, Option<DateTime<Utc>>)> = case
                    .deadlines
                    .iter()
                    .map(|d| (as_json(&d.kind), d.due_at, d.met_at))
                    .collect();
                check("deadlines", got == want, format!("{got:?}"));
            }
            let trail = h.tracker.store.audit(&case.case_id).unwrap();
            if let Some(v) = expect["last"].as_str() {
                let last = trail.last().unwrap().kind.clone();
                check("last audit record", last == v, last.clone());
            }
            if let Some(v) = expect["error"].as_str() {
                let got = match &last_result {
                    Some(Err(e)) => e.to_string(),
                    other => format!("{other:?}"),
                };
                check("error", got.contains(v), got.clone());
            } else if let Some(Err(e)) = &last_result {
                check("no error", false, e.to_string());
            }
            if let Some(want) = expect["notified"].as_array() {
                let new: Vec<_> = h
                    .tracker
                    .store
                    .outbox()
                    .unwrap()
                    .into_iter()
                    .filter(|o| o.case_id == case.case_id && o.seq > seen_seq)
                    .flat_map(|o| o.notice.recipients)
                    .collect();
                for r in want {
                    let r = r.as_str().unwrap();
                    check(
                        "notified",
                        new.iter().any(|x| x == r),
                        format!("{r} not in {new:?}"),
                    );
                }
            }
            seen_seq = case.audit_len;
            last_result = None;
            check(
                "audit chain",
                h.tracker.store.verify(&case.case_id).unwrap().is_ok(),
                String::new(),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Serialize anything to JSON for comparing with fixture values.
mod erased {
    pub trait Ser {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

#[tokio::test]
async fn an_unanswered_cyberspace_notification_is_chased_until_replied() {
    let mut h = Harness::new();
    let mut e = event("e13", "清镇市", vec![]);
    e.flags.notified_by_cyberspace_office = true;
    h.event(e).await;
    let id = h.case("e13").case.case_id;
    let overdue = |h: &Harness| {
        h.kinds(&id)
            .iter()
            .filter(|k| *k == "cyberspace_reply_overdue")
            .count()
    };
    // Opened at t0+10min; the reply is due 24 h later.
    h.clock.set(t0() + Duration::hours(24));
    assert_eq!(
        h.tracker.fire_due_timers().await.unwrap(),
        Some(t0() + Duration::minutes(24 * 60 + 10))
    );
    assert_eq!(overdue(&h), 0);
    h.clock.set(t0() + Duration::minutes(24 * 60 + 10));
    h.tracker.fire_due_timers().await.unwrap();
    h.tracker.fire_due_timers().await.unwrap();
    assert_eq!(overdue(&h), 1);
    assert!(
        h.notices_to("cyberspace")
            .iter()
            .any(|s| s.starts_with("【网信通报未回复】"))
    );
    h.clock.advance(Duration::hours(4));
    h.tracker.fire_due_timers().await.unwrap();
    assert_eq!(overdue(&h), 2);
    h.cmd(unit("周九", "qingzhen"), reply(&id, h.clock.now_utc()))
        .await
        .unwrap();
    h.clock.advance(Duration::hours(8));
    h.tracker.fire_due_timers().await.unwrap();
    assert_eq!(overdue(&h), 2, "no reminder after the reply");
}

#[tokio::test]
async fn the_store_rebuilds_from_its_own_case_events() {
    let mut h = Harness::new();
    h.event(event("e14", "南明区", vec![Priority::Credibility]))
        .await;
    h.event(event("e15", "南明区", vec![Priority::Emergency]))
        .await;
    let a = h.case("e14").case.case_id;
    let b = h.case("e15").case.case_id;
    h.cmd(unit("李四", "nanming"), ack(&a)).await.unwrap();
    h.cmd(
        desk(),
        CaseCommand::Merge {
            case_id: b.clone(),
            into_case_id: a.clone(),
        },
    )
    .await
    .unwrap();
    // Never published here, so the queue holds every case event in commit order.
    let published: Vec<_> = h
        .tracker
        .store
        .pending_publishes(1000)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.envelope.payload)
        .collect();
    assert_eq!(published.len(), 7);

    let dir = tempfile::tempdir().unwrap();
    let rebuilt = CaseStore::open(dir.path()).unwrap();
    for p in published.iter().chain(published.iter()) {
        rebuilt.restore(p).unwrap();
    }
    for id in [&a, &b] {
        assert_eq!(rebuilt.get(id).unwrap(), h.tracker.store.get(id).unwrap());
        assert_eq!(
            rebuilt.audit(id).unwrap(),
            h.tracker.store.audit(id).unwrap()
        );
        assert_eq!(rebuilt.verify(id).unwrap(), Ok(()));
    }
    assert_eq!(rebuilt.case_for_event("e15").unwrap(), Some(a.clone()));
    assert!(
        rebuilt
            .is_processed(common::topics::CASE_COMMANDS, "cmd:3")
            .unwrap()
    );
    assert_eq!(rebuilt.open_case_ids().unwrap(), vec![a.clone()]);

    // Case events from a producer without the extension still give the cases; the trail is
    // missing and verification says so.
    let dir = tempfile::tempdir().unwrap();
    let bare = CaseStore::open(dir.path()).unwrap();
    for p in &published {
        let mut p = p.clone();
        p.respond = None;
        bare.restore(&p).unwrap();
    }
    assert_eq!(bare.get(&a).unwrap().unwrap().case, h.case("e14").case);
    assert!(bare.verify(&a).unwrap().is_err());
}

#[tokio::test]
async fn the_desk_sets_priorities_and_the_analyzer_no_longer_adds_to_them() {
    let mut h = Harness::new();
    h.event(event("e30", "南明区", vec![Priority::Credibility]))
        .await;
    let id = h.case("e30").case.case_id;
    let set = |priorities: Vec<Priority>, reason: &str| CaseCommand::SetPriorities {
        case_id: id.clone(),
        priorities,
        reason: reason.into(),
    };
    let steps = h
        .cmd(
            desk(),
            set(
                vec![Priority::Moral, Priority::Emergency, Priority::Moral],
                "研判:实为突发事件",
            ),
        )
        .await
        .unwrap();
    let case = &steps.last().unwrap().event.case;
    assert_eq!(case.priorities, [Priority::Emergency, Priority::Moral]);
    assert!(case.priorities_confirmed);
    let audit = h.tracker.store.audit(&id).unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.kind, "priorities_set");
    assert_eq!(last.actor, desk());
    assert_eq!(last.data["from"], serde_json::json!(["credibility"]));
    assert_eq!(last.data["to"], serde_json::json!(["emergency", "moral"]));
    assert_eq!(last.data["reason"], "研判:实为突发事件");

    // A later analyzer update with other priorities changes nothing the desk decided.
    let mut e = event(
        "e30",
        "南明区",
        vec![Priority::Decision, Priority::Credibility],
    );
    e.revision = 2;
    h.event(e).await;
    assert_eq!(
        h.case("e30").case.priorities,
        [Priority::Emergency, Priority::Moral]
    );
    assert!(!h.kinds(&id).contains(&"priorities_changed".to_string()));

    // The same judgement again, or one without a reason, is refused and recorded.
    let err = h
        .cmd(
            desk(),
            set(vec![Priority::Emergency, Priority::Moral], "再次确认"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    assert_eq!(h.kinds(&id).last().unwrap(), "command_rejected");
    let err = h
        .cmd(desk(), set(vec![Priority::Decision], " "))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    // Confirming "none of the six" is a judgement too.
    h.cmd(desk(), set(vec![], "不属于重点监测范围"))
        .await
        .unwrap();
    assert!(h.case("e30").case.priorities.is_empty());
}

#[tokio::test]
async fn marking_a_case_notified_puts_the_reply_on_the_deadline_board() {
    let mut h = Harness::new();
    h.event(event("e31", "云岩区", vec![Priority::Credibility]))
        .await;
    let id = h.case("e31").case.case_id;
    assert!(
        h.case("e31")
            .case
            .deadlines
            .iter()
            .all(|d| d.kind != DeadlineKind::CyberspaceReply),
        "no reply is owed before the office notifies"
    );
    let notified_at = h.clock.now_utc() - Duration::hours(1);
    let mark = |at: Option<DateTime<Utc>>| CaseCommand::MarkNotified {
        case_id: id.clone(),
        notified_at: at,
        note: "网信办电话通报".into(),
    };
    let before = h.notices_to("cyberspace").len();
    h.cmd(desk(), mark(Some(notified_at))).await.unwrap();
    let c = h.case("e31");
    assert!(c.case.flags.notified_by_cyberspace_office);
    assert_eq!(c.cyberspace_notified_at, Some(notified_at));
    assert_eq!(h.kinds(&id).last().unwrap(), "cyberspace_notified");
    assert_eq!(h.notices_to("cyberspace").len(), before + 1);
    assert!(
        h.notices_to("yunyan")
            .iter()
            .any(|s| s.contains("网信通报"))
    );
    let reply_deadline = |h: &Harness| {
        h.case("e31")
            .case
            .deadlines
            .into_iter()
            .find(|d| d.kind == DeadlineKind::CyberspaceReply)
            .expect("cyberspace reply deadline")
    };
    let d = reply_deadline(&h);
    assert_eq!(d.due_at, notified_at + Duration::hours(24));
    assert_eq!((d.met_at, d.breached), (None, false));

    // Marked twice, or from the future: refused.
    assert_eq!(
        h.cmd(desk(), mark(None)).await.unwrap_err().code(),
        "invalid"
    );

    // The reply meets it; the tier's own deadline is unaffected by the extra one.
    let at = h.clock.now_utc();
    h.cmd(unit("周九", "yunyan"), reply(&id, at)).await.unwrap();
    let d = reply_deadline(&h);
    assert_eq!((d.met_at, d.breached), (Some(at), false));
    assert_eq!(h.case("e31").case.state, CaseState::Responded);

    let mut other = event("e32", "云岩区", vec![Priority::Credibility]);
    other.title = "另一事件".into();
    h.event(other).await;
    let future = CaseCommand::MarkNotified {
        case_id: h.case("e32").case.case_id,
        notified_at: Some(h.clock.now_utc() + Duration::hours(1)),
        note: String::new(),
    };
    assert_eq!(h.cmd(desk(), future).await.unwrap_err().code(), "invalid");
}

#[tokio::test]
async fn an_unmet_cyberspace_reply_shows_as_breached_on_its_deadline() {
    let mut h = Harness::new();
    let mut e = event("e33", "清镇市", vec![]);
    e.flags.notified_by_cyberspace_office = true;
    h.event(e).await;
    let id = h.case("e33").case.case_id;
    h.clock.set(t0() + Duration::minutes(24 * 60 + 10));
    h.tracker.fire_due_timers().await.unwrap();
    let c = h.case("e33");
    let d = c
        .case
        .deadlines
        .iter()
        .find(|d| d.kind == DeadlineKind::CyberspaceReply)
        .expect("reply deadline");
    assert!(d.breached, "{d:?}");
    // Chased by its own reminder, not by the generic breach notice to supervision.
    let kinds = h.kinds(&id);
    assert!(kinds.contains(&"cyberspace_reply_overdue".to_string()));
    assert!(!kinds.contains(&"breached".to_string()), "{kinds:?}");
}

#[tokio::test]
async fn opening_by_hand_as_notified_marks_the_events_case_if_it_has_one() {
    let mut h = Harness::new();
    let open = |event_id: &str| CaseCommand::Open {
        event_id: Some(event_id.into()),
        title: "网信部门通报的舆情".into(),
        severity: None,
        owner_unit_id: None,
        detected_at: None,
        notified_by_cyberspace_office: true,
    };
    // No case yet: one is opened, notified, with the reply on its deadlines.
    let mut quiet = event("e34", "乌当区", vec![]);
    quiet.heat = 1.0;
    h.event(quiet).await;
    h.cmd(desk(), open("e34")).await.unwrap();
    let c = h.case("e34");
    assert!(c.case.flags.notified_by_cyberspace_office && c.case.flags.manual);
    assert!(c.open_reason.contains("网信部门通报"));
    assert!(
        c.case
            .deadlines
            .iter()
            .any(|d| d.kind == DeadlineKind::CyberspaceReply)
    );
    // The event has a case by now: that case is marked instead of a refusal.
    h.event(event("e35", "乌当区", vec![Priority::Credibility]))
        .await;
    h.cmd(desk(), open("e35")).await.unwrap();
    let c = h.case("e35");
    assert!(c.case.flags.notified_by_cyberspace_office);
    assert_eq!(
        h.kinds(&c.case.case_id).last().unwrap(),
        "cyberspace_notified"
    );
}

#[tokio::test]
async fn notification_requests_go_to_the_outbox_once_and_bad_ones_are_refused() {
    let h = Harness::new();
    let request = |link: Option<&str>| NotificationRequest {
        kind: "daily_report".into(),
        title: "舆情日报 2026-05-09".into(),
        text: "新增事件 3 起".into(),
        link: link.map(String::from),
        recipients: vec![],
    };
    let env = Envelope::new(
        "daily_report:2026-05-09",
        h.clock.now_utc(),
        request(Some(
            "https://yuqing.example.gov.cn/reports/archive/daily-2026-05-09.docx",
        )),
    );
    h.tracker.handle_notification(env.clone()).await.unwrap();
    // Redelivered: recognised, not queued again.
    h.tracker.handle_notification(env).await.unwrap();
    let out = h.tracker.store.outbox().unwrap();
    let notes: Vec<_> = out.iter().filter(|o| o.case_id.is_empty()).collect();
    assert_eq!(notes.len(), 1, "{out:?}");
    let item = notes[0];
    assert_eq!(item.id, "note:daily_report:2026-05-09:all");
    assert_eq!(item.notice.recipients, ["*"]);
    assert_eq!(item.notice.subject, "舆情日报 2026-05-09");
    let body = respond::notify::webhook_body(item);
    assert_eq!(body["kind"], "daily_report");
    assert_eq!(
        body["link"],
        "https://yuqing.example.gov.cn/reports/archive/daily-2026-05-09.docx"
    );
    let robot = respond::notify::dingtalk_body(item);
    let text = robot["markdown"]["text"].as_str().unwrap();
    assert!(!text.contains("> "), "no case line: {text}");

    for (id, bad) in [
        ("n2", request(Some("javascript:alert(1)"))),
        (
            "n3",
            NotificationRequest {
                title: " ".into(),
                ..request(None)
            },
        ),
    ] {
        let err = h
            .tracker
            .handle_notification(Envelope::new(id, h.clock.now_utc(), bad))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err}");
    }
}
