//! Data-driven check of owner assignment (七.1) and tier planning (七.4) through the
//! `yuqing assign --jsonl` tool: each fixture line is a scenario with its expected owner,
//! rule, tier and deadlines.

use std::io::Cursor;

use respond::{Config, tools};
use serde_json::Value;

const SCENARIOS: &str = include_str!("fixtures/assign_scenarios.jsonl");

#[test]
fn assign_scenarios() {
    let config = Config::from_default_toml().unwrap();
    let scenarios: Vec<Value> = SCENARIOS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(scenarios.len() >= 15);
    let input: String = scenarios
        .iter()
        .map(|s| format!("{}\n", s["item"]))
        .collect();
    let mut out = Vec::new();
    tools::assign_jsonl(&config, &mut Cursor::new(input), &mut out).unwrap();
    let answers: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), scenarios.len());

    let mut failures = Vec::new();
    for (s, got) in scenarios.iter().zip(&answers) {
        let name = s["name"].as_str().unwrap();
        let expect = &s["expect"];
        let mut check = |what: &str, ok: bool| {
            if !ok {
                failures.push(format!("{name}: {what}\n  got {got}"));
            }
        };
        if let Some(e) = expect["error_contains"].as_str() {
            check(
                "error",
                got["error"].as_str().is_some_and(|m| m.contains(e)),
            );
            continue;
        }
        check("no error", got.get("error").is_none());
        check("owner", got["owner"]["id"] == expect["owner"]);
        if let Some(n) = expect.get("owner_name") {
            check("owner name", &got["owner"]["name"] == n);
        }
        if let Some(r) = expect.get("rule") {
            check("rule", &got["rule"] == r);
        }
        if let Some(t) = expect.get("tier") {
            check("tier", &got["tier"] == t);
        }
        if let Some(r) = expect["reason_contains"].as_str() {
            check(
                "reason",
                got["reason"].as_str().is_some_and(|m| m.contains(r)),
            );
        }
        if let Some(d) = expect["deadlines"].as_array() {
            let got_d: Vec<(String, String)> = got["deadlines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    (
                        x["kind"].as_str().unwrap().to_string(),
                        x["due_at"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let want: Vec<(String, String)> = d
                .iter()
                .map(|x| {
                    (
                        x[0].as_str().unwrap().to_string(),
                        x[1].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            check("deadlines", got_d == want);
        }
        check("id echoed", got["id"] == s["item"]["id"]);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn garbage_lines_do_not_stop_the_tool() {
    let config = Config::default();
    let input = "not json\n\n{\"id\":\"ok\",\"detected_at\":\"2026-01-01T00:00:00Z\"}\n";
    let mut out = Vec::new();
    tools::assign_jsonl(&config, &mut Cursor::new(input), &mut out).unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["error"].as_str().unwrap().contains("invalid json"));
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[1]["owner"]["id"], "general_office");
}
