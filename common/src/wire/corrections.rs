//! Corrections (研判): what the desk — or an imported history of 研判 records — says an item
//! really is, and what the analyzer's answer for a field was made of.
//!
//! A correction travels on [`crate::topics::CORRECTIONS`], keyed by [`Correction::key`] (one
//! item's field). A later judgement of the same field, or its withdrawal, carries the same key:
//! it lands in the same partition after the first, so every reader sees the same latest state,
//! and the compacted topic keeps exactly that state forever.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SourceKind;

/// The field a correction is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionField {
    /// The city department that owns the item: a unit's registry name (or id); `""` means no
    /// city department.
    Department,
    /// `"positive"` or `"negative"`.
    Sentiment,
    /// `true` (a rumour) or `false`.
    Rumor,
    /// `true` (an emergency, 突发事件) or `false`.
    Emergency,
    /// `true` (false-information work: a rumour or its refutation) or `false`.
    FalseInfo,
    /// A field added by a newer producer: kept on the topic, ignored by this build.
    #[serde(other)]
    Unknown,
}

impl CorrectionField {
    pub const KNOWN: [CorrectionField; 5] = [
        CorrectionField::Department,
        CorrectionField::Sentiment,
        CorrectionField::Rumor,
        CorrectionField::Emergency,
        CorrectionField::FalseInfo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionField::Department => "department",
            CorrectionField::Sentiment => "sentiment",
            CorrectionField::Rumor => "rumor",
            CorrectionField::Emergency => "emergency",
            CorrectionField::FalseInfo => "false_info",
            CorrectionField::Unknown => "unknown",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            CorrectionField::Department => "责任部门",
            CorrectionField::Sentiment => "情感倾向",
            CorrectionField::Rumor => "谣言",
            CorrectionField::Emergency => "突发事件",
            CorrectionField::FalseInfo => "虚假信息",
            CorrectionField::Unknown => "未知",
        }
    }

    /// The field named `s` (`rumour` is accepted for `rumor`); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "department" => CorrectionField::Department,
            "sentiment" => CorrectionField::Sentiment,
            "rumor" | "rumour" => CorrectionField::Rumor,
            "emergency" => CorrectionField::Emergency,
            "false_info" => CorrectionField::FalseInfo,
            _ => return None,
        })
    }
}

/// One 研判: the item's text as it was judged, and the value the person gave the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correction {
    /// The item judged: a document id, or an imported record's id.
    pub item_id: String,
    pub field: CorrectionField,
    /// department: a string (`""` = no city department); sentiment: `"positive"` or
    /// `"negative"`; rumor, emergency, false_info: a boolean. Ignored when `withdrawn`.
    #[serde(default)]
    pub value: serde_json::Value,
    /// The text judged (the body, or the post); the model learns from it, so a correction
    /// needs no access to the item it came from.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub title: Option<String>,
    /// The outlet or account, as the item named it (credibility is a feature).
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub source_kind: SourceKind,
    /// Who judged (an account name, or `import:<file>`).
    #[serde(default)]
    pub by: Option<String>,
    /// Where an imported record came from (its dataset or archive line), for the admin; not a
    /// feature.
    #[serde(default)]
    pub origin: Option<String>,
    pub at: DateTime<Utc>,
    /// This message takes the earlier judgement of the same item's field back.
    #[serde(default)]
    pub withdrawn: bool,
}

impl Correction {
    /// The bus key and identity of a correction: one item's field.
    pub fn key(&self) -> String {
        correction_key(&self.item_id, self.field)
    }
}

/// See [`Correction::key`].
pub fn correction_key(item_id: &str, field: CorrectionField) -> String {
    format!("{item_id}#{}", field.as_str())
}

/// Whether a field's answer came from the shipped lexicons alone or from the learned layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JudgementSource {
    #[default]
    Lexicon,
    Learned,
    #[serde(other)]
    Unknown,
}

/// How the analyzer reached one field's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldJudgement {
    /// The answer, in the correction's terms (department name, `"negative"`, `true` …).
    #[serde(default)]
    pub value: serde_json::Value,
    /// Probability that the answer is right. Calibrated on held-out corrections when
    /// `calibrated`; otherwise the lexicon's own score, or absent where it has none.
    #[serde(default)]
    pub confidence: Option<f32>,
    #[serde(default)]
    pub calibrated: bool,
    #[serde(default)]
    pub source: JudgementSource,
    /// The lexicon's share of the decision margin (1 = the lexicon alone decided).
    #[serde(default)]
    pub lexicon_share: f32,
}

/// Which model made an analysis, and how sure it was per field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalysisModel {
    /// `lexicon` with no corrections learned, else `learned-<digest>` of the corrections.
    pub version: String,
    /// Corrections the model learned from.
    #[serde(default)]
    pub corrections: u64,
    /// Per field name ([`CorrectionField::as_str`]).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldJudgement>,
}
