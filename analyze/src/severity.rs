//! Severity proposal (特别重大/重大/较大/一般) from casualties, missing persons and direct
//! economic loss extracted from the text, per the national production-safety accident grades
//! (《生产安全事故报告和调查处理条例》第三条): deaths (missing counted with them) ≥30 / 10–29 /
//! 3–9; serious injuries ≥100 / 50–99 / 10–49; loss ≥1亿 / 5000万 / 1000万 元.
//!
//! Numbers may be Arabic (12, １２ after normalization) or Chinese (十二, 两, 一百零五, 1.2万).
//! Counts rise as reporting goes on, so the largest figure mentioned wins.

use common::wire::{Severity, SeverityProposal};

/// Parse a Chinese or Arabic numeral (`十二`, `两`, `一百零五`, `3`, `1.5万`). None if not a number.
pub fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    // Arabic part with an optional Chinese unit suffix: 3, 2.5万, 1亿.
    let arabic_end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    if arabic_end > 0 {
        let base: f64 = s[..arabic_end].parse().ok()?;
        let mut mult = 1.0;
        for c in s[arabic_end..].chars() {
            mult *= unit_value(c)?;
        }
        return Some(base * mult);
    }
    parse_chinese(s)
}

fn digit_value(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' | '○' => 0,
        '一' | '壹' => 1,
        '二' | '两' | '贰' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn unit_value(c: char) -> Option<f64> {
    Some(match c {
        '十' | '拾' => 10.0,
        '百' | '佰' => 100.0,
        '千' | '仟' => 1000.0,
        '万' => 10_000.0,
        '亿' => 100_000_000.0,
        _ => return None,
    })
}

fn parse_chinese(s: &str) -> Option<f64> {
    let mut total: u64 = 0; // completed 万/亿 sections
    let mut section: u64 = 0; // below 万
    let mut digit: Option<u64> = None;
    let mut any = false;
    for c in s.chars() {
        if let Some(d) = digit_value(c) {
            digit = Some(d);
            any = true;
            continue;
        }
        match c {
            '十' | '拾' | '百' | '佰' | '千' | '仟' => {
                let unit = unit_value(c)? as u64;
                // 十二 = 12: a bare 十 means one ten.
                section += digit.unwrap_or(1) * unit;
                digit = None;
            }
            '万' | '亿' => {
                let unit = unit_value(c)? as u64;
                section += digit.unwrap_or(0);
                total = (total + section.max(1)) * unit;
                section = 0;
                digit = None;
            }
            _ => return None,
        }
        any = true;
    }
    if !any {
        return None;
    }
    Some((total + section + digit.unwrap_or(0)) as f64)
}

/// Digits, the decimal point, Chinese digits and units: what [`parse_number`] reads. Tested
/// for every character of a text, so by bit test rather than by `digit_value`.
fn is_numeral_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit() || c == '.'
    } else {
        CJK_NUMERALS.contains(c) || c == '〇' || c == '○'
    }
}

/// A set of CJK unified ideographs (U+4E00..=U+9FFF) as bits. The gate of [`extract`] tests
/// every character of every text against three such sets; a bit test is much cheaper than the
/// chain of comparisons a `match` on a dozen characters compiles to.
struct CjkSet([u64; CJK_WORDS]);

const CJK_FIRST: u32 = 0x4E00;
const CJK_WORDS: usize = (0xA000 - 0x4E00) / 64;

impl CjkSet {
    /// Panics at compile time on a character outside the block.
    const fn new(chars: &[char]) -> Self {
        let mut bits = [0u64; CJK_WORDS];
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i] as u32;
            assert!(c >= CJK_FIRST && c < CJK_FIRST + 64 * CJK_WORDS as u32);
            let k = (c - CJK_FIRST) as usize;
            bits[k / 64] |= 1 << (k % 64);
            i += 1;
        }
        CjkSet(bits)
    }

    fn contains(&self, c: char) -> bool {
        let Some(k) = (c as u32).checked_sub(CJK_FIRST) else {
            return false;
        };
        self.0
            .get(k as usize / 64)
            .is_some_and(|bits| bits >> (k % 64) & 1 == 1)
    }
}

/// Every pattern of [`extract`] involves one of these.
static CASUALTY_CHARS: CjkSet = CjkSet::new(&[
    '死', '伤', '亡', '难', '踪', '联', '损', '落', '殒', '害', '丧',
]);
/// What follows the numeral of a figure: a count word, 死/伤 or 元.
static AFTER_NUMERAL: CjkSet =
    CjkSet::new(&['人', '名', '位', '具', '个', '余', '多', '死', '伤', '元']);
/// The CJK-block characters of [`digit_value`] and [`unit_value`] (〇 and ○ are outside it).
static CJK_NUMERALS: CjkSet = CjkSet::new(&[
    '零', '一', '壹', '二', '两', '贰', '三', '叁', '四', '肆', '五', '伍', '六', '陆', '七', '柒',
    '八', '捌', '九', '玖', '十', '拾', '百', '佰', '千', '仟', '万', '亿',
]);

const DEATH: &[&str] = &[
    "死亡", "遇难", "罹难", "身亡", "丧生", "殒命", "遇害", "溺亡", "死",
];
const INJURY: &[&str] = &["受伤", "伤", "轻伤", "重伤", "受轻伤", "受重伤"];
const MISSING: &[&str] = &["失联", "失踪", "下落不明"];
const QUANTIFIER: &[&str] = &["余人", "多人", "余名", "多名", "人", "名", "位", "具", "个"];

/// Casualty and loss figures found in a text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub deaths: Option<u32>,
    pub injured: Option<u32>,
    pub missing: Option<u32>,
    pub loss_wan_yuan: Option<f64>,
    pub evidence: Vec<String>,
}

fn bump(slot: &mut Option<u32>, v: f64) {
    let v = v.min(u32::MAX as f64) as u32;
    *slot = Some(slot.map_or(v, |old| old.max(v)));
}

/// Extract casualties, missing persons and losses.
pub fn extract(text: &str) -> Figures {
    let mut f = Figures::default();
    // Every pattern below involves one of the casualty or loss characters (most texts have
    // none), and every figure is a numeral directly followed by a count word, 死/伤 or 元: one
    // pass over the characters looks for both before any work.
    let mut casualty_char = false;
    let mut candidate = false;
    let mut prev_numeral = false;
    for c in text.chars() {
        casualty_char |= CASUALTY_CHARS.contains(c);
        candidate |= prev_numeral && AFTER_NUMERAL.contains(c);
        prev_numeral = is_numeral_char(c);
    }
    if !(casualty_char && candidate) {
        return f;
    }
    let chars: Vec<char> = text.chars().collect();
    // Byte offset of every character (and of the end): windows around a number are slices of
    // the text, not new strings.
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain([text.len()])
        .collect();
    let at = |k: usize| offsets[k.min(chars.len())];
    let mut i = 0;
    while i < chars.len() {
        if !is_numeral_char(chars[i]) || chars[i] == '.' {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_numeral_char(chars[i]) {
            i += 1;
        }
        // Only a count of people or an amount of money matters: cheap gate before any work.
        if !matches!(
            chars.get(i),
            Some('人' | '名' | '位' | '具' | '个' | '余' | '多' | '死' | '伤' | '元')
        ) {
            continue;
        }
        let num_str = &text[at(start)..at(i)];
        // 万/亿 right after the digits belong to the amount only when 元 follows (losses).
        let digits = num_str.trim_end_matches(['万', '亿']);
        let Some(value) = parse_number(digits) else {
            continue;
        };
        let after = &text[at(i)..at(i + 10)];
        let before = &text[at(start.saturating_sub(10))..at(start)];
        let amount_unit = &num_str[digits.len()..];
        let span = &text[at(start.saturating_sub(4))..at(i + 6)];

        // Losses: "直接经济损失(约|达|超)X万元/亿元/元".
        if before.contains("损失") {
            let yuan_after = after.trim_start_matches(['多', '余']);
            let (mult, ok) = match (amount_unit, yuan_after.chars().next()) {
                ("万", Some('元')) => (1.0, true),
                ("亿", Some('元')) => (10_000.0, true),
                ("", Some('元')) => (0.0001, true),
                ("", Some('万')) if yuan_after.starts_with("万元") => (1.0, true),
                ("", Some('亿')) if yuan_after.starts_with("亿元") => (10_000.0, true),
                _ => (0.0, false),
            };
            if ok {
                let v = value * mult;
                f.loss_wan_yuan = Some(f.loss_wan_yuan.map_or(v, |o: f64| o.max(v)));
                f.evidence.push(span.to_string());
                continue;
            }
        }
        if !amount_unit.is_empty() {
            continue;
        }

        // "3死5伤": a numeral directly followed by 死 / 伤.
        if after.starts_with('死') {
            bump(&mut f.deaths, value);
            f.evidence.push(span.to_string());
            continue;
        }
        if after.starts_with('伤') && before.ends_with('死') {
            bump(&mut f.injured, value);
            continue;
        }

        // "X人死亡", "X名学生受伤", "X人当场死亡".
        let quant = QUANTIFIER.iter().find(|q| after.starts_with(**q));
        if let Some(q) = quant {
            let rest = &after[q.len()..];
            let window = rest
                .char_indices()
                .nth(5)
                .map_or(rest, |(end, _)| &rest[..end]);
            let hit = |words: &[&str]| {
                words
                    .iter()
                    .filter_map(|w| window.find(w))
                    .min()
                    .filter(|&pos| pos <= 9)
            };
            let d = hit(DEATH);
            let inj = hit(INJURY);
            let m = hit(MISSING);
            let first = [d, inj, m].into_iter().flatten().min();
            if let Some(p) = first {
                if d == Some(p) && !window.starts_with("死刑") {
                    bump(&mut f.deaths, value);
                } else if inj == Some(p) {
                    bump(&mut f.injured, value);
                } else if m == Some(p) {
                    bump(&mut f.missing, value);
                }
                f.evidence.push(span.to_string());
                continue;
            }
            // "死亡3人", "遇难人数升至14人", "受伤12人".
            let lead = before
                .trim_end_matches(['约', '达', '至', '为', '有', '了'])
                .trim_end_matches(['升', '增', '上', '加', '已']);
            // The word itself, or its 人数 / 者 form (死亡人数, 遇难者).
            let heads = [
                Some(lead),
                lead.strip_suffix("人数"),
                lead.strip_suffix("者"),
            ];
            let ends = |words: &[&str]| {
                words
                    .iter()
                    .any(|w| heads.iter().flatten().any(|h| h.ends_with(w)))
            };
            if ends(DEATH) {
                bump(&mut f.deaths, value);
                f.evidence.push(span.to_string());
            } else if ends(INJURY) {
                bump(&mut f.injured, value);
                f.evidence.push(span.to_string());
            } else if ends(MISSING) {
                bump(&mut f.missing, value);
                f.evidence.push(span.to_string());
            }
        }
    }
    // 一人死亡 is also written without a numeral: 一名男子死亡 is caught above; 致死 alone is not a count.
    f.evidence.dedup();
    f
}

/// The national grade for the figures, or None when nothing was counted.
pub fn grade(f: &Figures) -> Option<Severity> {
    let dead = f.deaths.unwrap_or(0) as u64 + f.missing.unwrap_or(0) as u64;
    let injured = f.injured.unwrap_or(0) as u64;
    let loss = f.loss_wan_yuan.unwrap_or(0.0);
    if f.deaths.is_none() && f.injured.is_none() && f.missing.is_none() && f.loss_wan_yuan.is_none()
    {
        return None;
    }
    Some(if dead >= 30 || injured >= 100 || loss >= 10_000.0 {
        Severity::ExtremelyMajor
    } else if dead >= 10 || injured >= 50 || loss >= 5_000.0 {
        Severity::Major
    } else if dead >= 3 || injured >= 10 || loss >= 1_000.0 {
        Severity::Large
    } else {
        Severity::General
    })
}

/// The proposal carried on the wire. `emergency` items with no figures are proposed 一般.
pub fn propose(text: &str, emergency: bool) -> SeverityProposal {
    let f = extract(text);
    let level = grade(&f).or(emergency.then_some(Severity::General));
    SeverityProposal {
        level,
        deaths: f.deaths,
        injured: f.injured,
        missing: f.missing,
        loss_wan_yuan: f.loss_wan_yuan,
        evidence: f.evidence,
        proposed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeral_chars_are_what_parse_number_reads() {
        for c in '\0'..='\u{10FFFF}' {
            let reads = c.is_ascii_digit()
                || c == '.'
                || digit_value(c).is_some()
                || unit_value(c).is_some();
            assert_eq!(is_numeral_char(c), reads, "{c:?}");
        }
    }

    #[test]
    fn numerals() {
        for (s, v) in [
            ("十二", 12.0),
            ("十", 10.0),
            ("二十三", 23.0),
            ("两", 2.0),
            ("一百零五", 105.0),
            ("三千", 3000.0),
            ("1.5万", 15000.0),
            ("12", 12.0),
            ("一万二千", 12000.0),
            ("三亿", 300_000_000.0),
        ] {
            assert_eq!(parse_number(s), Some(v), "{s}");
        }
        assert_eq!(parse_number("人"), None);
    }

    fn check(text: &str, expect: &str) {
        let p = propose(text, false);
        let got = format!(
            "{} d={:?} i={:?} m={:?} loss={:?}",
            p.level.map(|l| l.label_zh()).unwrap_or("-"),
            p.deaths,
            p.injured,
            p.missing,
            p.loss_wan_yuan
        );
        assert_eq!(got, expect, "text: {text}");
    }

    #[test]
    fn casualties_and_grades() {
        check(
            "事故造成三人死亡、十二人受伤",
            "较大 d=Some(3) i=Some(12) m=None loss=None",
        );
        check(
            "已确认14人死亡，另有2人失踪",
            "重大 d=Some(14) i=None m=Some(2) loss=None",
        );
        check(
            "死亡人数升至31人",
            "特别重大 d=Some(31) i=None m=None loss=None",
        );
        check("车祸致1死3伤", "一般 d=Some(1) i=Some(3) m=None loss=None");
        check(
            "造成直接经济损失约1.2亿元",
            "特别重大 d=None i=None m=None loss=Some(12000.0)",
        );
        check(
            "直接经济损失5800万元，8名工人受伤",
            "重大 d=None i=Some(8) m=None loss=Some(5800.0)",
        );
        check("3月死亡病例减少", "- d=None i=None m=None loss=None");
        check("两名学生受轻伤", "一般 d=None i=Some(2) m=None loss=None");
        check("遇难者增至十人", "重大 d=Some(10) i=None m=None loss=None");
    }
}
