//! Batch tools behind the CLI: `yuqing analyze --jsonl`, `yuqing eval <task> FILE` and
//! `yuqing bench analyze`. No network, no bus.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use common::wire::Priority;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::analyzer::{Analysis, Analyzer, Input};
use crate::learn::{CorrectionSet, Hyper, Model};
use crate::normalize::fold_char;
use crate::segment;
use crate::stage::wire_sentiment;
use crate::{Config, Error};

mod learning;

pub use learning::{
    CurvePoint, EvalOptions, bench_corrections, eval_with, learning_curve, read_corrections,
    task_field,
};

#[derive(Debug, Deserialize)]
struct JsonlItem {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    text: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

fn item_json(id: &Value, a: &Analysis, config: &Config) -> Value {
    let sentiment = wire_sentiment(a, config.negative_threshold);
    // The tool's label is binary (positive|negative), as the eval sets are.
    let label = if a.is_negative(config.negative_threshold) {
        "negative"
    } else {
        "positive"
    };
    json!({
        "id": id,
        "priorities": a.priorities.iter().map(|p| p.priority.as_str()).collect::<Vec<_>>(),
        "evidence": a.priorities.iter().map(|p| (p.priority.as_str().to_string(), json!({"scheme": p.scheme, "words": p.evidence}))).collect::<serde_json::Map<String, Value>>(),
        "emergency_probability": round3(a.emergency_probability),
        "domain": a.domain,
        "department": a.department,
        "jurisdiction": a.jurisdiction,
        "sentiment": {"label": label, "score": round3(a.negative_score), "wire_label": sentiment.label},
        "rumor_score": round3(a.rumor_score),
        "is_rumor": a.is_rumor,
        "severity": a.severity,
        "places": a.places,
        "keywords": a.keywords.words().collect::<Vec<_>>(),
        "model": crate::learn::stamp(a, config.negative_threshold),
    })
}

fn round3(x: f32) -> f64 {
    (x as f64 * 1000.0).round() / 1000.0
}

/// Analyze `texts` on `workers` threads, results in input order.
fn analyze_parallel(
    analyzer: &Analyzer,
    model: Option<&Model>,
    items: &[(String, String)],
    workers: usize,
) -> Vec<Analysis> {
    let workers = workers.max(1).min(items.len().max(1));
    let chunk = items.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(title, body)| {
                            analyzer.analyze_with(
                                &Input {
                                    title,
                                    body,
                                    ..Input::default()
                                },
                                model,
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// `yuqing analyze --jsonl`: `{id, text, title?}` per line in, one JSON line per item out.
pub fn analyze_jsonl(
    config: &Config,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), Error> {
    analyze_jsonl_learned(config, &CorrectionSet::default(), input, out)
}

/// [`analyze_jsonl`] with the model learned from `corrections` (the desk's, read from the
/// bus by the caller).
pub fn analyze_jsonl_learned(
    config: &Config,
    corrections: &CorrectionSet,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let analyzer = Analyzer::new(config)?;
    let model = Model::train(&analyzer, corrections, &Hyper::default());
    let mut batch: Vec<(Value, String, String)> = Vec::new();
    let mut line = String::new();
    let mut line_no = 0usize;
    loop {
        line.clear();
        let n = input.read_line(&mut line)?;
        if n > 0 && !line.trim().is_empty() {
            line_no += 1;
            let item: JsonlItem = serde_json::from_str(line.trim())
                .map_err(|e| Error::Input(format!("line {line_no}: {e}")))?;
            let _ = item.source;
            batch.push((item.id, item.title.unwrap_or_default(), item.text));
        }
        if (n == 0 && !batch.is_empty()) || batch.len() >= 512 {
            let texts: Vec<(String, String)> = batch
                .iter()
                .map(|(_, t, b)| (t.clone(), b.clone()))
                .collect();
            let results = analyze_parallel(&analyzer, Some(&model), &texts, config.workers);
            for ((id, _, _), a) in batch.iter().zip(&results) {
                serde_json::to_writer(&mut *out, &item_json(id, a, config))?;
                out.write_all(b"\n")?;
            }
            batch.clear();
        }
        if n == 0 {
            break;
        }
    }
    out.flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// eval
// ---------------------------------------------------------------------------------------------

/// A confusion table over string labels with accuracy and per-label P/R/F1.
#[derive(Debug, Default, Clone)]
pub struct Confusion {
    /// (gold, predicted) → count
    pub cells: BTreeMap<(String, String), u64>,
}

impl Confusion {
    pub fn add(&mut self, gold: &str, pred: &str) {
        *self
            .cells
            .entry((gold.to_string(), pred.to_string()))
            .or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.cells.values().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let right: u64 = self
            .cells
            .iter()
            .filter(|((g, p), _)| g == p)
            .map(|(_, n)| n)
            .sum();
        ratio(right, self.total())
    }

    /// (precision, recall, f1) of `label`.
    pub fn prf(&self, label: &str) -> (f64, f64, f64) {
        let tp = self.cell(label, label);
        let pred: u64 = self
            .cells
            .iter()
            .filter(|((_, p), _)| p == label)
            .map(|(_, n)| n)
            .sum();
        let gold: u64 = self
            .cells
            .iter()
            .filter(|((g, _), _)| g == label)
            .map(|(_, n)| n)
            .sum();
        let p = ratio(tp, pred);
        let r = ratio(tp, gold);
        (p, r, f1(p, r))
    }

    fn cell(&self, g: &str, p: &str) -> u64 {
        self.cells
            .get(&(g.to_string(), p.to_string()))
            .copied()
            .unwrap_or(0)
    }

    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let golds: Vec<&String> = {
            let mut v: Vec<&String> = self.cells.keys().map(|(g, _)| g).collect();
            v.dedup();
            v.sort();
            v.dedup();
            v
        };
        let preds: Vec<&String> = {
            let mut v: Vec<&String> = self.cells.keys().map(|(_, p)| p).collect();
            v.sort();
            v.dedup();
            v
        };
        write!(out, "{:>22} |", "gold \\ predicted")?;
        for p in &preds {
            write!(out, " {:>8}", short(p))?;
        }
        writeln!(out)?;
        for g in &golds {
            write!(out, "{:>22} |", short(g))?;
            for p in &preds {
                write!(out, " {:>8}", self.cell(g, p))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

fn short(s: &str) -> String {
    s.chars().take(10).collect()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>, Error> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::Input(format!("{}:{}: {e}", path.display(), i + 1)))
        })
        .collect()
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The figures one eval run produced (also used by tests).
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// name → value, e.g. `f1` → 0.96.
    pub metrics: BTreeMap<String, f64>,
    pub tables: Vec<(String, Confusion)>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn get(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or(f64::NAN)
    }

    pub fn write(&self, task: &str, path: &Path, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "eval {task} {}", path.display())?;
        for (k, v) in &self.metrics {
            writeln!(out, "  {k:<40} {v:.4}")?;
        }
        for n in &self.notes {
            writeln!(out, "  note: {n}")?;
        }
        for (name, t) in &self.tables {
            writeln!(out, "\n  confusion: {name}")?;
            t.write(out)?;
        }
        Ok(())
    }
}

/// `yuqing eval <task> FILE`.
pub fn eval(task: &str, path: &Path, config: &Config, out: &mut dyn Write) -> Result<(), Error> {
    let report = evaluate(task, path, config)?;
    report.write(task, path, out)?;
    Ok(())
}

/// Run one evaluation and return its figures.
pub fn evaluate(task: &str, path: &Path, config: &Config) -> Result<Report, Error> {
    let analyzer = Analyzer::new(config)?;
    let ctx = Ctx {
        analyzer: &analyzer,
        model: None,
        config,
    };
    evaluate_rows(task, &read_jsonl(path)?, &ctx)
}

/// What an evaluation analyzes with.
pub(crate) struct Ctx<'a> {
    pub analyzer: &'a Analyzer,
    pub model: Option<&'a Model>,
    pub config: &'a Config,
}

impl Ctx<'_> {
    /// Analyze (title, body) pairs on `config.workers` threads, in order.
    fn analyze(&self, items: &[(String, String)]) -> Vec<Analysis> {
        analyze_parallel(self.analyzer, self.model, items, self.config.workers)
    }
}

pub(crate) const TASKS: &str = "emergency, domain, sentiment, rumor, segmentation, places";

/// One evaluation over rows already read (and filtered).
pub(crate) fn evaluate_rows(task: &str, rows: &[Value], ctx: &Ctx) -> Result<Report, Error> {
    match task {
        "emergency" => eval_emergency(rows, ctx),
        "domain" => eval_domain(rows, ctx),
        "sentiment" => eval_sentiment(rows, ctx),
        "rumor" | "rumour" => eval_rumor(rows, ctx),
        "segmentation" => Ok(eval_segmentation(rows)),
        "places" => eval_places(rows, ctx),
        other => Err(Error::Input(format!(
            "unknown eval task {other:?} ({TASKS})"
        ))),
    }
}

fn binary(report: &mut Report, name: &str, c: &Confusion, positive: &str) {
    let (p, r, f) = c.prf(positive);
    let prefix = if name.is_empty() {
        String::new()
    } else {
        format!("{name}.")
    };
    report
        .metrics
        .insert(format!("{prefix}accuracy"), c.accuracy());
    report.metrics.insert(format!("{prefix}precision"), p);
    report.metrics.insert(format!("{prefix}recall"), r);
    report.metrics.insert(format!("{prefix}f1"), f);
    report
        .metrics
        .insert(format!("{prefix}n"), c.total() as f64);
    report.tables.push((
        if name.is_empty() {
            "all".into()
        } else {
            name.into()
        },
        c.clone(),
    ));
}

/// Analyze the `text` of every row (no title), on `config.workers` threads, in row order.
fn analyze_texts(rows: &[Value], ctx: &Ctx) -> Vec<Analysis> {
    let items: Vec<(String, String)> = rows
        .iter()
        .map(|r| (String::new(), str_field(r, "text").to_string()))
        .collect();
    ctx.analyze(&items)
}

fn eval_emergency(rows: &[Value], ctx: &Ctx) -> Result<Report, Error> {
    let items: Vec<(String, String)> = rows
        .iter()
        .map(|r| (String::new(), str_field(r, "text").to_string()))
        .collect();
    let results = ctx.analyze(&items);
    let mut all = Confusion::default();
    for (r, a) in rows.iter().zip(&results) {
        let pred = if a.has(Priority::Emergency) {
            "emergency"
        } else {
            "non_emergency"
        };
        all.add(str_field(r, "label"), pred);
    }
    let mut report = Report::default();
    binary(&mut report, "", &all, "emergency");

    // Titles of the positives against the (short) negatives: length cannot be the signal.
    let titled: Vec<(usize, String)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let t = str_field(r, "title");
            (str_field(r, "label") == "emergency" && !t.is_empty()).then(|| (i, t.to_string()))
        })
        .collect();
    if !titled.is_empty() {
        let titles: Vec<(String, String)> = titled
            .iter()
            .map(|(_, t)| (t.clone(), String::new()))
            .collect();
        let title_results = ctx.analyze(&titles);
        let mut c = Confusion::default();
        for a in &title_results {
            c.add(
                "emergency",
                if a.has(Priority::Emergency) {
                    "emergency"
                } else {
                    "non_emergency"
                },
            );
        }
        for (r, a) in rows.iter().zip(&results) {
            if str_field(r, "label") != "emergency" {
                c.add(
                    str_field(r, "label"),
                    if a.has(Priority::Emergency) {
                        "emergency"
                    } else {
                        "non_emergency"
                    },
                );
            }
        }
        binary(&mut report, "titles_vs_negatives", &c, "emergency");
    }
    // Department for CEC categories with a mapped owner.
    let cec: BTreeMap<&str, &str> = [
        ("食物中毒", "市食品药品监管局"),
        ("环境污染", "市生态文明委"),
        ("交通事故", "市交委"),
        ("火灾", "市安监局"),
        ("地震", "市政府应急办"),
    ]
    .into_iter()
    .collect();
    let mut dept = Confusion::default();
    for (r, a) in rows.iter().zip(&results) {
        if let Some(expected) = cec.get(str_field(r, "category")) {
            dept.add(expected, a.department.as_deref().unwrap_or("-"));
        }
    }
    if dept.total() > 0 {
        report
            .metrics
            .insert("cec_department.accuracy".into(), dept.accuracy());
        report.tables.push(("cec_department".into(), dept));
    }
    Ok(report)
}

/// The evaluation mapping of news classes to departments (`../shared/data/README.md`).
/// `Some("")` = must get no department; `None` = not scored.
fn expected_department(label: &str) -> Option<&'static str> {
    let l = label.trim_start_matches("news_");
    Some(match l {
        "edu" | "education" => "市教育局",
        "house" | "realty" => "市住房城乡建设局",
        "agriculture" => "市农委",
        "travel" => "市旅游产业发展委",
        "culture" => "市文化新闻出版广电局",
        "sports" => "市体育局",
        "finance" | "stock" | "stocks" => "市政府金融办",
        "tech" | "science" => "市科技局",
        "entertainment" | "game" | "world" | "military" | "story" => "",
        _ => return None,
    })
}

fn eval_domain(rows: &[Value], ctx: &Ctx) -> Result<Report, Error> {
    let results = analyze_texts(rows, ctx);
    let mut mapped = Confusion::default();
    let mut none_ent_game = Confusion::default();
    let mut none_other = Confusion::default();
    let mut by_label = Confusion::default();
    for (r, a) in rows.iter().zip(&results) {
        let label = str_field(r, "label");
        let dept = a.department.as_deref().unwrap_or("");
        by_label.add(label, a.domain.as_deref().unwrap_or("-"));
        match expected_department(label) {
            Some("") => {
                let l = label.trim_start_matches("news_");
                let c = if l == "entertainment" || l == "game" {
                    &mut none_ent_game
                } else {
                    &mut none_other
                };
                c.add("none", if dept.is_empty() { "none" } else { "some" });
            }
            Some(expected) => mapped.add(expected, if dept.is_empty() { "-" } else { dept }),
            None => {}
        }
    }
    let mut report = Report::default();
    report.metrics.insert(
        "department.accuracy(mapped classes)".into(),
        mapped.accuracy(),
    );
    report
        .metrics
        .insert("department.n(mapped classes)".into(), mapped.total() as f64);
    report.metrics.insert(
        "no_department.rate(entertainment+game)".into(),
        none_ent_game.accuracy(),
    );
    report.metrics.insert(
        "no_department.n(entertainment+game)".into(),
        none_ent_game.total() as f64,
    );
    if none_other.total() > 0 {
        report.metrics.insert(
            "no_department.rate(world+military+story)".into(),
            none_other.accuracy(),
        );
    }
    report
        .notes
        .push("unmapped classes (car, society, politics) appear only in the domain table".into());
    report
        .tables
        .push(("department (mapped classes)".into(), mapped));
    report
        .tables
        .push(("gold label × predicted domain".into(), by_label));
    Ok(report)
}

fn eval_sentiment(rows: &[Value], ctx: &Ctx) -> Result<Report, Error> {
    let config = ctx.config;
    // Emotion sets carry `polarity_derived`; neutral items are not scored.
    let kept: Vec<(&Value, String)> = rows
        .iter()
        .filter_map(|r| {
            let label = match str_field(r, "label") {
                l @ ("positive" | "negative") => l.to_string(),
                _ => str_field(r, "polarity_derived").to_string(),
            };
            (label == "positive" || label == "negative").then_some((r, label))
        })
        .collect();
    let items: Vec<(String, String)> = kept
        .iter()
        .map(|(r, _)| (String::new(), str_field(r, "text").to_string()))
        .collect();
    let results = ctx.analyze(&items);
    let mut c = Confusion::default();
    for ((_, gold), a) in kept.iter().zip(&results) {
        c.add(
            gold,
            if a.is_negative(config.negative_threshold) {
                "negative"
            } else {
                "positive"
            },
        );
    }
    let mut report = Report::default();
    binary(&mut report, "", &c, "negative");
    if kept.len() < rows.len() {
        report.notes.push(format!(
            "{} neutral items not scored",
            rows.len() - kept.len()
        ));
    }
    Ok(report)
}

fn eval_rumor(rows: &[Value], ctx: &Ctx) -> Result<Report, Error> {
    let results = analyze_texts(rows, ctx);
    let mut c = Confusion::default();
    for (r, a) in rows.iter().zip(&results) {
        c.add(
            str_field(r, "label"),
            if a.is_rumor { "rumor" } else { "non_rumor" },
        );
    }
    let mut report = Report::default();
    binary(&mut report, "", &c, "rumor");
    Ok(report)
}

/// Word boundaries as character spans.
fn spans<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Vec<(usize, usize)> {
    let mut pos = 0;
    tokens
        .into_iter()
        .map(|t| {
            let n = t.chars().count();
            let s = (pos, pos + n);
            pos += n;
            s
        })
        .collect()
}

fn seg_prf(gold: &[(usize, usize)], pred: &[(usize, usize)]) -> (u64, u64, u64) {
    let g: std::collections::HashSet<&(usize, usize)> = gold.iter().collect();
    let tp = pred.iter().filter(|s| g.contains(s)).count() as u64;
    (tp, pred.len() as u64, gold.len() as u64)
}

fn eval_segmentation(rows: &[Value]) -> Report {
    let mut sums: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    let mut used = 0u64;
    for r in rows {
        let text = str_field(r, "text");
        let Some(gold) = r.get("label").and_then(Value::as_array) else {
            continue;
        };
        let gold: Vec<&str> = gold.iter().filter_map(Value::as_str).collect();
        if gold.concat() != text {
            continue;
        }
        used += 1;
        let gold_spans = spans(gold.iter().copied());
        // Folding is one character for one character, so spans stay comparable.
        let folded: String = text.chars().map(fold_char).collect();
        let variants: [(&str, Vec<(usize, usize)>); 3] = [
            (
                "jieba (default dict)",
                spans(segment::plain().cut(text, true).into_iter().map(|t| t.word)),
            ),
            (
                "jieba + user dict",
                spans(
                    segment::shared()
                        .cut(text, true)
                        .into_iter()
                        .map(|t| t.word),
                ),
            ),
            (
                "jieba + user dict + normalization",
                spans(
                    segment::shared()
                        .cut(&folded, true)
                        .into_iter()
                        .map(|t| t.word),
                ),
            ),
        ];
        for (name, pred) in variants {
            let (tp, np, ng) = seg_prf(&gold_spans, &pred);
            let e = sums.entry(name).or_default();
            e.0 += tp;
            e.1 += np;
            e.2 += ng;
        }
    }
    let mut report = Report::default();
    for (name, (tp, np, ng)) in sums {
        let p = ratio(tp, np);
        let r = ratio(tp, ng);
        report.metrics.insert(format!("{name}.precision"), p);
        report.metrics.insert(format!("{name}.recall"), r);
        report.metrics.insert(format!("{name}.f1"), f1(p, r));
    }
    report.metrics.insert("sentences".into(), used as f64);
    report
        .notes
        .push("gold follows PKU/MSR conventions, not jieba's: compare the variants, not the absolute score".into());
    report
}

fn eval_places(rows: &[Value], ctx: &Ctx) -> Result<Report, Error> {
    let analyzer = ctx.analyzer;
    let mut report = Report::default();
    if rows.first().is_some_and(|r| r.get("admin_code").is_some()) {
        // Gazetteer: every county-level name must resolve to its own code (or, for names that
        // exist several times, to one of them).
        let mut c = Confusion::default();
        for r in rows.iter().filter(|r| str_field(r, "label") == "county") {
            let name = str_field(r, "text");
            let a = analyzer.analyze(&Input {
                title: name,
                ..Input::default()
            });
            let code = str_field(r, "admin_code");
            let hit = a.places.iter().any(|p| p.code.as_deref() == Some(code));
            let resolved_any = !a.places.is_empty();
            c.add(
                "resolved",
                if hit {
                    "resolved"
                } else if resolved_any {
                    "other_reading"
                } else {
                    "missed"
                },
            );
        }
        report
            .metrics
            .insert("county_names.resolved_to_own_code".into(), c.accuracy());
        report.tables.push(("county names".into(), c));
        return Ok(report);
    }
    // CLUENER: our place mentions against the annotated address/government spans.
    let mut tp_mentions = 0u64;
    let mut mentions = 0u64;
    let mut gold_hit = 0u64;
    let mut gold_total = 0u64;
    for r in rows {
        let text = str_field(r, "text");
        let a = analyzer.analyze(&Input {
            body: text,
            ..Input::default()
        });
        let mut gold_spans: Vec<String> = Vec::new();
        if let Some(label) = r.get("label").and_then(Value::as_object) {
            for kind in ["address", "government"] {
                if let Some(m) = label.get(kind).and_then(Value::as_object) {
                    gold_spans.extend(m.keys().map(|k| k.chars().map(fold_char).collect()));
                }
            }
        }
        for m in &a.places {
            mentions += 1;
            if gold_spans.iter().any(|g| g.contains(&m.text)) {
                tp_mentions += 1;
            }
        }
        for g in &gold_spans {
            if a.places.iter().any(|m| g.contains(&m.text)) {
                gold_hit += 1;
            }
            gold_total += 1;
        }
    }
    let p = ratio(tp_mentions, mentions);
    let rc = ratio(gold_hit, gold_total);
    report.metrics.insert("mention.precision".into(), p);
    report.metrics.insert("span.recall".into(), rc);
    report.metrics.insert("f1".into(), f1(p, rc));
    report.notes.push(
        "precision: our admin-division mentions inside an annotated address/government span; recall: annotated spans containing one (street addresses without an admin name cannot be found by a gazetteer)".into(),
    );
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// bench
// ---------------------------------------------------------------------------------------------

/// Project-written sample texts, used when the dev set is not present.
const SAMPLE_TEXTS: &[&str] = &[
    "11日中午，贵阳市南明区某小学多名学生在食堂就餐后出现呕吐、腹泻症状，23名学生被送医救治，目前均无生命危险。区市场监管局已封存留样食品，事件原因正在调查中。",
    "今日上午，花溪区青岩镇路段发生一起交通事故，一辆货车与客车相撞，造成三人死亡、十二人受伤，伤者已送医救治，事故原因正在进一步调查。",
    "受强降雨影响，乌当区多处道路积水，部分村寨发生山洪，当地已转移群众200余人，暂无人员伤亡。气象部门提醒市民注意防范。",
    "观山湖区人社局举办春季招聘会，200余家企业提供岗位5000个，涵盖大数据、金融、制造等行业，吸引了大量求职者到场。",
    "网传“贵阳自来水被污染不能喝”，市水务管理局回应：经检测，全市供水水质符合国家标准，网传信息不实，请勿传播。",
    "市政府常务会议审议通过了《关于进一步优化营商环境的实施意见》，会议强调要抓好重点工作落实，推动高质量发展。",
];

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The texts the benchmarks run on (dev files when present, else built-in samples).
pub fn bench_texts() -> Vec<String> {
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/dev");
    let mut texts = Vec::new();
    for f in [
        "emergency.jsonl",
        "domain_tnews.jsonl",
        "sentiment.jsonl",
        "rumor.jsonl",
    ] {
        if let Ok(rows) = read_jsonl(&dev.join(f)) {
            texts.extend(rows.iter().map(|r| str_field(r, "text").to_string()));
        }
    }
    if texts.is_empty() {
        texts = SAMPLE_TEXTS.iter().map(|s| s.to_string()).collect();
    }
    texts
}

/// `yuqing bench analyze`: raw jieba `cut` vs the whole analyzer on the same texts.
pub fn bench(config: &Config, out: &mut dyn Write) -> Result<(), Error> {
    let texts = bench_texts();
    let analyzer = Analyzer::new(config)?;
    let plain = segment::plain();
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    writeln!(
        out,
        "bench analyze: {} texts, {} characters (mean {:.0})",
        texts.len(),
        chars,
        chars as f64 / texts.len().max(1) as f64
    )?;
    // Warm up both paths (lazy dictionaries, caches).
    for t in texts.iter().take(50) {
        let _ = plain.cut(t, true);
        let _ = analyzer.analyze(&Input {
            body: t,
            ..Input::default()
        });
    }
    // Interleaved rounds, best round of each: other processes on a shared machine slow some
    // rounds down, and the best round is the closest to the code's own cost.
    let round = std::time::Duration::from_millis(400);
    let time_texts = |texts: &[String], f: &dyn Fn(&str)| -> f64 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < round {
            for t in texts {
                f(t);
                n += 1;
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let time_round = |f: &dyn Fn(&str)| -> f64 { time_texts(&texts, f) };
    // News-length texts: segmentation grows with length, much of the rest does not.
    let long: Vec<String> = texts
        .iter()
        .filter(|t| t.chars().count() >= 200)
        .cloned()
        .collect();
    let (mut long_jieba, mut long_analyzer) = (0.0f64, 0.0f64);
    if !long.is_empty() {
        for _ in 0..3 {
            long_jieba = long_jieba.max(time_texts(&long, &|t| {
                let _ = std::hint::black_box(plain.cut(t, true));
            }));
            long_analyzer = long_analyzer.max(time_texts(&long, &|t| {
                let _ = std::hint::black_box(analyzer.analyze(&Input {
                    body: t,
                    ..Input::default()
                }));
            }));
        }
    }
    // The learned layer, trained from the dev files' labels as corrections (or, without
    // them, from the built-in samples).
    let corrections = learning::bench_corrections();
    let start = Instant::now();
    let model = Model::train(&analyzer, &corrections, &Hyper::default());
    let learn_seconds = start.elapsed().as_secs_f64();
    let mut jieba_rate = 0.0f64;
    let mut analyzer_rate = 0.0f64;
    let mut learned_rate = 0.0f64;
    for _ in 0..5 {
        jieba_rate = jieba_rate.max(time_round(&|t| {
            let _ = std::hint::black_box(plain.cut(t, true));
        }));
        analyzer_rate = analyzer_rate.max(time_round(&|t| {
            let _ = std::hint::black_box(analyzer.analyze(&Input {
                body: t,
                ..Input::default()
            }));
        }));
        learned_rate = learned_rate.max(time_round(&|t| {
            let _ = std::hint::black_box(analyzer.analyze_with(
                &Input {
                    body: t,
                    ..Input::default()
                },
                Some(&model),
            ));
        }));
    }
    // Where the analyzer's time goes, cumulatively.
    let shared = segment::shared();
    let mut stages = [0.0f64; 3];
    for _ in 0..3 {
        stages[0] = stages[0].max(time_round(&|t| {
            let _ = std::hint::black_box(shared.cut(t, true));
        }));
        stages[1] = stages[1].max(time_round(&|t| {
            let n = crate::normalize::normalize(t);
            let _ = std::hint::black_box(shared.cut(&n.text, true));
        }));
        stages[2] = stages[2].max(time_round(&|t| {
            let n = crate::normalize::normalize(t);
            let seg = segment::Segmented::new(&n.text);
            let _ = std::hint::black_box(analyzer.lookup(&seg));
        }));
    }
    let min_time = std::time::Duration::from_secs(2);
    writeln!(
        out,
        "  raw jieba cut (1 core)        {jieba_rate:>10.0} docs/s"
    )?;
    writeln!(
        out,
        "  whole analyzer (1 core)       {analyzer_rate:>10.0} docs/s"
    )?;
    if !long.is_empty() {
        writeln!(
            out,
            "  texts >= 200 chars ({}): jieba {long_jieba:.0}, analyzer {long_analyzer:.0} docs/s, ratio {:.3}",
            long.len(),
            long_analyzer / long_jieba
        )?;
    }
    writeln!(
        out,
        "  breakdown: jieba+user dict {:.0}, +normalize {:.0}, +dictionary lookup {:.0} docs/s",
        stages[0], stages[1], stages[2]
    )?;
    writeln!(
        out,
        "  ratio analyzer / jieba         {:>10.3}",
        analyzer_rate / jieba_rate
    )?;
    writeln!(
        out,
        "  learning {} corrections        {learn_seconds:>10.2} s ({}, {} features)",
        model.corrections(),
        model.version(),
        model.vocabulary()
    )?;
    writeln!(
        out,
        "  analyzer + learned layer       {learned_rate:>10.0} docs/s, {:.3}× the lexicons alone",
        learned_rate / analyzer_rate
    )?;
    let max_workers = config
        .workers
        .max(std::thread::available_parallelism().map_or(1, |n| n.get()));
    for workers in 1..=max_workers {
        let start = Instant::now();
        let mut done = 0usize;
        while start.elapsed() < min_time {
            let items: Vec<(String, String)> =
                texts.iter().map(|t| (String::new(), t.clone())).collect();
            done += analyze_parallel(&analyzer, None, &items, workers).len();
        }
        let rate = done as f64 / start.elapsed().as_secs_f64();
        writeln!(
            out,
            "  analyzer with {workers} worker(s)       {rate:>10.0} docs/s ({:.0} per worker)",
            rate / workers as f64
        )?;
    }
    match peak_rss_kb() {
        Some(kb) => writeln!(
            out,
            "  peak RSS                       {:>10.1} MB",
            kb as f64 / 1024.0
        )?,
        None => writeln!(out, "  peak RSS                       unknown (no /proc)")?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_lines_carry_the_contract_fields() {
        let input = concat!(
            r#"{"id": 1, "title": "南明区一居民楼燃气爆炸 致3人死亡", "text": "贵阳市南明区一居民楼发生燃气爆炸，造成3人死亡、5人受伤。"}"#,
            "\n\n",
            r#"{"id": "b", "text": "今天去花溪公园散步，心情超好[哈哈]"}"#,
            "\n"
        );
        let mut out = Vec::new();
        let r = analyze_jsonl(&Config::default(), &mut input.as_bytes(), &mut out);
        assert!(r.is_ok(), "{r:?}");
        let lines: Vec<Value> = String::from_utf8_lossy(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect();
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        for key in [
            "id",
            "priorities",
            "domain",
            "department",
            "jurisdiction",
            "sentiment",
            "rumor_score",
            "is_rumor",
            "severity",
            "places",
        ] {
            assert!(first.get(key).is_some(), "missing {key}: {first}");
        }
        assert_eq!(first["id"], json!(1));
        assert_eq!(first["priorities"], json!(["emergency"]));
        assert_eq!(first["department"], json!("市安监局"));
        assert_eq!(first["jurisdiction"]["county"], json!("南明区"));
        assert_eq!(first["severity"]["level"], json!("large"));
        assert_eq!(first["sentiment"]["label"], json!("negative"));
        assert_eq!(lines[1]["sentiment"]["label"], json!("positive"));
        assert_eq!(lines[1]["jurisdiction"]["county"], json!("花溪区"));
    }

    #[test]
    fn bad_jsonl_says_which_line() {
        let mut out = Vec::new();
        let r = analyze_jsonl(
            &Config::default(),
            &mut "{\"id\":1}\nnot json\n".as_bytes(),
            &mut out,
        );
        let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("line 2:"), "{msg}");
    }

    #[test]
    fn unknown_eval_task_is_an_error() {
        let dir = tempfile::tempdir().ok();
        let path = dir
            .as_ref()
            .map(|d| d.path().join("x.jsonl"))
            .unwrap_or_default();
        let _ = std::fs::write(&path, "{\"text\":\"a\",\"label\":\"b\"}\n");
        let err = evaluate("nonsense", &path, &Config::default()).err();
        assert!(err.is_some_and(|e| e.to_string().contains("unknown eval task")));
    }
}
