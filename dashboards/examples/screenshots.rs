//! Renders the main screens with sample data in headless Chromium and saves PNGs, for reviewing
//! the UI and for documentation: `cargo run -p dashboards --example screenshots -- OUT_DIR`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use chrono::Utc;
use common::wire::*;
use fantoccini::{ClientBuilder, Locator};
use support::*;

#[tokio::main]
async fn main() -> anyhow_free::Result {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "screens".into()));
    std::fs::create_dir_all(&out)?;
    let users = [
        ("desk1", "desk", None),
        ("unit_a", "unit", Some("nanming")),
        ("leader1", "leader", None),
        ("admin1", "admin", None),
    ];
    let h = Harness::start_with_users(public_config(), &users).await;
    // SCREENS_BASE=http://host:port shoots a running server (accounts from the serve example).
    let base = std::env::var("SCREENS_BASE").ok();
    let now = Utc::now();
    let samples = [
        (
            "南明区",
            "南明区花果园片区停水超过24小时 居民生活受影响",
            Priority::PublicInterest,
            SentimentLabel::Negative,
        ),
        (
            "花溪区",
            "花溪区某路段发生道路塌陷 一辆货车陷入",
            Priority::Emergency,
            SentimentLabel::Negative,
        ),
        (
            "云岩区",
            "云岩区老旧小区改造方案公开征求意见",
            Priority::Decision,
            SentimentLabel::Neutral,
        ),
        (
            "观山湖区",
            "网传观山湖区某学校食堂食物中毒 官方：不实",
            Priority::FalseInfo,
            SentimentLabel::Negative,
        ),
        (
            "清镇市",
            "清镇市开展安全生产大检查",
            Priority::Decision,
            SentimentLabel::Positive,
        ),
        (
            "白云区",
            "白云区一小区电梯频繁故障 业主投诉无门",
            Priority::Credibility,
            SentimentLabel::Negative,
        ),
    ];
    for (i, (county, title, p, s)) in samples.iter().enumerate() {
        for k in 0..(6 - i) {
            let mut d = doc(
                &format!("s{i}-{k}"),
                &format!("ev-{i}"),
                title,
                county,
                now - chrono::Duration::minutes((k * 7) as i64),
            );
            d.priorities[0].priority = *p;
            d.sentiment.label = *s;
            d.summary =
                format!("{title}。据网友反映，相关情况引发关注，记者了解到有关部门已介入处置。");
            h.item(d).await;
        }
        for r in 1..=6u64 {
            let mut e = event(
                &format!("ev-{i}"),
                title,
                (60 - i * 8) as f64 * r as f64 / 6.0 + (r % 3) as f64 * 4.0,
                r,
                now - chrono::Duration::hours(3),
            );
            e.priorities = vec![*p];
            e.jurisdiction = Jurisdiction::Local {
                county: county.to_string(),
                township: None,
            };
            e.doc_count = r * 3;
            h.event(e).await;
        }
    }
    let units = [
        ("nanming", "南明区人民政府"),
        ("huaxi", "花溪区人民政府"),
        ("water", "市水务管理局"),
    ];
    for (i, (u, name)) in units.iter().enumerate() {
        let mut c = case(
            &format!("C-2026-{:04}", i + 1),
            u,
            1,
            CaseState::Assigned,
            now - chrono::Duration::hours(2 + i as i64 * 20),
        );
        c.case.owner.name = name.to_string();
        c.case.title = samples[i].1.to_string();
        c.case.event_ids = vec![format!("ev-{i}")];
        h.case_event(c).await;
    }
    let http = reqwest::Client::new();
    h.wait_json(&http, "/api/stats", |v| v["cases"] == 3).await;
    let url = |p: &str| match &base {
        Some(b) => format!("{b}{p}"),
        None => h.url(p),
    };

    let caps = serde_json::json!({"goog:chromeOptions": {"args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1440,1000", "--lang=zh-CN"]}});
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let mut driver = std::process::Command::new("chromedriver")
        .arg("--port=9531")
        .spawn()?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect("http://127.0.0.1:9531")
        .await?;
    for (user, pages) in [
        ("desk1", vec![("desk", "/")]),
        ("unit_a", vec![("inbox", "/inbox")]),
        ("leader1", vec![("report", "/reports")]),
        ("admin1", vec![("admin", "/admin"), ("ops", "/ops")]),
    ] {
        c.delete_all_cookies().await?;
        c.goto(&url("/login")).await?;
        c.find(Locator::Css("input[name=username]"))
            .await?
            .send_keys(user)
            .await?;
        c.find(Locator::Css("input[name=password]"))
            .await?
            .send_keys(PASSWORD)
            .await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        tokio::time::sleep(Duration::from_millis(800)).await;
        for (name, path) in pages {
            c.goto(&url(path)).await?;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            if name == "desk" {
                std::fs::write(out.join("desk.png"), c.screenshot().await?)?;
                c.find(Locator::Css("li.event button.ev-title"))
                    .await?
                    .click()
                    .await?;
                tokio::time::sleep(Duration::from_millis(800)).await;
                std::fs::write(out.join("desk-event.png"), c.screenshot().await?)?;
                c.execute(
                    "document.getElementById('detail').close(); return true",
                    vec![],
                )
                .await?;
                c.find(Locator::Css("#deadlines li.dl button"))
                    .await?
                    .click()
                    .await?;
                tokio::time::sleep(Duration::from_millis(800)).await;
                std::fs::write(out.join("desk-case.png"), c.screenshot().await?)?;
                continue;
            }
            if name == "inbox" {
                if let Ok(b) = c.find(Locator::Css("tr.case-row button")).await {
                    b.click().await?;
                    tokio::time::sleep(Duration::from_millis(800)).await;
                }
            }
            std::fs::write(out.join(format!("{name}.png")), c.screenshot().await?)?;
        }
    }
    c.close().await?;
    let _ = driver.kill();
    h.stop().await;
    Ok(())
}

mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
