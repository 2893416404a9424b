//! The page cut into lines, each scored as prose or navigation, and the article container
//! chosen from the block elements' sums (steps 1–4 of the method in the module docs).

use std::collections::HashMap;
use std::sync::LazyLock;

use ego_tree::NodeId;
use ego_tree::iter::Edge;
use regex::Regex;
use scraper::Node;

use super::byline::TIME_LABEL;
use super::normalize_space;

#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) text: String,
    pub(super) chars: usize,
    pub(super) link_chars: usize,
    pub(super) punct: usize,
    /// Inside a heading element.
    pub(super) heading: bool,
    /// Inside navigation, footer, comments and the like.
    pub(super) boiler: bool,
    /// Inside a list item.
    pub(super) listed: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Container {
    pub(super) score: f64,
    pub(super) line_start: usize,
    pub(super) line_end: usize,
}

struct Frame {
    id: NodeId,
    score: f64,
    line_start: usize,
}

pub(super) struct Lines {
    pub(super) lines: Vec<Line>,
    pub(super) containers: Vec<Container>,
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
    pub(super) fn build(root: ego_tree::NodeRef<'_, Node>) -> Self {
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
    pub(super) fn title_line(&self, title: &str) -> Option<usize> {
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
    pub(super) fn weighted_prefix(&self, title: &str) -> Vec<f64> {
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
    pub(super) fn best_container(&self, title: &str) -> Option<Container> {
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

    pub(super) fn body_text(&self, start: usize, end: usize, title: &str) -> String {
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
}

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
pub(super) fn line_score(chars: usize, link_chars: usize, punct: usize, listed: bool) -> f64 {
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
