//! Measuring tools behind the CLI: `yuqing extract`, `yuqing eval extraction`,
//! `yuqing bench ingest`.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use url::Url;

use crate::config::{Config, SourceConfig, SourceType, china_offset};
use crate::error::Error;
use crate::extract::{self, Article};
use crate::fetch::{Fetched, Fetcher, Want};

/// `yuqing extract FILE|URL`: one page → JSON `{title, body, published_at, author, encoding}`.
pub async fn extract(target: &str, out: &mut dyn Write) -> Result<(), Error> {
    let now = Utc::now();
    let (bytes, charset, url) = if target.starts_with("http://") || target.starts_with("https://") {
        let url = Url::parse(target).map_err(|_| Error::BadUrl(target.to_string()))?;
        let cfg = Config {
            respect_robots: true,
            ..Config::default()
        };
        let fetcher = Fetcher::new(Arc::new(cfg))?;
        // A URL typed by an operator may point at an intranet test page: allow it, since the
        // SSRF guard protects against hostile *crawled* links, not the operator.
        match fetcher
            .fetch(&url, true, Want::Html, None, &common::Shutdown::new())
            .await?
        {
            Fetched::Page(p) => {
                let cs = p.charset().map(str::to_string);
                (p.bytes, cs, Some(p.url))
            }
            Fetched::NotModified => return Err(Error::parse("page", "unexpected 304")),
        }
    } else {
        (tokio::fs::read(target).await?, None, None)
    };
    let article = tokio::task::spawn_blocking(move || {
        extract::extract_bytes(
            &bytes,
            charset.as_deref(),
            url.as_ref(),
            None,
            now,
            china_offset(),
        )
    })
    .await
    .map_err(|e| Error::parse("page", e))?;
    #[derive(Serialize)]
    struct Out<'a> {
        title: &'a str,
        body: &'a str,
        published_at: Option<DateTime<Utc>>,
        author: Option<&'a str>,
        encoding: Option<&'a str>,
    }
    let o = Out {
        title: &article.title,
        body: &article.body,
        published_at: article.published_at,
        author: article.author.as_deref(),
        encoding: article.encoding.as_deref(),
    };
    serde_json::to_writer_pretty(&mut *out, &o).map_err(|e| Error::parse("output", e))?;
    writeln!(out)?;
    Ok(())
}

/// One labelled page of an extraction dataset.
struct Case {
    id: String,
    bytes: Vec<u8>,
    url: Option<Url>,
    gold_body: Option<String>,
    gold_time: Option<String>,
}

fn load_cases(path: &Path) -> Result<Vec<Case>, Error> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut cases = Vec::new();
    for (n, line) in file.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| Error::parse(format!("{}:{}", path.display(), n + 1), e))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let bytes = match s("html_raw_base64") {
            Some(b64) => base64_decode(&b64)
                .ok_or_else(|| Error::parse("html_raw_base64", "invalid base64"))?,
            None => s("html").unwrap_or_default().into_bytes(),
        };
        let label = v.get("label");
        let l = |k: &str| {
            label
                .and_then(|l| l.get(k))
                .and_then(|x| x.as_str())
                .map(str::to_string)
        };
        cases.push(Case {
            id: s("id").unwrap_or_else(|| format!("line{}", n + 1)),
            bytes,
            url: s("url").and_then(|u| Url::parse(&u).ok()),
            gold_body: l("body"),
            gold_time: l("publish_time"),
        });
    }
    Ok(cases)
}

/// Character-level precision, recall and F1 of `pred` against `gold`, whitespace ignored
/// (bag of characters, as is usual for Chinese content-extraction scoring).
pub fn char_prf(pred: &str, gold: &str) -> (f64, f64, f64) {
    let count = |s: &str| {
        let mut m: HashMap<char, usize> = HashMap::new();
        for c in s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '\u{3000}' && *c != '\u{a0}')
        {
            *m.entry(c).or_default() += 1;
        }
        m
    };
    let (p, g) = (count(pred), count(gold));
    let np: usize = p.values().sum();
    let ng: usize = g.values().sum();
    let overlap: usize = p
        .iter()
        .map(|(c, n)| (*n).min(*g.get(c).unwrap_or(&0)))
        .sum();
    if np == 0 || ng == 0 {
        let both_empty = np == 0 && ng == 0;
        let v = if both_empty { 1.0 } else { 0.0 };
        return (v, v, v);
    }
    let (pr, rc) = (overlap as f64 / np as f64, overlap as f64 / ng as f64);
    let f1 = if pr + rc == 0.0 {
        0.0
    } else {
        2.0 * pr * rc / (pr + rc)
    };
    (pr, rc, f1)
}

/// Whether a predicted time matches a gold time string at the gold's precision (a gold `2018`
/// only checks the year; `2005-5-7 21:23:57` checks down to the second), in Beijing time.
pub fn time_matches(pred: Option<DateTime<Utc>>, gold: &str) -> bool {
    let nums: Vec<u32> = gold
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    let Some(pred) = pred else {
        return false;
    };
    let local = pred.with_timezone(&china_offset());
    let got = [
        local.year() as u32,
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
    ];
    !nums.is_empty() && nums.iter().zip(got.iter()).all(|(g, p)| g == p)
}

/// One part of a labelled set for cross-validation: fold `k` of `n` by a hash of each item's
/// id (the first SHA-1 byte after the leading one, modulo `n`, as `dev_corrections.py` splits
/// the classification sets), or every other fold with `rest`. Rules are tuned on one part and
/// reported on the other, never on the items read while tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    pub k: u8,
    pub n: u8,
    pub rest: bool,
}

impl Fold {
    /// `K/N`, with `0 <= K < N`.
    pub fn parse(spec: &str, rest: bool) -> Result<Self, Error> {
        let bad = || Error::Config(format!("折数格式应为 K/N（0 ≤ K < N）: {spec:?}"));
        let (k, n) = spec.split_once('/').ok_or_else(bad)?;
        let (k, n): (u8, u8) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Self { k, n, rest })
    }

    pub fn contains(&self, id: &str) -> bool {
        use sha1::Digest;
        let digest = sha1::Sha1::digest(id.as_bytes());
        (digest[1] % self.n == self.k) != self.rest
    }
}

/// `yuqing eval extraction FILE [--fold K/N [--rest]]`: body P/R/F1 and publish-time accuracy
/// over a JSONL dataset, or over one fold of it.
pub fn eval_extraction(path: &Path, fold: Option<Fold>, out: &mut dyn Write) -> Result<(), Error> {
    let mut cases = load_cases(path)?;
    if let Some(f) = fold {
        cases.retain(|c| f.contains(&c.id));
        writeln!(
            out,
            "fold {}/{}{}",
            f.k,
            f.n,
            if f.rest { " (rest)" } else { "" }
        )?;
    }
    let now = Utc::now();
    let (mut sp, mut sr, mut sf, mut nb) = (0.0, 0.0, 0.0, 0usize);
    let (mut time_ok, mut nt) = (0usize, 0usize);
    writeln!(out, "{:<48} {:>6} {:>6} {:>6}  time", "id", "P", "R", "F1")?;
    for c in &cases {
        let a: Article =
            extract::extract_bytes(&c.bytes, None, c.url.as_ref(), None, now, china_offset());
        let mut row = format!("{:<48}", c.id);
        if let Some(gold) = &c.gold_body {
            let (p, r, f) = char_prf(&a.body, gold);
            sp += p;
            sr += r;
            sf += f;
            nb += 1;
            row.push_str(&format!(" {p:>6.3} {r:>6.3} {f:>6.3}"));
        } else {
            row.push_str(&format!(" {:>6} {:>6} {:>6}", "-", "-", "-"));
        }
        if let Some(gold) = &c.gold_time {
            nt += 1;
            let ok = time_matches(a.published_at, gold);
            time_ok += usize::from(ok);
            let got = a
                .published_at
                .map(|t| {
                    t.with_timezone(&china_offset())
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_else(|| "none".into());
            row.push_str(&format!(
                "  {} gold={gold} got={got}",
                if ok { "ok" } else { "MISS" }
            ));
        }
        writeln!(out, "{row}")?;
    }
    let avg = |s: f64, n: usize| if n == 0 { 0.0 } else { s / n as f64 };
    writeln!(
        out,
        "pages: {}  with gold body: {nb}  with gold time: {nt}",
        cases.len()
    )?;
    writeln!(
        out,
        "body  precision {:.4}  recall {:.4}  F1 {:.4}  (mean over pages)",
        avg(sp, nb),
        avg(sr, nb),
        avg(sf, nb)
    )?;
    writeln!(
        out,
        "publish time accuracy {:.4} ({time_ok}/{nt})",
        avg(time_ok as f64, nt)
    )?;
    Ok(())
}

/// `yuqing bench ingest`: extraction pages/s on one core, and end-to-end crawl throughput
/// (feed → article pages → bus) against a local fixture server.
pub async fn bench(out: &mut dyn Write) -> Result<(), Error> {
    let pages = bench_pages();
    let total_bytes: usize = pages.iter().map(Vec::len).sum();
    let started = Instant::now();
    let pages_for_run = pages.clone();
    let (n, elapsed, cpu) = tokio::task::spawn_blocking(move || {
        let now = Utc::now();
        let mut n = 0usize;
        let t = Instant::now();
        let cpu0 = thread_cpu_time();
        while t.elapsed() < Duration::from_secs(3) {
            for p in &pages_for_run {
                let a = extract::extract_bytes(p, None, None, None, now, china_offset());
                std::hint::black_box(a);
                n += 1;
            }
        }
        let cpu = thread_cpu_time()
            .zip(cpu0)
            .map(|(b, a)| b.saturating_sub(a));
        (n, t.elapsed(), cpu)
    })
    .await
    .map_err(|e| Error::parse("bench", e))?;
    // CPU time of the extracting thread, when the OS tells it, so that a busy machine does not
    // understate the per-core rate; wall time otherwise.
    let (busy, basis) = match cpu {
        Some(c) if !c.is_zero() => (c, "thread cpu time"),
        _ => (elapsed, "wall time"),
    };
    writeln!(
        out,
        "extraction: {n} pages in {:.2}s ({basis}; {:.2}s wall) = {:.0} pages/s/core (corpus {} pages, mean {} KiB)",
        busy.as_secs_f64(),
        elapsed.as_secs_f64(),
        n as f64 / busy.as_secs_f64(),
        pages.len(),
        total_bytes / pages.len().max(1) / 1024
    )?;
    let _ = started;

    let n_items = 200usize;
    let (addr, server) = crate::tools::fixture_server::start(n_items).await?;
    let dir = tempfile::tempdir()?;
    let bus: common::SharedBus = Arc::new(
        common::bus::EmbeddedBus::open(&dir.path().join("bus"), "", 100_000).map_err(Error::Bus)?,
    );
    let ctx = common::StageContext {
        bus: bus.clone(),
        clock: Arc::new(common::SystemClock),
        data_dir: dir.path().to_path_buf(),
    };
    let mut src = SourceConfig::new("bench", SourceType::Rss, &format!("http://{addr}/feed.xml"));
    src.allow_private = true;
    src.interval_secs = 3600;
    let cfg = Config {
        sources: vec![src],
        per_host_min_interval_ms: 0,
        per_host_concurrency: 8,
        max_items_per_round: n_items,
        respect_robots: true,
        ..Config::default()
    };
    let shutdown = common::Shutdown::new();
    let t = Instant::now();
    let task = tokio::spawn(crate::run(cfg, ctx, shutdown.clone()));
    let mut sub = bus
        .subscribe(common::topics::RAW_DOCUMENTS, "bench")
        .await
        .map_err(Error::Bus)?;
    let mut got = 0usize;
    while got < n_items {
        match tokio::time::timeout(Duration::from_secs(60), sub.recv()).await {
            Ok(Ok(_)) => got += 1,
            _ => break,
        }
    }
    let crawl = t.elapsed();
    shutdown.cancel();
    let _ = task.await;
    server.abort();
    writeln!(
        out,
        "crawl: {got}/{n_items} articles (feed → article fetch → extract → bus) in {:.2}s = {:.0} docs/s against a local server",
        crawl.as_secs_f64(),
        got as f64 / crawl.as_secs_f64()
    )?;
    Ok(())
}

/// CPU time consumed by the calling thread (Linux `schedstat`), if available.
fn thread_cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Pages for the extraction benchmark: the project's fixtures, plus the dev set when present.
fn bench_pages() -> Vec<Vec<u8>> {
    let mut pages: Vec<Vec<u8>> = fixture_server::sample_articles(20)
        .into_iter()
        .map(String::into_bytes)
        .collect();
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/dev");
    for f in ["extraction.jsonl", "extraction_gne_reference.jsonl"] {
        if let Ok(cases) = load_cases(&dev.join(f)) {
            pages.extend(cases.into_iter().map(|c| c.bytes));
        }
    }
    pages
}

/// Standard base64 (the dataset's raw page bytes); no crate for 20 lines.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b'\n' | b'\r' | b' ' => continue,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A local site for the benchmark and the demo: a feed of `n` items and their article pages,
/// written by the project (no third-party text).
pub mod fixture_server {
    use std::net::SocketAddr;

    use axum::extract::Path;
    use axum::response::IntoResponse;
    use axum::routing::get;

    use crate::error::Error;

    const DISTRICTS: [&str; 6] = ["南明区", "云岩区", "花溪区", "乌当区", "白云区", "观山湖区"];
    const TOPICS: [&str; 6] = [
        "老旧小区改造",
        "道路施工交通管制",
        "学校招生政策",
        "食品安全抽检",
        "暴雨积水排查",
        "公交线路调整",
    ];

    /// Generated article pages with navigation, a sidebar and a footer around the text.
    pub fn sample_articles(n: usize) -> Vec<String> {
        (0..n).map(article).collect()
    }

    pub fn article(i: usize) -> String {
        let d = DISTRICTS[i % DISTRICTS.len()];
        let t = TOPICS[(i / DISTRICTS.len()) % TOPICS.len()];
        let mut paras = String::new();
        for k in 0..8 {
            paras.push_str(&format!(
                "<p>{d}{t}工作第{k}阶段进展顺利，相关部门表示，将进一步听取市民意见，及时公开工作进度，确保第{i}项任务按期完成。记者在现场看到，工作人员正在有序开展各项工作。</p>\n"
            ));
        }
        let nav: String = (0..15)
            .map(|k| format!("<li><a href=\"/c/{k}\">栏目{k}</a></li>"))
            .collect();
        let side: String = (0..10)
            .map(|k| format!("<li><a href=\"/a/{k}.html\">热点新闻标题第{k}条相关报道</a></li>"))
            .collect();
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{d}{t}进展情况通报（第{i}号）_贵阳示范新闻网</title></head><body>\
<div class=\"header\"><ul class=\"nav\">{nav}</ul></div>\
<div class=\"main\"><div class=\"article\"><h1>{d}{t}进展情况通报（第{i}号）</h1>\
<div class=\"info\">发布时间：2026-11-{day:02} 10:{min:02} 来源：贵阳示范新闻网</div>\
<div class=\"content\">{paras}</div></div>\
<div class=\"side\"><ul>{side}</ul></div></div>\
<div class=\"footer\">版权所有 贵阳示范新闻网 备案号 黔ICP备00000000号</div></body></html>",
            day = 1 + i % 25,
            min = i % 60,
        )
    }

    fn feed(n: usize) -> String {
        let items: String = (0..n)
            .map(|i| {
                format!(
                    "<item><title>通报第{i}号</title><link>/a/{i}.html</link><guid>{i}</guid><description>摘要{i}</description></item>"
                )
            })
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>示范</title>{items}</channel></rss>"
        )
    }

    /// Serve on an ephemeral 127.0.0.1 port until the handle is aborted.
    pub async fn start(n: usize) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), Error> {
        let app = axum::Router::new()
            .route(
                "/feed.xml",
                get(move || async move { ([("content-type", "application/rss+xml")], feed(n)) }),
            )
            .route(
                "/a/{file}",
                get(|Path(file): Path<String>| async move {
                    let i: usize = file.trim_end_matches(".html").parse().unwrap_or(0);
                    ([("content-type", "text/html; charset=utf-8")], article(i)).into_response()
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((addr, handle))
    }
}

/// Time spent per extraction stage over the benchmark corpus, for tuning.
#[doc(hidden)]
pub fn profile_stages(out: &mut dyn Write) -> Result<(), Error> {
    let pages = bench_pages();
    let now = Utc::now();
    let mut t_decode = Duration::ZERO;
    let mut t_parse = Duration::ZERO;
    let mut t_total = Duration::ZERO;
    for _ in 0..5 {
        for p in &pages {
            let t = Instant::now();
            let d = crate::decode::decode(p, None);
            t_decode += t.elapsed();
            let t = Instant::now();
            let doc = scraper::Html::parse_document(&d.text);
            t_parse += t.elapsed();
            std::hint::black_box(doc);
            let t = Instant::now();
            std::hint::black_box(extract::extract_bytes(
                p,
                None,
                None,
                None,
                now,
                china_offset(),
            ));
            t_total += t.elapsed();
        }
    }
    writeln!(
        out,
        "decode {t_decode:?} parse {t_parse:?} total {t_total:?}"
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf() {
        let (p, r, f) = char_prf("贵阳 市", "贵阳市政府");
        assert!((p - 1.0).abs() < 1e-9);
        assert!((r - 0.6).abs() < 1e-9);
        assert!((f - 0.75).abs() < 1e-9);
        assert_eq!(char_prf("", "x").2, 0.0);
    }

    #[test]
    fn time_match_at_gold_precision() {
        let t: DateTime<Utc> = "2005-05-07T13:23:57Z".parse().unwrap();
        assert!(time_matches(Some(t), "2005-5-7 21:23:57"));
        assert!(time_matches(Some(t), "2005"));
        assert!(time_matches(Some(t), "2005年05月07日"));
        assert!(!time_matches(Some(t), "2005-5-8"));
        assert!(!time_matches(None, "2005"));
    }

    #[test]
    fn folds_split_the_ids_without_overlap() {
        let ids: Vec<String> = (0..200).map(|i| format!("page-{i}")).collect();
        let mut seen = vec![0usize; ids.len()];
        for k in 0..5 {
            let fold = Fold::parse(&format!("{k}/5"), false).unwrap();
            let rest = Fold::parse(&format!("{k}/5"), true).unwrap();
            for (i, id) in ids.iter().enumerate() {
                assert_ne!(fold.contains(id), rest.contains(id));
                seen[i] += usize::from(fold.contains(id));
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
        // The split of dev_corrections.py: sha1("a")[1] = 0xf7 = 247, 247 % 5 = 2.
        assert!(Fold::parse("2/5", false).unwrap().contains("a"));
        for bad in ["5/5", "x/2", "1", "0/0"] {
            assert!(Fold::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("5Lit5paH").unwrap(), "中文".as_bytes());
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
    }
}
