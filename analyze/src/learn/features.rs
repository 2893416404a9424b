//! What the learned layer reads from an item: the jieba tokens and character bigrams of its
//! first few hundred characters (as 64-bit hashes, so no string is kept), and the lexicon's own
//! answers and scores ([`LexiconView`]).

use crate::segment::Segmented;

/// Only the start of a text is read: the title and the lead carry the topic, and the cost per
/// item stays bounded (about 256 Chinese characters).
pub const LEARN_BYTES: usize = 768;

const TOKEN_SALT: u64 = 0x51_7c_c1_b7_27_22_0a_95;
const BIGRAM_SALT: u64 = 0x9e_37_79_b9_7f_4a_7c_15;

fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer: a cheap bijection that spreads every input bit.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The feature hashes of a normalized text, in text order: its tokens (by their dictionary
/// key, already computed by segmentation) and its character bigrams, within the first
/// [`LEARN_BYTES`]. A feature said twice counts twice (no sort per item).
pub fn text_hashes(seg: &Segmented) -> Vec<u64> {
    let text = seg.text();
    let mut limit = text.len().min(LEARN_BYTES);
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let head = &text[..limit];
    let mut out = Vec::with_capacity(seg.len() + head.len() / 2);
    for i in 0..seg.len() {
        if seg.start(i) >= limit {
            break;
        }
        // Punctuation and spaces say little about a topic or a mood that the bigrams next to
        // them do not.
        if !seg.token(i).chars().any(word_char) {
            continue;
        }
        out.push(mix(seg.key(i) ^ TOKEN_SALT));
    }
    let mut prev: Option<char> = None;
    for c in head.chars() {
        if !word_char(c) {
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            out.push(mix(((p as u64) << 32 | c as u64) ^ BIGRAM_SALT));
        }
        prev = Some(c);
    }
    out
}

/// Letters, digits and CJK ideographs (the common cases first).
fn word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        ('\u{4E00}'..='\u{9FFF}').contains(&c) || c.is_alphanumeric()
    }
}

/// The lexicon's answers and scores for one item: the learned layer's prior and its strongest
/// features. Filled by the analyzer's lexicon pass (no model involved).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LexiconView {
    /// The department the lexicon routes the item to (`None`: no city department).
    pub department: Option<String>,
    pub emergency: bool,
    pub emergency_probability: f32,
    /// A monitoring scheme (not the classifier) matched the emergency priority.
    pub emergency_scheme: bool,
    /// Counted deaths, injured or missing.
    pub casualties: bool,
    pub negative: bool,
    pub negative_score: f32,
    pub has_sentiment: bool,
    pub rumor: bool,
    pub rumor_score: f32,
    pub has_claim: bool,
    pub refutes: bool,
    pub false_info: bool,
    /// 0 (unknown or social) … 1 (an authoritative outlet).
    pub credibility: f32,
    pub social: bool,
    /// The text carries an official-announcement scheme match (decision, policy).
    pub official: bool,
}

/// A probability as a bounded log-odds feature.
pub fn logit(p: f32) -> f32 {
    let p = p.clamp(0.002, 0.998);
    ((p / (1.0 - p)).ln() / 4.0).clamp(-1.5, 1.5)
}

fn sign(b: bool) -> f32 {
    if b { 1.0 } else { -1.0 }
}

fn flag(b: bool) -> f32 {
    if b { 1.0 } else { 0.0 }
}

/// Rows of the dense part of a binary head: row 0 is the bias, row 1 the lexicon's decision
/// (±1), the prior's anchor.
pub const BINARY_DENSE: usize = 8;
/// The row of the lexicon's decision in a binary head.
pub const DECISION_ROW: u32 = 1;

/// The dense features of a binary field: bias, the lexicon's decision, its score and the
/// structural signs the lexicon computed, and the source's kind and credibility (an official
/// outlet's announcement is not a rumour however it is worded).
pub fn binary_dense(field: common::wire::CorrectionField, v: &LexiconView) -> [f32; BINARY_DENSE] {
    use common::wire::CorrectionField as F;
    let (decision, score, a, b) = match field {
        F::Emergency => (
            v.emergency,
            v.emergency_probability,
            v.emergency_scheme,
            v.casualties,
        ),
        F::Sentiment => (v.negative, v.negative_score, v.has_sentiment, v.casualties),
        F::Rumor => (v.rumor, v.rumor_score, v.has_claim, v.refutes),
        F::FalseInfo => (v.false_info, v.rumor_score, v.has_claim, v.refutes),
        F::Department | F::Unknown => (false, 0.5, false, false),
    };
    [
        1.0,
        sign(decision),
        logit(score),
        flag(a),
        flag(b),
        v.credibility,
        flag(v.social),
        flag(v.official),
    ]
}
