//! Topic names, in one place. Every topic carries [`crate::wire::Envelope`]s as JSON.
//!
//! | topic | payload | key |
//! |---|---|---|
//! | `yuqing.raw-documents.v1` | [`crate::wire::RawDocument`] | source id |
//! | `yuqing.analyzed-documents.v1` | [`crate::wire::AnalyzedDocument`] | event id |
//! | `yuqing.event-updates.v1` | [`crate::wire::EventUpdate`] | event id |
//! | `yuqing.case-commands.v1` | [`crate::wire::CaseCommandRequest`] | case id (or event id) |
//! | `yuqing.case-events.v1` | [`crate::wire::CaseEvent`] | case id |
//! | `yuqing.source-health.v1` | [`crate::wire::SourceHealth`] | source id |
//! | `yuqing.notifications.v1` | [`crate::wire::NotificationRequest`] | kind |
//! | `yuqing.dead-letter.v1` | [`crate::wire::DeadLetter`] | original topic |
//! | `yuqing.unit-registry.v1` | [`crate::wire::UnitRegistry`] | `registry` |
//! | `yuqing.command-results.v1` | [`crate::wire::CommandResult`] | case id (or command id) |
//! | `yuqing.corrections.v1` | [`crate::wire::Correction`] | [`crate::wire::Correction::key`] |
//!
//! Keys keep one event's (or one case's) messages in one partition, hence in order.

pub const RAW_DOCUMENTS: &str = "yuqing.raw-documents.v1";
pub const ANALYZED_DOCUMENTS: &str = "yuqing.analyzed-documents.v1";
pub const EVENT_UPDATES: &str = "yuqing.event-updates.v1";
pub const CASE_COMMANDS: &str = "yuqing.case-commands.v1";
pub const CASE_EVENTS: &str = "yuqing.case-events.v1";
pub const SOURCE_HEALTH: &str = "yuqing.source-health.v1";
pub const DEAD_LETTER: &str = "yuqing.dead-letter.v1";
/// Messages for people that are not about one case (the daily report); respond delivers them.
pub const NOTIFICATIONS: &str = "yuqing.notifications.v1";
/// The whole unit registry, republished by respond (which owns it) at start and daily, so every
/// unit list on the screens names the same units.
pub const UNIT_REGISTRY: &str = "yuqing.unit-registry.v1";
/// What became of each case command (accepted, or rejected and why), for the person who sent it.
pub const COMMAND_RESULTS: &str = "yuqing.command-results.v1";
/// The desk's 研判 (and imported ones): every analyzer reads the whole topic and learns from it.
/// Compacted, never expired: the latest message per key is the state.
pub const CORRECTIONS: &str = "yuqing.corrections.v1";

/// Topics whose log is the state (the latest message per key), not a stream of events: kept
/// forever, compacted by key on Kafka and never trimmed on the embedded bus.
pub const COMPACTED: [&str; 1] = [CORRECTIONS];

pub fn is_compacted(topic: &str) -> bool {
    COMPACTED.contains(&topic)
}

pub const ALL: [&str; 11] = [
    RAW_DOCUMENTS,
    ANALYZED_DOCUMENTS,
    EVENT_UPDATES,
    CASE_COMMANDS,
    CASE_EVENTS,
    SOURCE_HEALTH,
    DEAD_LETTER,
    NOTIFICATIONS,
    UNIT_REGISTRY,
    COMMAND_RESULTS,
    CORRECTIONS,
];

/// Consumer group names: one per consuming stage.
pub mod groups {
    pub const ANALYZE: &str = "yuqing-analyze";
    pub const RESPOND: &str = "yuqing-respond";
    pub const DASHBOARDS: &str = "yuqing-dashboards";
}
