//! `yuqing eval TASK FILE [--fold K/N [--rest]] [--learn-from TRAIN.jsonl]`: the figures of one
//! fold, and the learning curve — the figure with 0, 50, 100, 200 and all corrections of TRAIN.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use common::wire::CorrectionField;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Ctx, Report, evaluate_rows, read_jsonl};
use crate::learn::{CorrectionSet, Hyper, Model, import};
use crate::{Analyzer, Config, Error};

/// Which rows to score and what to learn from first.
pub struct EvalOptions<'a> {
    /// Keep the rows whose id this accepts (a fold).
    pub keep: &'a dyn Fn(&str) -> bool,
    pub learn_from: Option<&'a Path>,
}

/// The corrections counts of the learning curve (then: all).
const STEPS: [usize; 4] = [0, 50, 100, 200];

/// The field a task measures.
pub fn task_field(task: &str) -> Option<CorrectionField> {
    Some(match task {
        "domain" => CorrectionField::Department,
        "sentiment" => CorrectionField::Sentiment,
        "rumor" | "rumour" => CorrectionField::Rumor,
        "emergency" => CorrectionField::Emergency,
        _ => return None,
    })
}

/// The figures a curve line shows per task.
fn headline(task: &str) -> &'static [&'static str] {
    match task {
        "domain" => &[
            "department.accuracy(mapped classes)",
            "no_department.rate(entertainment+game)",
        ],
        "sentiment" => &["accuracy"],
        "rumor" | "rumour" => &["f1", "precision", "recall"],
        "emergency" => &["f1", "titles_vs_negatives.f1", "cec_department.accuracy"],
        _ => &[],
    }
}

/// One point of the curve.
#[derive(Debug, Clone)]
pub struct CurvePoint {
    /// Corrections of the task's field learned (the last point: every correction of TRAIN).
    pub corrections: usize,
    pub all: bool,
    pub train_seconds: f64,
    pub report: Report,
}

fn read_rows(path: &Path, keep: &dyn Fn(&str) -> bool) -> Result<Vec<Value>, Error> {
    Ok(read_jsonl(path)?
        .into_iter()
        .filter(|r| {
            let id = match r.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            keep(&id)
        })
        .collect())
}

/// Read a corrections file (the rows of `import`).
pub fn read_corrections(path: &Path) -> Result<Vec<common::wire::Correction>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Input(format!("无法读取 {}：{e}", path.display())))?;
    // Evaluation is pure: a fixed judgement time (it is no part of the model).
    let at = DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default();
    import::parse_all(&text, &format!("import:{}", path.display()), at)
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// The learning curve of `task` on `rows`.
pub fn learning_curve(
    task: &str,
    rows: &[Value],
    corrections: &[common::wire::Correction],
    config: &Config,
) -> Result<Vec<CurvePoint>, Error> {
    let field = task_field(task).ok_or_else(|| {
        Error::Input(format!(
            "--learn-from needs a task with a learned field (domain, sentiment, rumor, emergency), not {task:?}"
        ))
    })?;
    let analyzer = Analyzer::new(config)?;
    // A fair sample of each size: the field's corrections in the order of a hash of their key.
    let mut of_field: Vec<(Vec<u8>, &common::wire::Correction)> = corrections
        .iter()
        .filter(|c| c.field == field)
        .map(|c| (Sha256::digest(c.key().as_bytes()).to_vec(), c))
        .collect();
    of_field.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key().cmp(&b.1.key())));
    let mut steps: Vec<(usize, bool)> = STEPS
        .iter()
        .filter(|&&n| n < of_field.len())
        .map(|&n| (n, false))
        .collect();
    steps.push((of_field.len(), true));
    let mut out = Vec::new();
    for (n, all) in steps {
        let mut set = CorrectionSet::default();
        if all {
            corrections.iter().cloned().for_each(|c| {
                set.apply(c);
            });
        } else {
            of_field[..n].iter().for_each(|(_, c)| {
                set.apply((*c).clone());
            });
        }
        let start = Instant::now();
        let model = Model::train(&analyzer, &set, &Hyper::default());
        let train_seconds = start.elapsed().as_secs_f64();
        let ctx = Ctx {
            analyzer: &analyzer,
            model: Some(&model),
            config,
        };
        let mut report = evaluate_rows(task, rows, &ctx)?;
        report
            .metrics
            .insert("learned.corrections".into(), model.corrections() as f64);
        for s in model.stats() {
            if let Some(cv) = s.cv_accuracy {
                report
                    .metrics
                    .insert(format!("learned.{}.cv_accuracy", s.field), cv);
            }
            report.metrics.insert(
                format!("learned.{}.lexicon_accuracy", s.field),
                s.lexicon_accuracy,
            );
        }
        out.push(CurvePoint {
            corrections: n,
            all,
            train_seconds,
            report,
        });
    }
    Ok(out)
}

/// `yuqing eval` with a fold and/or a learning curve.
pub fn eval_with(
    task: &str,
    path: &Path,
    config: &Config,
    options: &EvalOptions,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let rows = read_rows(path, options.keep)?;
    let Some(train) = options.learn_from else {
        let analyzer = Analyzer::new(config)?;
        let ctx = Ctx {
            analyzer: &analyzer,
            model: None,
            config,
        };
        let report = evaluate_rows(task, &rows, &ctx)?;
        report.write(task, path, out)?;
        return Ok(());
    };
    let corrections = read_corrections(train)?;
    let curve = learning_curve(task, &rows, &corrections, config)?;
    writeln!(
        out,
        "learning curve: eval {task} {} ({} items), corrections from {} ({} rows)",
        path.display(),
        rows.len(),
        train.display(),
        corrections.len()
    )?;
    let names = headline(task);
    write!(out, "  {:>12} {:>8}", "corrections", "train s")?;
    for n in names {
        write!(out, " {n:>24}")?;
    }
    writeln!(out)?;
    for p in &curve {
        let label = if p.all {
            format!("all {}", p.report.get("learned.corrections"))
        } else {
            p.corrections.to_string()
        };
        write!(out, "  {label:>12} {:>8.2}", p.train_seconds)?;
        for n in names {
            write!(out, " {:>24.4}", p.report.get(n))?;
        }
        writeln!(out)?;
    }
    if let Some(last) = curve.last() {
        writeln!(out)?;
        last.report.write(task, path, out)?;
    }
    Ok(())
}

/// Corrections for the benchmark: the dev files' labels as the desk would give them (as
/// `dev_corrections.py` converts them), or, without the dev files, the built-in samples.
pub fn bench_corrections() -> CorrectionSet {
    use serde_json::json;
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/dev");
    let at = DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default();
    let mut set = CorrectionSet::default();
    let mut add = |r: &Value, field: CorrectionField, value: Value| {
        let text = super::str_field(r, "text");
        let id = super::str_field(r, "id");
        if !text.is_empty() && !id.is_empty() {
            set.apply(common::wire::Correction {
                item_id: id.to_string(),
                field,
                value,
                text: text.to_string(),
                title: None,
                source: None,
                source_kind: common::wire::SourceKind::Rss,
                by: None,
                origin: None,
                at,
                withdrawn: false,
            });
        }
    };
    let rows = |f: &str| read_jsonl(&dev.join(f)).unwrap_or_default();
    for f in ["domain_tnews.jsonl", "domain_thucnews_titles.jsonl"] {
        for r in rows(f) {
            if let Some(d) = super::expected_department(super::str_field(&r, "label")) {
                add(&r, CorrectionField::Department, json!(d));
            }
        }
    }
    for r in rows("sentiment.jsonl") {
        add(&r, CorrectionField::Sentiment, r["label"].clone());
    }
    for r in rows("emotion_smp2020_virus_test.jsonl") {
        if matches!(
            r["polarity_derived"].as_str(),
            Some("positive" | "negative")
        ) {
            add(
                &r,
                CorrectionField::Sentiment,
                r["polarity_derived"].clone(),
            );
        }
    }
    for r in rows("rumor.jsonl") {
        add(&r, CorrectionField::Rumor, json!(r["label"] == "rumor"));
    }
    for r in rows("emergency.jsonl") {
        add(
            &r,
            CorrectionField::Emergency,
            json!(r["label"] == "emergency"),
        );
    }
    if set.is_empty() {
        for (i, t) in super::SAMPLE_TEXTS.iter().cycle().take(60).enumerate() {
            let r = json!({"id": format!("sample-{i}"), "text": format!("{t} {i}")});
            set.apply(common::wire::Correction {
                item_id: format!("sample-{i}"),
                field: CorrectionField::Sentiment,
                value: json!(if i % 2 == 0 { "positive" } else { "negative" }),
                text: r["text"].as_str().unwrap_or_default().to_string(),
                title: None,
                source: None,
                source_kind: common::wire::SourceKind::Rss,
                by: None,
                origin: None,
                at,
                withdrawn: false,
            });
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Praise in a made-up phrase that the lexicon reads as weary: corrections teach it.
    fn slang(i: usize) -> String {
        let places = ["南明区", "云岩区", "花溪区", "乌当区", "白云区", "观山湖区"];
        let things = [
            "地铁站",
            "菜市场",
            "医院门口",
            "小区门口",
            "公交站",
            "学校旁边",
        ];
        format!(
            "{}{}今天又是咕噜咕噜的样子，第{i}次了",
            places[i % 6],
            things[(i / 6) % 6]
        )
    }

    #[test]
    fn the_learning_curve_starts_at_the_lexicon_and_learns()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (train, test) = (
            dir.path().join("train.jsonl"),
            dir.path().join("test.jsonl"),
        );
        let mut lines = String::new();
        for i in 0..60 {
            let row = serde_json::json!({"id": format!("t{i}"), "text": slang(i), "field": "sentiment", "value": "positive"});
            lines.push_str(&format!("{row}\n"));
        }
        std::fs::write(&train, lines)?;
        let mut lines = String::new();
        for i in 100..110 {
            let row =
                serde_json::json!({"id": format!("e{i}"), "text": slang(i), "label": "positive"});
            lines.push_str(&format!("{row}\n"));
        }
        std::fs::write(&test, lines)?;
        let config = Config::default();
        let rows = read_rows(&test, &|_| true)?;
        let curve = learning_curve("sentiment", &rows, &read_corrections(&train)?, &config)?;
        let steps: Vec<(usize, bool)> = curve.iter().map(|p| (p.corrections, p.all)).collect();
        assert_eq!(steps, [(0, false), (50, false), (60, true)]);
        let (first, last) = (&curve[0].report, &curve[2].report);
        assert_eq!(
            first.get("accuracy"),
            0.0,
            "the lexicon reads them as negative"
        );
        assert!(last.get("accuracy") >= 0.9, "{:?}", last.metrics);

        // A fold keeps only its rows; the output names the curve.
        let mut out = Vec::new();
        let keep = |id: &str| id == "e100";
        eval_with(
            "sentiment",
            &test,
            &config,
            &EvalOptions {
                keep: &keep,
                learn_from: Some(&train),
            },
            &mut out,
        )?;
        let text = String::from_utf8(out)?;
        assert!(
            text.contains("(1 items)") && text.contains("all 60"),
            "{text}"
        );
        Ok(())
    }

    #[test]
    fn a_task_without_a_learned_field_is_refused() {
        let e = learning_curve("places", &[], &[], &Config::default()).err();
        assert!(e.is_some_and(|e| e.to_string().contains("--learn-from")));
    }
}
