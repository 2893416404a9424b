//! The running tracker: consumes event updates and case commands, fires deadline timers,
//! publishes case events and drains the notification outbox.
//!
//! One mutex serialises every change (the stage is low-volume: tens of cases a day), so each
//! handled message is a load → apply → one atomic sled commit → flush, and only then acked.
//! Publishing and notifying run from durable queues in the same store, so a crash at any
//! point loses nothing: the message is redelivered (and recognised as processed) or the queue
//! is drained after restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::bus::{HandlerError, consume};
use common::wire::{
    Actor, CaseCommand, CaseCommandRequest, Envelope, EventUpdate, NotificationRequest, Severity,
};
use common::{SharedBus, SharedClock, Shutdown, topics};
use tokio::sync::{Mutex, Notify};

use crate::Error;
use crate::assign::{AssignInput, AssignRule, Assignment, assign_owner, open_reason};
use crate::case::{
    CaseRecord, CommandError, Opening, Step, case_id_for_event, case_id_for_message,
};
use crate::config::Config;
use crate::notify::{Deliver, backoff};
use crate::store::{CaseStore, Commit};

/// What the tracker answers to a command applied in-process.
pub type CommandResult = Result<Vec<Step>, CommandError>;

pub struct Tracker {
    pub store: CaseStore,
    config: Config,
    clock: SharedClock,
    lock: Mutex<()>,
    timers_changed: Notify,
    pub(crate) publish_ready: Notify,
    outbox_ready: Notify,
}

impl Tracker {
    pub fn new(store: CaseStore, config: Config, clock: SharedClock) -> Arc<Self> {
        Arc::new(Self {
            store,
            config,
            clock,
            lock: Mutex::new(()),
            timers_changed: Notify::new(),
            publish_ready: Notify::new(),
            outbox_ready: Notify::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    async fn commit(&self, commit: Commit) -> Result<(), Error> {
        let changed =
            !commit.steps.is_empty() || !commit.notifications.is_empty() || commit.result.is_some();
        let store = self.store.clone();
        let channels = self.config.notify.channels.clone();
        // sled's flush is a blocking fsync: keep it off the async workers.
        tokio::task::spawn_blocking(move || store.commit(commit, &channels))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        if changed {
            self.timers_changed.notify_one();
            self.publish_ready.notify_one();
            self.outbox_ready.notify_one();
        }
        Ok(())
    }

    /// Start handling message `message_id` of `topic` (with the lock held): `None` when it was
    /// handled before (a redelivery), else the time now and a commit that marks it handled.
    fn begin(
        &self,
        topic: &str,
        message_id: &str,
    ) -> Result<Option<(DateTime<Utc>, Commit)>, Error> {
        if self.store.is_processed(topic, message_id)? {
            return Ok(None);
        }
        let now = self.clock.now();
        let commit = Commit {
            processed: Some((topic.to_string(), message_id.to_string())),
            now: Some(now),
            ..Default::default()
        };
        Ok(Some((now, commit)))
    }

    /// Handle one event update: open a case when the rules say so, or fold it into its case.
    pub async fn handle_event_update(&self, env: Envelope<EventUpdate>) -> Result<(), Error> {
        let _guard = self.lock.lock().await;
        let Some((now, mut commit)) = self.begin(topics::EVENT_UPDATES, &env.message_id)? else {
            return Ok(());
        };
        let event = env.payload;
        let mut index = self.store.event(&event.event_id)?.unwrap_or_default();
        if event.revision < index.revision {
            // Older than what we hold: an out-of-order redelivery.
            self.commit(commit).await?;
            return Ok(());
        }
        index.revision = event.revision;
        index.last = Some(event.clone());
        match index.case_id.clone() {
            Some(case_id) => {
                if let Some(mut rec) = self.store.get(&case_id)? {
                    commit.steps = rec.on_event_update(&self.config, &event, now);
                    commit.cases.push(rec);
                }
            }
            None => {
                if let Some(reason) = open_reason(&self.config, &event) {
                    let assignment = assign_owner(&self.config, &AssignInput::from_event(&event));
                    let case_id = case_id_for_event(&event.event_id);
                    let (rec, steps) = CaseRecord::open(
                        &self.config,
                        opening_from_event(&event, case_id.clone(), reason, assignment),
                        Actor::system(),
                        now,
                    );
                    tracing::info!(case_id = %case_id, event_id = %event.event_id, owner = %rec.case.owner.name, "case opened");
                    index.case_id = Some(case_id);
                    commit.steps = steps;
                    commit.cases.push(rec);
                }
            }
        }
        commit.events.push((event.event_id.clone(), index));
        self.commit(commit).await
    }

    /// Handle one notification request: queue it in the outbox for the channels serving its
    /// recipients, idempotent on the message id. A request without a title, or with a link that
    /// is not http(s), is refused for good (dead-lettered with the reason).
    pub async fn handle_notification(
        &self,
        env: Envelope<NotificationRequest>,
    ) -> Result<(), Error> {
        let req = &env.payload;
        if req.title.trim().is_empty() {
            return Err(Error::Rejected("notification without a title".into()));
        }
        if let Some(link) = &req.link
            && !(link.starts_with("http://") || link.starts_with("https://"))
        {
            return Err(Error::Rejected(format!(
                "notification link must be http(s): {link}"
            )));
        }
        let _guard = self.lock.lock().await;
        let Some((now, mut commit)) = self.begin(topics::NOTIFICATIONS, &env.message_id)? else {
            return Ok(());
        };
        let recipients = if req.recipients.is_empty() {
            vec!["*".to_string()]
        } else {
            req.recipients.clone()
        };
        commit.notifications.push(crate::store::Notification {
            id: env.message_id.clone(),
            kind: req.kind.clone(),
            link: req.link.clone(),
            notice: crate::case::Notice {
                recipients,
                subject: req.title.trim().to_string(),
                text: req.text.clone(),
            },
            at: now,
        });
        tracing::info!(message_id = %env.message_id, kind = %req.kind, "notification queued");
        self.commit(commit).await
    }

    /// Handle one command from the bus. A rejected command is recorded on its case as
    /// `command_rejected` (so the sender sees why); a command for no case is an error.
    pub async fn handle_command(
        &self,
        env: Envelope<CaseCommandRequest>,
    ) -> Result<CommandResult, Error> {
        let _guard = self.lock.lock().await;
        let Some((now, mut commit)) = self.begin(topics::CASE_COMMANDS, &env.message_id)? else {
            return Ok(Ok(Vec::new()));
        };
        let CaseCommandRequest { actor, command } = env.payload;
        let result = self.apply(&actor, &command, &env.message_id, now, &mut commit);
        let mut case_id = target_case(&command);
        match &result {
            Ok(steps) => commit.steps.extend(steps.iter().cloned()),
            Err(err) => {
                tracing::warn!(message_id = %env.message_id, error = %err, "case command rejected");
                let target = target_case(&command).or(match err {
                    CommandError::AlreadyOpen { case_id, .. } => Some(case_id.clone()),
                    _ => None,
                });
                case_id = target.clone();
                if let Some(mut rec) = target.and_then(|id| self.store.get(&id).ok().flatten()) {
                    let mut steps = Vec::new();
                    rec.record(
                        &self.config,
                        now,
                        &actor,
                        "command_rejected",
                        format!("指令被拒绝:{err}"),
                        serde_json::json!({ "error": err.code(), "message": err.to_string(), "command": command }),
                        Vec::new(),
                        &mut steps,
                    );
                    commit.cases = vec![rec];
                    commit.steps = steps;
                    commit.events.clear();
                }
            }
        }
        if let Ok(steps) = &result {
            // An open names its case only once it exists.
            case_id = case_id.or_else(|| steps.first().map(|s| s.event.case_id.clone()));
        }
        commit.result = Some(command_result(
            &env.message_id,
            case_id,
            &actor,
            &command,
            &result,
            now,
        ));
        self.commit(commit).await?;
        Ok(result)
    }

    fn apply(
        &self,
        actor: &Actor,
        command: &CaseCommand,
        message_id: &str,
        now: DateTime<Utc>,
        commit: &mut Commit,
    ) -> CommandResult {
        let store_err = |e: Error| CommandError::Invalid(format!("案件库读取失败：{e}"));
        match command {
            CaseCommand::Open {
                event_id,
                title,
                severity,
                owner_unit_id,
                detected_at,
                notified_by_cyberspace_office,
            } => {
                command.check(now)?;
                let index = match event_id {
                    Some(e) => {
                        let index = self.store.event(e).map_err(store_err)?.unwrap_or_default();
                        if let (Some(case_id), true) =
                            (&index.case_id, *notified_by_cyberspace_office)
                        {
                            // The desk saw no case yet when it marked the item; the mark is
                            // what matters, so it goes to the case the event has by now.
                            let mark = CaseCommand::MarkNotified {
                                case_id: case_id.clone(),
                                notified_at: None,
                                note: String::new(),
                            };
                            return self.apply(actor, &mark, message_id, now, commit);
                        }
                        if let Some(case_id) = &index.case_id {
                            return Err(CommandError::AlreadyOpen {
                                event_id: e.clone(),
                                case_id: case_id.clone(),
                            });
                        }
                        Some(index)
                    }
                    None => None,
                };
                let last = index.as_ref().and_then(|i| i.last.clone());
                let input = last
                    .as_ref()
                    .map(AssignInput::from_event)
                    .unwrap_or_default();
                let assignment = match owner_unit_id {
                    Some(id) => {
                        let unit = self
                            .config
                            .find_unit(id)
                            .ok_or_else(|| CommandError::UnknownUnit(id.clone()))?;
                        Assignment {
                            owner: unit.to_ref(),
                            rule: AssignRule::Override,
                            reason: format!("{}人工立案指定{}", actor.name, unit.name),
                        }
                    }
                    None => assign_owner(&self.config, &input),
                };
                let case_id = match event_id {
                    Some(e) => case_id_for_event(e),
                    None => case_id_for_message(message_id),
                };
                if self.store.get(&case_id).map_err(store_err)?.is_some() {
                    return Err(CommandError::Invalid(format!("案件{case_id}已存在")));
                }
                let proposed = last.as_ref().and_then(|e| e.severity.level);
                let opening = Opening {
                    case_id: case_id.clone(),
                    event_id: event_id.clone(),
                    title: title.clone(),
                    detected_at: detected_at
                        .or(last.as_ref().map(|e| e.first_detected_at))
                        .unwrap_or(now),
                    severity: severity.or(proposed),
                    severity_confirmed: severity.is_some(),
                    priorities: last
                        .as_ref()
                        .map(|e| e.priorities.clone())
                        .unwrap_or_default(),
                    flags: {
                        let mut flags = last.as_ref().map(|e| e.flags.clone()).unwrap_or_default();
                        flags.manual = true;
                        flags.notified_by_cyberspace_office |= *notified_by_cyberspace_office;
                        flags
                    },
                    heat: last.as_ref().map_or(0.0, |e| e.heat),
                    open_reason: if *notified_by_cyberspace_office {
                        format!("{}人工立案(网信部门通报)", actor.name)
                    } else {
                        format!("{}人工立案", actor.name)
                    },
                    assignment,
                };
                let (rec, steps) = CaseRecord::open(&self.config, opening, actor.clone(), now);
                if let (Some(e), Some(mut index)) = (event_id, index) {
                    index.case_id = Some(case_id);
                    commit.events.push((e.clone(), index));
                }
                commit.cases.push(rec);
                Ok(steps)
            }
            CaseCommand::Merge {
                case_id,
                into_case_id,
            } => {
                command.check(now)?;
                let mut from = self
                    .store
                    .get(case_id)
                    .map_err(store_err)?
                    .ok_or_else(|| CommandError::UnknownCase(case_id.clone()))?;
                let mut into = self
                    .store
                    .get(into_case_id)
                    .map_err(store_err)?
                    .ok_or_else(|| CommandError::UnknownCase(into_case_id.clone()))?;
                // Check the target first so a refused merge changes neither case.
                if !common::commands::allowed(into.case.state, command.action()) {
                    return Err(CommandError::IllegalTransition {
                        case_id: into_case_id.clone(),
                        state: into.case.state,
                        action: command.action(),
                    });
                }
                let mut steps = from.merge_away(&self.config, actor, into_case_id, now)?;
                steps.extend(into.absorb(&self.config, actor, &from, now)?);
                for e in &from.case.event_ids {
                    let mut index = self.store.event(e).map_err(store_err)?.unwrap_or_default();
                    index.case_id = Some(into_case_id.clone());
                    commit.events.push((e.clone(), index));
                }
                commit.cases.push(from);
                commit.cases.push(into);
                Ok(steps)
            }
            other => {
                let Some(id) = target_case(other) else {
                    return Err(CommandError::Invalid("指令未指明案件".into()));
                };
                let mut rec = self
                    .store
                    .get(&id)
                    .map_err(store_err)?
                    .ok_or_else(|| CommandError::UnknownCase(id.clone()))?;
                let steps = rec.apply(&self.config, actor, other, now)?;
                commit.cases.push(rec);
                Ok(steps)
            }
        }
    }

    /// Fire every timer due by now; returns when the next one is due.
    pub async fn fire_due_timers(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let _guard = self.lock.lock().await;
        let now = self.clock.now();
        let mut next: Option<DateTime<Utc>> = None;
        let mut commit = Commit::default();
        for id in self.store.open_case_ids()? {
            let Some(mut rec) = self.store.get(&id)? else {
                continue;
            };
            let (steps, at) = rec.fire_timers(&self.config, now);
            if let Some(at) = at {
                next = Some(next.map_or(at, |n: DateTime<Utc>| n.min(at)));
            }
            if !steps.is_empty() {
                for s in &steps {
                    tracing::info!(case_id = %id, kind = %s.event.kind, "deadline timer fired");
                }
                commit.steps.extend(steps);
                commit.cases.push(rec);
            }
        }
        if !commit.cases.is_empty() {
            self.commit(commit).await?;
        }
        Ok(next)
    }
}

fn opening_from_event(
    event: &EventUpdate,
    case_id: String,
    reason: String,
    assignment: Assignment,
) -> Opening {
    Opening {
        case_id,
        event_id: Some(event.event_id.clone()),
        title: event.title.clone(),
        detected_at: event.first_detected_at,
        severity: event.severity.level,
        // Only a manually entered item can carry a staff-confirmed severity; the analyzer's
        // is always a proposal (a Rust `Default` proposal says `proposed: false`, so the flag
        // alone is not trusted).
        severity_confirmed: event.flags.manual
            && !event.severity.proposed
            && event.severity.level.is_some(),
        priorities: event.priorities.clone(),
        flags: event.flags.clone(),
        heat: event.heat,
        open_reason: reason,
        assignment,
    }
}

/// What the sender of a command learns of it: accepted, or rejected with the reason in words.
fn command_result(
    command_id: &str,
    case_id: Option<String>,
    actor: &Actor,
    command: &CaseCommand,
    result: &CommandResult,
    now: DateTime<Utc>,
) -> crate::store::PendingResult {
    let (code, message) = match result {
        Ok(_) => (None, String::new()),
        Err(e) => (Some(e.code().to_string()), e.to_string()),
    };
    crate::store::PendingResult {
        key: case_id.clone().unwrap_or_else(|| command_id.to_string()),
        envelope: Envelope::new(
            format!("result:{command_id}"),
            now,
            common::wire::CommandResult {
                command_id: command_id.to_string(),
                case_id,
                actor: actor.clone(),
                action: command.action().as_str().to_string(),
                accepted: result.is_ok(),
                code,
                message,
            },
        ),
    }
}

fn target_case(command: &CaseCommand) -> Option<String> {
    command.case_id().map(str::to_string)
}

/// The tokio instant at which the injected clock reads `at` (now if already past).
fn instant_for(clock: &SharedClock, at: DateTime<Utc>) -> tokio::time::Instant {
    let wait = (at - clock.now()).to_std().unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + wait
}

/// When nothing is scheduled, look again after this long anyway (cheap, and a guard against a
/// missed wake-up).
const IDLE_RECHECK: Duration = Duration::from_secs(3600);

/// Sleep until `next` by the injected clock (or [`IDLE_RECHECK`] when nothing is due), until
/// `changed` is notified, or until shutdown; true on shutdown.
async fn sleep_until_due(
    clock: &SharedClock,
    next: Option<DateTime<Utc>>,
    changed: &Notify,
    shutdown: &Shutdown,
) -> bool {
    let until = match next {
        Some(at) => instant_for(clock, at),
        None => tokio::time::Instant::now() + IDLE_RECHECK,
    };
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep_until(until) => false,
        _ = changed.notified() => false,
    }
}

/// The deadline loop (mini-redis style): sleep until the earliest timer or until a change.
async fn timer_loop(tracker: Arc<Tracker>, shutdown: Shutdown) -> Result<(), Error> {
    let mut pruned_at: Option<DateTime<Utc>> = None;
    loop {
        let now = tracker.clock.now();
        if pruned_at.is_none_or(|t| now - t >= chrono::Duration::days(1)) {
            let keep = crate::plan::hours(tracker.config.processed_retention_days * 24.0);
            let removed = tracker.store.prune_processed(now - keep)?;
            if removed > 0 {
                tracing::info!(removed, "forgot old processed message ids");
            }
            pruned_at = Some(now);
        }
        let next = tracker.fire_due_timers().await?;
        if sleep_until_due(&tracker.clock, next, &tracker.timers_changed, &shutdown).await {
            return Ok(());
        }
    }
}

/// Deliver outbox items that are due, oldest first; failures are rescheduled with backoff,
/// durably. A failure pauses its channel until that item's retry, so a dead receiver costs one
/// timeout per backoff step rather than one per queued item; robots are kept under their
/// per-minute limits.
async fn outbox_loop(
    tracker: Arc<Tracker>,
    sender: Arc<dyn Deliver>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let notify = &tracker.config.notify;
    let minute = chrono::Duration::minutes(1);
    let mut recent: HashMap<String, VecDeque<DateTime<Utc>>> = HashMap::new();
    let mut paused: HashMap<String, DateTime<Utc>> = HashMap::new();
    loop {
        let mut next: Option<DateTime<Utc>> = None;
        let mut consider =
            |t: DateTime<Utc>| next = Some(next.map_or(t, |n: DateTime<Utc>| n.min(t)));
        let mut items = tracker.store.outbox()?;
        items.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        for mut item in items {
            let now = tracker.clock.now();
            if item.next_attempt_at > now {
                consider(item.next_attempt_at);
                continue;
            }
            let Some(channel) = notify
                .channels
                .iter()
                .find(|c| c.name == item.channel && c.enabled)
            else {
                // The channel was removed from config: keep the item for when it returns.
                continue;
            };
            if let Some(until) = paused.get(&channel.name).filter(|u| **u > now) {
                consider(*until);
                continue;
            }
            let sent = recent.entry(channel.name.clone()).or_default();
            while sent.front().is_some_and(|t| now - *t >= minute) {
                sent.pop_front();
            }
            if let (Some(limit), Some(oldest)) = (channel.rate_limit(), sent.front()) {
                if sent.len() >= limit as usize {
                    consider(*oldest + minute);
                    continue;
                }
            }
            sent.push_back(now);
            let mut outgoing = item.clone();
            let link = if item.case_id.is_empty() || notify.case_link.is_empty() {
                item.link.clone()
            } else {
                Some(notify.case_link.replace("{case_id}", &item.case_id))
            };
            if let Some(link) = link {
                outgoing.notice.text = format!("{}\n详情:{link}", item.notice.text);
            }
            let result = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                r = sender.deliver(channel, &outgoing, now) => r,
            };
            match result {
                Ok(()) => {
                    tracker.store.mark_sent(&item, tracker.clock.now())?;
                    tracing::info!(id = %item.id, channel = %item.channel, "notification sent");
                }
                Err(e) => {
                    item.attempts += 1;
                    item.last_error = Some(e.to_string());
                    item.next_attempt_at = tracker.clock.now()
                        + backoff(
                            notify.backoff_initial_secs,
                            notify.backoff_max_secs,
                            item.attempts,
                        );
                    tracing::warn!(id = %item.id, channel = %item.channel, attempt = item.attempts, error = %e, "notification failed, will retry");
                    consider(item.next_attempt_at);
                    paused.insert(channel.name.clone(), item.next_attempt_at);
                    tracker.store.reschedule(&item)?;
                }
            }
        }
        if sleep_until_due(&tracker.clock, next, &tracker.outbox_ready, &shutdown).await {
            return Ok(());
        }
    }
}

/// Refill an empty store from the case-event topic. The rebuild group never acknowledges, so
/// it always reads from the start and holds back no retention.
///
/// The broker's count of what is there decides how long to wait: while fewer messages than that
/// have arrived, up to `rebuild_wait_secs` (a Kafka group takes seconds to get its partitions);
/// after that, until the topic is quiet for `rebuild_idle_secs` (counts may run short).
async fn rebuild(tracker: &Tracker, bus: &SharedBus, shutdown: &Shutdown) -> Result<(), Error> {
    let group = format!("{}-rebuild", topics::groups::RESPOND);
    let expected = bus.lag(topics::CASE_EVENTS, &group).await?;
    if expected == Some(0) {
        return Ok(());
    }
    let expected = expected.unwrap_or(0);
    let mut sub = bus.subscribe(topics::CASE_EVENTS, &group).await?;
    let idle = Duration::from_secs_f64(tracker.config.rebuild_idle_secs.max(0.01));
    let patient = Duration::from_secs_f64(tracker.config.rebuild_wait_secs.max(0.01)).max(idle);
    let (mut read, mut restored) = (0u64, 0u64);
    loop {
        let wait = if read < expected.max(1) {
            patient
        } else {
            idle
        };
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = tokio::time::timeout(wait, sub.recv()) => match d {
                Err(_) => break,
                Ok(d) => d?,
            },
        };
        read += 1;
        match Envelope::<crate::store::PublishedCaseEvent>::decode(&delivery.payload) {
            Ok(env) => {
                if tracker.store.restore(&env.payload)? {
                    restored += 1;
                }
            }
            Err(e) => {
                tracing::warn!(offset = delivery.offset, error = %e, "undecodable case event skipped in rebuild")
            }
        }
    }
    tracker.store.flush()?;
    tracing::info!(
        read,
        restored,
        cases = tracker
            .store
            .list(&Default::default(), tracker.clock.now())?
            .len(),
        "case store rebuilt from case events"
    );
    Ok(())
}

fn handler_error(e: Error) -> HandlerError {
    if e.is_retryable() {
        HandlerError::Retryable(e.to_string())
    } else {
        HandlerError::Permanent(e.to_string())
    }
}

/// What every consuming task of the stage shares: one tracker, the bus, the shutdown signal.
struct Consumer<'a> {
    tracker: &'a Arc<Tracker>,
    bus: &'a SharedBus,
    shutdown: &'a Shutdown,
}

impl Consumer<'_> {
    /// Consume `topic` in respond's group, each message handed to `handle` with the tracker.
    fn spawn<T, F, Fut>(
        &self,
        tasks: &mut tokio::task::JoinSet<Result<(), Error>>,
        topic: &'static str,
        handle: F,
    ) where
        T: serde::de::DeserializeOwned + Clone + Send + 'static,
        F: Fn(Arc<Tracker>, Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let (t, bus, sd) = (
            self.tracker.clone(),
            self.bus.clone(),
            self.shutdown.clone(),
        );
        tasks.spawn(async move {
            consume::<T, _, _>(bus, topic, topics::groups::RESPOND, sd, move |env| {
                handle(t.clone(), env)
            })
            .await
            .map_err(Error::from)
        });
    }
}

/// Run the stage with an explicit sender (tests pass fakes); [`crate::run`] uses the real one.
pub async fn run_with(
    config: Config,
    ctx: common::StageContext,
    shutdown: Shutdown,
    sender: Arc<dyn Deliver>,
) -> Result<(), Error> {
    // Opening recovers sled's log: on the blocking pool, not on an async worker.
    let store = {
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || open_store(&ctx))
            .await
            .map_err(|e| Error::Task(format!("opening the case store panicked: {e}")))??
    };
    run_on(store, config, ctx, shutdown, sender).await
}

/// The stage's case store at its place under `ctx.data_dir`. Open it before [`run_on`] to keep
/// a clone for reading in the same process (sled allows one opener per directory).
pub fn open_store(ctx: &common::StageContext) -> Result<CaseStore, Error> {
    CaseStore::open(&ctx.stage_dir("respond")?.join("cases"))
}

/// Run the stage on an already opened store.
pub async fn run_on(
    store: CaseStore,
    config: Config,
    ctx: common::StageContext,
    shutdown: Shutdown,
    sender: Arc<dyn Deliver>,
) -> Result<(), Error> {
    config.validate()?;
    let tracker = Tracker::new(store, config, ctx.clock.clone());
    ctx.bus
        .ensure_topics(&[
            topics::EVENT_UPDATES,
            topics::CASE_COMMANDS,
            topics::CASE_EVENTS,
            topics::NOTIFICATIONS,
            topics::UNIT_REGISTRY,
            topics::COMMAND_RESULTS,
        ])
        .await?;
    if tracker.store.is_empty() && tracker.config.rebuild_from_case_events {
        rebuild(&tracker, &ctx.bus, &shutdown).await?;
    }
    tracing::info!(
        open_cases = tracker.store.open_case_ids()?.len(),
        "respond stage started"
    );

    let mut tasks = tokio::task::JoinSet::new();
    let consumer = Consumer {
        tracker: &tracker,
        bus: &ctx.bus,
        shutdown: &shutdown,
    };
    consumer.spawn(
        &mut tasks,
        topics::EVENT_UPDATES,
        |t, env: Envelope<EventUpdate>| async move {
            t.handle_event_update(env).await.map_err(handler_error)
        },
    );
    consumer.spawn(
        &mut tasks,
        topics::CASE_COMMANDS,
        |t, env: Envelope<CaseCommandRequest>| async move {
            // A rejected command is recorded on its case; only a command for no case at all
            // goes to the dead letters.
            match t.handle_command(env).await.map_err(handler_error)? {
                Err(CommandError::UnknownCase(id)) => {
                    Err(HandlerError::Permanent(format!("no case {id}")))
                }
                _ => Ok(()),
            }
        },
    );
    consumer.spawn(
        &mut tasks,
        topics::NOTIFICATIONS,
        |t, env: Envelope<NotificationRequest>| async move {
            t.handle_notification(env).await.map_err(handler_error)
        },
    );
    tasks.spawn(timer_loop(tracker.clone(), shutdown.clone()));
    tasks.spawn(crate::publish::publish_loop(
        tracker.clone(),
        ctx.bus.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(outbox_loop(tracker.clone(), sender, shutdown.clone()));
    tasks.spawn(crate::registry::publish_loop(
        tracker.config.clone(),
        ctx.bus.clone(),
        ctx.clock.clone(),
        shutdown.clone(),
    ));

    // The first task to end (cleanly on shutdown, or with an error) ends the stage.
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let r = joined
            .map_err(|e| Error::Task(e.to_string()))
            .and_then(|r| r);
        if let Err(e) = r {
            tracing::error!(error = %e, "respond task failed; stopping the stage");
            if result.is_ok() {
                result = Err(e);
            }
        }
        shutdown.cancel();
    }
    tracker.store.flush()?;
    result
}

/// Severity from a loose spelling: `major`, `重大`, `II`, `Ⅱ级` ... (compared lowercased, and
/// the Unicode roman numerals have lowercase forms too)
pub fn parse_severity(s: &str) -> Option<Severity> {
    let s = s.trim().trim_end_matches('级').trim();
    Some(match s.to_lowercase().as_str() {
        "extremely_major" | "extremelymajor" | "特别重大" | "i" | "ⅰ" => {
            Severity::ExtremelyMajor
        }
        "major" | "重大" | "ii" | "ⅱ" => Severity::Major,
        "large" | "较大" | "iii" | "ⅲ" => Severity::Large,
        "general" | "一般" | "iv" | "ⅳ" => Severity::General,
        _ => return None,
    })
}
