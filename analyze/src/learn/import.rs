//! 研判 records as JSONL rows (`yuqing learn FILE`, `yuqing eval … --learn-from FILE`):
//!
//! `{"id", "text", "title"?, "field", "value", "source"?, "withdrawn"?}`
//!
//! `source` names where the record came from (a dataset path, an archive); the outlet of the
//! item is not part of the format, so imported items carry no source credibility.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use common::wire::{Correction, CorrectionField, SourceKind};

#[derive(Debug, Deserialize)]
struct Row {
    id: Value,
    #[serde(default)]
    text: String,
    #[serde(default)]
    title: Option<String>,
    field: String,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    withdrawn: bool,
}

/// One row as a correction judged `by` at `at`, or what is wrong with it (in Chinese).
pub fn parse_row(line: &str, by: &str, at: DateTime<Utc>) -> Result<Correction, String> {
    let row: Row =
        serde_json::from_str(line).map_err(|e| format!("不是有效的研判记录 JSON：{e}"))?;
    let item_id = match &row.id {
        Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err("缺少 id（字符串或数字）".into()),
    };
    let field = CorrectionField::parse(&row.field).ok_or_else(|| {
        format!(
            "未知的研判字段 {:?}（可用：department、sentiment、rumor、emergency、false_info）",
            row.field
        )
    })?;
    let c = Correction {
        item_id,
        field,
        value: row.value,
        text: row.text,
        title: row.title.filter(|t| !t.trim().is_empty()),
        source: None,
        source_kind: SourceKind::Rss,
        by: Some(by.to_string()),
        origin: row.source.filter(|s| !s.is_empty()),
        at,
        withdrawn: row.withdrawn,
    };
    super::check(&c)?;
    Ok(c)
}

/// Every row of a JSONL text; the first bad row stops the import, named by its line number, so
/// nothing is half-imported.
pub fn parse_all(text: &str, by: &str, at: DateTime<Utc>) -> Result<Vec<Correction>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_row(line.trim(), by, at).map_err(|e| format!("第 {} 行：{e}", i + 1))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default()
    }

    #[test]
    fn rows_in_the_dev_corrections_format_are_read() {
        let text = concat!(
            r#"{"id": "a1", "text": "某地发生交通事故", "field": "emergency", "value": true, "source": "x/y#1"}"#,
            "\n\n",
            r#"{"id": 7, "text": "新游戏上线", "title": "", "field": "department", "value": ""}"#,
            "\n",
            r#"{"id": "s", "text": "好开心", "field": "sentiment", "value": "positive"}"#,
            "\n",
        );
        let all = parse_all(text, "import:t", at()).unwrap_or_default();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].key(), "a1#emergency");
        assert_eq!(all[0].origin.as_deref(), Some("x/y#1"));
        assert_eq!(all[0].source, None);
        assert_eq!(all[1].item_id, "7");
        assert_eq!(all[1].title, None);
        assert_eq!(all[2].value, serde_json::json!("positive"));
    }

    #[test]
    fn a_bad_row_is_named_by_its_line() {
        for (text, needle) in [
            (
                "{\"id\":\"a\",\"text\":\"t\",\"field\":\"mood\",\"value\":1}",
                "未知的研判字段",
            ),
            (
                "{\"text\":\"t\",\"field\":\"rumor\",\"value\":true}",
                "JSON",
            ),
            (
                "{\"id\":\"a\",\"text\":\"t\",\"field\":\"sentiment\",\"value\":\"meh\"}",
                "positive",
            ),
            ("not json", "JSON"),
        ] {
            let input = format!(
                "{{\"id\":\"ok\",\"text\":\"t\",\"field\":\"rumor\",\"value\":false}}\n{text}\n"
            );
            let e = parse_all(&input, "import:t", at())
                .err()
                .unwrap_or_default();
            assert!(e.starts_with("第 2 行") && e.contains(needle), "{e}");
        }
    }
}
