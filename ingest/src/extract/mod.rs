//! Generic article extraction: title, body text, publish time, author from one HTML page, with
//! navigation, link lists, comments and footers left out. Pure functions, no IO.
//!
//! The method, in the spirit of GNE and trafilatura but simpler to reason about:
//! 1. The page is cut into *lines*: the text between block-level boundaries, each knowing how
//!    much of it is link text and how much punctuation it carries.
//! 2. Each line scores positive when it reads like prose (little link text, sentence
//!    punctuation) and negative when it looks like navigation (mostly links, short bare labels).
//! 3. Every block element scores the sum of the lines it contains; the element with the highest
//!    sum is the article container: it gathers the prose and stops before the link lists and
//!    boilerplate around it, because those pull its ancestors' sums down.
//! 4. Inside the container, link lines and the repeated title / byline lines are dropped.
//!
//! Publish time comes from `<meta>` first, then from the date expressions nearest above the body
//! (the byline), preferring ones with a time of day and a 发布/时间/日期 label.
//!
//! ## Modules
//! - [`prefilter`]: passes over the raw bytes before parsing (inert parts, hostile nesting).
//! - [`links`]: article links of list pages, the 下一页 link of a paginated article.
//! - [`lines`]: the page as scored lines and block containers; the body's range and text.
//! - [`byline`]: the publish time and author printed near the headline.
//! - [`meta`]: title, `<meta>` and JSON-LD times, per-site CSS rules.
//! - [`thread`]: forum and BBS threads, whose body is the first post.

mod byline;
mod lines;
mod links;
mod meta;
mod prefilter;
mod thread;

use chrono::{DateTime, FixedOffset, Utc};
use scraper::Html;
use serde::Serialize;
use url::Url;

use crate::config::SiteRules;
use crate::decode;

use byline::{STRONG_TIME, Stamp, looks_like_person};
use lines::{Container, Lines, line_score};
pub use links::{article_next_page, extract_links};
use meta::{
    find_title, json_ld_time, meta_content, meta_time, select_body, select_text, select_time,
};
use prefilter::{strip_inert, tame_nesting};

/// What one page yields.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Article {
    pub title: String,
    pub body: String,
    pub published_at: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub site_name: Option<String>,
    pub encoding: Option<String>,
}

/// Decode raw bytes (any encoding) and extract.
pub fn extract_bytes(
    bytes: &[u8],
    header_charset: Option<&str>,
    url: Option<&Url>,
    rules: Option<&SiteRules>,
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> Article {
    let decoded = decode::decode(bytes, header_charset);
    let mut article = extract_article(&decoded.text, url, rules, now, tz);
    article.encoding = Some(decoded.encoding.to_string());
    article
}

/// Extract from decoded HTML.
pub fn extract_article(
    html: &str,
    _url: Option<&Url>,
    rules: Option<&SiteRules>,
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> Article {
    // The HTML parser's scope checks walk the stack of open elements, so pathological nesting
    // costs quadratic time: such a page is flattened to its text blocks first.
    // JSON-LD lives in a <script>, which strip_inert drops: read its publish time first.
    let ld_time = json_ld_time(html, now, tz);
    let stripped = strip_inert(html);
    let html = tame_nesting(&stripped);
    let doc = Html::parse_document(&html);
    let page = Lines::build(doc.tree.root());
    let title = rules
        .and_then(|r| r.title.as_deref())
        .and_then(|s| select_text(&doc, s))
        .unwrap_or_else(|| find_title(&doc));

    let ruled_body = rules
        .and_then(|r| r.body.as_deref())
        .and_then(|s| select_body(&doc, s));
    let (body, body_range) = match ruled_body {
        Some(body) => (body, None),
        None => match page
            .first_post(&title, now, tz)
            .map(|(line_start, line_end)| Container {
                score: 0.0,
                line_start,
                line_end,
            })
            .or_else(|| page.best_container(&title))
        {
            Some(c) => (page.body_text(c.line_start, c.line_end, &title), Some(c)),
            None => (String::new(), None),
        },
    };

    // A clear byline stamp (labelled or with a time of day, next to the headline) is what a
    // reader sees and wins over <meta>, which some sites fill with an update or index time.
    let text_time = page.find_publish_time(body_range.map(|c| c.line_start), &title, now, tz);
    let meta = meta_time(&doc, now, tz)
        .or(ld_time)
        .filter(|m| !text_time.is_some_and(|t| t.shifted_by_a_zone(*m)));
    // A byline with only a date (or a month), and a <meta> time within it: the meta is as
    // right and more precise.
    let refined = |t: &Stamp| meta.filter(|m| !t.has_time && t.agrees_with(*m, tz));
    let published_at = rules
        .and_then(|r| r.time.as_deref())
        .and_then(|s| select_time(&doc, s, now, tz))
        .or_else(|| {
            text_time
                .filter(|t| t.score >= STRONG_TIME)
                .map(|t| refined(&t).unwrap_or(t.at))
        })
        .or(meta)
        .or_else(|| text_time.map(|t| t.at));

    // Chinese sites fill <meta name=author> with the outlet or a template placeholder as often
    // as with a person: the visible byline comes first, the meta only if it looks like a name.
    let author = rules
        .and_then(|r| r.author.as_deref())
        .and_then(|s| select_text(&doc, s))
        .or_else(|| page.find_author(body_range.map(|c| (c.line_start, c.line_end))))
        .or_else(|| {
            meta_content(&doc, &["author", "article:author", "byl"])
                .filter(|a| looks_like_person(a))
        });
    let site_name = meta_content(&doc, &["og:site_name", "site_name", "sitename"]);

    Article {
        title,
        body,
        published_at,
        author,
        site_name,
        encoding: None,
    }
}

/// Plain text of an HTML fragment (feed summaries, post text): block boundaries become line
/// breaks, tags and scripts disappear.
pub fn html_to_text(fragment: &str) -> String {
    if !fragment.contains('<') && !fragment.contains('&') {
        return normalize_space_lines(fragment);
    }
    let fragment = tame_nesting(fragment);
    let doc = Html::parse_fragment(&fragment);
    let lines = Lines::build(doc.tree.root());
    lines
        .lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collapse runs of whitespace (including full-width spaces and nbsp) to one space.
pub fn normalize_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c == '\u{a0}' || c == '\u{3000}' {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

fn normalize_space_lines(s: &str) -> String {
    s.lines()
        .map(normalize_space)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why the extractor chose what it chose: the best containers and the lines, for tuning.
#[doc(hidden)]
pub fn explain(html: &str) -> String {
    let doc = Html::parse_document(html);
    let page = Lines::build(doc.tree.root());
    let title = find_title(&doc);
    let prefix = page.weighted_prefix(&title);
    let score = |c: &Container| prefix[c.line_end] - prefix[c.line_start];
    let mut cs = page.containers.clone();
    cs.sort_by(|a, b| score(b).total_cmp(&score(a)));
    let mut out = format!(
        "title {title:?} at line {:?}; chosen {:?}\n",
        page.title_line(&title),
        page.best_container(&title)
            .map(|c| (c.line_start, c.line_end))
    );
    for c in cs.iter().take(8) {
        out.push_str(&format!(
            "container weighted {:.1} raw {:.1} lines {}..{}\n",
            score(c),
            c.score,
            c.line_start,
            c.line_end
        ));
    }
    for (i, l) in page.lines.iter().enumerate() {
        let s = line_score(l.chars, l.link_chars, l.punct, l.listed);
        let w = prefix[i + 1] - prefix[i];
        let t: String = l.text.chars().take(60).collect();
        out.push_str(&format!(
            "{i:4} {s:7.1} {w:7.1} c{} l{} p{}{} {t}\n",
            l.chars,
            l.link_chars,
            l.punct,
            if l.boiler { " B" } else { "" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sites_date_banner_is_not_the_publish_time() {
        let page = "<html><head><title>白云区召开安全生产会议_示范网</title></head><body>\
<div class=\"top\">今天是2026年11月26日 星期四</div><div><a href=\"/\">首页</a></div>\
<h1>白云区召开安全生产会议</h1><p>白云区近日召开安全生产工作会议，部署岁末年初安全防范工作，要求各单位压实责任。</p>\
<p>会议强调，要深入排查整治各类风险隐患，坚决防范遏制重特大事故发生。</p></body></html>";
        let now: DateTime<Utc> = "2026-11-26T08:00:00Z".parse().unwrap();
        let a = extract_article(page, None, None, now, crate::config::china_offset());
        assert_eq!(a.published_at, None, "{:?}", a.published_at);
    }

    #[test]
    fn flattened_page_keeps_text_blocks() {
        let page = format!(
            "<title>标题</title>{}<p>正文一段，有标点。</p>{}",
            "<div>".repeat(3000),
            "</div>".repeat(3000)
        );
        let a = extract_article(&page, None, None, Utc::now(), crate::config::china_offset());
        assert_eq!(a.title, "标题");
        assert_eq!(a.body, "正文一段，有标点。");
    }
}
