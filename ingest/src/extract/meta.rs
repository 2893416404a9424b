//! What the page says about itself outside the visible text: the title, `<meta>` and JSON-LD
//! times, and the per-site CSS rules.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, Utc};
use scraper::{ElementRef, Html, Selector};

use super::lines::Lines;
use super::normalize_space;
use super::prefilter::{contains_ci, find_ci};
use crate::timeparse;

// Parsed once: selector parsing costs more than matching on small pages.
static SEL_TITLE: LazyLock<Option<Selector>> = LazyLock::new(|| Selector::parse("title").ok());
static SEL_HEADINGS: LazyLock<Option<Selector>> =
    LazyLock::new(|| Selector::parse("h1, h2, h3").ok());
static SEL_META: LazyLock<Option<Selector>> = LazyLock::new(|| Selector::parse("meta").ok());
static SEL_TIME: LazyLock<Option<Selector>> =
    LazyLock::new(|| Selector::parse("time[datetime], [itemprop=datePublished]").ok());

pub(super) fn find_title(doc: &Html) -> String {
    let title_tag = SEL_TITLE
        .as_ref()
        .and_then(|s| doc.select(s).next())
        .map(|t| normalize_space(&t.text().collect::<String>()))
        .unwrap_or_default();
    let og = meta_content(doc, &["og:title", "twitter:title"]);
    // A heading that the <title> contains is the headline without the site suffix.
    if let Some(h) = SEL_HEADINGS.as_ref() {
        let mut best: Option<String> = None;
        for el in doc.select(h) {
            let t = normalize_space(&el.text().collect::<String>());
            if t.chars().count() >= 4
                && (title_tag.contains(&t) || og.as_deref().is_some_and(|o| o.contains(&t)))
                && best.as_ref().is_none_or(|b| t.len() > b.len())
            {
                best = Some(t);
            }
        }
        if let Some(b) = best {
            return b;
        }
    }
    if let Some(og) = og {
        return og;
    }
    strip_site_suffix(&title_tag)
}

fn strip_site_suffix(title: &str) -> String {
    let parts: Vec<&str> = title
        .split(['_', '|', '｜', '—', '-', '–'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    match parts.first() {
        Some(first) if parts.len() > 1 && first.chars().count() >= 4 => first.to_string(),
        _ => title.trim().to_string(),
    }
}

pub(super) fn meta_content(doc: &Html, names: &[&str]) -> Option<String> {
    let sel = SEL_META.as_ref()?;
    for el in doc.select(sel) {
        let v = el.value();
        let key = v
            .attr("property")
            .or_else(|| v.attr("name"))
            .or_else(|| v.attr("itemprop"))
            .or_else(|| v.attr("http-equiv"))
            .unwrap_or("");
        let key: String = key.chars().filter(|c| !c.is_whitespace()).collect();
        if names.iter().any(|n| key.eq_ignore_ascii_case(n)) {
            if let Some(c) = v
                .attr("content")
                .map(normalize_space)
                .filter(|c| !c.is_empty())
            {
                return Some(c);
            }
        }
    }
    None
}

const META_TIME: &[&str] = &[
    "article:published_time",
    "og:article:published_time",
    "og:release_date",
    "article:published",
    "pubdate",
    "publishdate",
    "publish_date",
    "publish-date",
    "publication_date",
    "datePublished",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "sailthru.date",
    "parsely-pub-date",
    "weibo:article:create_at",
    "article:create_at",
    "firstpublishedtime",
    "publishtime",
    "PubDate",
];

pub(super) fn meta_time(doc: &Html, now: DateTime<Utc>, tz: FixedOffset) -> Option<DateTime<Utc>> {
    let found = meta_content(doc, META_TIME)
        .and_then(|v| timeparse::parse_time(&v, now, tz))
        .or_else(|| {
            let sel = SEL_TIME.as_ref()?;
            doc.select(sel).find_map(|el| {
                let v = el
                    .value()
                    .attr("datetime")
                    .or_else(|| el.value().attr("content"))
                    .map(str::to_string)
                    .unwrap_or_else(|| el.text().collect());
                timeparse::parse_time(&v, now, tz)
            })
        })?;
    (found <= now + chrono::Duration::days(1)).then_some(found)
}

/// `datePublished` from `<script type="application/ld+json">` blocks (schema.org
/// NewsArticle, also inside `@graph` or a top-level array). Malformed JSON is skipped: sites
/// often leave trailing commas or template holes in it.
pub(super) fn json_ld_time(
    html: &str,
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> Option<DateTime<Utc>> {
    let bytes = html.as_bytes();
    // Most pages have none: one scan decides before any per-script work.
    if !contains_ci(bytes, b"ld+json") {
        return None;
    }
    let mut at = 0;
    while let Some(open) = find_ci(&bytes[at..], b"<script").map(|i| at + i) {
        let tag_end = open + bytes[open..].iter().position(|&b| b == b'>')? + 1;
        let close = find_ci(&bytes[tag_end..], b"</script").map_or(bytes.len(), |i| tag_end + i);
        at = close;
        if !contains_ci(&bytes[open..tag_end], b"ld+json") {
            continue;
        }
        let Some(json) = html.get(tag_end..close) else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(json.trim()) else {
            continue;
        };
        if let Some(t) = find_date_published(&value, 0)
            .and_then(|v| timeparse::parse_time(v, now, tz))
            .filter(|t| *t <= now + chrono::Duration::days(1))
        {
            return Some(t);
        }
    }
    None
}

fn find_date_published(v: &serde_json::Value, depth: usize) -> Option<&str> {
    // Bounded: hostile JSON nesting must not recurse without end.
    if depth > 8 {
        return None;
    }
    match v {
        serde_json::Value::Object(m) => m
            .get("datePublished")
            .and_then(serde_json::Value::as_str)
            .or_else(|| m.values().find_map(|c| find_date_published(c, depth + 1))),
        serde_json::Value::Array(a) => a.iter().find_map(|c| find_date_published(c, depth + 1)),
        _ => None,
    }
}

pub(super) fn select_text(doc: &Html, selector: &str) -> Option<String> {
    let sel = Selector::parse(selector).ok()?;
    doc.select(&sel)
        .map(|e| normalize_space(&e.text().collect::<String>()))
        .find(|t| !t.is_empty())
}

pub(super) fn select_body(doc: &Html, selector: &str) -> Option<String> {
    let sel = Selector::parse(selector).ok()?;
    let parts: Vec<String> = doc
        .select(&sel)
        .map(|e: ElementRef<'_>| {
            let l = Lines::build(*e);
            l.lines
                .iter()
                .map(|l| l.text.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|t| !t.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

pub(super) fn select_time(
    doc: &Html,
    selector: &str,
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> Option<DateTime<Utc>> {
    let sel = Selector::parse(selector).ok()?;
    doc.select(&sel).find_map(|el| {
        let v = el
            .value()
            .attr("datetime")
            .or_else(|| el.value().attr("content"))
            .map(str::to_string)
            .unwrap_or_else(|| el.text().collect());
        timeparse::parse_time(&v, now, tz)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_ld_publish_times() {
        let now = Utc::now();
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        let t = |html: &str| json_ld_time(html, now, tz).map(|t| t.to_rfc3339());
        let want = Some("2026-11-18T23:45:00+00:00".to_string());
        let obj =
            r#"<script type="application/ld+json">{"datePublished":"2026-11-19 07:45"}</script>"#;
        assert_eq!(t(obj), want);
        let arr = r#"<SCRIPT TYPE='application/LD+JSON'>[{"@graph":[{"datePublished":"2026-11-19T07:45:00+08:00"}]}]</SCRIPT>"#;
        assert_eq!(t(arr), want);
        // A broken block is skipped, the next one still counts.
        let broken =
            format!(r#"<script type="application/ld+json">{{"datePublished": ,}}</script>{obj}"#);
        assert_eq!(t(&broken), want);
        assert_eq!(
            t(r#"<script>var datePublished = "2026-11-19";</script>"#),
            None
        );
    }
}
