//! The byline: the publish time and the author printed near the headline and the body.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, Utc};
use regex::Regex;

use super::lines::Lines;
use crate::timeparse::{self, Found, TimeKind};

/// A publish time found in the visible text, with how sure the byline search is of it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    pub(super) score: f64,
    pub(super) at: DateTime<Utc>,
    pub(super) has_time: bool,
    pub(super) kind: TimeKind,
}

impl Stamp {
    /// Whether `other` is the same time as far as this stamp says: the same month for a month
    /// alone, the same day for a date without a time of day.
    pub(super) fn agrees_with(&self, other: DateTime<Utc>, tz: FixedOffset) -> bool {
        let (a, b) = (self.at.with_timezone(&tz), other.with_timezone(&tz));
        match self.kind {
            TimeKind::Month => a.format("%Y-%m").to_string() == b.format("%Y-%m").to_string(),
            _ => a.date_naive() == b.date_naive(),
        }
    }

    /// Whether `other` is this stamp's wall-clock time moved by whole hours: a zone applied
    /// twice, or given to a time written without one (a `<meta>` filled with local time and a
    /// `Z`). Such a pair is one time, and the visible stamp is the one readers saw.
    pub(super) fn shifted_by_a_zone(&self, other: DateTime<Utc>) -> bool {
        let d = (other - self.at).num_seconds().abs();
        self.has_time && d > 0 && d <= MAX_ZONE_SECS && d % 3600 < 60
    }
}

/// The largest offset a zone mistake can introduce (UTC+14).
const MAX_ZONE_SECS: i64 = 14 * 3600;

impl Lines {
    /// The publish time printed in the page: calendar dates near the body start, then a month
    /// alone near it, then a relative time near it, then calendar dates anywhere. Relative
    /// times (`3年前`, `5天前`) come last because they are counted from the fetch: right on a
    /// timeline snippet read as it was written, "now minus N" on an old page that mentions
    /// them in a comment list or a sidebar next to its own dated byline.
    pub(super) fn find_publish_time(
        &self,
        body_start: Option<usize>,
        title: &str,
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> Option<Stamp> {
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
        let find = |range: std::ops::Range<usize>, kind| {
            self.best_time_in(range, kind, anchor, title_line, now, tz)
        };
        find(near.clone(), TimeKind::Date)
            .or_else(|| find(near.clone(), TimeKind::Month))
            .or_else(|| find(near, TimeKind::Relative))
            .or_else(|| find(0..self.lines.len(), TimeKind::Date))
    }

    fn best_time_in(
        &self,
        range: std::ops::Range<usize>,
        kind: TimeKind,
        anchor: usize,
        title_line: Option<usize>,
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> Option<Stamp> {
        let mut best: Option<Stamp> = None;
        for i in range {
            let line = &self.lines[i];
            if line.chars > 400 || !may_hold_time(&line.text) {
                continue;
            }
            for f in timeparse::find_times(&line.text, now, tz) {
                if f.kind != kind || f.at > now + chrono::Duration::days(1) {
                    continue;
                }
                let mut s = time_score(&line.text, &f, i, anchor, title_line);
                if line.boiler {
                    s -= 1.0;
                }
                // Below the floor a date is a mention or a banner, not a stamp.
                if s > MIN_TIME_SCORE && best.as_ref().is_none_or(|b| s > b.score) {
                    best = Some(Stamp {
                        score: s,
                        at: f.at,
                        has_time: f.has_time,
                        kind: f.kind,
                    });
                }
            }
        }
        best
    }

    /// The byline's person: 作者 before 记者 before 文/ before 编辑 before 责任编辑, nearest to
    /// the body start first. 来源 names an outlet, not a person, and is left to `site_name`.
    pub(super) fn find_author(&self, body: Option<(usize, usize)>) -> Option<String> {
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

pub(super) fn looks_like_person(name: &str) -> bool {
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

/// A text time scoring lower is not taken as the publish time at all.
const MIN_TIME_SCORE: f64 = -2.0;

/// A text time scoring this high is a byline stamp.
pub(super) const STRONG_TIME: f64 = 6.0;

static UPDATE_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"更新|修改|最后|updated|modified").expect("static regex"));

static TODAY_BANNER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"今天是|今日是|星期[一二三四五六日天]|礼拜[一二三四五六日天]")
        .expect("static regex")
});

pub(super) static TIME_LABEL: LazyLock<Regex> = LazyLock::new(|| {
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
