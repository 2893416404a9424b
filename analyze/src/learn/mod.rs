//! The learned layer on top of the lexicons (issue 11): what the desk's 研判 teach.
//!
//! Per field (department, sentiment, rumour, emergency, false information) a multinomial
//! logistic regression reads the item's jieba tokens and character bigrams and the lexicon's own
//! answer and scores ([`LexiconView`]). Its prior is the lexicon: the weights start where the
//! model answers exactly what the lexicon answers, and a penalty of fixed total weight pulls them
//! back there, so a field moves away from the lexicon only as far as its corrections justify,
//! and a field without corrections is not touched at all (the analysis is then the lexicon's,
//! bit for bit). Confidences are temperature-scaled on held-out folds of the corrections.
//!
//! Pure and deterministic: a [`Model`] is a function of the set of live corrections (sorted by
//! key), whatever order they arrived in; training 3 000 corrections takes well under a second
//! per field.

mod features;
pub mod import;
mod train;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use common::wire::{Correction, CorrectionField, SourceKind};

pub use features::{LexiconView, text_hashes};
pub use train::Hyper;

use crate::analyzer::{Analyzer, Input};
use features::{BINARY_DENSE, DECISION_ROW, binary_dense};
use train::Example;

/// Raise this when the features or the training change: models of different formats are
/// different models even when learned from the same corrections.
const MODEL_FORMAT: &str = "learn-2";
/// How strongly the prior holds the lexicon's answer (a margin in log-odds).
const PRIOR_MARGIN: f32 = 4.0;
/// A feature is learned only if at least this many corrected texts contain it: a word seen
/// once says more about that item than about the class.
const MIN_DOCUMENTS: u32 = 2;
/// At most this many classes per field (a department head over more is not built).
const MAX_CLASSES: usize = 64;
/// Columns of the fused text table: every head's text classes.
const MAX_TEXT_WIDTH: usize = MAX_CLASSES + 2 * 4;
/// Folds for calibration and the cross-validated accuracy.
const FOLDS: u64 = 5;
/// Fewer corrections of a field than this: no folds, confidences uncalibrated.
const MIN_CALIBRATION: usize = 20;

/// The live corrections: the latest message per key ([`Correction::key`]), withdrawn ones
/// removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorrectionSet {
    live: BTreeMap<String, Correction>,
}

impl CorrectionSet {
    /// Apply one message; whether the set changed.
    pub fn apply(&mut self, c: Correction) -> bool {
        let key = c.key();
        if c.withdrawn {
            return self.live.remove(&key).is_some();
        }
        if self.live.get(&key) == Some(&c) {
            return false;
        }
        self.live.insert(key, c);
        true
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = &Correction> + '_ {
        self.live.values()
    }

    /// What the model is made of, as a short digest: the same corrections give the same
    /// digest, whoever judged them and whenever.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(MODEL_FORMAT.as_bytes());
        for (key, c) in &self.live {
            for part in [
                key.as_str(),
                &c.value.to_string(),
                c.title.as_deref().unwrap_or(""),
                &c.text,
                c.source.as_deref().unwrap_or(""),
                if c.source_kind == SourceKind::Social {
                    "social"
                } else {
                    ""
                },
            ] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
        }
        hex::encode(&h.finalize()[..6])
    }
}

/// A correction's value as its field's class: a department name (`""` = none), or a flag
/// (sentiment: negative).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Department(String),
    Flag(bool),
}

fn target(c: &Correction) -> Option<Target> {
    use serde_json::Value;
    match (c.field, &c.value) {
        (CorrectionField::Department, Value::String(s)) => {
            Some(Target::Department(s.trim().to_string()))
        }
        (CorrectionField::Department, Value::Null) => Some(Target::Department(String::new())),
        (CorrectionField::Sentiment, Value::String(s)) => match s.as_str() {
            "negative" => Some(Target::Flag(true)),
            "positive" => Some(Target::Flag(false)),
            _ => None,
        },
        (
            CorrectionField::Rumor | CorrectionField::Emergency | CorrectionField::FalseInfo,
            Value::Bool(b),
        ) => Some(Target::Flag(*b)),
        (
            CorrectionField::Rumor | CorrectionField::Emergency | CorrectionField::FalseInfo,
            Value::String(s),
        ) => match s.as_str() {
            "true" => Some(Target::Flag(true)),
            "false" => Some(Target::Flag(false)),
            _ => None,
        },
        _ => None,
    }
}

/// Why a correction's value is not usable, in the desk's language (for `yuqing learn`).
pub fn check(c: &Correction) -> Result<(), String> {
    if c.withdrawn {
        return Ok(());
    }
    if c.field == CorrectionField::Unknown {
        return Err(
            "未知的研判字段（可用：department、sentiment、rumor、emergency、false_info）".into(),
        );
    }
    if c.text.trim().is_empty() && c.title.as_deref().unwrap_or("").trim().is_empty() {
        return Err("研判记录没有正文（text）".into());
    }
    if target(c).is_none() {
        return Err(match c.field {
            CorrectionField::Department => {
                "department 的值须是单位名称或编号（\"\" 表示无市级部门）".into()
            }
            CorrectionField::Sentiment => "sentiment 的值须是 \"positive\" 或 \"negative\"".into(),
            f => format!("{} 的值须是 true 或 false", f.as_str()),
        });
    }
    Ok(())
}

/// Corrections, held-out accuracy and calibration of one field's model (what the admin sees).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeadStats {
    pub field: String,
    pub corrections: usize,
    /// Corrections per class (department name, or `true`/`false`).
    pub per_class: BTreeMap<String, usize>,
    /// Accuracy of the learned answer on held-out folds of the corrections.
    pub cv_accuracy: Option<f64>,
    /// Accuracy of the lexicon's answer on the same corrections.
    pub lexicon_accuracy: f64,
    pub temperature: f32,
}

/// One field's model, in two stages. The text model reads tokens and bigrams alone; the
/// combiner weighs its scores against the lexicon's answer and scores. The combiner is fit on
/// the text model's *held-out* scores (stacking), so it trusts the text model as much as it
/// deserves on items it has not seen, not as much as it fits the items it learned from.
struct Head {
    field: CorrectionField,
    /// Department names (`""` = none) or, for flags, `["false", "true"]`.
    classes: Vec<String>,
    /// (1 + vocabulary) × classes, row-major; empty when there were too few corrections to
    /// learn from text (then only the lexicon's evidence counts).
    text_weights: Vec<f32>,
    /// Where this head's text scores sit in the model's fused text table (see
    /// [`Model::text_scores`]); `None` without a text model.
    text_offset: Option<usize>,
    /// The classes the text model tells apart: those some correction gave (it has nothing to
    /// learn about the others), as indices into `classes`. For flags both.
    text_classes: Vec<u32>,
    /// The combiner's lexicon rows (the rest are the text model's scores).
    lexicon_rows: usize,
    /// (lexicon rows + text rows) × classes.
    weights: Vec<f32>,
    temperature: f32,
    calibrated: bool,
    /// Per class: whether any correction named it or was about an item the lexicon gave it.
    /// The model knows nothing of a class no correction touched, so when the lexicon answers
    /// one (an incident's department, say, when only news was corrected), that answer stands.
    corrected: Vec<bool>,
    /// Corrected items the lexicon read as incident reports. An incident's owner follows its
    /// kind (a fire is the safety regulator's wherever it burns); a department model that
    /// learned from news alone has nothing to say about that.
    incidents: usize,
    stats: HeadStats,
}

/// A learned field's answer for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'m> {
    /// The class index: for flags 1 = true.
    pub class: usize,
    pub label: &'m str,
    /// Probability of the class (temperature-scaled).
    pub probability: f32,
    /// Probability of `true`, for flags.
    pub probability_true: f32,
    pub calibrated: bool,
    pub lexicon_share: f32,
}

/// The learned layer: one head per field that has corrections.
pub struct Model {
    version: Arc<str>,
    corrections: usize,
    rejected: usize,
    /// feature hash → vocabulary row (shared by the heads).
    vocab: FxHashMap<u64, u32>,
    /// Every head's text model in one table: per row (bias, then each vocabulary row) the
    /// scores of all heads side by side, so an item's features are read once for all fields.
    /// Stored as 16-bit fixed point with a scale per column: the table is read once per word
    /// of every item, and half the size stays in the CPU's cache (the precision lost, about
    /// 1/30 000 of a column's largest weight, changes no answer that matters).
    text_table: Vec<i16>,
    /// Per column: the weight one unit of `text_table` stands for.
    text_scale: Vec<f32>,
    /// The bias row in full precision.
    text_bias: Vec<f32>,
    /// Scores per row of `text_table`.
    text_width: usize,
    heads: Vec<Head>,
}

/// The text models' scores for one item, all heads side by side.
pub struct TextScores(Vec<f32>);

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("version", &self.version)
            .field("corrections", &self.corrections)
            .field("vocab", &self.vocab.len())
            .finish()
    }
}

/// What the lexicon pass gives the model for one corrected text.
struct Observed {
    key: String,
    field: CorrectionField,
    target: Target,
    view: LexiconView,
    hashes: Vec<u64>,
}

fn fold_of(key: &str) -> u64 {
    let d = Sha256::digest(key.as_bytes());
    u64::from(d[0]) % FOLDS
}

impl Model {
    /// Learn from `set` on top of `analyzer`'s lexicons.
    pub fn train(analyzer: &Analyzer, set: &CorrectionSet, hyper: &Hyper) -> Model {
        let mut rejected = 0;
        let mut observed = Vec::with_capacity(set.len());
        for c in set.iter() {
            let Some(t) = target(c).filter(|_| c.field != CorrectionField::Unknown) else {
                rejected += 1;
                continue;
            };
            let (view, hashes) = analyzer.observe(&Input {
                title: c.title.as_deref().unwrap_or(""),
                body: &c.text,
                source: c.source.as_deref().unwrap_or(""),
                social: c.source_kind == SourceKind::Social,
            });
            observed.push(Observed {
                key: c.key(),
                field: c.field,
                target: t,
                view,
                hashes,
            });
        }
        // Document frequency over every corrected text; the vocabulary in hash order.
        let mut df: FxHashMap<u64, u32> = FxHashMap::default();
        let mut distinct = Vec::new();
        for o in &observed {
            distinct.clone_from(&o.hashes);
            distinct.sort_unstable();
            distinct.dedup();
            for h in &distinct {
                *df.entry(*h).or_default() += 1;
            }
        }
        let mut kept: Vec<u64> = df
            .into_iter()
            .filter(|&(_, n)| n >= MIN_DOCUMENTS)
            .map(|(h, _)| h)
            .collect();
        kept.sort_unstable();
        let vocab: FxHashMap<u64, u32> = kept
            .iter()
            .enumerate()
            .map(|(i, h)| (*h, i as u32))
            .collect();
        let departments: BTreeSet<String> = analyzer
            .config()
            .departments
            .values()
            .cloned()
            .chain(std::iter::once(String::new()))
            .collect();
        let heads: Vec<Head> = CorrectionField::KNOWN
            .iter()
            .filter_map(|&field| {
                let items: Vec<&Observed> = observed.iter().filter(|o| o.field == field).collect();
                (!items.is_empty()).then(|| Head::train(field, &items, &vocab, &departments, hyper))
            })
            .filter(|h| {
                let fits = h.classes.len() <= MAX_CLASSES;
                if !fits {
                    tracing::warn!(
                        field = h.field.as_str(),
                        classes = h.classes.len(),
                        "too many classes to learn"
                    );
                }
                fits
            })
            .collect();
        let mut heads = heads;
        // Fuse the text models: one table, the heads' columns side by side.
        let mut text_width = 0;
        for h in heads.iter_mut().filter(|h| !h.text_weights.is_empty()) {
            h.text_offset = Some(text_width);
            text_width += h.text_classes.len();
        }
        let rows = 1 + vocab.len();
        let mut full = vec![0.0f32; rows * text_width];
        for h in heads.iter_mut() {
            let (Some(off), kt) = (h.text_offset, h.text_classes.len()) else {
                continue;
            };
            for r in 0..rows {
                full[r * text_width + off..r * text_width + off + kt]
                    .copy_from_slice(&h.text_weights[r * kt..(r + 1) * kt]);
            }
            h.text_weights = Vec::new();
        }
        let text_bias = full[..text_width].to_vec();
        let column_max: Vec<f32> = (0..text_width)
            .map(|c| {
                (1..rows)
                    .map(|r| full[r * text_width + c].abs())
                    .fold(0.0f32, f32::max)
            })
            .collect();
        let text_scale: Vec<f32> = column_max
            .iter()
            .map(|&max| {
                if max > 0.0 {
                    max / f32::from(i16::MAX)
                } else {
                    1.0
                }
            })
            .collect();
        let text_table: Vec<i16> = full
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let scale = text_scale[i % text_width.max(1)];
                (w / scale)
                    .round()
                    .clamp(-f32::from(i16::MAX), f32::from(i16::MAX)) as i16
            })
            .collect();
        Model {
            text_table,
            text_scale,
            text_bias,
            text_width,
            version: if heads.is_empty() {
                "lexicon".into()
            } else {
                format!("learned-{}", set.digest()).into()
            },
            corrections: observed.len(),
            rejected,
            vocab,
            heads,
        }
    }

    pub fn version(&self) -> &Arc<str> {
        &self.version
    }

    /// Corrections learned from (those with a usable value).
    pub fn corrections(&self) -> usize {
        self.corrections
    }

    /// Corrections whose value could not be read.
    pub fn rejected(&self) -> usize {
        self.rejected
    }

    pub fn stats(&self) -> Vec<HeadStats> {
        self.heads.iter().map(|h| h.stats.clone()).collect()
    }

    /// Features the model reads (words and bigrams seen in at least two corrected texts).
    pub fn vocabulary(&self) -> usize {
        self.vocab.len()
    }

    pub fn has(&self, field: CorrectionField) -> bool {
        self.heads.iter().any(|h| h.field == field)
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Every text model's scores for an item's feature hashes, in one pass over them.
    pub fn text_scores(&self, hashes: &[u64]) -> TextScores {
        let w = self.text_width;
        let mut z = self.text_bias.clone();
        if w == 0 {
            return TextScores(z);
        }
        let mut rows = 0usize;
        let mut sum = [0i32; MAX_TEXT_WIDTH];
        let sum = &mut sum[..w];
        for h in hashes {
            if let Some(&r) = self.vocab.get(h) {
                rows += 1;
                let at = (r as usize + 1) * w;
                for (s, x) in sum.iter_mut().zip(&self.text_table[at..at + w]) {
                    *s += i32::from(*x);
                }
            }
        }
        let v = text_value(rows);
        for ((z, s), scale) in z.iter_mut().zip(sum.iter()).zip(&self.text_scale) {
            *z += v * (*s as f32) * scale;
        }
        TextScores(z)
    }

    /// The learned answer for `field`, if it has a head and the lexicon's answer is a class
    /// that corrections touched (otherwise the model knows nothing better).
    pub fn judge(
        &self,
        field: CorrectionField,
        view: &LexiconView,
        scores: &TextScores,
    ) -> Option<Verdict<'_>> {
        let head = self.heads.iter().find(|h| h.field == field)?;
        let text = head
            .text_offset
            .map(|off| &scores.0[off..off + head.text_classes.len()]);
        head.judge(view, text)
    }
}

impl Head {
    fn is_flag(field: CorrectionField) -> bool {
        field != CorrectionField::Department
    }

    /// Rows of the combiner's text part: one score per text class, or for a flag the
    /// log-odds.
    fn text_rows(&self) -> usize {
        if Self::is_flag(self.field) {
            1
        } else {
            self.text_classes.len()
        }
    }

    fn train(
        field: CorrectionField,
        items: &[&Observed],
        vocab: &FxHashMap<u64, u32>,
        departments: &BTreeSet<String>,
        hyper: &Hyper,
    ) -> Head {
        let classes: Vec<String> = if Self::is_flag(field) {
            vec!["false".into(), "true".into()]
        } else {
            let mut all = departments.clone();
            for o in items {
                if let Target::Department(d) = &o.target {
                    all.insert(d.clone());
                }
            }
            all.into_iter().collect()
        };
        let k = classes.len();
        let lexicon_rows = if Self::is_flag(field) {
            BINARY_DENSE
        } else {
            2 + k
        };
        let mut head = Head {
            field,
            classes,
            text_weights: Vec::new(),
            text_offset: None,
            text_classes: Vec::new(),
            lexicon_rows,
            weights: Vec::new(),
            temperature: 1.0,
            calibrated: false,
            corrected: vec![false; k],
            incidents: items.iter().filter(|o| o.view.emergency).count(),
            stats: HeadStats {
                field: field.as_str().into(),
                corrections: items.len(),
                ..HeadStats::default()
            },
        };
        let labels: Vec<u32> = items
            .iter()
            .map(|o| match &o.target {
                Target::Flag(b) => u32::from(*b),
                Target::Department(d) => {
                    head.classes.iter().position(|c| c == d).unwrap_or(0) as u32
                }
            })
            .collect();
        let folds: Vec<u64> = items.iter().map(|o| fold_of(&o.key)).collect();
        for (o, &y) in items.iter().zip(&labels) {
            head.corrected[y as usize] = true;
            let lexicon = head.lexicon_class(&o.view);
            head.corrected[lexicon] = true;
            *head
                .stats
                .per_class
                .entry(head.classes[y as usize].clone())
                .or_default() += 1;
            if lexicon == y as usize {
                head.stats.lexicon_accuracy += 1.0;
            }
        }
        head.stats.lexicon_accuracy /= items.len().max(1) as f64;

        // Stage 1: the text model, and its held-out scores for every corrected item.
        head.text_classes = if Self::is_flag(field) {
            vec![0, 1]
        } else {
            let mut given: Vec<u32> = labels.clone();
            given.sort_unstable();
            given.dedup();
            given
        };
        let kt = head.text_classes.len();
        let text_label =
            |y: u32| head.text_classes.iter().position(|&c| c == y).unwrap_or(0) as u32;
        let text_examples: Vec<Example> = items
            .iter()
            .zip(&labels)
            .map(|(o, &label)| {
                let label = text_label(label);
                let text: Vec<u32> = o
                    .hashes
                    .iter()
                    .filter_map(|h| vocab.get(h))
                    .map(|r| r + 1)
                    .collect();
                Example {
                    dense: vec![(0, 1.0)],
                    text_value: text_value(text.len()),
                    text,
                    label,
                }
            })
            .collect();
        let text_rows = 1 + vocab.len();
        let zero = vec![0.0f32; text_rows * kt];
        let enough = items.len() >= MIN_CALIBRATION && kt >= 2;
        let mut held_out = vec![vec![0.0f32; kt]; items.len()];
        if enough {
            for fold in 0..FOLDS {
                let train: Vec<&Example> = text_examples
                    .iter()
                    .zip(&folds)
                    .filter(|(_, f)| **f != fold)
                    .map(|(e, _)| e)
                    .collect();
                let w = train::fit(&train, text_rows, kt, &zero, hyper);
                for (i, e) in text_examples.iter().enumerate() {
                    if folds[i] == fold {
                        train::logits(&w, kt, e, &mut held_out[i]);
                    }
                }
            }
            let all: Vec<&Example> = text_examples.iter().collect();
            head.text_weights = train::fit(&all, text_rows, kt, &zero, hyper);
        }

        // Stage 2: the combiner, on the lexicon's evidence and the held-out text scores.
        let rows = lexicon_rows + head.text_rows();
        let mut w0 = vec![0.0f32; rows * k];
        if Self::is_flag(field) {
            let r = DECISION_ROW as usize;
            w0[r * k] = -PRIOR_MARGIN / 2.0;
            w0[r * k + 1] = PRIOR_MARGIN / 2.0;
        } else {
            for j in 0..k {
                w0[(2 + j) * k + j] = PRIOR_MARGIN;
            }
        }
        let examples: Vec<Example> = items
            .iter()
            .zip(&labels)
            .zip(&held_out)
            .map(|((o, &label), z)| Example {
                dense: head.combined(&o.view, enough.then_some(z.as_slice())),
                text: Vec::new(),
                text_value: 0.0,
                label,
            })
            .collect();
        let combiner = Hyper::combiner();
        if enough {
            // Held-out folds once more, for the accuracy the admin sees and the temperature.
            let mut scores = vec![vec![0.0f32; k]; items.len()];
            for fold in 0..FOLDS {
                let train: Vec<&Example> = examples
                    .iter()
                    .zip(&folds)
                    .filter(|(_, f)| **f != fold)
                    .map(|(e, _)| e)
                    .collect();
                let w = train::fit(&train, rows, k, &w0, &combiner);
                for (i, e) in examples.iter().enumerate() {
                    if folds[i] == fold {
                        train::logits(&w, k, e, &mut scores[i]);
                    }
                }
            }
            let right = scores
                .iter()
                .zip(&labels)
                .filter(|(z, y)| argmax(z) == **y as usize)
                .count();
            head.stats.cv_accuracy = Some(right as f64 / labels.len() as f64);
            head.temperature = train::temperature(&scores, &labels);
            head.calibrated = true;
        }
        head.stats.temperature = head.temperature;
        let all: Vec<&Example> = examples.iter().collect();
        head.weights = train::fit(&all, rows, k, &w0, &combiner);
        head
    }

    /// The class the lexicon answers.
    fn lexicon_class(&self, view: &LexiconView) -> usize {
        match self.field {
            CorrectionField::Department => {
                let d = view.department.as_deref().unwrap_or("");
                self.classes.iter().position(|c| c == d).unwrap_or(0)
            }
            _ => usize::from(binary_dense(self.field, view)[DECISION_ROW as usize] > 0.0),
        }
    }

    /// The combiner's lexicon rows for an item, as (row, value), into `out`.
    fn lexicon_input(&self, view: &LexiconView, out: &mut Vec<(u32, f32)>) {
        if Self::is_flag(self.field) {
            out.extend(
                binary_dense(self.field, view)
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(i, v)| (i as u32, *v)),
            );
        } else {
            out.push((0, 1.0));
            if view.emergency {
                out.push((1, 1.0));
            }
            out.push((2 + self.lexicon_class(view) as u32, 1.0));
        }
    }

    /// The combiner's text rows: the text model's scores `z` (one per text class) as bounded
    /// log-probabilities, or for a flag its bounded log-odds.
    fn text_input(&self, z: &[f32], out: &mut Vec<(u32, f32)>) {
        let base = self.lexicon_rows as u32;
        if Self::is_flag(self.field) {
            out.push((base, ((z[1] - z[0]) / 4.0).clamp(-2.0, 2.0)));
        } else {
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let log_sum = z.iter().map(|x| (x - max).exp()).sum::<f32>().ln() + max;
            for (j, x) in z.iter().enumerate() {
                out.push((base + j as u32, ((x - log_sum).max(-9.2) / 4.0).max(-2.0)));
            }
        }
    }

    /// The combiner's whole input (training: with the held-out text scores, if any).
    fn combined(&self, view: &LexiconView, text_scores: Option<&[f32]>) -> Vec<(u32, f32)> {
        let mut d = Vec::with_capacity(self.lexicon_rows + self.text_rows());
        self.lexicon_input(view, &mut d);
        if let Some(z) = text_scores {
            self.text_input(z, &mut d);
        }
        d
    }

    /// `None` when the lexicon's answer is a class no correction touched.
    fn judge(&self, view: &LexiconView, text: Option<&[f32]>) -> Option<Verdict<'_>> {
        let k = self.classes.len();
        let lexicon = self.lexicon_class(view);
        if !self.corrected[lexicon]
            || (self.field == CorrectionField::Department
                && view.emergency
                && self.incidents < MIN_CALIBRATION)
        {
            return None;
        }
        let mut input: Vec<(u32, f32)> = Vec::with_capacity(self.lexicon_rows + self.text_rows());
        self.lexicon_input(view, &mut input);
        let lexicon_part = input.len();
        if let Some(zt) = text {
            self.text_input(zt, &mut input);
        }
        let (mut z, mut zd) = ([0.0f32; MAX_CLASSES], [0.0f32; MAX_CLASSES]);
        let (z, zd) = (&mut z[..k], &mut zd[..k]);
        for (i, &(r, v)) in input.iter().enumerate() {
            let row = &self.weights[r as usize * k..(r as usize + 1) * k];
            for (c, w) in row.iter().enumerate() {
                z[c] += v * w;
                if i < lexicon_part {
                    zd[c] += v * w;
                }
            }
        }
        let class = argmax(z);
        let runner_up = (0..k)
            .filter(|&c| c != class)
            .max_by(|&a, &b| z[a].total_cmp(&z[b]).then(b.cmp(&a)))
            .unwrap_or(class);
        let dense_margin = (zd[class] - zd[runner_up]).abs();
        let text_margin = ((z[class] - zd[class]) - (z[runner_up] - zd[runner_up])).abs();
        let lexicon_share = if dense_margin + text_margin > 0.0 {
            dense_margin / (dense_margin + text_margin)
        } else {
            1.0
        };
        for x in z.iter_mut() {
            *x /= self.temperature;
        }
        train::softmax(z);
        Some(Verdict {
            class,
            label: &self.classes[class],
            probability: z[class],
            probability_true: if Self::is_flag(self.field) { z[1] } else { 0.0 },
            calibrated: self.calibrated,
            lexicon_share,
        })
    }
}

fn text_value(n: usize) -> f32 {
    if n == 0 { 0.0 } else { 1.0 / (n as f32).sqrt() }
}

/// The highest score's index; ties go to the lower index.
fn argmax(z: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in z.iter().enumerate() {
        if *v > z[best] {
            best = i;
        }
    }
    best
}

/// How one field's answer was reached.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Judgement {
    pub confidence: Option<f32>,
    pub calibrated: bool,
    pub learned: bool,
    pub lexicon_share: f32,
}

impl Judgement {
    /// The lexicon alone: its own score as the confidence where it has one.
    pub fn lexicon(confidence: Option<f32>) -> Self {
        Judgement {
            confidence,
            calibrated: false,
            learned: false,
            lexicon_share: 1.0,
        }
    }

    pub fn learned(v: &Verdict) -> Self {
        Judgement {
            confidence: Some(v.probability),
            calibrated: v.calibrated,
            learned: true,
            lexicon_share: v.lexicon_share,
        }
    }
}

/// The model stamp of one analysis: which model, and how each field was decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judgements {
    /// `None`: the lexicons alone.
    pub version: Option<Arc<str>>,
    pub corrections: u64,
    pub department: Judgement,
    pub sentiment: Judgement,
    pub rumor: Judgement,
    pub emergency: Judgement,
    pub false_info: Judgement,
}

impl Judgements {
    pub fn version(&self) -> &str {
        self.version.as_deref().unwrap_or("lexicon")
    }
}

/// The wire form of an analysis's model stamp: the version and, per field, the answer with how
/// it was reached.
pub fn stamp(a: &crate::Analysis, negative_threshold: f32) -> common::wire::AnalysisModel {
    use common::wire::{FieldJudgement, JudgementSource, Priority};
    let j = &a.judged;
    let field = |value: serde_json::Value, j: &Judgement| FieldJudgement {
        value,
        confidence: j.confidence.map(|c| (c * 1000.0).round() / 1000.0),
        calibrated: j.calibrated,
        source: if j.learned {
            JudgementSource::Learned
        } else {
            JudgementSource::Lexicon
        },
        lexicon_share: (j.lexicon_share * 1000.0).round() / 1000.0,
    };
    let sentiment = if a.is_negative(negative_threshold) {
        "negative"
    } else {
        "positive"
    };
    let fields = [
        (
            CorrectionField::Department,
            field(
                a.department.clone().unwrap_or_default().into(),
                &j.department,
            ),
        ),
        (
            CorrectionField::Sentiment,
            field(sentiment.into(), &j.sentiment),
        ),
        (CorrectionField::Rumor, field(a.is_rumor.into(), &j.rumor)),
        (
            CorrectionField::Emergency,
            field(a.has(Priority::Emergency).into(), &j.emergency),
        ),
        (
            CorrectionField::FalseInfo,
            field(a.has(Priority::FalseInfo).into(), &j.false_info),
        ),
    ];
    common::wire::AnalysisModel {
        version: j.version().to_string(),
        corrections: j.corrections,
        fields: fields
            .into_iter()
            .map(|(f, v)| (f.as_str().to_string(), v))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
