//! Crawl tests against real HTTP servers on 127.0.0.1 (axum), the real embedded bus and real
//! sled state. No mocks: every byte goes over a socket.

// Test helpers outside #[test] fns panic on setup failure by design.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::wire::{RawDocument, SourceHealth};
use common::{Envelope, SharedBus, StageContext, topics};
use ingest::{Config, SiteRules, SourceConfig, SourceType};

/// Requests seen by a test server, by path (with the conditional header, if any).
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<Hit>>>);

/// Path (with query) and the conditional header the request carried.
type Hit = (String, Option<String>);

impl Hits {
    fn count(&self, path: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }
    fn conditional(&self, path: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, c)| p == path && c.is_some())
            .count()
    }
}

type Handler = Arc<dyn Fn(&str, &HeaderMap, usize) -> Response + Send + Sync>;

/// A server whose responses come from `handler(path, headers, nth hit of that path)`.
async fn serve(handler: Handler) -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let h2 = hits.clone();
    let app = Router::new().fallback(move |State(()): State<()>, req: Request| {
        let handler = handler.clone();
        let hits = h2.clone();
        async move {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let cond = req
                .headers()
                .get(header::IF_NONE_MATCH)
                .or_else(|| req.headers().get(header::IF_MODIFIED_SINCE))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let nth = {
                let mut h = hits.0.lock().unwrap();
                h.push((path.clone(), cond));
                h.iter().filter(|(p, _)| *p == path).count()
            };
            handler(&path, req.headers(), nth)
        }
    });
    let app = app.with_state(());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, hits)
}

fn html(body: impl Into<Body>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

/// An RSS feed of `(title, link, description)` items.
fn feed(items: &[(&str, &str, &str)]) -> Response {
    ([(header::CONTENT_TYPE, "application/rss+xml")], rss(items)).into_response()
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

fn open_bus(dir: &std::path::Path) -> SharedBus {
    Arc::new(common::bus::EmbeddedBus::open(&dir.join("bus"), "", 10_000).unwrap())
}

fn ctx(bus: &SharedBus, dir: &std::path::Path) -> StageContext {
    StageContext {
        bus: bus.clone(),
        clock: Arc::new(common::SystemClock),
        data_dir: dir.to_path_buf(),
    }
}

/// Fast, test-friendly politeness.
fn test_config(sources: Vec<SourceConfig>) -> Config {
    Config {
        sources,
        per_host_min_interval_ms: 0,
        backoff_base_ms: 50,
        backoff_max_secs: 2,
        max_retries: 1,
        request_timeout_secs: 5,
        ..Config::default()
    }
}

fn local_source(id: &str, kind: SourceType, url: String) -> SourceConfig {
    let mut s = SourceConfig::new(id, kind, &url);
    s.allow_private = true;
    s.interval_secs = 1;
    s
}

/// The RSS source `id` at `/feed.xml` of a test server.
fn feed_source(id: &str, addr: SocketAddr) -> SourceConfig {
    local_source(id, SourceType::Rss, format!("http://{addr}/feed.xml"))
}

struct Running {
    shutdown: common::Shutdown,
    task: tokio::task::JoinHandle<Result<(), ingest::Error>>,
}

impl Running {
    fn start(cfg: Config, ctx: StageContext) -> Self {
        let shutdown = common::Shutdown::new();
        let task = tokio::spawn(ingest::run(cfg, ctx, shutdown.clone()));
        Self { shutdown, task }
    }
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("ingest stops promptly on shutdown")
            .unwrap()
            .unwrap();
    }
}

/// Ingest running on a fresh data directory, with a subscriber to what it publishes.
struct Crawl {
    _dir: tempfile::TempDir,
    bus: SharedBus,
    run: Running,
    sub: Box<dyn common::Subscription>,
}

impl Crawl {
    async fn start(cfg: Config) -> Crawl {
        let dir = tempfile::tempdir().unwrap();
        let bus = open_bus(dir.path());
        let run = Running::start(cfg, ctx(&bus, dir.path()));
        let sub = bus.subscribe(topics::RAW_DOCUMENTS, "t").await.unwrap();
        Crawl {
            _dir: dir,
            bus,
            run,
            sub,
        }
    }

    async fn next(&mut self) -> Option<Envelope<RawDocument>> {
        next_doc(&mut self.sub).await
    }

    /// Whether nothing more is published within `ms` milliseconds.
    async fn quiet_for(&mut self, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), self.sub.recv())
            .await
            .is_err()
    }
}

async fn next_doc(sub: &mut Box<dyn common::Subscription>) -> Option<Envelope<RawDocument>> {
    let d = tokio::time::timeout(Duration::from_secs(20), sub.recv())
        .await
        .ok()?
        .ok()?;
    sub.ack(&d).await.ok()?;
    Some(Envelope::decode(&d.payload).unwrap())
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait for a health record of `source` satisfying `pred`.
async fn wait_health(
    bus: &SharedBus,
    source: &str,
    pred: impl Fn(&SourceHealth) -> bool,
) -> SourceHealth {
    let mut sub = bus
        .subscribe(topics::SOURCE_HEALTH, &format!("h-{source}"))
        .await
        .unwrap();
    loop {
        let d = tokio::time::timeout(Duration::from_secs(30), sub.recv())
            .await
            .unwrap_or_else(|_| panic!("no matching health record for {source}"))
            .unwrap();
        let h = Envelope::<SourceHealth>::decode(&d.payload)
            .unwrap()
            .payload;
        if h.source_id == source && pred(&h) {
            return h;
        }
    }
}

fn para(topic: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("<p>{topic}第{i}段：市有关部门表示，将认真听取群众意见，依法依规妥善处理，及时向社会公布进展情况。</p>"))
        .collect()
}

fn article_page(title: &str, time: &str, paras: &str) -> String {
    let nav: String = (0..12)
        .map(|i| format!("<li><a href=\"/c{i}\">栏目{i}</a></li>"))
        .collect();
    format!(
        "<html><head><title>{title}_测试新闻网</title></head><body><ul class=\"menu\">{nav}</ul>\
<div class=\"main\"><h1>{title}</h1><div class=\"meta\">发布时间：{time} 来源：测试新闻网</div><div class=\"text\">{paras}</div></div>\
<div id=\"footer\">关于我们 | 联系我们 | 版权所有</div></body></html>"
    )
}

fn rss(items: &[(&str, &str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(title, link, desc)| format!("<item><title>{title}</title><link>{link}</link><description>{desc}</description></item>"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_items_are_completed_from_article_pages_and_never_reemitted_after_restart() {
    let extra_item = Arc::new(Mutex::new(false));
    let extra = extra_item.clone();
    let (addr, hits) = serve(Arc::new(move |path, _, _| {
        let with_extra = *extra.lock().unwrap();
        match path {
            "/feed.xml" => {
                let mut items = vec![
                    ("南明区暴雨积水", "/news/1.html", "摘要一"),
                    ("云岩区停水通知", "/news/2.html?utm_source=rss", "摘要二"),
                ];
                if with_extra {
                    items.push(("花溪区道路施工", "/news/3.html", "摘要三"));
                }
                feed(&items)
            }
            "/news/1.html" => html(article_page("南明区暴雨积水", "2026-11-20 08:30", &para("南明区暴雨积水排查", 6))),
            "/news/2.html?utm_source=rss" => {
                // A GBK page declared only in <meta>, served without a charset header.
                let page = format!(
                    "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head><body>{}</body></html>",
                    article_page("云岩区停水通知", "2026年11月21日 09:05", &para("云岩区停水", 5))
                );
                let bytes = encoding_rs::GBK.encode(&page).0.into_owned();
                ([(header::CONTENT_TYPE, "text/html")], bytes).into_response()
            }
            "/news/3.html" => html(article_page("花溪区道路施工", "2026-11-22 10:00", &para("花溪区道路施工交通管制", 6))),
            _ => not_found(),
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let src = feed_source("feed", addr);
    let bus = open_bus(dir.path());
    let run = Running::start(test_config(vec![src.clone()]), ctx(&bus, dir.path()));
    let mut sub = bus.subscribe(topics::RAW_DOCUMENTS, "t").await.unwrap();
    let mut docs = vec![
        next_doc(&mut sub).await.unwrap(),
        next_doc(&mut sub).await.unwrap(),
    ];
    docs.sort_by(|a, b| a.payload.title.cmp(&b.payload.title));
    let gbk = docs
        .iter()
        .find(|d| d.payload.title == "云岩区停水通知")
        .unwrap();
    assert_eq!(gbk.payload.encoding.as_deref(), Some("GBK"));
    assert!(
        gbk.payload.body.contains("云岩区停水第0段：市有关部门表示"),
        "{}",
        gbk.payload.body
    );
    assert!(
        !gbk.payload.body.contains('<') && !gbk.payload.body.contains("栏目"),
        "{}",
        gbk.payload.body
    );
    assert_eq!(
        gbk.payload.published_at.unwrap().to_rfc3339(),
        "2026-11-21T01:05:00+00:00"
    );
    for d in &docs {
        assert_eq!(d.message_id, d.payload.doc_id);
        assert_eq!(d.payload.source_id, "feed");
        assert!(d.payload.fingerprint.is_some());
    }
    wait_health(&bus, "feed", |h| {
        h.last_success_at.is_some() && h.items_published >= 2
    })
    .await;
    run.stop().await;
    drop(sub);
    drop(bus);

    // Restart on the same state with one new item: only the new one is published.
    *extra_item.lock().unwrap() = true;
    let bus = open_bus(dir.path());
    let run = Running::start(test_config(vec![src]), ctx(&bus, dir.path()));
    let mut sub = bus.subscribe(topics::RAW_DOCUMENTS, "t").await.unwrap();
    let third = next_doc(&mut sub).await.unwrap();
    assert_eq!(third.payload.title, "花溪区道路施工");
    // Several more rounds pass; nothing else may appear.
    let before = hits.count("/feed.xml");
    wait_until("two more feed rounds", || {
        hits.count("/feed.xml") >= before + 2
    })
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), sub.recv())
            .await
            .is_err(),
        "an item was re-emitted"
    );
    run.stop().await;
    assert_eq!(
        hits.count("/news/1.html"),
        1,
        "seen articles are not fetched again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_get_gets_304_and_publishes_nothing_new() {
    let (addr, hits) = serve(Arc::new(|path, headers, _| {
        if path != "/feed.xml" {
            return not_found();
        }
        if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v == "\"v1\"") {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        let long = "贵阳市政务服务中心延长周末办事时间，市民可在周六上午办理社保、医保、公积金等高频事项。".repeat(6);
        let mut r = feed(&[("政务服务中心周末办事", "/n/1", &long)]);
        r.headers_mut()
            .insert(header::ETAG, header::HeaderValue::from_static("\"v1\""));
        r
    }))
    .await;
    let mut crawl = Crawl::start(test_config(vec![feed_source("c", addr)])).await;
    let doc = crawl.next().await.unwrap();
    assert!(doc.payload.body.contains("高频事项"));
    wait_until("two conditional requests", || {
        hits.conditional("/feed.xml") >= 2
    })
    .await;
    assert!(crawl.quiet_for(500).await);
    crawl.run.stop().await;
    assert_eq!(hits.count("/n/1"), 0, "a full item is not followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_429_is_honoured() {
    let (addr, hits) = serve(Arc::new(|path, _, nth| match path {
        "/feed.xml" if nth == 1 => {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")]).into_response()
        }
        "/feed.xml" => {
            let long =
                "观山湖区新建三所公办幼儿园，明年秋季学期起可提供学位一千余个，缓解入园难问题。"
                    .repeat(6);
            feed(&[("新建幼儿园", "/n/1", &long)])
        }
        _ => not_found(),
    }))
    .await;
    let mut cfg = test_config(vec![feed_source("r", addr)]);
    // Our own backoff would wait ten minutes: only honouring Retry-After (1 s) lets the retry
    // happen within the test's patience.
    cfg.backoff_base_ms = 600_000;
    cfg.backoff_max_secs = 600;
    cfg.max_retries = 2;
    let mut crawl = Crawl::start(cfg).await;
    let doc = crawl.next().await.expect("published after the 429");
    assert!(doc.payload.body.contains("幼儿园"));
    assert_eq!(hits.count("/feed.xml"), 2);
    crawl.run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_is_obeyed() {
    let (addr, hits) = serve(Arc::new(|path, _, _| match path {
        "/robots.txt" => "User-agent: *\nDisallow: /private/\n".into_response(),
        "/feed.xml" => feed(&[
            ("公开稿件", "/public/a.html", "公开摘要"),
            ("内部稿件", "/private/b.html", "内部摘要"),
        ]),
        "/public/a.html" => html(article_page(
            "公开稿件",
            "2026-11-20 08:30",
            &para("公开稿件", 5),
        )),
        "/private/b.html" => html(article_page(
            "内部稿件",
            "2026-11-20 08:30",
            &para("内部稿件", 5),
        )),
        _ => not_found(),
    }))
    .await;
    let mut crawl = Crawl::start(test_config(vec![feed_source("robots", addr)])).await;
    let docs = [crawl.next().await.unwrap(), crawl.next().await.unwrap()];
    crawl.run.stop().await;
    assert_eq!(hits.count("/private/b.html"), 0, "disallowed page fetched");
    assert_eq!(hits.count("/public/a.html"), 1);
    // The disallowed item still travels with the feed's own text.
    let private = docs.iter().find(|d| d.payload.title == "内部稿件").unwrap();
    assert_eq!(private.payload.body, "内部摘要");
    assert!(hits.count("/robots.txt") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_huge_looping_and_binary_sources_fail_cleanly_and_do_not_stall_others() {
    let (addr, _hits) = serve(Arc::new(|path, _, _| match path {
        "/slow" => {
            // Slow drip: one byte every 300 ms, forever.
            let stream = futures::stream::unfold(0u32, |n| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"<")),
                    n + 1,
                ))
            });
            (
                [(header::CONTENT_TYPE, "text/html")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        "/huge" => {
            // 8 MB without Content-Length (chunked), so the cap must count while reading.
            let stream =
                futures::stream::iter((0..128).map(|_| {
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'a'; 64 * 1024]))
                }));
            (
                [(header::CONTENT_TYPE, "application/rss+xml")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        "/loop1" => (StatusCode::FOUND, [(header::LOCATION, "/loop2")]).into_response(),
        "/loop2" => (StatusCode::FOUND, [(header::LOCATION, "/loop1")]).into_response(),
        "/binary" => (
            [(header::CONTENT_TYPE, "image/png")],
            vec![0x89u8, b'P', b'N', b'G', 0, 0, 0, 0],
        )
            .into_response(),
        "/garbage" => (
            [(header::CONTENT_TYPE, "application/xml")],
            "<rss><channel><item><title>unclosed".to_string(),
        )
            .into_response(),
        "/good.xml" => {
            let long = "乌当区开展冬季供暖安全检查，重点排查老旧管网和锅炉房，发现隐患立即整改。"
                .repeat(6);
            feed(&[("冬季供暖安全检查", "/n/ok", &long)])
        }
        _ => not_found(),
    }))
    .await;
    let u = |p: &str| format!("http://{addr}{p}");
    let mut cfg = test_config(vec![
        local_source("slow", SourceType::Rss, u("/slow")),
        local_source("huge", SourceType::Rss, u("/huge")),
        local_source("loop", SourceType::Rss, u("/loop1")),
        local_source("binary", SourceType::Rss, u("/binary")),
        local_source("garbage", SourceType::Rss, u("/garbage")),
        local_source("good", SourceType::Rss, u("/good.xml")),
    ]);
    cfg.request_timeout_secs = 2;
    cfg.max_body_bytes = 1024 * 1024;
    cfg.max_retries = 0;
    let mut crawl = Crawl::start(cfg).await;
    let doc = crawl.next().await.unwrap();
    assert_eq!(doc.payload.source_id, "good");
    let checks: [(&str, &str); 5] = [
        ("slow", "timed out"),
        ("huge", "exceeds the 1048576 byte cap"),
        ("loop", "too many redirects"),
        ("binary", "unsupported content type"),
        ("garbage", "cannot parse feed"),
    ];
    for (source, needle) in checks {
        let h = wait_health(&crawl.bus, source, |h| h.consecutive_failures >= 1).await;
        let err = h.last_error.unwrap_or_default();
        assert!(err.contains(needle), "{source}: {err}");
        assert!(h.last_success_at.is_none());
    }
    crawl.run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_without_allow_private() {
    let (addr, hits) = serve(Arc::new(|_, _, _| html("<p>secret</p>"))).await;
    let mut literal = SourceConfig::new(
        "literal",
        SourceType::Rss,
        &format!("http://127.0.0.1:{}/feed.xml", addr.port()),
    );
    literal.interval_secs = 1;
    let mut named = SourceConfig::new(
        "named",
        SourceType::Html,
        &format!("http://localhost:{}/", addr.port()),
    );
    named.interval_secs = 1;
    let crawl = Crawl::start(test_config(vec![literal, named])).await;
    for source in ["literal", "named"] {
        let h = wait_health(&crawl.bus, source, |h| h.last_error.is_some()).await;
        let err = h.last_error.unwrap();
        assert!(
            err.contains("refused") && err.contains("private"),
            "{source}: {err}"
        );
        assert!(h.last_success_at.is_none());
    }
    crawl.run.stop().await;
    assert_eq!(
        hits.0.lock().unwrap().len(),
        0,
        "no request may reach a private address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_duplicates_are_linked_and_exact_duplicates_dropped() {
    let base = "贵阳市交通管理局发布通告：因轨道交通建设需要，中华北路部分路段将于本周六起实施交通管制，为期三个月，请过往车辆提前绕行，市民合理安排出行路线，给您带来的不便敬请谅解。";
    let repost = format!("{base}（转自贵阳交警）");
    let (addr, _) = serve(Arc::new(move |path, _, _| {
        if path != "/feed.xml" {
            return not_found();
        }
        let items = [
            ("中华北路交通管制", "/n/1", base),
            ("转：中华北路交通管制", "/n/2", repost.as_str()),
            ("中华北路交通管制", "/n/3", base),
        ];
        feed(&items)
    }))
    .await;
    let mut cfg = test_config(vec![feed_source("d", addr)]);
    cfg.follow_links = false;
    let mut crawl = Crawl::start(cfg).await;
    let first = crawl.next().await.unwrap();
    let second = crawl.next().await.unwrap();
    assert_eq!(first.payload.near_duplicate_of, None);
    assert_eq!(
        second.payload.near_duplicate_of.as_deref(),
        Some(first.payload.doc_id.as_str())
    );
    wait_health(&crawl.bus, "d", |h| h.last_success_at.is_some()).await;
    assert!(crawl.quiet_for(1500).await, "exact duplicate published");
    crawl.run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_list_pages_with_rules_weibo_and_json_sources() {
    let (addr, _) = serve(Arc::new(|path, _, _| match path {
        "/list" => html(
            "<html><body><ul class=\"nav\"><li><a href=\"/\">首页</a></li></ul><ul class=\"news\">\
<li><a href=\"/art/1\">白云区举办就业招聘会岗位三千个</a></li><li><a href=\"/art/2\">乌当区农村公路完成提级改造</a></li></ul>\
<a class=\"next\" href=\"/list2\">下一页</a></body></html>",
        ),
        "/list2" => html("<ul class=\"news\"><li><a href=\"/art/3\">清镇市开展森林防火宣传</a></li></ul>"),
        "/art/1" | "/art/2" | "/art/3" => html(format!(
            "<div class=\"t\">稿件{path}</div><span class=\"d\">11-25 14:20</span><div class=\"c\">{}</div><div class=\"c\">{}</div>",
            para(path, 2),
            "<p>结尾段落。</p>"
        )),
        "/weibo" => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"ok":1,"data":{"cards":[{"card_type":9,"mblog":{"id":"1","bid":"B1","text":"小区门口的路灯坏了一个月没人修<br/>#贵阳#","created_at":"刚刚","reposts_count":5,"comments_count":6,"attitudes_count":7,"user":{"screen_name":"市民"}}}]}}"#,
        )
            .into_response(),
        "/api" => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"items":[{"id":"x1","title":"网友留言：公交站台缺少遮雨棚","body":"希望在站台增设遮雨棚，方便市民候车。","time":"2026-11-25 09:00"}]}"#,
        )
            .into_response(),
        _ => not_found(),
    }))
    .await;
    let u = |p: &str| format!("http://{addr}{p}");
    let mut list = local_source("list", SourceType::Html, u("/list"));
    list.rules = Some(SiteRules {
        list_links: Some("ul.news a".into()),
        next_page: Some("a.next".into()),
        max_pages: 2,
        title: Some("div.t".into()),
        body: Some("div.c".into()),
        time: Some("span.d".into()),
        author: None,
    });
    let weibo = local_source("weibo", SourceType::Weibo, u("/weibo"));
    let mut api = local_source("api", SourceType::Json, u("/api"));
    api.json = Some(ingest::JsonMapping {
        items: "items".into(),
        id: Some("id".into()),
        title: Some("title".into()),
        text: "body".into(),
        url: None,
        published_at: Some("time".into()),
        author: None,
        reposts: None,
        comments: None,
        likes: None,
        views: None,
    });
    let mut cfg = test_config(vec![list, weibo, api]);
    cfg.follow_links = false;
    let mut crawl = Crawl::start(cfg).await;
    let mut by_source: HashMap<String, Vec<RawDocument>> = HashMap::new();
    for _ in 0..5 {
        let d = crawl.next().await.expect("five documents");
        by_source
            .entry(d.payload.source_id.clone())
            .or_default()
            .push(d.payload);
    }
    crawl.run.stop().await;
    let list = &by_source["list"];
    assert_eq!(list.len(), 3, "two list pages followed");
    let a1 = list.iter().find(|d| d.title == "稿件/art/1").unwrap();
    assert!(
        a1.body.contains("/art/1第1段") && a1.body.ends_with("结尾段落。"),
        "{}",
        a1.body
    );
    assert!(a1.published_at.is_some());
    let w = &by_source["weibo"][0];
    assert_eq!(w.body, "小区门口的路灯坏了一个月没人修\n#贵阳#");
    assert_eq!(w.engagement.reposts, Some(5));
    assert_eq!(w.author.as_deref(), Some("市民"));
    assert_eq!(w.source_kind, common::wire::SourceKind::Social);
    let j = &by_source["api"][0];
    assert_eq!(j.title, "网友留言：公交站台缺少遮雨棚");
    assert_eq!(
        j.published_at.unwrap().to_rfc3339(),
        "2026-11-25T01:00:00+00:00"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_concurrency_is_bounded_across_sources() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let (f, m, s) = (in_flight.clone(), max_seen.clone(), served.clone());
    let app = Router::new().fallback(move |req: Request| {
        let (f, m, s) = (f.clone(), m.clone(), s.clone());
        async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            s.fetch_add(1, Ordering::SeqCst);
            let path = req.uri().path().to_string();
            if path.ends_with(".xml") {
                let items: Vec<(String, String)> = (0..3)
                    .map(|i| (format!("{path}条目{i}"), format!("{path}/a{i}")))
                    .collect();
                let items: Vec<(&str, &str, &str)> = items
                    .iter()
                    .map(|(t, l)| (t.as_str(), l.as_str(), "短摘要"))
                    .collect();
                feed(&items)
            } else if path == "/robots.txt" {
                not_found()
            } else {
                html(article_page(&path, "2026-11-20 08:30", &para(&path, 4)))
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut cfg = test_config(
        (0..3)
            .map(|i| {
                local_source(
                    &format!("s{i}"),
                    SourceType::Rss,
                    format!("http://{addr}/f{i}.xml"),
                )
            })
            .collect(),
    );
    cfg.per_host_concurrency = 1;
    let mut crawl = Crawl::start(cfg).await;
    for _ in 0..9 {
        crawl.next().await.expect("nine articles");
    }
    crawl.run.stop().await;
    assert!(served.load(Ordering::SeqCst) >= 12);
    assert_eq!(
        max_seen.load(Ordering::SeqCst),
        1,
        "more than one request in flight to one host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_defers_the_host_across_rounds() {
    let (addr, hits) = serve(Arc::new(|path, _, _| match path {
        "/feed.xml" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "3600")],
        )
            .into_response(),
        _ => not_found(),
    }))
    .await;
    let crawl = Crawl::start(test_config(vec![feed_source("busy", addr)])).await;
    let h = wait_health(&crawl.bus, "busy", |h| h.consecutive_failures >= 3).await;
    crawl.run.stop().await;
    assert!(h.last_error.unwrap().contains("deferred"));
    assert_eq!(
        hits.count("/feed.xml"),
        1,
        "the host was asked again before its Retry-After"
    );
}

/// An exempted (intranet) source may not be used as a springboard: its links and redirects to
/// other private hosts are refused, and the items travel with the feed's own text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempted_source_cannot_reach_other_private_hosts() {
    // The "internal" target on another loopback address, which must never be reached.
    let inner = Router::new().fallback(|| async { "secret" });
    let inner_listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let inner_addr = inner_listener.local_addr().unwrap();
    let inner_hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ih = inner_hits.clone();
    let inner = inner.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| {
            ih.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { next.run(req).await }
        },
    ));
    tokio::spawn(async move { axum::serve(inner_listener, inner).await.unwrap() });

    let secret = format!("http://{inner_addr}/latest/meta-data");
    let (addr, hits) = serve(Arc::new(move |path, _, _| match path {
        "/feed.xml" => feed(&[
            ("经跳转的链接", "/go", "跳转摘要"),
            ("指向内网的链接", secret.as_str(), "内网摘要"),
        ]),
        "/go" => (StatusCode::FOUND, [(header::LOCATION, secret.clone())]).into_response(),
        _ => not_found(),
    }))
    .await;
    let mut crawl = Crawl::start(test_config(vec![feed_source("intranet", addr)])).await;
    let mut bodies = vec![
        crawl.next().await.unwrap().payload.body,
        crawl.next().await.unwrap().payload.body,
    ];
    bodies.sort();
    crawl.run.stop().await;
    assert_eq!(bodies, ["内网摘要", "跳转摘要"]);
    assert_eq!(
        hits.count("/go"),
        1,
        "the redirecting link itself is on the exempted host"
    );
    assert_eq!(
        inner_hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a private host was reached"
    );
}

/// robots.txt is checked again on where a redirect lands: another path of the same site and
/// another origin (a second server, so its own robots.txt) are both disallowed there, and the
/// items keep the feed's own text instead of the page reached through the redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_is_rechecked_on_the_final_url_after_a_redirect() {
    let (other, other_hits) = serve(Arc::new(|path, _, _| match path {
        "/robots.txt" => "User-agent: *\nDisallow: /\n".into_response(),
        "/story.html" => html(article_page(
            "外站稿件",
            "2026-11-20 08:30",
            &para("外站稿件", 5),
        )),
        _ => not_found(),
    }))
    .await;
    let elsewhere = format!("http://{other}/story.html");
    let (addr, _hits) = serve(Arc::new(move |path, _, _| match path {
        "/robots.txt" => "User-agent: *\nDisallow: /private/\n".into_response(),
        "/feed.xml" => feed(&[
            ("站内跳转", "/go/a", "站内摘要"),
            ("外站跳转", "/go/b", "外站摘要"),
        ]),
        "/go/a" => (StatusCode::FOUND, [(header::LOCATION, "/private/a.html")]).into_response(),
        "/go/b" => (StatusCode::FOUND, [(header::LOCATION, elsewhere.clone())]).into_response(),
        "/private/a.html" => html(article_page(
            "内部稿件",
            "2026-11-20 08:30",
            &para("内部稿件", 5),
        )),
        _ => not_found(),
    }))
    .await;
    let mut crawl = Crawl::start(test_config(vec![feed_source("redirects", addr)])).await;
    let mut bodies = vec![
        crawl.next().await.unwrap().payload.body,
        crawl.next().await.unwrap().payload.body,
    ];
    bodies.sort();
    crawl.run.stop().await;
    assert_eq!(bodies, ["外站摘要", "站内摘要"]);
    assert!(
        other_hits.count("/robots.txt") >= 1,
        "the final origin's robots.txt was not read"
    );
}

/// A page whose byline has no time: the publish time comes from JSON-LD `datePublished`
/// (inside a <script>, so read before scripts are stripped) or from `article:published_time`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_time_comes_from_json_ld_or_meta_when_the_byline_has_none() {
    let page = |title: &str, head: &str| {
        article_page(title, "", &para(title, 5)).replace("<head>", &format!("<head>{head}"))
    };
    let ld = page(
        "结构化数据稿件",
        r#"<script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebPage"},{"@type":"NewsArticle","datePublished":"2026-11-19T07:45:00+08:00"}]}</script>"#,
    );
    let meta = page(
        "元数据稿件",
        r#"<meta property="article:published_time" content="2026-11-18T06:00:00+08:00">"#,
    );
    let (addr, _hits) = serve(Arc::new(move |path, _, _| match path {
        "/feed.xml" => feed(&[
            ("结构化数据稿件", "/ld.html", "摘要"),
            ("元数据稿件", "/meta.html", "摘要"),
        ]),
        "/ld.html" => html(ld.clone()),
        "/meta.html" => html(meta.clone()),
        _ => not_found(),
    }))
    .await;
    let mut crawl = Crawl::start(test_config(vec![feed_source("times", addr)])).await;
    let mut times = HashMap::new();
    for _ in 0..2 {
        let d = crawl.next().await.unwrap().payload;
        times.insert(d.title.clone(), d.published_at.map(|t| t.to_rfc3339()));
    }
    crawl.run.stop().await;
    assert_eq!(
        times["结构化数据稿件"].as_deref(),
        Some("2026-11-18T23:45:00+00:00")
    );
    assert_eq!(
        times["元数据稿件"].as_deref(),
        Some("2026-11-17T22:00:00+00:00")
    );
}

/// SSRF through DNS: a name (not an IP literal, not `localhost`, which the literal check
/// refuses before any lookup) that resolves to a local address. The machine's own hostname is
/// the one such name every host resolves without network access (/etc/hosts maps it to
/// 127.0.0.1, 127.0.1.1 or the container's private address), so the test serves on whatever
/// it resolves to. Refused by the resolver for an ordinary source; fetched for an exempted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_a_private_address_is_refused_unless_allowed() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .expect("hostname");
    let ip = tokio::net::lookup_host((host.as_str(), 0))
        .await
        .expect("the hostname resolves locally")
        .map(|a| a.ip())
        .next()
        .expect("an address");
    assert!(
        !ingest::fetch::is_public(ip),
        "{host} resolves to the public {ip}: this test needs a local name"
    );
    let app = Router::new().fallback(|req: Request| async move {
        match req.uri().path() {
            "/feed.xml" => feed(&[("内网稿件", "/none", "内网摘要")]),
            _ => not_found(),
        }
    });
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = app.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { next.run(req).await }
        },
    ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = format!("http://{host}:{port}/feed.xml");
    let mut strict = SourceConfig::new("strict", SourceType::Rss, &url);
    strict.interval_secs = 1;
    let mut crawl = Crawl::start(test_config(vec![strict])).await;
    let h = wait_health(&crawl.bus, "strict", |h| h.last_error.is_some()).await;
    let err = h.last_error.unwrap();
    assert!(err.contains("private"), "{err}");
    assert!(crawl.quiet_for(300).await);
    crawl.run.stop().await;
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a request reached the private address"
    );

    let mut crawl = Crawl::start(test_config(vec![local_source(
        "exempt",
        SourceType::Rss,
        url,
    )]))
    .await;
    let doc = crawl.next().await.unwrap().payload;
    crawl.run.stop().await;
    assert_eq!(doc.body, "内网摘要");
}

/// A paginated article: its "下一页" pages are followed and the bodies joined in order; the
/// "下一篇" (next article) link is not followed, and a last page linking back to the first
/// ends the walk instead of looping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paginated_articles_are_joined_across_next_page_links() {
    let page = |n: usize, next: &str| {
        let nav = format!(
            "<div class=\"pages\"><a href=\"{next}\">下一页</a></div>\
<div class=\"related\"><a href=\"/news/2.html\">下一篇</a></div>"
        );
        article_page(
            "分页稿件",
            "2026-11-20 08:30",
            &format!("{}{nav}", para(&format!("第{n}页内容"), 4)),
        )
    };
    let (addr, hits) = serve(Arc::new(move |path, _, _| match path {
        "/feed.xml" => feed(&[("分页稿件", "/news/1.html", "摘要")]),
        "/news/1.html" => html(page(1, "/news/1_2.html")),
        "/news/1_2.html" => html(page(2, "1_3.html")),
        "/news/1_3.html" => html(page(3, "/news/1.html")),
        "/news/2.html" => html(article_page(
            "另一篇",
            "2026-11-20 09:30",
            &para("另一篇", 4),
        )),
        _ => not_found(),
    }))
    .await;
    let mut crawl = Crawl::start(test_config(vec![feed_source("pages", addr)])).await;
    let doc = crawl.next().await.unwrap().payload;
    crawl.run.stop().await;
    let at = |n: usize| {
        doc.body
            .find(&format!("第{n}页内容第0段"))
            .unwrap_or_else(|| panic!("page {n} missing from {}", doc.body))
    };
    assert!(
        at(1) < at(2) && at(2) < at(3),
        "pages out of order: {}",
        doc.body
    );
    assert!(!doc.body.contains("下一页") && !doc.body.contains("下一篇"));
    assert_eq!(
        hits.count("/news/1.html"),
        1,
        "the loop back to page 1 was followed"
    );
    assert_eq!(
        hits.count("/news/2.html"),
        0,
        "the next article was fetched"
    );
}
