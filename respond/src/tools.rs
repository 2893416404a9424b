//! `yuqing assign --jsonl`: owner, reason, tier and deadlines for analyzed items, to check the
//! rules of (七.1) and (七.4) on scenarios. Pure: reads one stream, writes the other.
//!
//! Input is lenient: it takes what `yuqing analyze --jsonl` prints (and hand-written variants).
//! `priorities` may be strings or `{priority, ...}` objects; `jurisdiction` the wire JSON, a
//! county name or a list of them (else it is derived from `places`); `severity` a
//! `SeverityProposal`, `{level}` or a level string (`major`, `重大`, `II`). A line that cannot be
//! read yields `{"line": n, "error": ...}` and the tool goes on.

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use common::wire::{Deadline, Jurisdiction, Priority, Severity, Tier};
use serde_json::{Value, json};

use crate::Error;
use crate::assign::{AssignInput, assign_owner, tier_for};
use crate::config::Config;
use crate::plan::{deadline_kind_str, plan_deadlines};
use crate::tracker::parse_severity;

pub fn assign_jsonl(
    config: &Config,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let mut line = String::new();
    let mut n = 0usize;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        n += 1;
        let text = line.trim();
        if text.is_empty() || text.starts_with("//") {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(text) {
            Ok(item) => match assign_item(config, &item) {
                Ok(v) => v,
                Err(reason) => json!({ "line": n, "id": item_id(&item), "error": reason }),
            },
            Err(e) => json!({ "line": n, "error": format!("invalid json: {e}") }),
        };
        serde_json::to_writer(&mut *out, &answer)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn item_id(item: &Value) -> Value {
    ["id", "doc_id", "event_id"]
        .iter()
        .find_map(|k| item.get(*k).filter(|v| !v.is_null()).cloned())
        .unwrap_or(Value::Null)
}

fn str_field<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn priority(v: &Value) -> Option<Priority> {
    let v = match v {
        Value::Object(o) => o.get("priority")?,
        v => v,
    };
    serde_json::from_value(v.clone()).ok()
}

fn severity(item: &Value) -> Result<Option<Severity>, String> {
    let v = item.get("severity").or_else(|| item.get("level"));
    let level = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => match o.get("level") {
            None | Some(Value::Null) => return Ok(None),
            Some(l) => l.clone(),
        },
        Some(v) => v.clone(),
    };
    match level.as_str() {
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_severity(s)
            .map(Some)
            .ok_or_else(|| format!("unknown severity {s:?}")),
        None => Err(format!("unreadable severity {level}")),
    }
}

fn jurisdiction(config: &Config, item: &Value) -> Jurisdiction {
    let from_counties = |counties: Vec<String>| match counties.len() {
        0 => Jurisdiction::Unknown,
        1 => Jurisdiction::Local {
            county: counties[0].clone(),
            township: None,
        },
        _ => Jurisdiction::City { counties },
    };
    match item.get("jurisdiction") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            return from_counties(vec![s.trim().to_string()]);
        }
        Some(Value::Array(a)) => {
            return from_counties(
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
            );
        }
        Some(v @ Value::Object(_)) => {
            if let Ok(j) = serde_json::from_value::<Jurisdiction>(v.clone()) {
                if j != Jurisdiction::Unknown {
                    return j;
                }
            }
        }
        _ => {}
    }
    // No usable jurisdiction: the distinct counties among the place mentions.
    let mut counties: Vec<String> = Vec::new();
    for p in item
        .get("places")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let names = [
            p.as_str(),
            p.get("text").and_then(Value::as_str),
            p.get("resolved").and_then(Value::as_str),
        ];
        for name in names.into_iter().flatten() {
            let found = config.units.iter().find_map(|u| {
                let county = u.county.as_deref()?;
                (name.contains(county) || name == u.id || u.aliases.iter().any(|a| a == name))
                    .then(|| county.to_string())
            });
            if let Some(c) = found {
                if !counties.contains(&c) {
                    counties.push(c);
                }
                break;
            }
        }
    }
    from_counties(counties)
}

fn detected_at(item: &Value) -> Result<DateTime<Utc>, String> {
    for key in [
        "detected_at",
        "first_detected_at",
        "fetched_at",
        "published_at",
    ] {
        if let Some(s) = str_field(item, key) {
            return DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("{key} {s:?} is not RFC 3339: {e}"));
        }
    }
    Err("detected_at is missing".into())
}

/// A unit named by a field: a string (id, name or alias) or `{id}` / `{name}`.
fn unit_field<'c>(
    config: &'c Config,
    item: &Value,
    keys: &[&str],
) -> Result<Option<&'c crate::config::Unit>, String> {
    for key in keys {
        let Some(v) = item.get(*key).filter(|v| !v.is_null()) else {
            continue;
        };
        let text = v
            .as_str()
            .or_else(|| v.get("id").and_then(Value::as_str))
            .or_else(|| v.get("name").and_then(Value::as_str))
            .ok_or_else(|| format!("unreadable {key} {v}"))?;
        return config
            .find_unit(text)
            .map(Some)
            .ok_or_else(|| format!("{key}: no unit {text:?} in the registry"));
    }
    Ok(None)
}

fn assign_item(config: &Config, item: &Value) -> Result<Value, String> {
    let priorities: Vec<Priority> = item
        .get("priorities")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(priority).collect())
        .unwrap_or_default();
    let flags = item.get("flags");
    let input = AssignInput {
        priorities,
        domain: str_field(item, "domain").map(String::from),
        department: str_field(item, "department").map(String::from),
        jurisdiction: jurisdiction(config, item),
        reported_by_unit: flags
            .and_then(|f| str_field(f, "reported_by_unit"))
            .or_else(|| str_field(item, "reported_by_unit"))
            .map(String::from),
        text: [str_field(item, "title").unwrap_or_default().to_string()]
            .into_iter()
            .chain(
                item.get("keywords")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(String::from)),
            )
            .collect::<Vec<_>>()
            .join(" "),
    };
    let proposed = severity(item)?;
    // Staff may have confirmed a different severity (研判): the tier follows it and the
    // deadlines are re-planned from first detection.
    let mut confirmed = None;
    for key in [
        "confirmed_severity",
        "changed_severity",
        "new_severity",
        "severity_override",
    ] {
        if item.get(key).is_some_and(|v| !v.is_null()) {
            confirmed = severity(&json!({ "severity": item[key] }))?;
            break;
        }
    }
    let severity = confirmed.or(proposed);
    let detected = detected_at(item)?;
    let mut assignment = assign_owner(config, &input);
    let automatic = assignment.owner.clone();
    let override_unit = unit_field(
        config,
        item,
        &[
            "override_owner",
            "owner_override",
            "owner_unit_id",
            "owner_unit",
        ],
    )?;
    if let Some(unit) = override_unit {
        assignment = crate::assign::Assignment {
            owner: unit.to_ref(),
            rule: crate::assign::AssignRule::Override,
            reason: format!(
                "人工改派:由{}改为{}(原因:{})",
                automatic.name,
                unit.name,
                str_field(item, "override_reason").unwrap_or("未注明")
            ),
        };
    }
    let tier = tier_for(severity);
    let deadlines: Vec<Deadline> =
        plan_deadlines(&config.tiers, tier, detected, &[], None, None, detected)
            .into_iter()
            .map(|p| p.deadline)
            .collect();
    let mut answer = json!({
        "id": item_id(item),
        "owner": { "id": assignment.owner.id, "name": assignment.owner.name },
        "rule": assignment.rule,
        "reason": assignment.reason,
        "tier": tier,
        "severity": severity,
        "detected_at": detected.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "deadlines": deadlines.iter().map(|d| json!({
            "kind": deadline_kind_str(d.kind),
            "due_at": d.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })).collect::<Vec<_>>(),
        "continued_release_every_hours": match tier {
            Tier::MajorEmergency | Tier::Standard => config.tiers.continued_release_every_hours,
        },
    });
    if confirmed.is_some() && confirmed != proposed {
        answer["proposed_severity"] = json!(proposed);
        answer["proposed_tier"] = json!(tier_for(proposed));
        answer["replanned"] = json!(true);
    }
    if override_unit.is_some() {
        answer["automatic_owner"] = json!({ "id": automatic.id, "name": automatic.name });
    }
    Ok(answer)
}
