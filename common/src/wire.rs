//! The wire contract between stages: versioned JSON envelopes and their payloads.
//!
//! Rules every producer and consumer keeps (see README, "Wire contract"):
//! - every message is an [`Envelope`] with `schema_version`, `message_id` and `produced_at`;
//! - consumers ignore fields they do not know, so a newer producer never breaks an older consumer
//!   (no `deny_unknown_fields` on wire types; new fields are `#[serde(default)]`);
//! - `message_id` is deterministic for the thing it describes wherever possible (a raw document's
//!   id is derived from its canonical URL), so that a re-send is recognised as a duplicate;
//! - a message that cannot be decoded goes to [`crate::topics::DEAD_LETTER`] with the reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

mod corrections;

pub use corrections::{
    AnalysisModel, Correction, CorrectionField, FieldJudgement, JudgementSource, correction_key,
};

/// The schema version this build writes. Readers accept any version with the same major number
/// and tolerate unknown fields, so minor additions never need a coordinated upgrade.
pub const SCHEMA_VERSION: u32 = 1;

/// Every message on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub schema_version: u32,
    /// Idempotency key: consumers treat a second message with the same id as a duplicate.
    pub message_id: String,
    pub produced_at: DateTime<Utc>,
    pub payload: T,
}

impl<T> Envelope<T> {
    pub fn new(message_id: impl Into<String>, produced_at: DateTime<Utc>, payload: T) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            message_id: message_id.into(),
            produced_at,
            payload,
        }
    }
}

impl<T: Serialize> Envelope<T> {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data structs to a Vec cannot fail (no maps with non-string keys).
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Why a payload could not be decoded. Its `Display` is what the dead-letter record says.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid json envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported schema version {found} (this build reads {SCHEMA_VERSION})")]
    Version { found: u32 },
}

impl<T: DeserializeOwned> Envelope<T> {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let env: Envelope<T> = serde_json::from_slice(bytes)?;
        if env.schema_version == 0 || env.schema_version > SCHEMA_VERSION {
            return Err(DecodeError::Version {
                found: env.schema_version,
            });
        }
        Ok(env)
    }
}

/// A new unique message id (UUIDv7: time-ordered, so ids sort by creation).
pub fn new_message_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

// ---------------------------------------------------------------------------------------------
// ingest → analyze
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    #[default]
    Rss,
    Html,
    Social,
    Json,
    /// Entered by hand: notified by the cyberspace office or reported by a unit.
    Manual,
    /// A kind added by a newer ingest: the item is still analysed (as an ordinary source)
    /// rather than dead-lettered and lost to monitoring.
    #[serde(other)]
    Unknown,
}

/// Engagement numbers as the source reported them; repost volume is heat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    #[serde(default)]
    pub reposts: Option<u64>,
    #[serde(default)]
    pub comments: Option<u64>,
    #[serde(default)]
    pub likes: Option<u64>,
    #[serde(default)]
    pub views: Option<u64>,
}

impl Engagement {
    pub fn total(&self) -> u64 {
        [self.reposts, self.comments, self.likes]
            .iter()
            .map(|v| v.unwrap_or(0))
            .sum()
    }
}

/// Flags that change how an item is handled downstream (seed (七.3)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocFlags {
    /// Notified by the cyberspace office (网信部门通报): needs a tracked reply.
    #[serde(default)]
    pub notified_by_cyberspace_office: bool,
    /// An emergency reported by this unit before it spreads online.
    #[serde(default)]
    pub reported_by_unit: Option<String>,
    /// Entered through the manual intake API.
    #[serde(default)]
    pub manual: bool,
}

/// One crawled (or manually entered) item, as ingest publishes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawDocument {
    /// Stable id derived from the canonical URL (or source + guid); equal ids are the same item.
    pub doc_id: String,
    pub source_id: String,
    #[serde(default)]
    pub source_kind: SourceKind,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub title: String,
    /// Plain text (never HTML): extracted article body or post text.
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    /// When yuqing first saw the item: the response clock starts here (七.4).
    pub fetched_at: DateTime<Utc>,
    #[serde(default)]
    pub author: Option<String>,
    /// The outlet or account name (来源).
    #[serde(default)]
    pub site_name: Option<String>,
    /// The encoding the page was decoded from, for diagnosis.
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub engagement: Engagement,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Source weight for heat (1.0 = ordinary).
    #[serde(default = "one")]
    pub source_weight: f32,
    #[serde(default)]
    pub flags: DocFlags,
    /// Content fingerprint (64-bit SimHash) for near-duplicate detection.
    #[serde(default)]
    pub fingerprint: Option<u64>,
    /// Set when this item is a near-duplicate (repost, syndicated copy) of an earlier one.
    #[serde(default)]
    pub near_duplicate_of: Option<String>,
}

fn one() -> f32 {
    1.0
}

// ---------------------------------------------------------------------------------------------
// analyze → respond, dashboards
// ---------------------------------------------------------------------------------------------

/// The six monitoring priorities of seed (七.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// 涉及市委、市政府重要决策部署、政府常务会议议定事项
    Decision,
    /// 涉及公众切身利益且可能产生较大影响的媒体报道
    PublicInterest,
    /// 引发媒体和公众关切、可能影响政府形象和公信力
    Credibility,
    /// 涉及重大突发事件处置和自然灾害应对
    Emergency,
    /// 严重冲击社会道德底线的民生舆情
    Moral,
    /// 严重危害社会秩序和国家利益的不实信息
    FalseInfo,
}

impl Priority {
    pub const ALL: [Priority; 6] = [
        Priority::Decision,
        Priority::PublicInterest,
        Priority::Credibility,
        Priority::Emergency,
        Priority::Moral,
        Priority::FalseInfo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Decision => "decision",
            Priority::PublicInterest => "public_interest",
            Priority::Credibility => "credibility",
            Priority::Emergency => "emergency",
            Priority::Moral => "moral",
            Priority::FalseInfo => "false_info",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Priority::Decision => "重要决策部署",
            Priority::PublicInterest => "公众切身利益",
            Priority::Credibility => "政府形象公信力",
            Priority::Emergency => "突发事件与自然灾害",
            Priority::Moral => "道德底线民生",
            Priority::FalseInfo => "不实信息",
        }
    }
}

/// A priority with the evidence that matched (scheme name and matched words).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorityMatch {
    pub priority: Priority,
    #[serde(default)]
    pub scheme: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub score: f32,
}

/// Severity grades of the national emergency/accident classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// 一般
    General,
    /// 较大
    Large,
    /// 重大
    Major,
    /// 特别重大
    ExtremelyMajor,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::General => "general",
            Severity::Large => "large",
            Severity::Major => "major",
            Severity::ExtremelyMajor => "extremely_major",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::General => "一般",
            Severity::Large => "较大",
            Severity::Major => "重大",
            Severity::ExtremelyMajor => "特别重大",
        }
    }

    /// 特别重大/重大 put a case on the 5 h / 24 h tier (七.4).
    pub fn is_major_or_above(self) -> bool {
        matches!(self, Severity::Major | Severity::ExtremelyMajor)
    }
}

/// A severity proposed from the text; staff confirm it (研判).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeverityProposal {
    #[serde(default)]
    pub level: Option<Severity>,
    #[serde(default)]
    pub deaths: Option<u32>,
    #[serde(default)]
    pub injured: Option<u32>,
    #[serde(default)]
    pub missing: Option<u32>,
    /// Direct economic loss in units of 10,000 CNY (万元).
    #[serde(default)]
    pub loss_wan_yuan: Option<f64>,
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Always true from the analyzer: a proposal until staff confirm it.
    #[serde(default = "yes")]
    pub proposed: bool,
}

fn yes() -> bool {
    true
}

/// Where an item happens, relative to the city.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Jurisdiction {
    /// One locality of the city: a district / county-level city / county (and maybe a township).
    Local {
        /// The district, county-level city or county, e.g. 南明区.
        county: String,
        #[serde(default)]
        township: Option<String>,
    },
    /// Several localities of the city, or the city as a whole.
    City {
        #[serde(default)]
        counties: Vec<String>,
    },
    /// Somewhere else in China (or abroad).
    Elsewhere {
        #[serde(default)]
        place: Option<String>,
    },
    /// Also what a scope added by a newer analyzer reads as: the item goes to the coordination
    /// desk (七.1 "unclear") instead of being dead-lettered.
    #[default]
    #[serde(other)]
    Unknown,
}

/// One place mention found in the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceMention {
    pub text: String,
    /// Resolved full name, e.g. 贵州省贵阳市南明区.
    #[serde(default)]
    pub resolved: Option<String>,
    /// Administrative code where known.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub in_city: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    Positive,
    #[default]
    Neutral,
    Negative,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// Negative-tone score in [0, 1]: 1 is most negative.
    pub negative_score: f32,
}

/// One item after analysis. Keyed on the bus by `event_id` so one event's items stay in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyzedDocument {
    pub doc_id: String,
    pub source_id: String,
    #[serde(default)]
    pub source_kind: SourceKind,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub title: String,
    /// A plain-text excerpt for display (never HTML).
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    /// First detection: the response clock starts here.
    pub detected_at: DateTime<Utc>,
    #[serde(default)]
    pub site_name: Option<String>,
    #[serde(default)]
    pub priorities: Vec<PriorityMatch>,
    /// Domain (领域) such as 食品药品, 教育, 交通.
    #[serde(default)]
    pub domain: Option<String>,
    /// City department in charge of the domain, e.g. 市食品药品监管局.
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub jurisdiction: Jurisdiction,
    #[serde(default)]
    pub places: Vec<PlaceMention>,
    #[serde(default)]
    pub sentiment: Sentiment,
    #[serde(default)]
    pub rumor_score: f32,
    #[serde(default)]
    pub is_rumor: bool,
    #[serde(default)]
    pub severity: SeverityProposal,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub event_id: String,
    #[serde(default)]
    pub engagement: Engagement,
    #[serde(default)]
    pub source_weight: f32,
    #[serde(default)]
    pub flags: DocFlags,
    #[serde(default)]
    pub near_duplicate_of: Option<String>,
    /// Which model made this analysis and how sure it is per field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<AnalysisModel>,
}

/// The current state of one event (舆情事件), re-published whenever it changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventUpdate {
    pub event_id: String,
    pub title: String,
    /// Detection time of the event's first item.
    pub first_detected_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub doc_count: u64,
    #[serde(default)]
    pub source_count: u64,
    /// Heat from volume, growth, source weight and engagement; comparable across events.
    pub heat: f64,
    /// Volume is spiking against the event's and the sources' baseline.
    #[serde(default)]
    pub spiking: bool,
    #[serde(default)]
    pub priorities: Vec<Priority>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub jurisdiction: Jurisdiction,
    #[serde(default)]
    pub severity: SeverityProposal,
    #[serde(default)]
    pub negative_score: f32,
    #[serde(default)]
    pub rumor_score: f32,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub flags: DocFlags,
    /// The most recent item ids (bounded), newest last.
    #[serde(default)]
    pub recent_doc_ids: Vec<String>,
    /// Monotonic per event: consumers drop updates older than what they hold.
    #[serde(default)]
    pub revision: u64,
}

// ---------------------------------------------------------------------------------------------
// respond: cases
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    New,
    Assigned,
    Acknowledged,
    Responding,
    Responded,
    Closed,
    Disputed,
    Reassigned,
    Reopened,
    /// A state added by a newer respond: a reader still shows the case (as open) instead of
    /// dead-lettering its events. Respond itself never produces it.
    #[serde(other)]
    Unknown,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::New => "new",
            CaseState::Assigned => "assigned",
            CaseState::Acknowledged => "acknowledged",
            CaseState::Responding => "responding",
            CaseState::Responded => "responded",
            CaseState::Closed => "closed",
            CaseState::Disputed => "disputed",
            CaseState::Reassigned => "reassigned",
            CaseState::Reopened => "reopened",
            CaseState::Unknown => "unknown",
        }
    }

    pub fn is_open(self) -> bool {
        !matches!(self, CaseState::Closed)
    }

    /// The state's name on the screens and in messages.
    pub fn label_zh(self) -> &'static str {
        match self {
            CaseState::New => "新建",
            CaseState::Assigned => "已交办",
            CaseState::Acknowledged => "已接收",
            CaseState::Responding => "回应中",
            CaseState::Responded => "已回应",
            CaseState::Closed => "已办结",
            CaseState::Disputed => "有异议",
            CaseState::Reassigned => "已改派",
            CaseState::Reopened => "重新打开",
            CaseState::Unknown => "未知状态",
        }
    }
}

/// The response-time tier of seed (七.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 特别重大/重大 emergencies: authoritative information ≤ 5 h, press conference ≤ 24 h.
    MajorEmergency,
    /// Everything else: a response ≤ 48 h.
    Standard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// 发布权威信息
    AuthoritativeInfo,
    /// 举行新闻发布会
    PressConference,
    /// 予以回应
    Response,
    /// 持续发布权威信息 (one per cadence period while open)
    ContinuedRelease,
    /// 对网信部门通报的政务舆情及时回复: due `cyberspace_reply_hours` after the notification.
    CyberspaceReply,
    /// A kind added by a newer respond: a reader still shows the deadline (and its case)
    /// instead of dead-lettering the case event. Respond itself never produces it.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub due_at: DateTime<Utc>,
    #[serde(default)]
    pub met_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub breached: bool,
}

/// A unit of the registry: a city department, a district/county government, a desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    pub id: String,
    pub name: String,
}

/// respond → dashboards: the whole unit registry (respond owns it, in its config), so that
/// every unit a person can pick is one respond accepts, shown by its name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitRegistry {
    /// In registry order (desks, city departments, districts and counties).
    pub units: Vec<RegistryUnit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryUnit {
    pub id: String,
    pub name: String,
    /// `desk`, `city_department`, `county`, or a kind a newer respond added.
    #[serde(default)]
    pub kind: String,
    /// Other spellings respond accepts for the unit.
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl RegistryUnit {
    pub fn to_ref(&self) -> UnitRef {
        UnitRef {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// The seed's (七.3) kinds of disposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// 建设性意见建议 → publish adoption
    ConstructiveSuggestion,
    /// 实际困难 → publish the solution
    PracticalDifficulty,
    /// 重大问题 → publish the investigation
    MajorProblem,
    /// 模糊认识 → authoritative clarification
    UnclearUnderstanding,
    /// 错误看法 → guidance and correction
    WrongView,
    /// 虚假不实信息 → rebuttal, and a referral to public security / network regulators
    FalseInformation,
}

/// A case as the response tracker holds it; every case event carries the full snapshot so
/// read models never need to replay history to show the current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub case_id: String,
    #[serde(default)]
    pub event_ids: Vec<String>,
    pub title: String,
    pub state: CaseState,
    pub owner: UnitRef,
    /// Why this owner (七.1), in words a desk officer can check.
    pub owner_reason: String,
    pub tier: Tier,
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Whether staff confirmed the severity (otherwise it is the analyzer's proposal).
    #[serde(default)]
    pub severity_confirmed: bool,
    #[serde(default)]
    pub priorities: Vec<Priority>,
    /// Whether staff set the priorities (研判, `set_priorities`); the analyzer's later
    /// updates then no longer add to them.
    #[serde(default)]
    pub priorities_confirmed: bool,
    #[serde(default)]
    pub disposition: Option<Disposition>,
    pub detected_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deadlines: Vec<Deadline>,
    #[serde(default)]
    pub flags: DocFlags,
    /// Number of audit records; the last record's hash seals the chain.
    #[serde(default)]
    pub audit_len: u64,
    #[serde(default)]
    pub audit_head: String,
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `system`, or a user name.
    pub name: String,
    #[serde(default)]
    pub unit_id: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            name: "system".into(),
            unit_id: None,
        }
    }
}

/// A response action a unit records (七.3, 七.4).
///
/// No `Unknown` fallback, on purpose: it travels only in commands, and a response the tracker
/// cannot classify must not be recorded as some other kind (it would meet or miss the wrong
/// deadline). An older tracker dead-letters such a command with serde's reason
/// (`unknown variant ...`). Priority, Severity, Tier and Disposition are closed sets fixed by
/// the seed's text and stay strict for the same reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseKind {
    AuthoritativeRelease,
    PressConference,
    Reply,
    Referral,
    ContinuedRelease,
}

/// Commands to the response tracker (from dashboards or other tools).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum CaseCommand {
    Open {
        event_id: Option<String>,
        title: String,
        #[serde(default)]
        severity: Option<Severity>,
        #[serde(default)]
        owner_unit_id: Option<String>,
        #[serde(default)]
        detected_at: Option<DateTime<Utc>>,
        /// Open it as notified by the cyberspace office (网信部门通报), reply tracked. When the
        /// event already has a case, that case is marked instead.
        #[serde(default)]
        notified_by_cyberspace_office: bool,
    },
    Acknowledge {
        case_id: String,
    },
    RecordResponse {
        case_id: String,
        kind: ResponseKind,
        at: DateTime<Utc>,
        #[serde(default)]
        evidence_url: Option<String>,
        #[serde(default)]
        text: String,
    },
    Dispute {
        case_id: String,
        reason: String,
    },
    Reassign {
        case_id: String,
        owner_unit_id: String,
        reason: String,
    },
    ChangeSeverity {
        case_id: String,
        severity: Severity,
        reason: String,
    },
    SetDisposition {
        case_id: String,
        disposition: Disposition,
    },
    Close {
        case_id: String,
        reason: String,
    },
    Reopen {
        case_id: String,
        reason: String,
    },
    Merge {
        case_id: String,
        into_case_id: String,
    },
    /// 研判 of the monitoring priorities (七.2): staff confirm or override the machine's.
    /// The case keeps them (`priorities_confirmed`) against later analyzer updates.
    SetPriorities {
        case_id: String,
        priorities: Vec<Priority>,
        reason: String,
    },
    /// The case was notified by the cyberspace office (网信部门通报): its reply is tracked
    /// as a `cyberspace_reply` deadline from `notified_at` (default: when respond handles it).
    MarkNotified {
        case_id: String,
        #[serde(default)]
        notified_at: Option<DateTime<Utc>>,
        #[serde(default)]
        note: String,
    },
}

impl CaseCommand {
    /// The case a command addresses (`open` addresses none yet).
    pub fn case_id(&self) -> Option<&str> {
        match self {
            CaseCommand::Open { .. } => None,
            CaseCommand::Acknowledge { case_id }
            | CaseCommand::RecordResponse { case_id, .. }
            | CaseCommand::Dispute { case_id, .. }
            | CaseCommand::Reassign { case_id, .. }
            | CaseCommand::ChangeSeverity { case_id, .. }
            | CaseCommand::SetDisposition { case_id, .. }
            | CaseCommand::Close { case_id, .. }
            | CaseCommand::Reopen { case_id, .. }
            | CaseCommand::Merge { case_id, .. }
            | CaseCommand::SetPriorities { case_id, .. }
            | CaseCommand::MarkNotified { case_id, .. } => Some(case_id),
        }
    }
}

/// A command with who sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseCommandRequest {
    pub actor: Actor,
    pub command: CaseCommand,
}

/// respond → dashboards: what became of one case command, so that the person who sent it sees
/// a rejection in words instead of a `202` that silently led nowhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The command's message id (what the dashboards answered `202` with).
    pub command_id: String,
    /// The case it concerned (for an accepted open, the case it opened).
    #[serde(default)]
    pub case_id: Option<String>,
    pub actor: Actor,
    /// `open`, `acknowledge`, ... ([`crate::commands::CaseAction`]).
    pub action: String,
    pub accepted: bool,
    /// Why it was rejected, machine-readable: `illegal_transition`, `unknown_unit`, ...
    #[serde(default)]
    pub code: Option<String>,
    /// Why it was rejected, for the person who sent it (Chinese).
    #[serde(default)]
    pub message: String,
}

/// What happened to a case, with the case as it now stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub case_id: String,
    /// Position in the case's audit trail (1-based).
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// Machine-readable kind: `opened`, `assigned`, `acknowledged`, `reminder`, `breached`,
    /// `escalated`, `severity_changed`, ...
    pub kind: String,
    /// Human-readable detail.
    #[serde(default)]
    pub detail: String,
    pub case: Case,
}

// ---------------------------------------------------------------------------------------------
// any stage → respond: notifications to people
// ---------------------------------------------------------------------------------------------

/// A message for people that is not about one case (e.g. the daily report is ready). Respond
/// delivers it through its outbox and channels, like its own case notices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationRequest {
    /// Machine-readable kind, e.g. `daily_report`.
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub text: String,
    /// Where to read more (http/https), e.g. the report's page.
    #[serde(default)]
    pub link: Option<String>,
    /// Unit ids, `leaders:<unit id>`, or `*` (every channel that serves everyone); the channels
    /// serving any of them deliver it. Empty means `*`.
    #[serde(default)]
    pub recipients: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// ingest → dashboards: source health
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceHealth {
    pub source_id: String,
    #[serde(default)]
    pub url: String,
    /// The outlet's name when the source's config gives one (people never read source ids).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_success_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub items_published: u64,
}

/// A message that could not be processed, with the reason; nothing is silently dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub topic: String,
    #[serde(default)]
    pub partition: i32,
    #[serde(default)]
    pub offset: i64,
    pub consumer_group: String,
    pub reason: String,
    /// The original payload, lossily decoded as UTF-8.
    pub payload: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_tolerated() {
        let json = r#"{"schema_version":1,"message_id":"m1","produced_at":"2026-01-01T00:00:00Z",
            "future_field":{"x":1},
            "payload":{"doc_id":"d","source_id":"s","fetched_at":"2026-01-01T00:00:00Z","new":"x"}}"#;
        let env = Envelope::<RawDocument>::decode(json.as_bytes()).unwrap();
        assert_eq!(env.payload.doc_id, "d");
        assert_eq!(env.payload.source_weight, 1.0);
    }

    #[test]
    fn newer_major_version_is_rejected_with_reason() {
        let json = r#"{"schema_version":99,"message_id":"m1","produced_at":"2026-01-01T00:00:00Z","payload":{}}"#;
        let err = Envelope::<serde_json::Value>::decode(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("unsupported schema version 99"));
    }

    #[test]
    fn missing_required_field_is_a_decode_error() {
        let json = r#"{"schema_version":1,"message_id":"m1","produced_at":"2026-01-01T00:00:00Z","payload":{"doc_id":"d"}}"#;
        let err = Envelope::<RawDocument>::decode(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("source_id"), "{err}");
    }

    fn at() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn case_event(kind: DeadlineKind, state: CaseState) -> CaseEvent {
        CaseEvent {
            case_id: "c1".into(),
            seq: 3,
            at: at(),
            actor: Actor::system(),
            kind: "cyberspace_notified".into(),
            detail: String::new(),
            case: Case {
                case_id: "c1".into(),
                event_ids: vec!["e1".into()],
                title: "t".into(),
                state,
                owner: UnitRef {
                    id: "u".into(),
                    name: "单位".into(),
                },
                owner_reason: "r".into(),
                tier: Tier::Standard,
                severity: None,
                severity_confirmed: false,
                priorities: vec![Priority::Moral],
                priorities_confirmed: true,
                disposition: None,
                detected_at: at(),
                opened_at: at(),
                updated_at: at(),
                deadlines: vec![Deadline {
                    kind,
                    due_at: at(),
                    met_at: None,
                    breached: false,
                }],
                flags: DocFlags::default(),
                audit_len: 3,
                audit_head: "h".into(),
            },
        }
    }

    /// The dashboards' view of a deadline as a build before `cyberspace_reply` had it: the
    /// fallback variant, and nothing else, lets it read what the new respond writes.
    mod old_reader {
        use serde::Deserialize;

        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum DeadlineKind {
            AuthoritativeInfo,
            PressConference,
            Response,
            ContinuedRelease,
            #[serde(other)]
            Unknown,
        }

        #[derive(Debug, Deserialize)]
        pub struct Deadline {
            pub kind: DeadlineKind,
        }

        #[derive(Debug, Deserialize)]
        pub struct Case {
            pub deadlines: Vec<Deadline>,
        }

        #[derive(Debug, Deserialize)]
        pub struct CaseEvent {
            pub case: Case,
        }
    }

    #[test]
    fn old_reader_decodes_the_new_cyberspace_reply_deadline() {
        let env = Envelope::new(
            "case:c1:3",
            at(),
            case_event(DeadlineKind::CyberspaceReply, CaseState::Assigned),
        );
        let old = Envelope::<old_reader::CaseEvent>::decode(&env.encode()).unwrap();
        assert_eq!(
            old.payload.case.deadlines[0].kind,
            old_reader::DeadlineKind::Unknown
        );
    }

    /// Re-encode `value` with one JSON pointer replaced, as a newer producer would write it.
    fn with(value: &impl Serialize, pointer: &str, new: serde_json::Value) -> Vec<u8> {
        let mut v = serde_json::to_value(value).unwrap();
        *v.pointer_mut(pointer).unwrap() = new;
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn this_reader_decodes_variants_added_later() {
        let env = Envelope::new(
            "case:c1:3",
            at(),
            case_event(DeadlineKind::Response, CaseState::Assigned),
        );
        let bytes = with(
            &env,
            "/payload/case/deadlines/0/kind",
            "press_statement".into(),
        );
        let back = Envelope::<CaseEvent>::decode(&bytes).unwrap();
        assert_eq!(back.payload.case.deadlines[0].kind, DeadlineKind::Unknown);

        let bytes = with(&env, "/payload/case/state", "suspended".into());
        let back = Envelope::<CaseEvent>::decode(&bytes).unwrap();
        assert_eq!(back.payload.case.state, CaseState::Unknown);
        assert!(
            back.payload.case.state.is_open(),
            "shown among the open cases"
        );

        let raw = Envelope::new(
            "d",
            at(),
            RawDocument {
                doc_id: "d".into(),
                source_id: "s".into(),
                fetched_at: at(),
                ..RawDocument::default()
            },
        );
        let back =
            Envelope::<RawDocument>::decode(&with(&raw, "/payload/source_kind", "video".into()))
                .unwrap();
        assert_eq!(back.payload.source_kind, SourceKind::Unknown);

        let doc = Envelope::new(
            "a",
            at(),
            AnalyzedDocument {
                doc_id: "d".into(),
                event_id: "e".into(),
                jurisdiction: Jurisdiction::Local {
                    county: "南明区".into(),
                    township: None,
                },
                ..AnalyzedDocument::default()
            },
        );
        let bytes = with(
            &doc,
            "/payload/jurisdiction",
            serde_json::json!({"scope": "cross_city", "cities": ["遵义市"]}),
        );
        let back = Envelope::<AnalyzedDocument>::decode(&bytes).unwrap();
        assert_eq!(back.payload.jurisdiction, Jurisdiction::Unknown);
    }

    #[test]
    fn unknown_command_or_response_kind_is_a_decode_error_that_names_it() {
        let json = r#"{"schema_version":1,"message_id":"m","produced_at":"2026-01-01T00:00:00Z",
            "payload":{"actor":{"name":"desk1"},"command":{"command":"escalate_to_mayor","case_id":"c1"}}}"#;
        let err = Envelope::<CaseCommandRequest>::decode(json.as_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown variant `escalate_to_mayor`"),
            "{err}"
        );
        let json = r#"{"schema_version":1,"message_id":"m","produced_at":"2026-01-01T00:00:00Z",
            "payload":{"actor":{"name":"u"},"command":{"command":"record_response","case_id":"c1",
            "kind":"livestream","at":"2026-01-01T00:00:00Z","text":"x"}}}"#;
        let err = Envelope::<CaseCommandRequest>::decode(json.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `livestream`"),
            "{err}"
        );
    }

    #[test]
    fn new_commands_round_trip_with_their_wire_names() {
        let commands = [
            (
                CaseCommand::SetPriorities {
                    case_id: "c1".into(),
                    priorities: vec![Priority::Emergency, Priority::PublicInterest],
                    reason: "研判确认".into(),
                },
                "set_priorities",
            ),
            (
                CaseCommand::MarkNotified {
                    case_id: "c1".into(),
                    notified_at: Some(at()),
                    note: "网信办电话通报".into(),
                },
                "mark_notified",
            ),
        ];
        for (command, name) in commands {
            assert_eq!(command.case_id(), Some("c1"));
            let env = Envelope::new(
                "m",
                at(),
                CaseCommandRequest {
                    actor: Actor::system(),
                    command,
                },
            );
            let v: serde_json::Value = serde_json::from_slice(&env.encode()).unwrap();
            assert_eq!(v["payload"]["command"]["command"], name);
            assert_eq!(
                Envelope::<CaseCommandRequest>::decode(&env.encode()).unwrap(),
                env
            );
        }
        // The optional parts of mark_notified may be left out.
        let json = r#"{"schema_version":1,"message_id":"m","produced_at":"2026-01-01T00:00:00Z",
            "payload":{"actor":{"name":"d"},"command":{"command":"mark_notified","case_id":"c1"}}}"#;
        let back = Envelope::<CaseCommandRequest>::decode(json.as_bytes()).unwrap();
        assert_eq!(
            back.payload.command,
            CaseCommand::MarkNotified {
                case_id: "c1".into(),
                notified_at: None,
                note: String::new()
            }
        );
    }

    #[test]
    fn notification_request_needs_only_kind_and_title() {
        let json = r#"{"schema_version":1,"message_id":"m","produced_at":"2026-01-01T00:00:00Z",
            "payload":{"kind":"daily_report","title":"舆情日报","channel_hint":"x"}}"#;
        let back = Envelope::<NotificationRequest>::decode(json.as_bytes()).unwrap();
        assert_eq!(back.payload.kind, "daily_report");
        assert!(back.payload.recipients.is_empty() && back.payload.link.is_none());
    }

    #[test]
    fn a_case_written_before_priorities_confirmed_reads_as_unconfirmed() {
        let env = Envelope::new(
            "case:c1:3",
            at(),
            case_event(DeadlineKind::Response, CaseState::Assigned),
        );
        let mut v = serde_json::to_value(&env).unwrap();
        v["payload"]["case"]
            .as_object_mut()
            .unwrap()
            .remove("priorities_confirmed");
        let back = Envelope::<CaseEvent>::decode(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(!back.payload.case.priorities_confirmed);
    }

    #[test]
    fn round_trip() {
        let at = "2026-01-01T00:00:00Z".parse().unwrap();
        let env = Envelope::new(
            "x",
            at,
            CaseCommandRequest {
                actor: Actor::system(),
                command: CaseCommand::Acknowledge {
                    case_id: "c1".into(),
                },
            },
        );
        let back = Envelope::<CaseCommandRequest>::decode(&env.encode()).unwrap();
        assert_eq!(back, env);
    }
}
