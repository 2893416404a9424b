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

use std::collections::HashSet;
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
    let doc = Html::parse_document(html);
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
    let published_at = rules
        .and_then(|r| r.time.as_deref())
        .and_then(|s| select_time(&doc, s, now, tz))
        .or_else(|| {
            text_time
                .filter(|(score, _)| *score >= STRONG_TIME)
                .map(|(_, t)| t)
        })
        .or_else(|| meta_time(&doc, now, tz))
        .or_else(|| text_time.map(|(_, t)| t));

    let author = rules
        .and_then(|r| r.author.as_deref())
        .and_then(|s| select_text(&doc, s))
        .or_else(|| meta_content(&doc, &["author", "article:author", "byl"]))
        .or_else(|| page.find_author(body_range.map(|c| c.line_start)));
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
    let doc = Html::parse_fragment(fragment);
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
                        if u.host_str() == base.host_str() && u.path() != base.path() {
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

fn is_boilerplate_element(el: &scraper::node::Element) -> bool {
    // Page roots carry site-wide classes (`body.weibo_login`): never judge them by name.
    if matches!(el.name(), "html" | "body" | "article" | "main") {
        return false;
    }
    let id = el.id().unwrap_or("");
    let class = el.attr("class").unwrap_or("");
    (!id.is_empty() && BOILERPLATE_ATTR.is_match(id))
        || (!class.is_empty() && BOILERPLATE_ATTR.is_match(class))
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
                if self.boiler.is_none() && (is_boilerplate_tag(tag) || is_boilerplate_element(el))
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
                None => return Some(best),
            }
        }
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
    ) -> Option<(f64, DateTime<Utc>)> {
        let title_line = if title.is_empty() {
            None
        } else {
            self.lines
                .iter()
                .position(|l| l.text.contains(title) || (l.chars > 4 && title.contains(&l.text)))
        };
        let anchor = body_start.or(title_line).unwrap_or(0);
        let mut best: Option<(f64, DateTime<Utc>)> = None;
        for (i, line) in self.lines.iter().enumerate() {
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
                if best.as_ref().is_none_or(|(bs, _)| s > *bs) {
                    best = Some((s, f.at));
                }
            }
        }
        best
    }

    fn find_author(&self, body_start: Option<usize>) -> Option<String> {
        let anchor = body_start.unwrap_or(0);
        let from = anchor.saturating_sub(8);
        let to = (anchor + 3).min(self.lines.len());
        let lines = self.lines.get(from..to)?;
        for line in lines.iter().chain(self.lines.iter()) {
            if line.chars > 200 {
                continue;
            }
            if let Some(c) = AUTHOR.captures(&line.text) {
                if let Some(name) = c.name("name") {
                    let name = name.as_str().trim();
                    if !name.is_empty() {
                        return Some(name.to_string());
                    }
                }
            }
        }
        None
    }
}

/// Cheap pre-check before running the time patterns on a line.
fn may_hold_time(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
        || text.contains('年')
        || text.contains('前')
        || text.contains('刚')
        || text.contains('天')
}

static AUTHOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:作者|记者|撰文|文|编辑|责任编辑|来源|稿源|出处)\s*[:：/]\s*(?P<name>[^\s　|｜，,。:：()（）\[\]【】]{2,24})")
        .expect("static regex")
});

/// Share of a container's score a descendant must hold to replace it as the article.
const NARROW_SHARE: f64 = 0.8;
/// The same for the branch of the headline.
const NARROW_SHARE_NEAR_TITLE: f64 = 0.5;

/// Navigation characters between the headline and a line at which the line counts half.
const BARRIER_SCALE: f64 = 150.0;

/// A text time scoring this high is a byline stamp.
const STRONG_TIME: f64 = 6.0;

static UPDATE_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"更新|修改|最后|updated|modified").expect("static regex"));

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
    line.chars <= 4 && line.punct == 0
}

static TAIL_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[\s·【\[]*(相关报道|相关新闻|相关阅读|相关链接|相关文章|延伸阅读|推荐阅读|热点推荐|热门推荐|猜你喜欢|更多精彩|上一篇|下一篇|发表评论|网友评论|我要评论|分享到|打印本页|关闭窗口|本文通告引用|幻灯欣赏)",
    )
    .expect("static regex")
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
