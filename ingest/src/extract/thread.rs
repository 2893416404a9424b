//! Forum and BBS threads (帖子, 楼层, 回复): the body of a thread page is its first post.
//!
//! A thread repeats one block per post, each with a header naming the poster and the time
//! (`楼主 发表于 2024-10-12 21:05`, `作者：某某 发表时间：…`, `posted on …`). Scored as one
//! article, the replies either join the body (the whole thread taken) or outweigh the first
//! post (one reply taken). When the lines show two or more such headers starting near the
//! headline, the body is what lies between the first and the second; a layout that puts the
//! header under its post (blog style, `posted on … 阅读(12) 评论(3)`) is recognised by the
//! prose already standing between the headline and the first header.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, Utc};
use regex::Regex;

use super::lines::{Line, Lines, line_score};
use crate::timeparse::{self, TimeKind};

/// Words of a post header. `回复` alone is left out: every news page has reply links.
static POST_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)发表于|发表时间|发帖时间|回帖时间|回复时间|发布于|楼主|沙发|板凳|地板|第\s*\d+\s*楼|\d+\s*楼|\d+\s*#|#\s*\d+|发表\s*[:：]|posted\s+(?:on|at|by)|作者\s*[:：].{0,40}时间\s*[:：]",
    )
    .expect("static regex")
});

/// Longest line taken as a post header: headers are a name, a time and a few links.
const MAX_HEADER_CHARS: usize = 120;

/// Headers this close together belong to one post (`楼主` on one line, the time on the next).
const HEADER_GROUP_GAP: usize = 2;

/// How far below the headline the first post may start (poster's avatar, level, badges).
const FIRST_POST_REACH: usize = 25;

/// Prose (line score) between the headline and the first header that makes the headers
/// footers of their posts rather than headers.
const FOOTER_STYLE_PROSE: f64 = 60.0;

/// A first post shorter than this is not trusted to be the thread's body.
const MIN_POST_CHARS: usize = 20;

impl Lines {
    /// The line range of a thread's first post, when the page is a thread.
    pub(super) fn first_post(
        &self,
        title: &str,
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> Option<(usize, usize)> {
        let headers = self.post_headers(now, tz);
        if headers.len() < 2 {
            return None;
        }
        let title_line = self.title_line(title);
        let first = headers[0];
        if title_line.is_some_and(|t| first + 3 < t || first > t + FIRST_POST_REACH) {
            return None;
        }
        let from = title_line.map_or(0, |t| t + 1);
        let prose_above: f64 = self.lines[from.min(first)..first]
            .iter()
            .filter(|l| !l.boiler)
            .map(|l| line_score(l.chars, l.link_chars, l.punct, l.listed).max(0.0))
            .sum();
        let range = if prose_above >= FOOTER_STYLE_PROSE {
            (from, first)
        } else {
            (first + 1, headers[1])
        };
        let chars: usize = self.lines[range.0..range.1]
            .iter()
            .filter(|l| !l.boiler && l.link_chars * 2 <= l.chars)
            .map(|l| l.chars)
            .sum();
        (chars >= MIN_POST_CHARS).then_some(range)
    }

    /// The first line of each post header group.
    fn post_headers(&self, now: DateTime<Utc>, tz: FixedOffset) -> Vec<usize> {
        let mut groups: Vec<usize> = Vec::new();
        let mut last: Option<usize> = None;
        for (i, line) in self.lines.iter().enumerate() {
            if !is_post_header(line, now, tz) {
                continue;
            }
            if last.is_none_or(|l| i > l + HEADER_GROUP_GAP) {
                groups.push(i);
            }
            last = Some(i);
        }
        groups
    }
}

fn is_post_header(line: &Line, now: DateTime<Utc>, tz: FixedOffset) -> bool {
    !line.boiler
        && line.chars <= MAX_HEADER_CHARS
        && POST_MARKER.is_match(&line.text)
        && timeparse::find_times(&line.text, now, tz)
            .iter()
            .any(|f| f.kind != TimeKind::Month)
}
