//! The stable JSON API, through a real HTTP client against a server fed by an embedded bus.

mod support;

use chrono::Utc;
use common::topics;
use common::wire::{CaseState, RegistryUnit, UnitRegistry};
use support::{Harness, case, doc, event, public_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_show_what_the_topics_carry_once_each() {
    let h = Harness::start_with_users(public_config(), &[("desk1", "desk", None)]).await;
    let http = reqwest::Client::new();
    // Cases are never public: they are read with a desk session.
    let (desk, _) = support::session(&h, "desk1").await;
    let t0 = Utc::now() - chrono::Duration::hours(1);

    let health = h.get_json(&http, "/healthz").await;
    assert_eq!(health, serde_json::json!({ "status": "ok" }));

    h.item(doc("d1", "ev-1", "南明区停水", "南明区", t0)).await;
    h.item(doc("d2", "ev-1", "南明区停水第二天", "南明区", t0))
        .await;
    // A redelivery of d1 under a new message id must not make a second row.
    h.item(doc("d1", "ev-1", "南明区停水", "南明区", t0)).await;
    h.item(doc("d3", "ev-2", "花溪区道路塌陷", "花溪区", t0))
        .await;

    h.event(event("ev-1", "南明区停水", 10.0, 1, t0)).await;
    h.event(event("ev-2", "花溪区道路塌陷", 30.0, 1, t0)).await;
    h.event(event("ev-1", "南明区停水", 50.0, 2, t0)).await;
    // An older revision arriving late is ignored.
    h.event(event("ev-1", "旧标题", 5.0, 1, t0)).await;

    h.case_event(case("c1", "nanming", 1, CaseState::Assigned, t0))
        .await;
    h.case_event(case("c1", "nanming", 2, CaseState::Acknowledged, t0))
        .await;
    h.case_event(case("c1", "nanming", 1, CaseState::Assigned, t0))
        .await;

    let stats = h
        .wait_json(&http, "/api/stats", |v| {
            v["items"] == 3 && v["events"] == 2 && v["cases"] == 1
        })
        .await;
    assert_eq!(
        stats,
        serde_json::json!({ "items": 3, "events": 2, "cases": 1 })
    );

    let events = h
        .wait_json(&http, "/api/events", |v| v[0]["heat"] == 50.0)
        .await;
    let events = events.as_array().expect("array");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["event_id"], "ev-1", "hottest first");
    assert_eq!(events[0]["title"], "南明区停水");
    assert_eq!(events[1]["event_id"], "ev-2");
    for key in [
        "heat",
        "doc_count",
        "priorities",
        "jurisdiction",
        "severity",
        "first_detected_at",
        "last_seen_at",
    ] {
        assert!(events[0].get(key).is_some(), "event field {key}");
    }
    assert_eq!(events[0]["trend"].as_array().map(Vec::len), Some(2));

    let cases = h
        .wait_json(&desk, "/api/cases", |v| v[0]["state"] == "acknowledged")
        .await;
    let c = &cases[0];
    assert_eq!(cases.as_array().map(Vec::len), Some(1));
    assert_eq!(c["case_id"], "c1");
    assert_eq!(c["owner"]["id"], "nanming");
    assert_eq!(c["owner"]["name"], "nanming名称");
    assert_eq!(c["tier"], "standard");
    assert_eq!(c["deadlines"][0]["kind"], "response");
    assert!(c["deadlines"][0]["due_at"].is_string());
    assert!(c["deadlines"][0].get("met_at").is_some());
    assert_eq!(c["deadlines"][0]["breached"], false);

    let items = h.get_json(&http, "/api/items?limit=10").await;
    let ids: Vec<&str> = items
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|i| i["doc_id"].as_str())
        .collect();
    assert_eq!(ids, ["d3", "d2", "d1"], "newest first, each once");
    let two = h.get_json(&http, "/api/items?limit=2").await;
    assert_eq!(two.as_array().map(Vec::len), Some(2));
    let hua = h.get_json(&http, "/api/items?district=花溪区").await;
    assert_eq!(hua.as_array().map(Vec::len), Some(1));
    let grid = h.get_json(&http, "/api/districts").await;
    let cell = |name: &str| {
        grid.as_array()
            .and_then(|a| a.iter().find(|c| c["district"] == name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        grid.as_array().map(Vec::len),
        Some(10),
        "every locality has a cell"
    );
    assert_eq!(cell("南明区")["items_24h"], 2);
    assert_eq!(cell("南明区")["negative_24h"], 2);
    assert_eq!(cell("花溪区")["items_24h"], 1);
    assert_eq!(cell("修文县")["items_24h"], 0);

    let res = h.get(&http, "/api/stats").await;
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_what_was_shown_and_adds_no_duplicates() {
    let h = Harness::start(public_config()).await;
    let http = reqwest::Client::new();
    let t0 = Utc::now();
    for i in 0..20 {
        h.item(doc(&format!("d{i}"), "ev-1", "标题", "云岩区", t0))
            .await;
    }
    h.event(event("ev-1", "云岩区事件", 3.0, 1, t0)).await;
    h.wait_json(&http, "/api/stats", |v| {
        v["items"] == 20 && v["events"] == 1
    })
    .await;
    let data = h.stop().await;

    let h = Harness::start_in(public_config(), data).await;
    // Redeliveries after the restart (the same docs again) change nothing.
    for i in 0..20 {
        h.item(doc(&format!("d{i}"), "ev-1", "标题", "云岩区", t0))
            .await;
    }
    h.item(doc("d-new", "ev-1", "标题", "云岩区", t0)).await;
    let stats = h.wait_json(&http, "/api/stats", |v| v["items"] == 21).await;
    assert_eq!(stats["events"], 1);
    let items = h.get_json(&http, "/api/items?limit=1000").await;
    assert_eq!(items.as_array().map(Vec::len), Some(21));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text() {
    let h = Harness::start(public_config()).await;
    let http = reqwest::Client::new();
    h.item(doc("d1", "ev-1", "标题", "云岩区", Utc::now()))
        .await;
    h.wait_json(&http, "/api/stats", |v| v["items"] == 1).await;
    // Lag rows appear once the background sampler has run.
    let mut text = h.get_text(&http, "/metrics").await;
    for _ in 0..100 {
        if text.contains("yuqing_consumer_lag{") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        text = h.get_text(&http, "/metrics").await;
    }
    assert!(
        text.contains("# TYPE yuqing_dashboards_items gauge"),
        "{text}"
    );
    assert!(text.contains("yuqing_dashboards_items 1"), "{text}");
    assert!(
        text.contains("yuqing_consumer_lag{stage=\"dashboards\""),
        "{text}"
    );
    h.stop().await;
}

/// Read SSE frames from a streaming response until `done` says stop.
async fn read_sse(
    res: reqwest::Response,
    mut done: impl FnMut(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let mut res = res;
    let mut buf = String::new();
    let mut frames = Vec::new();
    while !done(&frames) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), res.chunk())
            .await
            .expect("stream keeps delivering")
            .expect("chunk")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut event = String::from("message");
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if !data.is_empty() {
                frames.push((event, data));
            }
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_filters_and_bounds_what_a_viewer_gets() {
    let h = Harness::start(public_config()).await;
    let http = reqwest::Client::new();
    let res = http
        .get(h.url("/api/stream?district=花溪区"))
        .send()
        .await
        .expect("stream");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let t0 = Utc::now();
    h.item(doc("nm-1", "ev-1", "南明区一条", "南明区", t0))
        .await;
    // A burst far larger than one batch may carry.
    for i in 0..300 {
        h.item(doc(&format!("hx-{i}"), "ev-2", "花溪区", "花溪区", t0))
            .await;
    }
    let frames = read_sse(res, |f| {
        f.iter()
            .any(|(e, d)| e == "item" && d.contains("\"doc_id\":\"hx-299\""))
    })
    .await;
    let items: Vec<serde_json::Value> = frames
        .iter()
        .filter(|(e, _)| e == "item")
        .map(|(_, d)| serde_json::from_str(d).expect("item json"))
        .collect();
    assert!(
        items.iter().all(|i| i["district"] == "花溪区"),
        "filtered on the server"
    );
    assert!(!items.iter().any(|i| i["doc_id"] == "nm-1"));
    let skipped: u64 = frames
        .iter()
        .filter(|(e, _)| e == "skipped")
        .map(|(_, d)| {
            serde_json::from_str::<serde_json::Value>(d).expect("json")["items"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    // Every item was either sent or counted as skipped, never silently lost.
    assert_eq!(
        items.len() as u64 + skipped,
        300,
        "{} sent, {skipped} skipped",
        items.len()
    );
    let mut ids: Vec<&str> = items.iter().filter_map(|i| i["doc_id"].as_str()).collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "no item twice");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_report_is_archived_and_announced() {
    use axum::routing::post;
    // A webhook receiver standing in for the notification gateway.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(4);
    let hook = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v).await;
                "ok"
            }
        }),
    );
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_url = format!("http://{}/hook", hook_listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(hook_listener, hook).await });

    let mut cfg = public_config();
    // "00:00" has always passed today, so yesterday's report is made up at start.
    cfg.reports.daily_at = "00:00".into();
    cfg.reports.webhooks = vec![hook_url];
    let h = Harness::start_with_users(cfg, &[("leader1", "leader", None)]).await;
    let notice = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
        .await
        .expect("notice arrives")
        .expect("notice");
    assert_eq!(notice["kind"], "daily_report");
    assert!(
        notice["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("舆情日报"))
    );
    let (leader, _) = support::session(&h, "leader1").await;
    let list = h.get_json(&leader, "/api/archive").await;
    let docx_url = notice["docx"].as_str().expect("docx link");
    assert!(
        list.as_array()
            .expect("array")
            .iter()
            .any(|e| e["url"] == docx_url)
    );
    let bytes = h.get_bytes(&leader, docx_url).await;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("docx zip");
    assert!(zip.by_name("word/document.xml").is_ok());
    // Names outside the archive's pattern are never served.
    let res = h
        .get(&leader, "/reports/archive/..%2F..%2Fread-model")
        .await;
    assert_eq!(res.status(), 404);
    let anon = reqwest::Client::new();
    assert_eq!(h.get(&anon, docx_url).await.status(), 401);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_shows_source_health_and_bus_lag() {
    let h =
        Harness::start_with_users(support::private_config(), &[("admin1", "admin", None)]).await;
    h.send(
        common::topics::SOURCE_HEALTH,
        "gyrb",
        common::wire::SourceHealth {
            source_id: "gyrb".into(),
            url: "https://news.example.cn/rss".into(),
            last_attempt_at: Some(Utc::now()),
            consecutive_failures: 3,
            last_error: Some("timeout".into()),
            ..Default::default()
        },
    )
    .await;
    let (admin, _) = support::session(&h, "admin1").await;
    // Lag comes from the background sampler: wait for a sample that has seen the message.
    let ops = h
        .wait_json(&admin, "/api/ops", |v| {
            v["sources"][0]["source_id"] == "gyrb"
                && v["lag"].as_array().is_some_and(|rows| {
                    rows.iter()
                        .any(|r| r["stage"] == "dashboards" && r["lag"] == 0)
                })
        })
        .await;
    assert_eq!(ops["sources"][0]["ok"], false);
    assert_eq!(ops["sources"][0]["consecutive_failures"], 3);
    let lag = ops["lag"].as_array().expect("lag rows");
    assert!(
        lag.iter()
            .any(|r| r["stage"] == "dashboards" && r["lag"] == 0)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_user_while_the_server_holds_the_store_is_a_clear_error() {
    let h = Harness::start(public_config()).await;
    // Once it answers, the server has opened its store.
    h.wait_json(&reqwest::Client::new(), "/healthz", |v| v["status"] == "ok")
        .await;
    let err = dashboards::tools::create_user(
        &public_config(),
        h.data.path(),
        "a",
        "admin",
        None,
        "long password 1",
    )
    .expect_err("store is locked by the server");
    assert!(
        err.to_string().contains("正被运行中的 yuqing 进程使用"),
        "{err}"
    );
    h.stop().await;
}

#[test]
fn create_user_checks_its_input() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = public_config();
    dashboards::tools::create_user(&cfg, dir.path(), "admin1", "admin", None, "long password 1")
        .expect("first user");
    let err =
        dashboards::tools::create_user(&cfg, dir.path(), "u1", "unit", None, "long password 1")
            .expect_err("a unit account needs a unit");
    assert!(err.to_string().contains("所属单位"), "{err}");
    let err =
        dashboards::tools::create_user(&cfg, dir.path(), "x", "boss", None, "long password 1")
            .expect_err("unknown role");
    assert!(err.to_string().contains("未知角色"), "{err}");
    let err = dashboards::tools::create_user(&cfg, dir.path(), "x", "desk", None, "short")
        .expect_err("short password");
    assert!(err.to_string().contains("至少 10 个字符"), "{err}");
}

fn registry_unit(id: &str, name: &str, kind: &str) -> RegistryUnit {
    RegistryUnit {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        aliases: Vec::new(),
    }
}

/// The unit ids and names `/api/units` lists, in its order.
fn unit_list(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["id"].as_str().unwrap_or_default().to_string(),
                u["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_lists_are_the_whole_registry_by_name_and_a_rename_sticks() {
    // "educaton" is how an account made before the registry check looks: a raw, mistyped id.
    let h = Harness::start_with_users(
        public_config(),
        &[
            ("admin1", "admin", None),
            ("typo", "unit", Some("educaton")),
        ],
    )
    .await;
    let (admin, csrf) = support::session(&h, "admin1").await;
    let t0 = Utc::now();
    let registry = UnitRegistry {
        units: vec![
            registry_unit("nanming", "南明区人民政府", "county"),
            registry_unit("education", "市教育局", "city_department"),
            registry_unit("public_security", "市公安局", "city_department"),
        ],
    };
    h.send(topics::UNIT_REGISTRY, "registry", registry.clone())
        .await;
    // A case of a unit the registry no longer has keeps its unit listed, by its name.
    h.case_event(case("c-old", "old_unit", 1, CaseState::Assigned, t0))
        .await;
    let units = h
        .wait_json(&admin, "/api/units", |v| unit_list(v).len() == 4)
        .await;
    assert_eq!(
        unit_list(&units),
        [
            ("nanming", "南明区人民政府"),
            ("education", "市教育局"),
            ("public_security", "市公安局"),
            ("old_unit", "old_unit名称"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let page = h.get_text(&admin, "/admin").await;
    assert!(page.contains(">市公安局</option>"), "{page}");
    assert!(
        !page.contains(r#"value="educaton""#),
        "a raw id is never offered: {page}"
    );
    assert!(page.contains("educaton（不在单位名录中）"), "{page}");

    // Renaming survives the registry being republished and a case event naming the unit.
    let res = admin
        .post(h.url("/admin/units"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("id", "education"),
            ("name", "市教育局（市语委）"),
        ])
        .send()
        .await
        .expect("rename");
    assert_eq!(res.status(), 303);
    h.send(topics::UNIT_REGISTRY, "registry", registry.clone())
        .await;
    h.case_event(case("c-edu", "education", 1, CaseState::Assigned, t0))
        .await;
    h.wait_json(&admin, "/api/cases", |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let units = h.get_json(&admin, "/api/units").await;
    assert!(
        unit_list(&units).contains(&("education".into(), "市教育局（市语委）".into())),
        "{units}"
    );
    // ...and the case of that unit says the same name.
    let c = h.get_json(&admin, "/api/cases/c-edu").await;
    assert_eq!(c["case"]["owner"]["name"], "市教育局（市语委）");
    // A unit the registry does not have cannot be made up in /admin.
    admin
        .post(h.url("/admin/units"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("id", "made_up"),
            ("name", "某单位"),
        ])
        .send()
        .await
        .expect("post");
    let units = h.get_json(&admin, "/api/units").await;
    assert!(
        !unit_list(&units).iter().any(|(id, _)| id == "made_up"),
        "{units}"
    );
    h.stop().await;
}

#[test]
fn the_cli_path_refuses_a_data_directory_without_a_store_unless_asked() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = public_config();
    let fresh = dir.path().join("yuqing-data");
    let account = |create| dashboards::tools::NewAccount {
        name: "admin1",
        role: "admin",
        unit: None,
        password: "long password 1",
        create,
    };
    let err = dashboards::tools::add_user(&cfg, &fresh, &account(false), None)
        .expect_err("no store there yet");
    assert!(err.to_string().contains("--create"), "{err}");
    assert!(!fresh.exists(), "nothing was created");
    let written = dashboards::tools::add_user(&cfg, &fresh, &account(true), None).expect("create");
    assert!(
        written.is_absolute() && written.starts_with(&fresh),
        "{}",
        written.display()
    );
    // Now the store exists: a second account needs no flag.
    dashboards::tools::add_user(&cfg, &fresh, &account(false), None).expect("existing store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_period_exports_the_numbers_of_its_json_report() {
    use calamine::Reader;
    use std::io::Read;
    let h = Harness::start_with_users_at(
        public_config(),
        &[("leader1", "leader", None)],
        support::noon_clock(),
    )
    .await;
    let now = h.now();
    for i in 0..7 {
        h.item(doc(
            &format!("e{i}"),
            "ev-1",
            "标题",
            "乌当区",
            now - chrono::Duration::seconds(i),
        ))
        .await;
    }
    h.case_event(case("c1", "wudang", 1, CaseState::Assigned, now))
        .await;
    let (leader, _) = support::session(&h, "leader1").await;
    h.wait_json(&leader, "/api/stats", |v| {
        v["items"] == 7 && v["cases"] == 1
    })
    .await;
    for period in ["daily", "weekly", "monthly", "quarterly", "annual"] {
        let json = h.get_json(&leader, &format!("/api/reports/{period}")).await;
        let items = json["totals"]["items"].as_u64().expect("items");
        assert_eq!(items, 7, "{period}");
        let xlsx = h
            .get_bytes(&leader, &format!("/reports/{period}/report.xlsx"))
            .await;
        let mut wb: calamine::Xlsx<_> =
            calamine::Xlsx::new(std::io::Cursor::new(xlsx)).expect("xlsx");
        let sheet = wb.worksheet_range("总体情况").expect("sheet");
        let row = sheet
            .rows()
            .find(|r| r.first().map(|c| c.to_string()) == Some("舆情信息（条）".into()))
            .expect("row");
        assert_eq!(row[1].to_string(), items.to_string(), "{period} xlsx");
        let trend = wb.worksheet_range("信息量走势").expect("trend sheet");
        let sum: f64 = trend
            .rows()
            .skip(1)
            .filter_map(|r| r[1].to_string().parse::<f64>().ok())
            .sum();
        assert_eq!(
            sum as u64, items,
            "{period}: the trend adds up to the total"
        );
        let docx = h
            .get_bytes(&leader, &format!("/reports/{period}/report.docx"))
            .await;
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(docx)).expect("zip");
        let mut xml = String::new();
        zip.by_name("word/document.xml")
            .expect("part")
            .read_to_string(&mut xml)
            .expect("utf-8");
        let doc = roxmltree::Document::parse(&xml).expect("xml");
        let text: String = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "t")
            .filter_map(|n| n.text())
            .collect();
        assert!(
            text.contains(&format!("本期共监测舆情信息{items}条")),
            "{period} docx"
        );
        assert!(
            text.contains(json["title"].as_str().expect("title")),
            "{period} title"
        );
        let print = h
            .get_text(&leader, &format!("/reports/{period}/print"))
            .await;
        assert!(
            print.contains(&format!("本期共监测舆情信息{items}条")),
            "{period} print"
        );
    }
    assert_eq!(h.get(&leader, "/api/reports/hourly").await.status(), 404);
    assert_eq!(
        h.get(&leader, "/api/reports/daily?date=2026-13-01")
            .await
            .status(),
        400
    );
    h.stop().await;
}

/// An event the response tracker opens a case for on its own (hot, in the city), with the
/// analyzer's proposal 一般.
fn hot_event(id: &str, title: &str, at: chrono::DateTime<Utc>) -> common::wire::EventUpdate {
    let mut e = event(id, title, 90.0, 1, at);
    e.severity.level = Some(common::wire::Severity::General);
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_severity_reads_the_same_on_the_event_the_case_and_the_report() {
    let h = Harness::start_with_users_at(
        public_config(),
        &[("desk1", "desk", None)],
        support::noon_clock(),
    )
    .await;
    let respond = h.start_respond();
    let (desk, csrf) = support::session(&h, "desk1").await;
    let t0 = h.now() - chrono::Duration::minutes(30);
    h.event(hot_event("ev-sev", "南明区某小区燃气爆炸", t0))
        .await;
    // A quieter event opens no case: it keeps the analyzer's proposal, marked as one.
    let mut quiet = event("ev-quiet", "云岩区路灯不亮", 5.0, 1, t0);
    quiet.severity.level = Some(common::wire::Severity::General);
    h.event(quiet).await;

    let cases = h
        .wait_json(&desk, "/api/cases", |v| {
            v.as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let case_id = cases[0]["case_id"].as_str().expect("case id").to_string();
    assert_eq!(cases[0]["severity_label"], "一般（拟）");
    let res = desk
        .post(h.url(&format!("/api/cases/{case_id}/commands")))
        .header("X-CSRF-Token", &csrf)
        .json(
            &serde_json::json!({ "action": "severity", "severity": "large", "reason": "研判确认" }),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 202);

    let case = h
        .wait_json(&desk, &format!("/api/cases/{case_id}"), |v| {
            v["case"]["severity_confirmed"] == true
        })
        .await;
    assert_eq!(case["case"]["severity_label"], "较大");
    let tier = case["case"]["tier_label"].as_str().unwrap_or_default();
    assert!(
        tier.starts_with("较大") && tier.contains("48小时"),
        "{tier}"
    );

    let events = h.get_json(&desk, "/api/events").await;
    let label = |id: &str| {
        events
            .as_array()
            .and_then(|a| a.iter().find(|e| e["event_id"] == id))
            .map(|e| e["severity_label"].clone())
            .unwrap_or_default()
    };
    assert_eq!(label("ev-sev"), "较大");
    assert_eq!(label("ev-quiet"), "一般（拟）");
    let detail = h.get_json(&desk, "/api/events/ev-sev").await;
    assert_eq!(detail["event"]["severity_label"], "较大");

    let report = h.get_json(&desk, "/api/reports/daily").await;
    let severity = |id: &str| {
        report["top_events"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["event_id"] == id))
            .map(|e| e["severity"].clone())
            .unwrap_or_default()
    };
    assert_eq!(severity("ev-sev"), "较大", "{report}");
    assert_eq!(severity("ev-quiet"), "一般（拟）", "{report}");
    respond.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_checked_before_202_and_a_later_rejection_reaches_its_sender() {
    let h = Harness::start_with_users(
        public_config(),
        &[("desk1", "desk", None), ("desk2", "desk", None)],
    )
    .await;
    let respond = h.start_respond();
    let (desk, csrf) = support::session(&h, "desk1").await;
    let (other, _) = support::session(&h, "desk2").await;
    h.event(hot_event("ev-cmd", "南明区某小区燃气爆炸", Utc::now()))
        .await;
    let cases = h
        .wait_json(&desk, "/api/cases", |v| {
            v.as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let case_id = cases[0]["case_id"].as_str().expect("id").to_string();
    let allowed: Vec<&str> = cases[0]["allowed_actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(allowed.contains(&"close") && allowed.contains(&"acknowledge"));
    assert!(!allowed.contains(&"reopen"), "{allowed:?}");
    // Respond's registry has arrived: a unit outside it can be refused at once.
    h.wait_json(&desk, "/api/units", |v| unit_list(v).len() > 40)
        .await;

    let send = |body: serde_json::Value| {
        let req = desk
            .post(h.url(&format!("/api/cases/{case_id}/commands")))
            .header("X-CSRF-Token", &csrf)
            .json(&body);
        async move {
            let res = req.send().await.expect("post");
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.expect("json"))
        }
    };
    for (body, status, error) in [
        (
            serde_json::json!({ "action": "close", "reason": " " }),
            422,
            "请填写办结说明".to_string(),
        ),
        (
            serde_json::json!({ "action": "reopen", "reason": "再次反映" }),
            409,
            "案件当前为“已交办”，不能重新打开".to_string(),
        ),
        (
            serde_json::json!({ "action": "reassign", "owner_unit_id": "nobody", "reason": "错派" }),
            422,
            "单位“nobody”不在单位名录中".to_string(),
        ),
        (
            serde_json::json!({ "action": "dispute", "reason": "长".repeat(1001) }),
            422,
            "异议理由最多1000个字符（现有1001个）".to_string(),
        ),
    ] {
        let (got, json) = send(body.clone()).await;
        assert_eq!(
            (got, json["error"].as_str()),
            (status, Some(error.as_str())),
            "{body}"
        );
    }

    // The same confirmation twice: only the tracker knows the second changes nothing.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, json) =
            send(serde_json::json!({ "action": "severity", "severity": "large", "reason": "" }))
                .await;
        assert_eq!(status, 202, "{json}");
        ids.push(json["message_id"].as_str().expect("id").to_string());
    }
    let first = h
        .wait_json(&desk, &format!("/api/commands/{}", ids[0]), |v| {
            v["status"] != "pending"
        })
        .await;
    assert_eq!(first["status"], "accepted");
    let second = h
        .wait_json(&desk, &format!("/api/commands/{}", ids[1]), |v| {
            v["status"] != "pending"
        })
        .await;
    assert_eq!(second["status"], "rejected");
    assert_eq!(second["message"], "级别已确认为较大");
    assert_eq!(second["case_id"], case_id.as_str());
    // Only its sender learns of it.
    let res = h.get(&other, &format!("/api/commands/{}", ids[1])).await;
    assert_eq!(res.status(), 404);
    respond.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_get_chinese_json_errors_and_texts_have_limits() {
    let h = Harness::start_with_users(public_config(), &[("desk1", "desk", None)]).await;
    let (desk, csrf) = support::session(&h, "desk1").await;
    let t0 = Utc::now();
    h.case_event(case("c1", "nanming", 1, CaseState::Assigned, t0))
        .await;
    h.wait_json(&desk, "/api/cases", |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    h.send(
        topics::UNIT_REGISTRY,
        "registry",
        UnitRegistry {
            units: vec![registry_unit("nanming", "南明区人民政府", "county")],
        },
    )
    .await;
    h.wait_json(&desk, "/api/units", |v| {
        unit_list(v).iter().any(|(_, n)| n == "南明区人民政府")
    })
    .await;
    let post = |path: &str, body: serde_json::Value| {
        desk.post(h.url(path))
            .header("X-CSRF-Token", &csrf)
            .json(&body)
    };
    let error = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("application/json"), "{status} answers {ct}");
        let v: serde_json::Value = res.json().await.expect("json");
        (status, v["error"].as_str().unwrap_or_default().to_string())
    };

    // What the framework refuses reads in Chinese too.
    let (status, msg) = error(
        post(
            "/api/cases/c1/commands",
            serde_json::json!({ "action": "respond", "kind": "statement", "text": "x" }),
        )
        .send()
        .await
        .expect("post"),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        msg.contains("“statement”不可用") && msg.contains("reply"),
        "{msg}"
    );
    let (status, msg) = error(
        desk.post(h.url("/api/cases/c1/commands"))
            .header("X-CSRF-Token", &csrf)
            .body("{\"action\":")
            .header("content-type", "application/json")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, msg.starts_with("提交的内容")),
        (400, true),
        "{msg}"
    );
    let (status, msg) = error(h.get(&desk, "/api/items?limit=many").await).await;
    assert_eq!(
        (status, msg.as_str()),
        (400, "查询参数有误：字段“limit”的取值无效")
    );

    // A 1.8 MB title is refused, not stored and repeated in every list.
    let huge = "长".repeat(600_000);
    let (status, msg) = error(
        post(
            "/api/intake",
            serde_json::json!({ "title": huge, "reported_by_unit": "nanming" }),
        )
        .send()
        .await
        .expect("post"),
    )
    .await;
    assert_eq!(status, 422);
    assert!(msg.starts_with("标题最多200个字符"), "{msg}");
    let (status, msg) = error(
        post(
            "/api/cases",
            serde_json::json!({ "title": "标".repeat(201) }),
        )
        .send()
        .await
        .expect("post"),
    )
    .await;
    assert_eq!(
        (status, msg.starts_with("标题最多200个字符")),
        (422, true),
        "{msg}"
    );
    for (body, want) in [
        (
            serde_json::json!({ "title": "南明区某路段塌陷", "district": "火星区", "reported_by_unit": "nanming" }),
            "区（市、县）须为南明区、",
        ),
        (
            serde_json::json!({ "title": "南明区某路段塌陷", "district": "南明区", "reported_by_unit": "nobody" }),
            "报送单位“nobody”不在单位名录中",
        ),
        (
            serde_json::json!({ "title": "南明区某路段塌陷", "body": "情".repeat(5001), "reported_by_unit": "nanming" }),
            "情况说明最多5000个字符",
        ),
    ] {
        let (status, msg) = error(post("/api/intake", body).send().await.expect("post")).await;
        assert_eq!(status, 422, "{msg}");
        assert!(msg.starts_with(want), "{msg}");
    }
    let res = post(
        "/api/intake",
        serde_json::json!({ "title": "南明区某路段塌陷", "district": "南明区", "reported_by_unit": "nanming" }),
    )
    .send()
    .await
    .expect("post");
    assert_eq!(res.status(), 202);
    h.event(event("ev-1", "南明区停水", 10.0, 1, t0)).await;
    h.wait_json(&desk, "/api/events/ev-1", |v| {
        v["event"]["event_id"] == "ev-1"
    })
    .await;
    let (status, msg) = error(
        post(
            "/api/events/ev-1/judge",
            serde_json::json!({ "priorities": [], "note": "注".repeat(1001) }),
        )
        .send()
        .await
        .expect("post"),
    )
    .await;
    assert_eq!(
        (status, msg.starts_with("研判意见最多1000个字符")),
        (422, true),
        "{msg}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_and_the_source_filter_name_outlets_not_source_ids() {
    let h = Harness::start(public_config()).await;
    let http = reqwest::Client::new();
    let t0 = Utc::now();
    // A configured name arrives with the source's health; a feed's items carry theirs.
    h.send(
        topics::SOURCE_HEALTH,
        "gov-feed",
        common::wire::SourceHealth {
            source_id: "gov-feed".into(),
            url: "https://www.guiyang.gov.cn/atom.xml".into(),
            name: Some("贵阳市人民政府网".into()),
            ..Default::default()
        },
    )
    .await;
    h.send(
        topics::SOURCE_HEALTH,
        "quiet",
        common::wire::SourceHealth {
            source_id: "quiet".into(),
            url: "https://news.example.cn/rss".into(),
            ..Default::default()
        },
    )
    .await;
    h.wait_json(&http, "/api/sources", |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let mut gov = doc("g1", "ev-1", "市政府常务会议召开", "南明区", t0);
    gov.source_id = "gov-feed".into();
    gov.site_name = None;
    h.item(gov).await;
    let mut paper = doc("p1", "ev-2", "云岩区道路改造完工", "云岩区", t0);
    paper.source_id = "gyrb-feed".into();
    h.item(paper).await;
    let items = h
        .wait_json(&http, "/api/items", |v| {
            v.as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    let outlet = |id: &str| {
        items
            .as_array()
            .and_then(|a| a.iter().find(|i| i["doc_id"] == id))
            .map(|i| i["source_name"].clone())
            .unwrap_or_default()
    };
    assert_eq!(outlet("g1"), "贵阳市人民政府网");
    assert_eq!(outlet("p1"), "贵阳日报");
    let sources = h.get_json(&http, "/api/sources").await;
    let names: Vec<(String, String)> = sources
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for want in [
        ("gov-feed", "贵阳市人民政府网"),
        ("gyrb-feed", "贵阳日报"),
        ("quiet", "未命名来源（news.example.cn）"),
    ] {
        assert!(
            names.contains(&(want.0.to_string(), want.1.to_string())),
            "{names:?}"
        );
    }
    // The icon is served where browsers look for it.
    let res = h.get(&http, "/favicon.ico").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    h.stop().await;
}
