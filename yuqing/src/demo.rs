//! The demo feed site: a local web site that publishes project-written sample news, an Atom feed
//! of government releases and a Weibo-style JSON timeline, a few items at a time over about three
//! minutes, so `yuqing demo` exercises the real crawlers end to end. Some article pages are served
//! in GBK, as many Chinese news sites still are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::time::Instant;

use common::Shutdown;

const FEED: &str = include_str!("../demo/feed.json");

#[derive(Debug, Clone, Deserialize)]
pub struct DemoItem {
    pub kind: String,
    /// Seconds after the site starts when the item appears.
    pub delay: u64,
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub reposts: u64,
    #[serde(default)]
    pub comments: u64,
    #[serde(default)]
    pub likes: u64,
}

/// The sample items, in release order.
pub fn items() -> Vec<DemoItem> {
    // The file is part of the binary and checked by a test, so a parse failure is a build bug.
    serde_json::from_str(FEED).unwrap_or_default()
}

#[derive(Clone)]
struct Site {
    items: Arc<Vec<DemoItem>>,
    started: Instant,
    started_wall: DateTime<Utc>,
    /// 1.0 = the delays in the feed; tests use a large factor to release everything at once.
    speed: f64,
    base: String,
}

impl Site {
    fn released(&self) -> impl Iterator<Item = (usize, &DemoItem)> {
        let elapsed = self.started.elapsed().as_secs_f64() * self.speed;
        self.items
            .iter()
            .enumerate()
            .filter(move |(_, it)| it.delay as f64 <= elapsed)
    }

    fn published_at(&self, item: &DemoItem) -> DateTime<FixedOffset> {
        let at = self.started_wall + chrono::Duration::seconds(item.delay as i64);
        at.with_timezone(&CHINA_STANDARD_TIME)
    }
}

const CHINA_STANDARD_TIME: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(tz) => tz,
    None => panic!("+08:00 is a valid offset"),
};

/// A running demo site.
pub struct DemoSite {
    pub addr: SocketAddr,
}

impl DemoSite {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serve the demo site on `listener` until `shutdown`. `speed` scales time (1.0 = real time).
pub fn serve(listener: TcpListener, speed: f64, shutdown: Shutdown) -> std::io::Result<DemoSite> {
    let addr = listener.local_addr()?;
    let site = Site {
        items: Arc::new(items()),
        started: Instant::now(),
        started_wall: Utc::now(),
        speed,
        base: format!("http://{addr}"),
    };
    let app = Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route("/news/rss.xml", get(news_rss))
        .route("/news/{n}", get(article))
        .route("/gov/atom.xml", get(gov_atom))
        .route("/gov/{n}", get(article))
        .route("/weibo/timeline.json", get(weibo_timeline))
        .with_state(site);
    tokio::spawn(async move {
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "demo site stopped");
        }
    });
    Ok(DemoSite { addr })
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn first_sentence(body: &str) -> &str {
    body.split_inclusive('。').next().unwrap_or(body)
}

async fn news_rss(State(site): State<Site>) -> Response {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>筑城新闻聚合(演示)</title><link>http://demo.invalid/</link>\
         <description>yuqing demo feed</description>\n",
    );
    for (n, it) in site.released().filter(|(_, it)| it.kind == "news") {
        let link = format!("{}/news/{n}.html", site.base);
        xml.push_str(&format!(
            "<item><title>{}</title><link>{}</link><guid>{}</guid><pubDate>{}</pubDate>\
             <author>{}</author><description>{}</description></item>\n",
            xml_escape(&it.title),
            link,
            link,
            site.published_at(it).to_rfc2822(),
            xml_escape(&it.site),
            // Only a summary: the crawler must fetch the article for the body.
            xml_escape(first_sentence(&it.body)),
        ));
    }
    xml.push_str("</channel></rss>\n");
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

async fn article(State(site): State<Site>, Path(file): Path<String>) -> Response {
    let n: Option<usize> = file.strip_suffix(".html").and_then(|s| s.parse().ok());
    let Some((_, it)) = n.and_then(|n| site.released().find(|(i, _)| *i == n)) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let gbk = it.encoding.as_deref() == Some("gbk");
    let charset = if gbk { "gbk" } else { "utf-8" };
    let paragraphs: String = it
        .body
        .lines()
        .map(|p| format!("<p>{}</p>\n", xml_escape(p)))
        .collect();
    let published = site.published_at(it).format("%Y年%m月%d日 %H:%M");
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"{charset}\"><title>{title}_{site_name}</title></head>\
         <body><div class=\"nav\"><a href=\"/\">首页</a> | <a href=\"/news\">新闻</a> | <a href=\"/gov\">政务</a> | \
         <a href=\"/video\">视频</a> | <a href=\"/about\">关于我们</a></div>\
         <div class=\"main\"><h1>{title}</h1>\
         <div class=\"info\">{published} 来源:{site_name} 作者:{author}</div>\
         <div class=\"article\">{paragraphs}</div></div>\
         <div class=\"related\"><h3>相关阅读</h3><ul><li><a href=\"/news/a.html\">贵阳今日天气</a></li>\
         <li><a href=\"/news/b.html\">本周末活动推荐</a></li></ul></div>\
         <div class=\"footer\">版权所有 © {site_name} 联系我们 网站地图</div></body></html>",
        title = xml_escape(&it.title),
        site_name = xml_escape(&it.site),
        author = xml_escape(&it.author),
    );
    let body = if gbk {
        encoding_rs::GBK.encode(&html).0.into_owned()
    } else {
        html.into_bytes()
    };
    (
        [(
            header::CONTENT_TYPE,
            format!("text/html; charset={charset}"),
        )],
        body,
    )
        .into_response()
}

async fn gov_atom(State(site): State<Site>) -> Response {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>贵阳市政府信息公开(演示)</title><id>urn:yuqing:demo:gov</id>\n",
    );
    xml.push_str(&format!(
        "<updated>{}</updated>\n",
        site.started_wall.to_rfc3339()
    ));
    for (n, it) in site.released().filter(|(_, it)| it.kind == "gov") {
        let link = format!("{}/gov/{n}.html", site.base);
        xml.push_str(&format!(
            "<entry><title>{}</title><id>{}</id><link href=\"{}\"/><updated>{}</updated>\
             <author><name>{}</name></author><content type=\"text\">{}</content></entry>\n",
            xml_escape(&it.title),
            link,
            link,
            site.published_at(it).to_rfc3339(),
            xml_escape(&it.author),
            xml_escape(&it.body),
        ));
    }
    xml.push_str("</feed>\n");
    (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

async fn weibo_timeline(State(site): State<Site>) -> Response {
    let cards: Vec<serde_json::Value> = site
        .released()
        .filter(|(_, it)| it.kind == "weibo")
        .map(|(n, it)| {
            serde_json::json!({
                "card_type": 9,
                "mblog": {
                    "id": format!("49{n:014}"),
                    "mid": format!("49{n:014}"),
                    "text": it.text,
                    "created_at": site.published_at(it).format("%a %b %d %H:%M:%S %z %Y").to_string(),
                    "reposts_count": it.reposts,
                    "comments_count": it.comments,
                    "attitudes_count": it.likes,
                    "user": {"screen_name": it.user}
                }
            })
        })
        .collect();
    axum::Json(serde_json::json!({"ok": 1, "data": {"cards": cards}})).into_response()
}

/// How long the whole demo feed takes to be released at `speed`.
pub fn duration(speed: f64) -> Duration {
    let last = items().iter().map(|i| i.delay).max().unwrap_or(0);
    Duration::from_secs_f64(last as f64 / speed.max(0.001))
}

#[cfg(test)]
mod tests {
    #[test]
    fn feed_parses_and_is_in_release_order() {
        let items = super::items();
        assert!(items.len() >= 20);
        assert!(items.windows(2).all(|w| w[0].delay <= w[1].delay));
        assert!(items.iter().any(|i| i.encoding.as_deref() == Some("gbk")));
    }
}
