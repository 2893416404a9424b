//! Chinese (and international) publish times → UTC.
//!
//! Absolute forms: `2017年4月12日 10:30`, `2017-04-12 10:30:00`, `2017/4/12`, `2017.04.12`,
//! `04-12 10:30` (year from the clock), RFC 3339, RFC 2822, Weibo's `Wed Apr 12 10:30:00 +0800
//! 2017`, Unix seconds/milliseconds. Relative forms: `刚刚`, `3分钟前`, `3小时前`, `2天前`,
//! `昨天 12:00`, `前天`, `今天 08:15`. Times without a zone are in the source's zone `tz`;
//! relative ones count back from `now` (the injected clock), never from the wall clock.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regex::Regex;

/// A time found in text, with how precise it is (a date alone is less trustworthy as a
/// publish time than a date with hour and minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub at: DateTime<Utc>,
    pub has_time: bool,
    /// Byte offset of the match in the searched text.
    pub start: usize,
    pub end: usize,
    pub kind: TimeKind,
}

/// How a found time was written, which decides how far it can be trusted as a publish time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeKind {
    /// A calendar date, with or without a time of day.
    Date,
    /// A year and month only (`2003年5月`): the first of that month, correct at its precision.
    Month,
    /// Counted back from the clock (`3天前`, `昨天 12:00`, `刚刚`): right on a social timeline
    /// read when it was written, wrong on an old page read today.
    Relative,
}

static FULL_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<y>(?:19|20)\d{2})\s*(?:年|-|/|\.|_)\s*(?P<m>\d{1,2})\s*(?:月|-|/|\.|_)\s*(?P<d>\d{1,2})(?:\s*日)?
        (?:[\sT　]*(?:(?P<ampm>上午|下午|晚上|早上|凌晨|中午)\s*)?(?P<h>\d{1,2})\s*(?::|：|时|点)\s*(?P<mi>\d{1,2})(?:\s*(?::|：|分)\s*(?P<s>\d{1,2})(?:\.\d+)?)?
          (?:\s*(?P<z>Z|[+-]\d{2}:?\d{2}))?)?",
    )
    .expect("static regex")
});

static SHORT_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)(?:^|[^\d])(?P<m>\d{1,2})\s*(?:月|-|/)\s*(?P<d>\d{1,2})(?:\s*日)?[\s　]*(?P<h>\d{1,2})\s*(?::|：)\s*(?P<mi>\d{2})(?:\s*(?::|：)\s*(?P<s>\d{2}))?",
    )
    .expect("static regex")
});

/// `7/5/2005 9:23:57 PM` (US order, as ASP-era Chinese sites print it; a first number above
/// 12 can only be a day).
static US_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[^\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>(?:19|20)\d{2})(?:\s+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>AM|PM)?)?",
    )
    .expect("static regex")
});

static MONTH_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<m>\d{1,2})(?:-|月)(?P<d>\d{1,2})日?$").expect("static regex")
});

static RELATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<n>\d+|[一二两三四五六七八九十半])\s*(?P<u>秒钟?|分钟|小时|个小时|天|日|周|星期|个月|月|年)\s*(?:之)?前")
        .expect("static regex")
});

static DAY_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<w>今天|昨天|前天|今日|昨日)(?:\s*(?P<h>\d{1,2})\s*(?::|：)\s*(?P<mi>\d{2}))?")
        .expect("static regex")
});

/// `2003年5月`, `2003 年 05 月`: a month without a day (the day is checked after the match,
/// the regex crate having no look-ahead).
static MONTH_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<y>(?:19|20)\d{2})\s*年\s*(?P<m>\d{1,2})\s*月").expect("static regex")
});

static CN_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<y>[〇零一二三四五六七八九○Ｏ]{4})年(?P<m>[一二三四五六七八九十]{1,3})月(?P<d>[一二三四五六七八九十]{1,3})日")
        .expect("static regex")
});

/// Parse a string that is (mostly) just a time, as found in feeds, JSON fields and `<meta>`.
pub fn parse_time(text: &str, now: DateTime<Utc>, tz: FixedOffset) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(t) {
        return Some(dt.with_timezone(&Utc));
    }
    // Weibo: `Wed Apr 12 10:30:00 +0800 2017`.
    if let Ok(dt) = DateTime::parse_from_str(t, "%a %b %d %H:%M:%S %z %Y") {
        return Some(dt.with_timezone(&Utc));
    }
    if t.len() >= 9 && t.len() <= 13 && t.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = t.parse().ok()?;
        let dt = if t.len() == 13 {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
        return dt;
    }
    if t.contains("刚刚") || t.eq_ignore_ascii_case("just now") {
        return Some(now);
    }
    // A bare `11-26` (Weibo's form for posts of this year): midnight of that day.
    if let Some(c) = MONTH_DAY.captures(t) {
        let (Some(m), Some(d)) = (num(&c, "m"), num(&c, "d")) else {
            return None;
        };
        let year = now.with_timezone(&tz).year() as u32;
        let at = local(year, m, d, 0, 0, 0, tz)?;
        return if at > now + Duration::days(1) {
            local(year - 1, m, d, 0, 0, 0, tz)
        } else {
            Some(at)
        };
    }
    find_times(t, now, tz).into_iter().next().map(|f| f.at)
}

/// Every time expression in `text`, in order of appearance.
pub fn find_times(text: &str, now: DateTime<Utc>, tz: FixedOffset) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for c in FULL_DATE.captures_iter(text) {
        let (Some(y), Some(m), Some(d)) = (num(&c, "y"), num(&c, "m"), num(&c, "d")) else {
            continue;
        };
        let mut h = num(&c, "h");
        if let (Some(hour), Some(ampm)) = (h, c.name("ampm")) {
            if matches!(ampm.as_str(), "下午" | "晚上") && hour < 12 {
                h = Some(hour + 12);
            }
        }
        let (mi, s) = (num(&c, "mi"), num(&c, "s"));
        let zone = c
            .name("z")
            .and_then(|z| crate::config::parse_offset(z.as_str()))
            .or_else(|| c.name("z").filter(|z| z.as_str() == "Z").map(|_| utc()));
        let Some(at) = local(
            y,
            m,
            d,
            h.unwrap_or(0),
            mi.unwrap_or(0),
            s.unwrap_or(0),
            zone.unwrap_or(tz),
        ) else {
            continue;
        };
        let whole = c.get(0).map(|m| (m.start(), m.end())).unwrap_or((0, 0));
        out.push(Found {
            at,
            has_time: h.is_some(),
            start: whole.0,
            end: whole.1,
            kind: TimeKind::Date,
        });
    }
    for c in CN_DATE.captures_iter(text) {
        let (Some(y), Some(m), Some(d)) = (
            c.name("y").and_then(|v| cn_digits(v.as_str())),
            c.name("m").and_then(|v| cn_number(v.as_str())),
            c.name("d").and_then(|v| cn_number(v.as_str())),
        ) else {
            continue;
        };
        if let (Some(at), Some(whole)) = (local(y, m, d, 0, 0, 0, tz), c.get(0)) {
            out.push(Found {
                at,
                has_time: false,
                start: whole.start(),
                end: whole.end(),
                kind: TimeKind::Date,
            });
        }
    }
    for c in US_DATE.captures_iter(text) {
        let (Some(a), Some(b), Some(y), Some(whole)) =
            (num(&c, "a"), num(&c, "b"), num(&c, "y"), c.name("a"))
        else {
            continue;
        };
        let (m, d) = if a > 12 { (b, a) } else { (a, b) };
        let mut h = num(&c, "h");
        if let (Some(hour), Some(ampm)) = (h, c.name("ampm")) {
            let pm = ampm.as_str().eq_ignore_ascii_case("pm");
            h = Some(match (pm, hour) {
                (true, 1..=11) => hour + 12,
                (false, 12) => 0,
                _ => hour,
            });
        }
        let end = c.get(0).map(|m| m.end()).unwrap_or(whole.end());
        if let Some(at) = local(
            y,
            m,
            d,
            h.unwrap_or(0),
            num(&c, "mi").unwrap_or(0),
            num(&c, "s").unwrap_or(0),
            tz,
        ) {
            out.push(Found {
                at,
                has_time: h.is_some(),
                start: whole.start(),
                end,
                kind: TimeKind::Date,
            });
        }
    }
    let local_now = now.with_timezone(&tz);
    for c in SHORT_DATE.captures_iter(text) {
        let Some(whole) = c
            .name("m")
            .map(|m| m.start())
            .zip(c.get(0).map(|m| m.end()))
        else {
            continue;
        };
        if out.iter().any(|f| f.start <= whole.0 && whole.0 < f.end) {
            continue;
        }
        let (Some(m), Some(d), Some(h), Some(mi)) =
            (num(&c, "m"), num(&c, "d"), num(&c, "h"), num(&c, "mi"))
        else {
            continue;
        };
        let s = num(&c, "s").unwrap_or(0);
        let mut year = local_now.year() as u32;
        let Some(mut at) = local(year, m, d, h, mi, s, tz) else {
            continue;
        };
        // `12-31 23:00` read on 1 January is last year's.
        if at > now + Duration::days(1) {
            year -= 1;
            match local(year, m, d, h, mi, s, tz) {
                Some(a) => at = a,
                None => continue,
            }
        }
        out.push(Found {
            at,
            has_time: true,
            start: whole.0,
            end: whole.1,
            kind: TimeKind::Date,
        });
    }
    for c in RELATIVE.captures_iter(text) {
        let (Some(n), Some(u), Some(whole)) = (c.name("n"), c.name("u"), c.get(0)) else {
            continue;
        };
        // `半小时前`: half of the unit.
        let half = n.as_str() == "半";
        let n = match n.as_str() {
            "半" => 0,
            s => s
                .parse::<i64>()
                .ok()
                .or_else(|| cn_number(s).map(i64::from))
                .unwrap_or(0),
        };
        let back = match u.as_str() {
            "小时" | "个小时" if half => Duration::minutes(30),
            "天" | "日" if half => Duration::hours(12),
            u if u.starts_with('秒') => Duration::seconds(n),
            "分钟" => Duration::minutes(n),
            "小时" | "个小时" => Duration::hours(n),
            "天" | "日" => Duration::days(n),
            "周" | "星期" => Duration::weeks(n),
            "个月" | "月" => Duration::days(30 * n),
            _ => Duration::days(365 * n),
        };
        out.push(Found {
            at: now - back,
            has_time: true,
            start: whole.start(),
            end: whole.end(),
            kind: TimeKind::Relative,
        });
    }
    for c in DAY_WORD.captures_iter(text) {
        let (Some(w), Some(whole)) = (c.name("w"), c.get(0)) else {
            continue;
        };
        let days = match w.as_str() {
            "昨天" | "昨日" => 1,
            "前天" => 2,
            _ => 0,
        };
        let date = local_now.date_naive() - Duration::days(days);
        let (h, mi) = (num(&c, "h"), num(&c, "mi"));
        if let Some(at) = local(
            date.year() as u32,
            date.month(),
            date.day(),
            h.unwrap_or(0),
            mi.unwrap_or(0),
            0,
            tz,
        ) {
            out.push(Found {
                at,
                has_time: h.is_some(),
                start: whole.start(),
                end: whole.end(),
                kind: TimeKind::Relative,
            });
        }
    }
    if let Some(pos) = text.find("刚刚") {
        out.push(Found {
            at: now,
            has_time: true,
            start: pos,
            end: pos + "刚刚".len(),
            kind: TimeKind::Relative,
        });
    }
    for c in MONTH_ONLY.captures_iter(text) {
        let (Some(y), Some(m), Some(whole)) = (num(&c, "y"), num(&c, "m"), c.get(0)) else {
            continue;
        };
        let inside_a_date = out
            .iter()
            .any(|f| f.start <= whole.start() && whole.start() < f.end);
        // `2003年5月12日` is a full date already found; `2003年5月` followed by a day number
        // written another way is left alone rather than read as the first of the month.
        let day_follows = text[whole.end()..]
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit() || cn_digit(c).is_some() || c == '十');
        if inside_a_date || day_follows {
            continue;
        }
        if let Some(at) = local(y, m, 1, 0, 0, 0, tz) {
            out.push(Found {
                at,
                has_time: false,
                start: whole.start(),
                end: whole.end(),
                kind: TimeKind::Month,
            });
        }
    }
    out.sort_by_key(|f| f.start);
    out
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("zero offset is valid")
}

fn num(c: &regex::Captures<'_>, name: &str) -> Option<u32> {
    c.name(name).and_then(|m| m.as_str().parse().ok())
}

fn local(
    y: u32,
    m: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    tz: FixedOffset,
) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(y as i32, m, d)?;
    let naive: NaiveDateTime = date.and_hms_opt(h, mi, s.min(59))?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|dt| dt.with_timezone(&Utc))
}

fn cn_digit(c: char) -> Option<u32> {
    Some(match c {
        '〇' | '零' | '○' | 'Ｏ' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

/// `二〇一七` → 2017 (digit by digit).
fn cn_digits(s: &str) -> Option<u32> {
    s.chars()
        .try_fold(0u32, |acc, c| Some(acc * 10 + cn_digit(c)?))
}

/// `十二` → 12, `二十三` → 23, `十` → 10, `五` → 5.
fn cn_number(s: &str) -> Option<u32> {
    match s.split_once('十') {
        None => cn_digits(s),
        Some((tens, ones)) => {
            let t = if tens.is_empty() { 1 } else { cn_digits(tens)? };
            let o = if ones.is_empty() { 0 } else { cn_digits(ones)? };
            Some(t * 10 + o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        // 2017-04-12 12:00 in Beijing.
        "2017-04-12T04:00:00Z".parse().unwrap()
    }

    fn cst() -> FixedOffset {
        crate::config::china_offset()
    }

    /// Data-driven: input → expected UTC instant.
    #[test]
    fn parses_the_usual_forms() {
        let cases = [
            ("2017年4月12日 10:30", "2017-04-12T02:30:00Z"),
            ("2017年04月12日10:30", "2017-04-12T02:30:00Z"),
            ("2017-04-12 10:30:00", "2017-04-12T02:30:00Z"),
            ("2017/4/12 10:30", "2017-04-12T02:30:00Z"),
            ("2017.04.12", "2017-04-11T16:00:00Z"),
            ("发布时间：2017-04-12", "2017-04-11T16:00:00Z"),
            ("2017年4月12日 下午3:05", "2017-04-12T07:05:00Z"),
            ("04-12 10:30", "2017-04-12T02:30:00Z"),
            ("4月11日 09:00", "2017-04-11T01:00:00Z"),
            ("3小时前", "2017-04-12T01:00:00Z"),
            ("5分钟前", "2017-04-12T03:55:00Z"),
            ("半小时前", "2017-04-12T03:30:00Z"),
            ("三天前", "2017-04-09T04:00:00Z"),
            ("2天前", "2017-04-10T04:00:00Z"),
            ("昨天 12:00", "2017-04-11T04:00:00Z"),
            ("今天 08:15", "2017-04-12T00:15:00Z"),
            ("刚刚", "2017-04-12T04:00:00Z"),
            ("二〇一七年四月十二日", "2017-04-11T16:00:00Z"),
            ("Wed, 12 Apr 2017 10:30:00 +0800", "2017-04-12T02:30:00Z"),
            ("2017-04-12T10:30:00+08:00", "2017-04-12T02:30:00Z"),
            ("2017-04-12T02:30:00Z", "2017-04-12T02:30:00Z"),
            ("Wed Apr 12 10:30:00 +0800 2017", "2017-04-12T02:30:00Z"),
            ("1491964200", "2017-04-12T02:30:00Z"),
            ("发布日期： 9/17/2004 5:54:13 AM", "2004-09-16T21:54:13Z"),
            ("04-11", "2017-04-10T16:00:00Z"),
            ("4月11日", "2017-04-10T16:00:00Z"),
            ("4/12/2017 10:30:00 PM", "2017-04-12T14:30:00Z"),
            ("1491964200000", "2017-04-12T02:30:00Z"),
        ];
        for (input, want) in cases {
            let got = parse_time(input, now(), cst());
            assert_eq!(
                got.map(|d| d.to_rfc3339()),
                Some(want.parse::<DateTime<Utc>>().unwrap().to_rfc3339()),
                "{input}"
            );
        }
    }

    #[test]
    fn each_time_says_how_it_was_written() {
        let kinds = |text: &str| -> Vec<(TimeKind, String)> {
            find_times(text, now(), cst())
                .into_iter()
                .map(|f| (f.kind, f.at.to_rfc3339()))
                .collect()
        };
        assert_eq!(
            kinds("来源：《社会调查》2003年第5期 日期：2003年5月"),
            [(TimeKind::Month, "2003-04-30T16:00:00+00:00".into())]
        );
        // A full date is one date, not also a month.
        assert_eq!(
            kinds("2003年5月12日 10:30"),
            [(TimeKind::Date, "2003-05-12T02:30:00+00:00".into())]
        );
        assert!(kinds("2003年5月十二日").is_empty());
        assert_eq!(
            kinds("3年前 阅读 1.2万"),
            [(TimeKind::Relative, "2014-04-13T04:00:00+00:00".into())]
        );
        assert_eq!(kinds("昨天 12:00")[0].0, TimeKind::Relative);
        assert_eq!(kinds("刚刚")[0].0, TimeKind::Relative);
        assert_eq!(
            parse_time("2003年5月", now(), cst())
                .map(|t| t.to_rfc3339())
                .as_deref(),
            Some("2003-04-30T16:00:00+00:00")
        );
    }

    #[test]
    fn year_rolls_back_across_new_year() {
        let jan1: DateTime<Utc> = "2018-01-01T01:00:00Z".parse().unwrap();
        let got = parse_time("12-31 23:00", jan1, cst()).unwrap();
        assert_eq!(got.to_rfc3339(), "2017-12-31T15:00:00+00:00");
    }

    #[test]
    fn source_time_zone_applies() {
        let utc = crate::config::parse_offset("UTC").unwrap();
        let got = parse_time("2017-04-12 10:30", now(), utc).unwrap();
        assert_eq!(got.to_rfc3339(), "2017-04-12T10:30:00+00:00");
    }

    #[test]
    fn nonsense_is_none() {
        for s in ["", "no date here", "2017-13-45", "99:99"] {
            assert_eq!(parse_time(s, now(), cst()), None, "{s}");
        }
    }
}
