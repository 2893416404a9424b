//! Browser tests in real headless Chromium driven through chromedriver (WebDriver). They fail,
//! never skip, when the browser is missing: install with
//! `apt-get install -y chromium chromium-driver`.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use common::wire::*;
use fantoccini::{Client, ClientBuilder, Locator};
use support::*;

const USERS: &[(&str, &str, Option<&str>)] = &[
    ("desk1", "desk", None),
    ("unit_a", "unit", Some("nanming")),
    ("unit_b", "unit", Some("huaxi")),
    ("leader1", "leader", None),
];

fn find_binary(env: &str, candidates: &[&str]) -> String {
    if let Ok(p) = std::env::var(env)
        && std::path::Path::new(&p).exists()
    {
        return p;
    }
    for c in candidates {
        if std::path::Path::new(c).exists() {
            return (*c).to_string();
        }
    }
    panic!(
        "{} not found (tried ${env} and {candidates:?}); the browser tests need Debian's chromium \
         and chromium-driver: `apt-get update && apt-get install -y chromium chromium-driver`",
        candidates.first().copied().unwrap_or(env)
    );
}

/// chromedriver as a child process, killed on drop.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
    chromium: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    let chromium = find_binary(
        "CHROME_BIN",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let chromedriver = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e}"));
    let url = format!("http://127.0.0.1:{port}");
    let d = Driver {
        child,
        url,
        _profile: tempfile::tempdir().expect("profile dir"),
        chromium,
    };
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{}/status", d.url)).send().await
            && r.status().is_success()
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not come up on {}", d.url);
}

async fn browser(d: &Driver) -> Client {
    browser_downloading_to(d, &d._profile.path().join("downloads")).await
}

async fn browser_downloading_to(d: &Driver, downloads: &std::path::Path) -> Client {
    let profile = d._profile.path().join(format!("p{}", new_message_id()));
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": d.chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
            },
        },
    });
    let caps = match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&d.url)
        .await
        .expect("webdriver session")
}

async fn wait_css(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("element {css} never appeared: {e}"))
}

async fn login(c: &Client, h: &Harness, name: &str) {
    c.goto(&h.url("/login")).await.expect("goto login");
    wait_css(c, "input[name=username]")
        .await
        .send_keys(name)
        .await
        .expect("type name");
    wait_css(c, "input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await
        .expect("type password");
    wait_css(c, "form button[type=submit]")
        .await
        .click()
        .await
        .expect("submit");
    for _ in 0..600 {
        if let Ok(u) = c.current_url().await
            && !u.path().starts_with("/login")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("login of {name} did not leave the login page");
}

async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.expect("script runs")
}

async fn wait_js(c: &Client, script: &str) {
    for _ in 0..600 {
        if js(c, script).await == serde_json::Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("browser condition never held: {script}");
}

fn open_case(id: &str, unit: &str) -> CaseEvent {
    case(
        id,
        unit,
        1,
        CaseState::Assigned,
        Utc::now() - chrono::Duration::hours(1),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desk_watches_an_item_arrive_live_and_opens_a_case() {
    let d = driver().await;
    let h = Harness::start_with_users(private_config(), USERS).await;
    let t0 = Utc::now();
    h.item(doc("old-1", "ev-1", "南明区供水管网检修", "南明区", t0))
        .await;
    h.event(event("ev-1", "南明区供水管网检修", 12.0, 1, t0))
        .await;
    h.case_event(open_case("c-a", "nanming")).await;
    let c = browser(&d).await;
    login(&c, &h, "desk1").await;
    wait_css(&c, "li.item[data-doc='old-1']").await;
    wait_css(&c, "li.event[data-event='ev-1'] .spark canvas").await;
    wait_css(&c, "#deadlines li.dl[data-case='c-a'] .countdown").await;
    wait_js(
        &c,
        "return document.querySelector('#live').classList.contains('on')",
    )
    .await;
    // A marker that a reload would wipe out.
    js(&c, "window.__noReload = 42; return true").await;

    h.item(doc(
        "live-1",
        "ev-2",
        "花溪区突发道路塌陷",
        "花溪区",
        Utc::now(),
    ))
    .await;
    let row = wait_css(&c, "li.item[data-doc='live-1']").await;
    assert!(
        row.text()
            .await
            .expect("text")
            .contains("花溪区突发道路塌陷")
    );
    assert_eq!(
        js(&c, "return window.__noReload").await,
        42,
        "the page was not reloaded"
    );

    // Filters apply to the live stream: with 花溪区 selected a 南明区 item does not show.
    wait_css(&c, "#f-district")
        .await
        .select_by_value("花溪区")
        .await
        .expect("select");
    wait_js(&c, "return !document.querySelector(\"li.item[data-doc='old-1']\") && !!document.querySelector(\"li.item[data-doc='live-1']\")").await;
    wait_js(
        &c,
        "return document.querySelector('#live').classList.contains('on')",
    )
    .await;
    h.item(doc("live-nm", "ev-1", "南明区又一条", "南明区", Utc::now()))
        .await;
    h.item(doc("live-hx", "ev-2", "花溪区后续", "花溪区", Utc::now()))
        .await;
    wait_css(&c, "li.item[data-doc='live-hx']").await;
    assert_eq!(
        js(
            &c,
            "return !!document.querySelector(\"li.item[data-doc='live-nm']\")"
        )
        .await,
        false
    );

    // Open a case from the live item.
    wait_css(&c, "li.item[data-doc='live-1'] button.open-case")
        .await
        .click()
        .await
        .expect("click");
    let title = wait_css(&c, "#case-form input[name=title]").await;
    assert_eq!(
        title.prop("value").await.expect("value").as_deref(),
        Some("花溪区突发道路塌陷")
    );
    wait_css(&c, "#case-severity")
        .await
        .select_by_value("major")
        .await
        .expect("severity");
    wait_css(&c, "#case-form button[type=submit]")
        .await
        .click()
        .await
        .expect("submit");
    let cmds = h.commands("browser-test", 1).await;
    match &cmds[0].payload.command {
        CaseCommand::Open {
            event_id,
            title,
            severity,
            ..
        } => {
            assert_eq!(event_id.as_deref(), Some("ev-2"));
            assert_eq!(title, "花溪区突发道路塌陷");
            assert_eq!(*severity, Some(Severity::Major));
        }
        other => panic!("expected an open command, got {other:?}"),
    }
    assert_eq!(cmds[0].payload.actor.name, "desk1");

    // 研判 of an event's categories: tick 突发事件 in the event's detail.
    h.event(event("ev-2", "花溪区突发道路塌陷", 30.0, 1, Utc::now()))
        .await;
    wait_css(&c, "li.event[data-event='ev-2'] button.ev-title")
        .await
        .click()
        .await
        .expect("event");
    wait_css(&c, "#detail-body form.judge-form input[value=emergency]")
        .await
        .click()
        .await
        .expect("tick");
    wait_css(&c, "#detail-body form.judge-form button[type=submit]")
        .await
        .click()
        .await
        .expect("judge");
    wait_css(&c, "li.event[data-event='ev-2'] .tag.judged").await;
    assert_eq!(
        js(&c, "return window.__cspViolations").await,
        serde_json::json!([]),
        "the desk page (sparklines included) runs under the CSP"
    );
    let events: serde_json::Value = c
        .execute("return fetch('/api/events').then(r => r.json())", vec![])
        .await
        .expect("fetch");
    let ev2 = events
        .as_array()
        .and_then(|a| a.iter().find(|e| e["event_id"] == "ev-2"))
        .expect("ev-2")
        .clone();
    assert_eq!(ev2["judgement"]["by"], "desk1");
    assert_eq!(
        ev2["judgement"]["priorities"],
        serde_json::json!(["public_interest", "emergency"])
    );

    // 研判 of a case from the deadline board: confirm its severity as 重大.
    js(&c, "document.getElementById('detail').close(); return true").await;
    wait_css(&c, "#deadlines li.dl[data-case='c-a'] button")
        .await
        .click()
        .await
        .expect("case");
    wait_css(&c, "#detail-body .judge select[name=severity]")
        .await
        .select_by_value("major")
        .await
        .expect("severity");
    wait_css(
        &c,
        "#detail-body .judge form:has(select[name=severity]) button[type=submit]",
    )
    .await
    .click()
    .await
    .expect("confirm");
    let cmds = h.commands("browser-test", 1).await;
    match &cmds[0].payload.command {
        CaseCommand::ChangeSeverity {
            case_id, severity, ..
        } => {
            assert_eq!(case_id, "c-a");
            assert_eq!(*severity, Severity::Major);
        }
        other => panic!("expected a severity change, got {other:?}"),
    }
    c.close().await.expect("close");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_acknowledges_and_records_a_response_for_its_own_case_only() {
    let d = driver().await;
    let h = Harness::start_with_users(private_config(), USERS).await;
    h.case_event(open_case("c-a", "nanming")).await;
    h.case_event(open_case("c-b", "huaxi")).await;
    let c = browser(&d).await;
    login(&c, &h, "unit_a").await;
    assert_eq!(c.current_url().await.expect("url").path(), "/inbox");
    wait_css(&c, "tr.case-row[data-case='c-a']").await;
    assert_eq!(
        js(&c, "return document.querySelectorAll('tr.case-row').length").await,
        1
    );
    assert_eq!(
        js(
            &c,
            "return !!document.querySelector(\"tr.case-row[data-case='c-b']\")"
        )
        .await,
        false
    );
    // Asking for the other unit's case directly gets nothing either.
    c.goto(&h.url("/api/cases/c-b")).await.expect("goto");
    assert!(c.source().await.expect("source").contains("未找到"));
    c.goto(&h.url("/inbox")).await.expect("goto");

    wait_css(&c, "tr.case-row[data-case='c-a'] button")
        .await
        .click()
        .await
        .expect("open");
    wait_css(&c, "#case-detail button.ack")
        .await
        .click()
        .await
        .expect("ack");
    wait_css(&c, "#case-detail select[name=kind]")
        .await
        .select_by_value("authoritative_release")
        .await
        .expect("kind");
    wait_css(&c, "#case-detail input[name=evidence_url]")
        .await
        .send_keys("https://www.guiyang.gov.cn/notice/1.html")
        .await
        .expect("url");
    wait_css(&c, "#case-detail textarea[name=text]")
        .await
        .send_keys("已发布停水原因及恢复时间")
        .await
        .expect("text");
    wait_css(
        &c,
        "#case-detail form:has(input[name=evidence_url]) button[type=submit]",
    )
    .await
    .click()
    .await
    .expect("submit");

    let cmds = h.commands("browser-test", 2).await;
    assert!(
        matches!(&cmds[0].payload.command, CaseCommand::Acknowledge { case_id } if case_id == "c-a")
    );
    match &cmds[1].payload.command {
        CaseCommand::RecordResponse {
            case_id,
            kind,
            evidence_url,
            text,
            ..
        } => {
            assert_eq!(case_id, "c-a");
            assert_eq!(*kind, ResponseKind::AuthoritativeRelease);
            assert_eq!(
                evidence_url.as_deref(),
                Some("https://www.guiyang.gov.cn/notice/1.html")
            );
            assert_eq!(text, "已发布停水原因及恢复时间");
        }
        other => panic!("expected a response record, got {other:?}"),
    }
    assert_eq!(cmds[1].payload.actor.unit_id.as_deref(), Some("nanming"));

    // The respond stage's answer comes back live and the inbox shows it without a reload.
    let mut ack = open_case("c-a", "nanming");
    ack.seq = 2;
    ack.case.state = CaseState::Acknowledged;
    h.case_event(ack).await;
    wait_js(&c, "const r = document.querySelector(\"tr.case-row[data-case='c-a'] td.state\"); return !!r && r.textContent === '已接收'").await;
    c.close().await.expect("close");
    h.stop().await;
}

/// Crawled text that tries to run script, inject markup or restyle the page.
fn hostile() -> Vec<&'static str> {
    vec![
        "<script>window.__pwned='script'</script>",
        "<img src=x onerror=\"window.__pwned='img'\">",
        "<svg onload=\"window.__pwned='svg'\"><script>window.__pwned='svg2'</script></svg>",
        "\"><iframe src=\"javascript:parent.__pwned='iframe'\"></iframe>",
        "<style>body{display:none}</style><div style=\"position:fixed;inset:0;background:red\">",
        "</title></textarea><script>window.__pwned='breakout'</script>",
        "<a href=\"javascript:window.__pwned='link'\">点我</a>",
        "{{constructor.constructor('window.__pwned=1')()}}",
        "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__pwned='mxss'\">",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_crawled_text_never_executes() {
    let d = driver().await;
    let h = Harness::start_with_users(private_config(), USERS).await;
    let now = Utc::now();
    for (i, payload) in hostile().into_iter().enumerate() {
        let mut it = doc(
            &format!("evil-{i}"),
            &format!("ev-evil-{i}"),
            payload,
            "南明区",
            now,
        );
        it.summary = payload.to_string();
        it.site_name = Some(payload.to_string());
        it.source_id = payload.to_string();
        it.url = Some(if i % 2 == 0 {
            "javascript:window.__pwned='href'".into()
        } else {
            format!("https://x.example/\"><img src=x onerror=\"window.__pwned='attr{i}'\">")
        });
        h.item(it).await;
        let mut ev = event(&format!("ev-evil-{i}"), payload, 100.0 + i as f64, 1, now);
        ev.keywords = vec![payload.to_string()];
        ev.recent_doc_ids = vec![format!("evil-{i}")];
        h.event(ev).await;
        let mut cs = open_case(&format!("c-evil-{i}"), "nanming");
        cs.case.title = payload.to_string();
        cs.case.owner.name = payload.to_string();
        cs.case.owner_reason = payload.to_string();
        cs.case.event_ids = vec![format!("ev-evil-{i}")];
        cs.detail = payload.to_string();
        h.case_event(cs).await;
    }
    let c = browser(&d).await;
    login(&c, &h, "desk1").await;
    let n = hostile().len();
    wait_js(
        &c,
        &format!("return document.querySelectorAll('li.item').length === {n}"),
    )
    .await;
    wait_js(
        &c,
        &format!("return document.querySelectorAll('li.event').length === {n}"),
    )
    .await;
    // Open an event and a case detail: more hostile fields rendered there.
    wait_css(&c, "li.event button.ev-title")
        .await
        .click()
        .await
        .expect("event");
    wait_css(&c, "#detail-body ol.stream li.item").await;
    js(&c, "document.getElementById('detail').close(); return true").await;
    wait_css(&c, "#deadlines li.dl button")
        .await
        .click()
        .await
        .expect("case");
    wait_css(&c, "#detail-body h2.case-title").await;

    let check = r#"
        const injected = document.querySelectorAll('main img, main svg, main iframe, main style, main math, dialog img, dialog svg, dialog iframe, dialog style, main [onerror], main [onload]');
        const badLinks = [...document.querySelectorAll('a[href]')].filter(a => !/^(https?:|\/)/i.test(a.getAttribute('href')) || a.getAttribute('href').includes('"'));
        const shown = document.body.textContent.includes("<script>window.__pwned='script'</script>");
        return JSON.stringify({
            pwned: window.__pwned === undefined ? null : String(window.__pwned),
            scripts: [...document.scripts].map(s => s.getAttribute('src')),
            injected: injected.length,
            badLinks: badLinks.length,
            shownAsText: shown,
            visible: getComputedStyle(document.body).display,
        });
    "#;
    let report: serde_json::Value =
        serde_json::from_str(js(&c, check).await.as_str().expect("string")).expect("json");
    assert_eq!(report["pwned"], serde_json::Value::Null, "{report}");
    assert_eq!(report["injected"], 0, "{report}");
    assert_eq!(report["badLinks"], 0, "{report}");
    assert_eq!(
        report["shownAsText"], true,
        "hostile text is shown literally: {report}"
    );
    assert_eq!(report["visible"], "block", "{report}");
    let scripts = report["scripts"].as_array().expect("array");
    assert!(
        scripts
            .iter()
            .all(|s| s.as_str().is_some_and(|s| s.starts_with("/assets/"))),
        "only our own scripts: {report}"
    );

    // The server-rendered print report holds the same titles: escaped there too.
    c.goto(&h.url("/reports/daily/print")).await.expect("print");
    wait_css(&c, "article.print h2").await;
    let report: serde_json::Value =
        serde_json::from_str(js(&c, check).await.as_str().expect("string")).expect("json");
    assert_eq!(report["pwned"], serde_json::Value::Null, "{report}");
    assert_eq!(report["injected"], 0, "{report}");
    assert_eq!(report["shownAsText"], true, "{report}");

    // The unit clerk's inbox renders the same hostile case titles, owner names and history.
    c.delete_all_cookies().await.expect("logout");
    login(&c, &h, "unit_a").await;
    wait_js(
        &c,
        &format!("return document.querySelectorAll('tr.case-row').length === {n}"),
    )
    .await;
    wait_css(&c, "tr.case-row button")
        .await
        .click()
        .await
        .expect("open");
    wait_css(&c, "#case-detail h2.case-title").await;
    let report: serde_json::Value =
        serde_json::from_str(js(&c, check).await.as_str().expect("string")).expect("json");
    assert_eq!(report["pwned"], serde_json::Value::Null, "{report}");
    assert_eq!(report["injected"], 0, "{report}");
    assert_eq!(report["shownAsText"], true, "{report}");
    c.close().await.expect("close");
    h.stop().await;
}

/// Wait for a finished download whose name ends with `ext`.
async fn downloaded(dir: &std::path::Path, ext: &str) -> Vec<u8> {
    for _ in 0..600 {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(ext)
                    && let Ok(bytes) = std::fs::read(e.path())
                    && !bytes.is_empty()
                {
                    return bytes;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {ext} download appeared in {}", dir.display());
}

fn xlsx_value(bytes: &[u8], sheet: &str, label: &str, col: usize) -> String {
    use calamine::{Reader, Xlsx};
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("xlsx opens");
    let range = wb.worksheet_range(sheet).expect("sheet exists");
    for row in range.rows() {
        if row.first().map(|c| c.to_string()) == Some(label.to_string()) {
            return row.get(col).map(|c| c.to_string()).unwrap_or_default();
        }
    }
    panic!("row {label} not in sheet {sheet}");
}

fn docx_text(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("docx is a zip");
    let mut xml = String::new();
    zip.by_name("word/document.xml")
        .expect("document part")
        .read_to_string(&mut xml)
        .expect("utf-8");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed WordprocessingML");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "t")
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("|")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_opens_a_report_and_downloads_docx_and_xlsx_with_the_same_numbers() {
    let d = driver().await;
    let h = Harness::start_with_users_at(private_config(), USERS, noon_clock()).await;
    let now = h.now();
    for (i, county) in ["南明区", "南明区", "花溪区", "云岩区", "观山湖区"]
        .iter()
        .enumerate()
    {
        h.item(doc(
            &format!("r{i}"),
            "ev-1",
            &format!("{county}信息{i}"),
            county,
            now,
        ))
        .await;
    }
    h.event(event("ev-1", "南明区停水", 42.0, 1, now)).await;
    // One case met on time, one overdue.
    let mut met = case(
        "c-met",
        "nanming",
        1,
        CaseState::Responded,
        now - chrono::Duration::hours(3),
    );
    met.case.deadlines[0].due_at = now - chrono::Duration::minutes(30);
    met.case.deadlines[0].met_at = Some(now - chrono::Duration::hours(1));
    h.case_event(met).await;
    let mut late = case(
        "c-late",
        "nanming",
        1,
        CaseState::Assigned,
        now - chrono::Duration::hours(3),
    );
    late.case.deadlines[0].due_at = now - chrono::Duration::minutes(10);
    h.case_event(late).await;

    let downloads = tempfile::tempdir().expect("downloads");
    let c = browser_downloading_to(&d, downloads.path()).await;
    login(&c, &h, "leader1").await;
    assert_eq!(c.current_url().await.expect("url").path(), "/reports");
    // Wait for the page to show what the feed brought in.
    for _ in 0..300 {
        c.refresh().await.expect("refresh");
        wait_css(&c, ".kpi[data-kpi='舆情信息'] .v").await;
        if js(
            &c,
            "return document.querySelector(\".kpi[data-kpi='舆情信息'] .v\").textContent",
        )
        .await
            == "5"
            && js(
                &c,
                "return document.querySelector(\".kpi[data-kpi='超期未办结'] .v\").textContent",
            )
            .await
                == "1"
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kpi = |name: &'static str| {
        let c = c.clone();
        async move {
            js(
                &c,
                &format!(
                    "return document.querySelector(\".kpi[data-kpi='{name}'] .v\").textContent"
                ),
            )
            .await
            .as_str()
            .expect("kpi text")
            .to_string()
        }
    };
    let items = kpi("舆情信息").await;
    let overdue = kpi("超期未办结").await;
    let breaches = kpi("超时").await;
    let rate = kpi("按时率").await;
    assert_eq!((items.as_str(), overdue.as_str()), ("5", "1"));
    assert_eq!(breaches, "1");
    assert_eq!(rate, "50.0%");
    wait_css(&c, "#chart-volume canvas").await;
    assert_eq!(
        js(&c, "return window.__cspViolations").await,
        serde_json::json!([]),
        "the report page (ECharts included) runs under the CSP"
    );
    let unit_row = js(&c, "return [...document.querySelectorAll('#t-units tbody tr')].map(r => [...r.cells].map(td => td.textContent))").await;
    let unit_row = &unit_row[0];
    assert_eq!(unit_row[0], "nanming名称");

    wait_css(&c, "#dl-xlsx").await.click().await.expect("xlsx");
    let xlsx = downloaded(downloads.path(), ".xlsx").await;
    assert_eq!(xlsx_value(&xlsx, "总体情况", "舆情信息（条）", 1), items);
    assert_eq!(
        xlsx_value(&xlsx, "总体情况", "超期未办结（件）", 1),
        overdue
    );
    assert_eq!(xlsx_value(&xlsx, "总体情况", "超时（次）", 1), breaches);
    assert_eq!(
        format!("{}%", xlsx_value(&xlsx, "总体情况", "按时率（%）", 1)),
        rate.replace(".0%", "%")
    );
    assert_eq!(
        xlsx_value(&xlsx, "责任单位回应", "nanming名称", 1),
        unit_row[1].as_str().unwrap_or_default()
    );
    assert_eq!(xlsx_value(&xlsx, "区县分布", "南明区", 1), "2");

    wait_css(&c, "#dl-docx").await.click().await.expect("docx");
    let docx = downloaded(downloads.path(), ".docx").await;
    let text = docx_text(&docx);
    assert!(
        text.contains(&format!("本期共监测舆情信息{items}条")),
        "{text}"
    );
    assert!(
        text.contains(&format!("截至报告生成时超期未办结{overdue}件")),
        "{text}"
    );
    assert!(text.contains("舆情日报"), "{text}");
    assert!(
        text.contains("nanming名称|2|2|1|50.0|"),
        "unit row as on the page: {text}"
    );

    // The print view is the same report.
    c.goto(&h.url("/reports/daily/print")).await.expect("print");
    let summary = wait_css(&c, "p.summary").await.text().await.expect("text");
    assert!(
        summary.contains(&format!("本期共监测舆情信息{items}条")),
        "{summary}"
    );
    c.close().await.expect("close");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_viewer_of_the_public_demo_gets_a_read_only_desk() {
    let d = driver().await;
    // The default config: the read API and the desk page are public (loopback demo).
    let h = Harness::start_with_users(public_config(), USERS).await;
    h.item(doc("p1", "ev-1", "南明区停水", "南明区", Utc::now()))
        .await;
    let c = browser(&d).await;
    c.goto(&h.url("/")).await.expect("goto");
    wait_css(&c, "li.item[data-doc='p1']").await;
    let state = js(
        &c,
        "return [document.querySelector('#open-case').offsetParent === null, \
                 document.querySelectorAll('.item-actions').length, \
                 document.querySelector('header .user').textContent, \
                 document.querySelector('#deadlines').textContent]",
    )
    .await;
    assert_eq!(state[0], true, "no 手动立案 for anonymous viewers");
    // Cases are not public: the board says so instead of sending the viewer to the login page.
    assert_eq!(state[3], "案件时限仅对登录用户显示", "{state}");
    assert_eq!(c.current_url().await.expect("url").path(), "/");
    assert_eq!(state[1], 0, "no item actions");
    assert!(
        state[2].as_str().is_some_and(|t| t.contains("未登录")),
        "{state}"
    );
    // Pages other than the desk still require a login.
    c.goto(&h.url("/reports")).await.expect("goto");
    assert_eq!(c.current_url().await.expect("url").path(), "/login");
    c.close().await.expect("close");
    h.stop().await;
}

/// Run `script` (which returns a string) until it returns `want`; fail with the last value.
async fn wait_text(c: &Client, script: &str, want: &str) {
    let mut last = serde_json::Value::Null;
    for _ in 0..600 {
        last = js(c, script).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{script} never gave {want:?}; last {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_severity_the_desk_confirms_reads_the_same_on_event_case_board_and_report() {
    let d = driver().await;
    let h = Harness::start_with_users_at(private_config(), USERS, noon_clock()).await;
    let respond = h.start_respond();
    let (api, _) = session(&h, "desk1").await;
    let mut hot = event("ev-gas", "南明区某小区燃气爆炸", 90.0, 1, h.now());
    hot.severity.level = Some(Severity::General);
    h.event(hot).await;
    let cases = h
        .wait_json(&api, "/api/cases", |v| {
            v.as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let case_id = cases[0]["case_id"].as_str().expect("id").to_string();

    let c = browser(&d).await;
    login(&c, &h, "desk1").await;
    let board_tag = format!(
        "return (document.querySelector(\"#deadlines li.dl[data-case='{case_id}'] .tag.severity\") || {{}}).textContent"
    );
    let event_tag = "return (document.querySelector(\"li.event[data-event='ev-gas'] .tag[class*=sev-]\") || {}).textContent";
    wait_text(&c, &board_tag, "一般（拟）").await;
    wait_text(&c, event_tag, "一般（拟）").await;

    // Confirm 较大 on the case, opened from the deadline board.
    wait_css(
        &c,
        &format!("#deadlines li.dl[data-case='{case_id}'] button"),
    )
    .await
    .click()
    .await
    .expect("case");
    wait_css(&c, "#detail-body .judge select[name=severity]")
        .await
        .select_by_value("large")
        .await
        .expect("severity");
    wait_css(
        &c,
        "#detail-body .judge form:has(select[name=severity]) button[type=submit]",
    )
    .await
    .click()
    .await
    .expect("confirm");

    // The tracker applies it; every place shows 较大, none 一般.
    wait_text(&c, &board_tag, "较大").await;
    wait_text(&c, event_tag, "较大").await;
    wait_text(
        &c,
        "return (document.querySelector('#detail-body dd.severity') || {}).textContent",
        "较大",
    )
    .await;
    let tier = js(
        &c,
        "return document.querySelector('#detail-body dd.tier').textContent",
    )
    .await;
    assert!(
        tier.as_str()
            .is_some_and(|t| t.starts_with("较大 · 48小时")),
        "{tier}"
    );
    js(&c, "document.getElementById('detail').close(); return true").await;
    wait_css(&c, "li.event[data-event='ev-gas'] button.ev-title")
        .await
        .click()
        .await
        .expect("event");
    wait_text(
        &c,
        "return (document.querySelector('#detail-body dd.severity') || {}).textContent",
        "较大",
    )
    .await;

    c.goto(&h.url("/reports")).await.expect("reports");
    wait_css(&c, "#t-events tbody tr").await;
    let row = js(
        &c,
        "return [...document.querySelectorAll('#t-events tbody tr')].map(r => [...r.cells].map(td => td.textContent)).find(r => r[1] === '南明区某小区燃气爆炸')",
    )
    .await;
    assert_eq!(row[6], "较大", "severity column of the daily report: {row}");
    c.close().await.expect("close");
    respond.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_tracker_rejects_shows_its_reason_and_a_closed_case_offers_only_reopening() {
    let d = driver().await;
    let h = Harness::start_with_users(private_config(), USERS).await;
    let respond = h.start_respond();
    let (api, csrf) = session(&h, "desk1").await;
    let mut hot = event("ev-gas", "南明区某小区燃气爆炸", 90.0, 1, Utc::now());
    hot.severity.level = Some(Severity::General);
    h.event(hot).await;
    let cases = h
        .wait_json(&api, "/api/cases", |v| {
            v.as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let case_id = cases[0]["case_id"].as_str().expect("id").to_string();

    let c = browser(&d).await;
    login(&c, &h, "desk1").await;
    let row = format!("#deadlines li.dl[data-case='{case_id}'] button");
    let confirm = async || {
        wait_css(&c, "#detail-body .judge select[name=severity]")
            .await
            .select_by_value("large")
            .await
            .expect("severity");
        wait_css(
            &c,
            "#detail-body .judge form:has(select[name=severity]) button[type=submit]",
        )
        .await
        .click()
        .await
        .expect("confirm");
    };
    wait_css(&c, &row).await.click().await.expect("case");
    confirm().await;
    wait_text(
        &c,
        "return (document.querySelector('#detail-body dd.severity') || {}).textContent",
        "较大",
    )
    .await;
    // Confirming it again passes every check the desk can make; the tracker refuses it.
    confirm().await;
    let rejection = wait_css(&c, "#detail-body .rejection").await;
    let text = rejection.text().await.expect("text");
    assert!(text.contains("级别已确认为较大"), "{text}");
    wait_js(
        &c,
        "return [...document.querySelectorAll('#toast .toast.bad')].some(t => t.textContent.includes('级别已确认为较大'))",
    )
    .await;

    // Closed, the case offers reopening and nothing else.
    let res = api
        .post(h.url(&format!("/api/cases/{case_id}/commands")))
        .header("X-CSRF-Token", &csrf)
        .json(&serde_json::json!({ "action": "close", "reason": "已回应" }))
        .send()
        .await
        .expect("close");
    assert_eq!(res.status(), 202);
    h.wait_json(&api, &format!("/api/cases/{case_id}"), |v| {
        v["case"]["state"] == "closed"
    })
    .await;
    js(&c, "document.getElementById('detail').close(); return true").await;
    c.goto(&h.url("/inbox")).await.expect("inbox");
    wait_css(&c, "#f-state")
        .await
        .select_by_value("")
        .await
        .expect("all");
    wait_css(&c, &format!("tr.case-row[data-case='{case_id}'] button"))
        .await
        .click()
        .await
        .expect("case");
    wait_css(&c, "#case-detail .judge form").await;
    let forms = js(
        &c,
        "return [...document.querySelectorAll('#case-detail form button[type=submit]')].map(b => b.textContent)",
    )
    .await;
    assert_eq!(forms, serde_json::json!(["重新打开"]), "{forms}");
    c.close().await.expect("close");
    respond.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_names_outlets_and_every_district_with_its_own_icon_and_cjk_fonts() {
    let d = driver().await;
    let h = Harness::start_with_users_at(private_config(), USERS, noon_clock()).await;
    let now = h.now();
    let mut post = doc("wb-1", "ev-1", "南明区某路口积水严重", "南明区", now);
    post.source_id = "demo-weibo".into();
    post.site_name = Some("微博".into());
    h.item(post).await;
    // Items in every district, so the report's chart has ten labels to show.
    let districts = private_config().ui.districts;
    for (i, county) in districts.iter().enumerate() {
        h.item(doc(
            &format!("d{i}"),
            "ev-2",
            &format!("{county}信息{i}"),
            county,
            now,
        ))
        .await;
    }
    let c = browser(&d).await;
    login(&c, &h, "desk1").await;
    let site = wait_css(&c, "li.item[data-doc='wb-1'] .site").await;
    assert_eq!(site.text().await.expect("text"), "微博");
    wait_js(
        &c,
        "return [...document.querySelectorAll('#f-source option')].some(o => o.value === 'demo-weibo' && o.textContent === '微博')",
    )
    .await;
    let rows = js(
        &c,
        "return [...document.querySelectorAll('li.item .site')].map(s => s.textContent)",
    )
    .await;
    assert!(
        rows.as_array()
            .is_some_and(|a| a.iter().all(|s| s == "微博" || s == "贵阳日报")),
        "outlet names, never source ids: {rows}"
    );
    let font = js(&c, "return getComputedStyle(document.body).fontFamily").await;
    for name in [
        "Microsoft YaHei",
        "PingFang SC",
        "Noto Sans CJK SC",
        "WenQuanYi",
    ] {
        assert!(font.as_str().is_some_and(|f| f.contains(name)), "{font}");
    }
    let icon = js(
        &c,
        "return fetch(document.querySelector('link[rel=icon]').href).then(r => r.status + ' ' + r.headers.get('content-type'))",
    )
    .await;
    assert_eq!(icon, "200 image/svg+xml");

    c.goto(&h.url("/reports")).await.expect("reports");
    wait_css(&c, "#chart-district canvas").await;
    wait_js(
        &c,
        "const o = echarts.getInstanceByDom(document.getElementById('chart-district')).getOption(); return o.xAxis[0].data.length === 10 && o.xAxis[0].axisLabel.interval === 0",
    )
    .await;
    c.close().await.expect("close");
    h.stop().await;
}
