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

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, Utc};
use ego_tree::NodeId;
use ego_tree::iter::Edge;
use regex::Regex;
use scraper::{ElementRef, Html, Node, Selector};
use serde::Serialize;
use url::Url;

use crate::config::SiteRules;
use crate::decode;
use crate::timeparse::{self, Found};

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
        None => match page.best_container(&title) {
            Some(c) => (page.body_text(c.line_start, c.line_end, &title), Some(c)),
            None => (String::new(), None),
        },
    };

    // A clear byline stamp (labelled or with a time of day, next to the headline) is what a
    // reader sees and wins over <meta>, which some sites fill with an update or index time.
    let text_time = page.find_publish_time(body_range.map(|c| c.line_start), &title, now, tz);
    let meta = meta_time(&doc, now, tz).or(ld_time);
    // A byline with only a date, and a <meta> time on that same date: the meta is as right
    // and more precise.
    let same_day_meta = |t: &(f64, DateTime<Utc>, bool)| {
        meta.filter(|m| {
            !t.2 && m.with_timezone(&tz).date_naive() == t.1.with_timezone(&tz).date_naive()
        })
    };
    let published_at = rules
        .and_then(|r| r.time.as_deref())
        .and_then(|s| select_time(&doc, s, now, tz))
        .or_else(|| {
            text_time
                .filter(|t| t.0 >= STRONG_TIME)
                .map(|t| same_day_meta(&t).unwrap_or(t.1))
        })
        .or(meta)
        .or_else(|| text_time.map(|t| t.1));

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

/// Drop `<script>`, `<style>` and comments before parsing. They never hold article text, and
/// on modern pages they are most of the bytes, which the HTML tokenizer would otherwise walk
/// character by character.
fn strip_inert(html: &str) -> std::borrow::Cow<'_, str> {
    let b = html.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0usize;
    let mut i = 0usize;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off;
        let rest = &b[at..];
        let end = if rest.starts_with(b"<!--") {
            find_bytes(&b[at + 4..], b"-->").map(|e| at + 4 + e + 3)
        } else if starts_with_ci(rest, b"<script") || starts_with_ci(rest, b"<style") {
            let close: &[u8] = if starts_with_ci(rest, b"<script") {
                b"</script"
            } else {
                b"</style"
            };
            find_ci(&b[at + 1..], close).map(|e| {
                let close_at = at + 1 + e;
                b[close_at..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map_or(b.len(), |g| close_at + g + 1)
            })
        } else {
            i = at + 1;
            continue;
        };
        // An unterminated script or comment swallows the rest of the page, as a browser would.
        let end = end.unwrap_or(b.len());
        let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
        o.push_str(&html[copied..at]);
        copied = end;
        i = end;
        if i >= b.len() {
            break;
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(html),
        Some(mut o) => {
            o.push_str(&html[copied.min(html.len())..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// ASCII-case-insensitive in every byte (`find_ci` matches its first byte exactly). Anchored
/// on the first byte, so a page without it is one fast scan.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut i = 0;
    while let Some(off) = hay[i..].iter().position(|&c| c == lower || c == upper) {
        let at = i + off;
        if starts_with_ci(&hay[at..], needle) {
            return true;
        }
        i = at + 1;
    }
    false
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut i = 0;
    while let Some(off) = hay[i..].iter().position(|&c| c == first) {
        let at = i + off;
        if starts_with_ci(&hay[at..], needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Nesting beyond this is hostile or broken; real pages stay far below 200.
const MAX_NESTING: usize = 1000;

/// Elements that never nest or that the parser closes implicitly when a sibling opens.
fn is_non_nesting(name: &[u8]) -> bool {
    matches!(
        name,
        b"br"
            | b"img"
            | b"meta"
            | b"link"
            | b"input"
            | b"hr"
            | b"area"
            | b"base"
            | b"col"
            | b"embed"
            | b"param"
            | b"source"
            | b"track"
            | b"wbr"
            | b"p"
            | b"li"
            | b"td"
            | b"th"
            | b"tr"
            | b"option"
            | b"dd"
            | b"dt"
            | b"!doctype"
            | b"!--"
    )
}

/// An upper estimate of the element nesting depth, from the tags alone (no parse).
fn nesting_depth(html: &str) -> usize {
    let b = html.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        i += off + 1;
        let closing = b.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let end = b[start..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'!' || *c == b'-'))
            .map_or(b.len(), |e| start + e);
        if end == start {
            continue;
        }
        let name = b[start..end].to_ascii_lowercase();
        if is_non_nesting(&name) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            let self_closing = b[end..]
                .iter()
                .position(|&c| c == b'>')
                .is_some_and(|gt| gt > 0 && b[end + gt - 1] == b'/');
            if !self_closing {
                depth += 1;
                max = max.max(depth);
            }
        }
    }
    max
}

/// `html` as it is, or flattened to its text blocks when nested deeper than [`MAX_NESTING`]
/// (the parser would take quadratic time over it).
fn tame_nesting(html: &str) -> std::borrow::Cow<'_, str> {
    if nesting_depth(html) > MAX_NESTING {
        std::borrow::Cow::Owned(flatten(html))
    } else {
        std::borrow::Cow::Borrowed(html)
    }
}

/// Keep only the text, with block boundaries as paragraphs, in a flat document.
fn flatten(html: &str) -> String {
    let title = html
        .find("<title")
        .and_then(|s| html[s..].find('>').map(|g| s + g + 1))
        .and_then(|s| html[s..].find("</title").map(|e| &html[s..s + e]))
        .unwrap_or("");
    let mut out = format!("<html><head><title>{title}</title></head><body><div>");
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                if !text.trim().is_empty() {
                    out.push_str("<p>");
                    out.push_str(text.trim());
                    out.push_str("</p>");
                }
                text.clear();
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    if !text.trim().is_empty() {
        out.push_str("<p>");
        out.push_str(text.trim());
        out.push_str("</p>");
    }
    out.push_str("</div></body></html>");
    out
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

// ---------------------------------------------------------------------------------------------
// Lines and containers
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Line {
    text: String,
    chars: usize,
    link_chars: usize,
    punct: usize,
    /// Inside a heading element.
    heading: bool,
    /// Inside navigation, footer, comments and the like.
    boiler: bool,
    /// Inside a list item.
    listed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Container {
    score: f64,
    line_start: usize,
    line_end: usize,
}

struct Frame {
    id: NodeId,
    score: f64,
    line_start: usize,
}

struct Lines {
    lines: Vec<Line>,
    containers: Vec<Container>,
}

/// Elements whose content is never article text.
fn is_skipped(tag: &str) -> bool {
    matches!(
        tag,
        "script"
            | "style"
            | "noscript"
            | "iframe"
            | "object"
            | "embed"
            | "svg"
            | "canvas"
            | "select"
            | "option"
            | "button"
            | "textarea"
            | "input"
            | "head"
            | "template"
            | "map"
            | "marquee"
    )
}

/// Elements whose text is recorded for time and author search but is never body text.
fn is_boilerplate_tag(tag: &str) -> bool {
    matches!(tag, "nav" | "footer" | "aside")
}

fn is_block(tag: &str) -> bool {
    matches!(
        tag,
        "p" | "div"
            | "br"
            | "li"
            | "ul"
            | "ol"
            | "tr"
            | "td"
            | "th"
            | "table"
            | "tbody"
            | "thead"
            | "tfoot"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "section"
            | "article"
            | "blockquote"
            | "pre"
            | "dd"
            | "dt"
            | "dl"
            | "header"
            | "main"
            | "form"
            | "center"
            | "hr"
            | "figure"
            | "figcaption"
            | "address"
            | "body"
            | "html"
            | "caption"
            | "fieldset"
            | "text"
    )
}

/// Block elements that may be the article container.
fn is_container(tag: &str) -> bool {
    matches!(
        tag,
        "div"
            | "td"
            | "article"
            | "section"
            | "main"
            | "body"
            | "table"
            | "tbody"
            | "ul"
            | "dd"
            | "center"
            | "blockquote"
            | "font"
            | "span"
            | "form"
            | "text"
            | "tr"
    )
}

static BOILERPLATE_ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(^|[\s_-])(comments?|comment-?list|reply|footer|foot|copyright|sidebar|side|breadcrumbs?|crumbs?|nav|navbar|menu|share|sharing|social|recommend|related|hot-?news|advert|ads?|banner|login|toolbar|pagination|pager|tags?)($|[\s_-])",
    )
    .expect("static regex")
});

fn is_boilerplate_element(el: &scraper::node::Element, cache: &mut HashMap<String, bool>) -> bool {
    // Page roots carry site-wide classes (`body.weibo_login`): never judge them by name.
    if matches!(el.name(), "html" | "body" | "article" | "main") {
        return false;
    }
    // Pages repeat a few class names thousands of times: decide each name once.
    let mut named = |v: &str| {
        if v.is_empty() {
            return false;
        }
        if let Some(&b) = cache.get(v) {
            return b;
        }
        let b = BOILERPLATE_ATTR.is_match(v);
        cache.insert(v.to_string(), b);
        b
    };
    named(el.id().unwrap_or(""))
        || named(el.attr("class").unwrap_or(""))
        || el.attr("hidden").is_some()
        || el.attr("style").is_some_and(|s| {
            s.replace(' ', "")
                .to_ascii_lowercase()
                .contains("display:none")
        })
}

fn is_punct(c: char) -> bool {
    matches!(
        c,
        '，' | '。'
            | '！'
            | '？'
            | '；'
            | '：'
            | '、'
            | '“'
            | '”'
            | '（'
            | '）'
            | '《'
            | '》'
            | ','
            | '.'
            | '!'
            | '?'
            | ';'
            | '"'
    )
}

/// Builds [`Lines`] in one non-recursive walk (hostile pages nest thousands deep).
struct Builder {
    lines: Vec<Line>,
    containers: Vec<Container>,
    stack: Vec<Frame>,
    cur: String,
    cur_link: usize,
    /// Anchors currently open that count as links (see [`is_navigation_link`]).
    links: Vec<NodeId>,
    heading_depth: usize,
    /// Inside list items: related-news lists and comment threads are lists, articles rarely.
    list_depth: usize,
    class_cache: HashMap<String, bool>,
    /// Inside script/style/...: nothing is recorded.
    skip: Option<NodeId>,
    /// Inside navigation/footer/comments: lines are recorded (the byline date may sit there)
    /// but neither score nor become body text.
    boiler: Option<NodeId>,
}

impl Builder {
    fn flush(&mut self) {
        let text = normalize_space(&self.cur);
        self.cur.clear();
        let link_chars = std::mem::take(&mut self.cur_link);
        if text.is_empty() {
            return;
        }
        let chars = text.chars().filter(|c| !c.is_whitespace()).count();
        let link_chars = link_chars.min(chars);
        let punct = text.chars().filter(|&c| is_punct(c)).count();
        let boiler = self.boiler.is_some();
        if !boiler {
            let score = line_score(chars, link_chars, punct, self.list_depth > 0);
            for f in self.stack.iter_mut() {
                f.score += score;
            }
        }
        self.lines.push(Line {
            text,
            chars,
            link_chars,
            punct,
            heading: self.heading_depth > 0,
            boiler,
            listed: self.list_depth > 0,
        });
    }

    fn open(&mut self, node: ego_tree::NodeRef<'_, Node>) {
        match node.value() {
            Node::Element(el) => {
                let tag = el.name();
                if is_skipped(tag) {
                    self.skip = Some(node.id());
                    return;
                }
                if is_block(tag) {
                    self.flush();
                }
                if self.boiler.is_none()
                    && (is_boilerplate_tag(tag)
                        || is_boilerplate_element(el, &mut self.class_cache))
                {
                    self.boiler = Some(node.id());
                }
                if tag == "a" && is_navigation_link(node) {
                    self.links.push(node.id());
                }
                if is_heading(tag) {
                    self.heading_depth += 1;
                }
                if tag == "li" || tag == "dd" {
                    self.list_depth += 1;
                }
                if self.boiler.is_none() && is_container(tag) {
                    self.stack.push(Frame {
                        id: node.id(),
                        score: 0.0,
                        line_start: self.lines.len(),
                    });
                }
            }
            Node::Text(t) => {
                let s: &str = t;
                if !self.links.is_empty() {
                    self.cur_link += s.chars().filter(|c| !c.is_whitespace()).count();
                }
                self.cur.push_str(s);
            }
            _ => {}
        }
    }

    fn close(&mut self, node: ego_tree::NodeRef<'_, Node>) {
        let Node::Element(el) = node.value() else {
            return;
        };
        let tag = el.name();
        if is_block(tag) {
            self.flush();
        }
        if self.links.last() == Some(&node.id()) {
            self.links.pop();
        }
        if is_heading(tag) {
            self.heading_depth = self.heading_depth.saturating_sub(1);
        }
        if tag == "li" || tag == "dd" {
            self.list_depth = self.list_depth.saturating_sub(1);
        }
        if self.boiler == Some(node.id()) {
            self.flush();
            self.boiler = None;
        }
        if self.stack.last().is_some_and(|f| f.id == node.id()) {
            if let Some(f) = self.stack.pop() {
                self.containers.push(Container {
                    score: f.score,
                    line_start: f.line_start,
                    line_end: self.lines.len(),
                });
            }
        }
    }
}

fn is_heading(tag: &str) -> bool {
    matches!(tag, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// An anchor is navigation when it is short. Old pages leave `<a>` unclosed, and the parser
/// then stretches it over whole paragraphs: such text is not link text.
fn is_navigation_link(node: ego_tree::NodeRef<'_, Node>) -> bool {
    let mut chars = 0usize;
    for d in node.descendants() {
        if let Node::Text(t) = d.value() {
            chars += t.chars().filter(|c| !c.is_whitespace()).count();
            if chars > 80 {
                return false;
            }
        } else if let Node::Element(e) = d.value() {
            if d.id() != node.id() && matches!(e.name(), "p" | "div" | "table" | "br") {
                return false;
            }
        }
    }
    true
}

impl Lines {
    fn build(root: ego_tree::NodeRef<'_, Node>) -> Self {
        let mut b = Builder {
            lines: Vec::new(),
            containers: Vec::new(),
            stack: Vec::new(),
            cur: String::new(),
            cur_link: 0,
            links: Vec::new(),
            heading_depth: 0,
            list_depth: 0,
            class_cache: HashMap::new(),
            skip: None,
            boiler: None,
        };
        for edge in root.traverse() {
            match edge {
                Edge::Open(node) => {
                    if b.skip.is_none() {
                        b.open(node);
                    }
                }
                Edge::Close(node) => match b.skip {
                    Some(id) if id == node.id() => b.skip = None,
                    Some(_) => {}
                    None => b.close(node),
                },
            }
        }
        b.flush();
        while let Some(f) = b.stack.pop() {
            b.containers.push(Container {
                score: f.score,
                line_start: f.line_start,
                line_end: b.lines.len(),
            });
        }
        Lines {
            lines: b.lines,
            containers: b.containers,
        }
    }

    /// The line holding the headline, if the title can be found in the text.
    fn title_line(&self, title: &str) -> Option<usize> {
        let norm: String = title.chars().filter(|c| !c.is_whitespace()).collect();
        if norm.chars().count() < 4 {
            return None;
        }
        let matches = |l: &Line| {
            let t: String = l.text.chars().filter(|c| !c.is_whitespace()).collect();
            t == norm || (l.chars <= norm.chars().count() * 2 && t.contains(&norm))
        };
        self.lines
            .iter()
            .position(|l| l.heading && !l.boiler && matches(l))
            .or_else(|| self.lines.iter().position(|l| !l.boiler && matches(l)))
    }

    /// Prefix sums of line scores weighted by their distance from the headline (see
    /// [`Lines::best_container`]).
    fn weighted_prefix(&self, title: &str) -> Vec<f64> {
        let t = self.title_line(title);
        let mut prefix = Vec::with_capacity(self.lines.len() + 1);
        prefix.push(0.0f64);
        let mut barrier = 0usize;
        let mut acc = 0.0;
        for (i, l) in self.lines.iter().enumerate() {
            let raw = if l.boiler {
                0.0
            } else {
                line_score(l.chars, l.link_chars, l.punct, l.listed)
            };
            let w = match t {
                None => 1.0,
                Some(t) if i < t => 0.5,
                Some(_) => 1.0 / (1.0 + (barrier as f64 / BARRIER_SCALE).powi(2)),
            };
            // Navigation and boilerplate both separate the body from what follows it.
            if t.is_some_and(|t| i > t) {
                if l.boiler {
                    barrier += l.chars;
                } else if raw < 0.0 {
                    barrier += (-raw) as usize;
                }
            }
            acc += raw * w;
            prefix.push(acc);
        }
        prefix
    }

    /// The article container.
    ///
    /// Line scores are weighted by how much navigation separates them from the headline: the
    /// body follows its title closely, while sidebars and "related" blocks — which can hold more
    /// prose than a short article — sit behind link lists. Then the winner is narrowed to a
    /// descendant holding most of its score, so a page-wide wrapper does not drag its sidebars in.
    fn best_container(&self, title: &str) -> Option<Container> {
        let prefix = self.weighted_prefix(title);
        let score = |c: &Container| prefix[c.line_end] - prefix[c.line_start];
        let mut best = *self
            .containers
            .iter()
            .filter(|c| score(c) > 0.0)
            .max_by(|a, b| {
                score(a)
                    .total_cmp(&score(b))
                    .then((b.line_end - b.line_start).cmp(&(a.line_end - a.line_start)))
            })?;
        let outer = best;
        let t = self.title_line(title);
        loop {
            let span = best.line_end - best.line_start;
            // The branch holding (or directly following) the headline needs a smaller share:
            // it is where the article is, whatever prose the other branches hold.
            let near_title = |c: &Container| {
                t.is_some_and(|t| {
                    (c.line_start <= t && t < c.line_end)
                        || (c.line_start > t && c.line_start <= t + 4)
                })
            };
            let inner = self
                .containers
                .iter()
                .filter(|c| {
                    c.line_start >= best.line_start
                        && c.line_end <= best.line_end
                        && (c.line_end - c.line_start) < span
                        && (score(c) >= score(&best) * NARROW_SHARE
                            || (near_title(c)
                                && score(c) >= score(&best) * NARROW_SHARE_NEAR_TITLE))
                })
                .max_by(|a, b| score(a).total_cmp(&score(b)));
            match inner {
                Some(c) => best = *c,
                None => return Some(self.extend(best, outer, t)),
            }
        }
    }

    /// Narrowing may have cut an article that an ad or a share bar splits in two: take back
    /// the prose that follows (or precedes, down to the headline) within the outer container
    /// across at most a little navigation.
    fn extend(&self, inner: Container, outer: Container, title_line: Option<usize>) -> Container {
        let strong = |l: &Line| {
            !l.boiler
                && l.link_chars * 2 <= l.chars
                && line_score(l.chars, l.link_chars, l.punct, l.listed) >= RESUME_SCORE
        };
        let cost = |l: &Line| {
            if l.boiler {
                l.chars
            } else {
                let s = line_score(l.chars, l.link_chars, l.punct, l.listed);
                if s < 0.0 { (-s) as usize } else { 0 }
            }
        };
        // Comment threads and stamps follow articles with little navigation in between: they
        // end the extension rather than being crossed.
        let stop = |l: &Line| {
            (l.chars < 160 && FOOTER_MARKER.is_match(&l.text))
                || l.chars < 40
                    && (TAIL_MARKER.is_match(&l.text)
                        || COMMENT_MARKER.is_match(&l.text)
                        || DATE_LIKE.is_match(&l.text)
                        || l.text.chars().all(|c| !c.is_alphanumeric()))
        };
        // Walk away from the core line by line: the farthest strong line reached before a stop
        // or before the weak lines crossed since the last strong one cost too much.
        let reach = |lines: &mut dyn Iterator<Item = usize>| {
            let mut pending = 0usize;
            let mut farthest = None;
            for i in lines {
                if stop(&self.lines[i]) {
                    break;
                }
                pending += cost(&self.lines[i]);
                if pending > EXTEND_BUDGET {
                    break;
                }
                if strong(&self.lines[i]) {
                    farthest = Some(i);
                    pending = 0;
                }
            }
            farthest
        };
        let mut out = inner;
        if let Some(i) = reach(&mut (inner.line_end..outer.line_end)) {
            out.line_end = i + 1;
        }
        let floor = title_line.map_or(outer.line_start, |t| (t + 1).max(outer.line_start));
        if let Some(i) = reach(&mut (floor..inner.line_start).rev()) {
            out.line_start = i;
        }
        out
    }

    fn body_text(&self, start: usize, end: usize, title: &str) -> String {
        let title_norm: String = title.chars().filter(|c| !c.is_whitespace()).collect();
        let mut out: Vec<&Line> = Vec::new();
        for line in &self.lines[start..end] {
            if line.boiler || (line.chars > 0 && line.link_chars * 2 > line.chars) {
                continue;
            }
            let norm: String = line.text.chars().filter(|c| !c.is_whitespace()).collect();
            if !title_norm.is_empty()
                && (norm == title_norm || (line.heading && title_norm.contains(&norm)))
            {
                continue;
            }
            out.push(line);
        }
        // "Related news", comment forms and print/close links end an article: cut there, if
        // the marker comes after most of the text (a marker near the top is more likely a
        // lead-in, and cutting there would lose the article).
        let total: usize = out.iter().map(|l| l.chars).sum();
        let mut seen = 0usize;
        let mut cut = None;
        for (i, l) in out.iter().enumerate() {
            if seen * 10 >= total * 4 && l.chars < 40 && TAIL_MARKER.is_match(&l.text) {
                cut = Some(i);
                break;
            }
            seen += l.chars;
        }
        if let Some(i) = cut {
            out.truncate(i);
        }
        out.retain(|l| !(l.chars < 40 && PAGINATION.is_match(&l.text)));
        // Bylines and share bars sit at the edges: trim short unpunctuated lines and lines that
        // are only a date/source stamp off both ends.
        while out.first().is_some_and(|l| is_edge_noise(l)) {
            out.remove(0);
        }
        while out.last().is_some_and(|l| is_edge_noise(l)) {
            out.pop();
        }
        out.iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn find_publish_time(
        &self,
        body_start: Option<usize>,
        title: &str,
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> Option<(f64, DateTime<Utc>, bool)> {
        let title_line = if title.is_empty() {
            None
        } else {
            self.lines
                .iter()
                .position(|l| l.text.contains(title) || (l.chars > 4 && title.contains(&l.text)))
        };
        let anchor = body_start.or(title_line).unwrap_or(0);
        // Stamps sit near the headline and the body start: look there first (far lines score
        // low anyway), and only search the whole page when nothing is found nearby.
        let near = anchor.saturating_sub(TIME_WINDOW)..(anchor + TIME_WINDOW).min(self.lines.len());
        self.best_time_in(near, anchor, title_line, now, tz)
            .or_else(|| self.best_time_in(0..self.lines.len(), anchor, title_line, now, tz))
    }

    fn best_time_in(
        &self,
        range: std::ops::Range<usize>,
        anchor: usize,
        title_line: Option<usize>,
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> Option<(f64, DateTime<Utc>, bool)> {
        let mut best: Option<(f64, DateTime<Utc>, bool)> = None;
        for i in range {
            let line = &self.lines[i];
            if line.chars > 400 || !may_hold_time(&line.text) {
                continue;
            }
            for f in timeparse::find_times(&line.text, now, tz) {
                if f.at > now + chrono::Duration::days(1) {
                    continue;
                }
                let mut s = time_score(&line.text, &f, i, anchor, title_line);
                if line.boiler {
                    s -= 1.0;
                }
                // Below the floor a date is a mention or a banner, not a stamp.
                if s > MIN_TIME_SCORE && best.as_ref().is_none_or(|b| s > b.0) {
                    best = Some((s, f.at, f.has_time));
                }
            }
        }
        best
    }

    /// The byline's person: 作者 before 记者 before 文/ before 编辑 before 责任编辑, nearest to
    /// the body start first. 来源 names an outlet, not a person, and is left to `site_name`.
    fn find_author(&self, body: Option<(usize, usize)>) -> Option<String> {
        let n = self.lines.len();
        let (anchor, body_end) = body.unwrap_or((0, n));
        let near = anchor.saturating_sub(10)..(anchor + 3).min(n);
        // A signature or editor line closes the article.
        let end = body_end.saturating_sub(4)..(body_end + 10).min(n);
        let tail = n.saturating_sub(25)..n;
        let mut best: Option<(usize, usize, String)> = None;
        for i in near.chain(end).chain(tail) {
            let line = &self.lines[i];
            if line.chars > 300 || !AUTHOR_HINT.iter().any(|h| line.text.contains(h)) {
                continue;
            }
            for c in AUTHOR.captures_iter(&line.text) {
                let label = c
                    .name("label")
                    .or_else(|| c.name("reporter"))
                    .or_else(|| c.name("wen"));
                let (Some(label), Some(names)) = (label, c.name("name")) else {
                    continue;
                };
                // "记者表示", "记者会": without a separator the next word is often no name.
                if c.name("reporter").is_some() && names.as_str().starts_with(NOT_A_NAME_START) {
                    continue;
                }
                let rank = match label.as_str() {
                    "作者" => 0,
                    "记者" | "通讯员" => 1,
                    "撰文" | "文" => 2,
                    "编辑" => 3,
                    _ => 4,
                };
                // `作者： size="20"`: a template's attribute leaked into the text.
                if line.text[names.end()..].trim_start().starts_with('=') {
                    continue;
                }
                let Some(name) = clean_names(names.as_str()) else {
                    continue;
                };
                let dist = i.abs_diff(anchor);
                if best
                    .as_ref()
                    .is_none_or(|(r, d, _)| (rank, dist) < (*r, *d))
                {
                    best = Some((rank, dist, name));
                }
            }
        }
        best.map(|(_, _, n)| n)
    }
}

fn looks_like_person(name: &str) -> bool {
    let n = name.chars().count();
    let han = name.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let latin = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ');
    (han && (2..=4).contains(&n))
        || (latin && (3..=30).contains(&n) && name.chars().any(|c| c.is_ascii_alphabetic()))
}

/// Keep the leading person names of a byline capture, stopping at the next label or number.
fn clean_names(raw: &str) -> Option<String> {
    let mut names: Vec<&str> = Vec::new();
    for tok in raw.split(|c: char| c.is_whitespace() || matches!(c, '、' | '，' | ',' | '\u{3000}'))
    {
        if tok.is_empty() {
            continue;
        }
        if BYLINE_STOP.iter().any(|w| tok.contains(w)) || tok.chars().any(|c| c.is_ascii_digit()) {
            break;
        }
        names.push(tok);
        if names.len() == 4 {
            break;
        }
    }
    let joined = names.join("、");
    (!joined.is_empty()).then_some(joined)
}

/// Words that follow 记者 in running text ("记者表示", "记者从…获悉", "记者会") but start no name.
const NOT_A_NAME_START: &[char] = &[
    '会', '招', '节', '站', '证', '们', '团', '问', '表', '获', '了', '看', '发', '注', '采', '从',
    '在', '走', '来', '致', '联', '调', '询', '随', '实', '近', '日', '昨', '通', '向', '对', '将',
    '也', '还', '就', '已', '曾', '正', '均', '称', '说', '和', '与', '同', '到', '前', '再', '又',
    '都', '被',
];

const BYLINE_STOP: [&str; 16] = [
    "发布", "时间", "日期", "来源", "编辑", "浏览", "点击", "阅读", "字号", "报道", "摄", "出处",
    "稿源", "责任", "作者", "记者",
];

/// Lines around the body start searched first for the publish time.
const TIME_WINDOW: usize = 60;

const AUTHOR_HINT: [&str; 5] = ["作者", "记者", "文", "编辑", "通讯员"];

/// Cheap pre-check before running the time patterns on a line.
fn may_hold_time(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
        || text.contains('年')
        || text.contains('前')
        || text.contains('刚')
        || text.contains('天')
}

static AUTHOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:(?P<label>作者|记者|通讯员|撰文|责任编辑|编辑)\s*[:：/|｜]\s*|(?P<reporter>记者|通讯员)\s*|(?:^|[^\p{Han}])(?P<wen>文)\s*[:：/|｜]\s*)(?P<name>\p{Han}{2,4}(?:[ 　、，,]{1,2}\p{Han}{2,4}){0,3}|[A-Za-z][A-Za-z0-9_]{2,20})",
    )
    .expect("static regex")
});

/// Share of a container's score a descendant must hold to replace it as the article.
const NARROW_SHARE: f64 = 0.8;
/// The same for the branch of the headline.
const NARROW_SHARE_NEAR_TITLE: f64 = 0.5;

/// Navigation characters between the headline and a line at which the line counts half.
const BARRIER_SCALE: f64 = 150.0;

/// Navigation characters the body may be extended across (an ad or share bar inside it).
const EXTEND_BUDGET: usize = 40;

/// A line scoring this much is prose the body may be extended to.
const RESUME_SCORE: f64 = 20.0;

/// A text time scoring lower is not taken as the publish time at all.
const MIN_TIME_SCORE: f64 = -2.0;

/// A text time scoring this high is a byline stamp.
const STRONG_TIME: f64 = 6.0;

static UPDATE_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"更新|修改|最后|updated|modified").expect("static regex"));

static TODAY_BANNER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"今天是|今日是|星期[一二三四五六日天]|礼拜[一二三四五六日天]")
        .expect("static regex")
});

static TIME_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"发布|时间|日期|发表|更新|来源|作者|编辑|published|date|posted")
        .expect("static regex")
});

/// How likely a date expression is the publish time: near the top of the body (the byline),
/// labelled, with a time of day; dates deep in the text or below it are mentions, not stamps.
fn time_score(text: &str, f: &Found, line: usize, anchor: usize, title_line: Option<usize>) -> f64 {
    let mut s = 0.0;
    if f.has_time {
        s += 2.0;
    }
    if TIME_LABEL.is_match(text) {
        s += 2.0;
    }
    if UPDATE_LABEL.is_match(text) {
        s -= 3.0;
    }
    // "今天是2026年11月26日 星期四": the site's date banner, not the article's.
    if TODAY_BANNER.is_match(text) {
        s -= 5.0;
    }
    let d = line as f64 - anchor as f64;
    if d < 0.0 {
        s += 3.0 - (-d / 4.0).min(4.0);
    } else {
        s += 2.0 - (d / 2.0).min(5.0);
    }
    if let Some(t) = title_line {
        if line >= t && line <= t + 6 {
            s += 2.0;
        }
    }
    // Stamps are short lines; a date inside a long paragraph is usually a mention.
    if text.chars().count() > 120 {
        s -= 2.0;
    }
    s
}

static DATE_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:19|20)\d{2}\s*[-年/.]\s*\d{1,2}|\d{1,2}:\d{2}").expect("static regex")
});

fn is_edge_noise(line: &Line) -> bool {
    if line.chars == 0 {
        return true;
    }
    if line.chars < 80 && TIME_LABEL.is_match(&line.text) && DATE_LIKE.is_match(&line.text) {
        return true;
    }
    if line.chars < 30 && EDITOR_LINE.is_match(&line.text) {
        return true;
    }
    if line.chars < 160 && FOOTER_MARKER.is_match(&line.text) {
        return true;
    }
    line.chars <= 4 && line.punct == 0
}

static TAIL_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[\s·【\[]*(相关报道|相关新闻|相关阅读|相关链接|相关文章|延伸阅读|推荐阅读|热点推荐|热门推荐|猜你喜欢|更多精彩|上一篇|下一篇|发表评论|网友评论|我要评论|分享到|打印本页|关闭窗口|本文通告引用|幻灯欣赏)",
    )
    .expect("static regex")
});

static FOOTER_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)版权所有|copyright|©|ICP备|ICP证|备案号|许可证编号|all rights reserved|违法和不良信息举报")
        .expect("static regex")
});

static COMMENT_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"评论|留言|跟帖|回复|网友|认为[:：]|楼主|发表于|by\s").expect("static regex")
});

static PAGINATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"第\s*\d+\s*页\s*/?\s*共\s*\d+\s*页|上一页.*下一页").expect("static regex")
});

static EDITOR_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[\[【(（]?\s*(责任编辑|责编|编辑|审核|校对|来源|作者|原标题|文章关键词|关键词)\s*[:：]",
    )
    .expect("static regex")
});

/// Prose scores by its non-link characters; navigation scores against.
fn line_score(chars: usize, link_chars: usize, punct: usize, listed: bool) -> f64 {
    let s = line_score_plain(chars, link_chars, punct);
    if listed && s > 0.0 { s * 0.5 } else { s }
}

fn line_score_plain(chars: usize, link_chars: usize, punct: usize) -> f64 {
    let text = (chars - link_chars) as f64;
    if link_chars * 2 > chars {
        return -(chars as f64);
    }
    if punct == 0 {
        if chars < 12 {
            return -(chars as f64) * 0.5;
        }
        return text * 0.5 - link_chars as f64;
    }
    text - link_chars as f64
}

// ---------------------------------------------------------------------------------------------
// Title, meta, rules
// ---------------------------------------------------------------------------------------------

// Parsed once: selector parsing costs more than matching on small pages.
static SEL_TITLE: LazyLock<Option<Selector>> = LazyLock::new(|| Selector::parse("title").ok());
static SEL_HEADINGS: LazyLock<Option<Selector>> =
    LazyLock::new(|| Selector::parse("h1, h2, h3").ok());
static SEL_META: LazyLock<Option<Selector>> = LazyLock::new(|| Selector::parse("meta").ok());
static SEL_TIME: LazyLock<Option<Selector>> =
    LazyLock::new(|| Selector::parse("time[datetime], [itemprop=datePublished]").ok());

fn find_title(doc: &Html) -> String {
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

fn meta_content(doc: &Html, names: &[&str]) -> Option<String> {
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

fn meta_time(doc: &Html, now: DateTime<Utc>, tz: FixedOffset) -> Option<DateTime<Utc>> {
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
fn json_ld_time(html: &str, now: DateTime<Utc>, tz: FixedOffset) -> Option<DateTime<Utc>> {
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

fn select_text(doc: &Html, selector: &str) -> Option<String> {
    let sel = Selector::parse(selector).ok()?;
    doc.select(&sel)
        .map(|e| normalize_space(&e.text().collect::<String>()))
        .find(|t| !t.is_empty())
}

fn select_body(doc: &Html, selector: &str) -> Option<String> {
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

fn select_time(
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
    fn inert_parts_are_stripped() {
        assert_eq!(
            strip_inert("a<script type=x>if (a<b) {}</script>b<!-- c -->d<STYLE>p{}</Style>e"),
            "abde"
        );
        assert_eq!(strip_inert("plain <b>text</b>"), "plain <b>text</b>");
        assert_eq!(strip_inert("x<script>never closed"), "x");
        assert_eq!(strip_inert("x<!-- never closed"), "x");
    }

    #[test]
    fn nesting_depth_estimate() {
        assert_eq!(
            nesting_depth("<html><body><div><p>a<p>b<br><img src=x/></div></body></html>"),
            3
        );
        assert_eq!(nesting_depth("<div/><div></div>"), 1);
        assert_eq!(nesting_depth(&"<div>".repeat(5000)), 5000);
        assert_eq!(nesting_depth("a < b and c<>d"), 0);
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
