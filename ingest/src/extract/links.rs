//! Links of list pages and of paginated articles.

use std::collections::HashSet;

use scraper::{Html, Selector};
use url::Url;

use super::prefilter::{MAX_NESTING, contains_ci, nesting_depth};
use crate::config::SiteRules;

/// Article links of a list page: the rule's selector when given, else anchors that look like
/// article titles on the same site.
pub fn extract_links(html: &str, base: &Url, rules: Option<&SiteRules>) -> (Vec<Url>, Option<Url>) {
    if nesting_depth(html) > MAX_NESTING {
        // No trustworthy structure to apply selectors to; the page is hostile or broken.
        return (Vec::new(), None);
    }
    let doc = Html::parse_document(html);
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    let a_sel = Selector::parse("a[href]").ok();
    let mut push = |href: &str, links: &mut Vec<Url>| {
        if let Ok(u) = base.join(href.trim()) {
            if matches!(u.scheme(), "http" | "https") && seen.insert(u.as_str().to_string()) {
                links.push(u);
            }
        }
    };
    match rules
        .and_then(|r| r.list_links.as_deref())
        .and_then(|s| Selector::parse(s).ok())
    {
        Some(sel) => {
            for el in doc.select(&sel) {
                if let Some(href) = el.value().attr("href") {
                    push(href, &mut links);
                } else if let Some(a) = a_sel.as_ref().and_then(|a| el.select(a).next()) {
                    if let Some(href) = a.value().attr("href") {
                        push(href, &mut links);
                    }
                }
            }
        }
        None => {
            if let Some(a) = &a_sel {
                for el in doc.select(a) {
                    let text: String = el.text().collect();
                    let chars = text.chars().filter(|c| !c.is_whitespace()).count();
                    let Some(href) = el.value().attr("href") else {
                        continue;
                    };
                    // Article titles are long; menu entries ("首页", "更多>>") are short.
                    if chars < 8 || href.starts_with('#') || href.starts_with("javascript:") {
                        continue;
                    }
                    if let Ok(u) = base.join(href.trim()) {
                        if same_site(&u, base) && u.path() != base.path() && looks_like_article(&u)
                        {
                            push(href, &mut links);
                        }
                    }
                }
            }
        }
    }
    let next = rules
        .and_then(|r| r.next_page.as_deref())
        .and_then(|s| Selector::parse(s).ok())
        .and_then(|sel| {
            doc.select(&sel).find_map(|el| {
                let href = el.value().attr("href").or_else(|| {
                    a_sel
                        .as_ref()
                        .and_then(|a| el.select(a).next())
                        .and_then(|a| a.value().attr("href"))
                })?;
                base.join(href.trim()).ok()
            })
        });
    (links, next)
}

/// The "下一页" / "next page" link of a paginated article, on the same host. Only the words
/// of page navigation count: "下一篇" (the next article) and numbered page lists are left
/// alone, so a plain article never pulls in its neighbours.
pub fn article_next_page(html: &str, base: &Url) -> Option<Url> {
    // Cheap pre-check: most articles are one page, and parsing the page again costs more.
    let bytes = html.as_bytes();
    if !html.contains("下一页")
        && !html.contains("下页")
        && !html.contains("下一頁")
        && !contains_ci(bytes, b"next")
    {
        return None;
    }
    if nesting_depth(html) > MAX_NESTING {
        return None;
    }
    let doc = Html::parse_document(html);
    let sel = Selector::parse("a[href]").ok()?;
    doc.select(&sel).find_map(|el| {
        let text: String = el.text().collect::<String>();
        let label: String = text
            .chars()
            .filter(|c| {
                !c.is_whitespace()
                    && !matches!(c, '>' | '›' | '»' | '→' | '＞' | '】' | '【' | '[' | ']')
            })
            .collect::<String>()
            .to_lowercase();
        if !matches!(
            label.as_str(),
            "下一页" | "下页" | "下一頁" | "nextpage" | "next"
        ) {
            return None;
        }
        let href = el.value().attr("href")?.trim();
        if href.starts_with('#') || href.to_ascii_lowercase().starts_with("javascript:") {
            return None;
        }
        let mut next = base.join(href).ok()?;
        next.set_fragment(None);
        let mut here = base.clone();
        here.set_fragment(None);
        (matches!(next.scheme(), "http" | "https")
            && next.host_str() == base.host_str()
            && next != here)
            .then_some(next)
    })
}

/// Same host, ignoring `www.` / `m.` prefixes.
fn same_site(a: &Url, b: &Url) -> bool {
    let bare = |u: &Url| {
        let h = u.host_str().unwrap_or("").to_ascii_lowercase();
        h.strip_prefix("www.")
            .or_else(|| h.strip_prefix("m."))
            .unwrap_or(&h)
            .to_string()
    };
    bare(a) == bare(b)
}

/// Article URLs carry an id or a date (`/202611/t20261126_123.html`, `show.asp?id=42`);
/// section and tag pages usually do not.
fn looks_like_article(u: &Url) -> bool {
    let path = u.path();
    let mut run = 0usize;
    let mut longest = 0usize;
    for c in path.chars().chain(u.query().unwrap_or("").chars()) {
        if c.is_ascii_digit() {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest >= 3 || path.ends_with(".html") || path.ends_with(".shtml") || path.ends_with(".htm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_links_of_an_article() {
        let base = Url::parse("http://news.example.cn/a/1.html").unwrap();
        let check = |html: &str, want: Option<&str>| {
            let got = article_next_page(html, &base);
            assert_eq!(got.as_ref().map(Url::as_str), want, "{html}");
        };
        check(
            r#"<a href="1_2.html">下一页</a>"#,
            Some("http://news.example.cn/a/1_2.html"),
        );
        check(
            r#"<a href="/a/1_2.html"> Next Page &gt;&gt; </a>"#,
            Some("http://news.example.cn/a/1_2.html"),
        );
        check(r#"<a href="/a/2.html">下一篇</a>"#, None);
        check(
            r#"<a href="http://other.example.cn/1_2.html">下一页</a>"#,
            None,
        );
        check(r#"<a href="javascript:next()">下一页</a>"#, None);
        check(r##"<a href="#p2">下一页</a>"##, None);
        check(r#"<a href="1.html#top">下一页</a>"#, None);
    }

    #[test]
    fn generic_list_links_are_article_links_of_the_site() {
        let base = Url::parse("http://www.example.gov.cn/xwzx/szfyw/").unwrap();
        let page = r#"<ul class="nav"><li><a href="/">首页</a></li><li><a href="/zwgk/">政务公开栏目首页导航</a></li></ul>
<ul><li><a href="./202611/t20261126_88.html">市政府召开常务会议研究部署冬季安全生产工作</a></li>
<li><a href="http://m.example.gov.cn/xwzx/szfyw/202611/t20261125_87.html">市领导调研重点项目建设推进情况</a></li>
<li><a href="http://other.example.com/a/1.html">外站链接标题足够长的新闻稿件</a></li>
<li><a href="javascript:void(0)">点击这里查看更多精彩内容吧</a></li></ul>"#;
        let (links, next) = extract_links(page, &base, None);
        let links: Vec<String> = links.iter().map(Url::to_string).collect();
        assert_eq!(
            links,
            [
                "http://www.example.gov.cn/xwzx/szfyw/202611/t20261126_88.html",
                "http://m.example.gov.cn/xwzx/szfyw/202611/t20261125_87.html"
            ]
        );
        assert!(next.is_none());
    }
}
