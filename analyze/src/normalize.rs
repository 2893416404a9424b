//! Text normalization before anything else looks at the text: full-width ASCII to half-width,
//! ASCII lower-case, Weibo markup (`[表情]`, `@user`, `//@user:`, `#话题#`) and URLs taken out
//! (kept aside, since emoticons carry sentiment and topics carry subject words), runs of
//! repeated punctuation collapsed, invisible characters dropped.
//!
//! Every later step (segmentation, schemes, classifiers) sees only `Normalized::text`, so a
//! keyword written in a scheme as `ktv` matches `ＫＴＶ` in a post.

/// The cleaned text and the markup that was taken out of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalized {
    pub text: String,
    /// Weibo emoticon names without brackets, e.g. `泪` for `[泪]`.
    pub emoticons: Vec<String>,
    pub mentions: Vec<String>,
    /// `#话题#` names (their text also stays in `text`).
    pub topics: Vec<String>,
    pub urls: Vec<String>,
}

/// Full-width ASCII variants (U+FF01..U+FF5E) and the ideographic space to ASCII; ASCII
/// letters lower-cased. Chinese punctuation outside that block (，。、“”) is kept as is.
pub fn fold_char(c: char) -> char {
    let c = match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    c.to_ascii_lowercase()
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{FEFF}' | '\u{2060}' | '\u{00AD}'
    )
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '。' | '，'
                | '、'
                | '；'
                | '：'
                | '？'
                | '！'
                | '…'
                | '—'
                | '～'
                | '·'
                | '“'
                | '”'
                | '‘'
                | '’'
        )
}

/// Characters that end an `@name` mention.
fn ends_mention(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ':' | '：' | ',' | '，' | '。' | '!' | '！' | '?' | '？' | '/' | '@' | '#' | '[' | ')'
        )
}

fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// Normalize one text. Linear in its length; allocation is one output string plus the markup.
pub fn normalize(input: &str) -> Normalized {
    let chars: Vec<char> = input
        .chars()
        .filter(|c| !is_invisible(*c))
        .map(fold_char)
        .collect();
    let mut out = Normalized {
        text: String::with_capacity(input.len()),
        ..Normalized::default()
    };
    let mut i = 0;
    let n = chars.len();
    let mut last: Option<char> = None;
    let push = |out: &mut Normalized, last: &mut Option<char>, c: char| {
        let c = if c.is_whitespace() { ' ' } else { c };
        // Collapse runs of the same punctuation (！！！, 。。。, ???) and of whitespace.
        if (is_punct(c) || c == ' ') && *last == Some(c) {
            return;
        }
        if c == ' ' && (last.is_none() || out.text.ends_with(' ')) {
            return;
        }
        out.text.push(c);
        *last = Some(c);
    };
    while i < n {
        let c = chars[i];
        // URLs: http://, https://, www.
        let rest = &chars[i..];
        if (c == 'h' && (starts_with(rest, "http://") || starts_with(rest, "https://")))
            || (c == 'w' && starts_with(rest, "www."))
        {
            let start = i;
            while i < n && is_url_char(chars[i]) {
                i += 1;
            }
            out.urls.push(chars[start..i].iter().collect());
            push(&mut out, &mut last, ' ');
            continue;
        }
        // Repost chains `//@name:` and mentions `@name`.
        if c == '/' && i + 2 < n && chars[i + 1] == '/' && chars[i + 2] == '@' {
            push(&mut out, &mut last, ' ');
            i += 2;
            continue;
        }
        if c == '@' {
            let start = i + 1;
            let mut j = start;
            while j < n && !ends_mention(chars[j]) && j - start < 30 {
                j += 1;
            }
            if j > start {
                out.mentions.push(chars[start..j].iter().collect());
                i = j;
                if i < n && matches!(chars[i], ':' | '：') {
                    i += 1;
                }
                push(&mut out, &mut last, ' ');
                continue;
            }
        }
        // Emoticons `[泪]`: short bracketed names without punctuation inside.
        if c == '[' {
            if let Some(len) = chars[i + 1..]
                .iter()
                .take(10)
                .position(|&d| d == ']')
                .filter(|&len| len > 0)
            {
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                if !name.chars().any(|d| is_punct(d) || d.is_whitespace()) {
                    out.emoticons.push(name);
                    i += len + 2;
                    continue;
                }
            }
        }
        // Weibo's `{%…%}` wrappers (topics, places, video cards): keep the words.
        if (c == '{' && chars.get(i + 1) == Some(&'%'))
            || (c == '%' && chars.get(i + 1) == Some(&'}'))
        {
            push(&mut out, &mut last, ' ');
            i += 2;
            continue;
        }
        // Topics `#话题#`: keep the words, drop the marks.
        if c == '#' {
            if let Some(len) = chars[i + 1..].iter().take(40).position(|&d| d == '#') {
                if len > 0 {
                    let name: String = chars[i + 1..i + 1 + len].iter().collect();
                    for d in name.chars() {
                        push(&mut out, &mut last, d);
                    }
                    push(&mut out, &mut last, ' ');
                    out.topics.push(name);
                    i += len + 2;
                    continue;
                }
            }
        }
        push(&mut out, &mut last, c);
        i += 1;
    }
    while out.text.ends_with(' ') {
        out.text.pop();
    }
    out
}

fn starts_with(chars: &[char], prefix: &str) -> bool {
    let mut it = chars.iter();
    prefix.chars().all(|p| it.next() == Some(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let n = normalize(input);
        let got = format!(
            "{} | emo={:?} at={:?} topic={:?} url={:?}",
            n.text, n.emoticons, n.mentions, n.topics, n.urls
        );
        assert_eq!(got, expect, "input: {input}");
    }

    #[test]
    fn full_width_and_case() {
        check(
            "ＫＴＶ起火，１２人受伤　ＡＢＣ",
            "ktv起火,12人受伤 abc | emo=[] at=[] topic=[] url=[]",
        );
    }

    #[test]
    fn weibo_markup() {
        check(
            "太吓人了[泪][泪]//@南明小记者:#贵阳暴雨#积水好深！！！http://t.cn/abc 快看",
            "太吓人了 贵阳暴雨 积水好深! 快看 | emo=[\"泪\", \"泪\"] at=[\"南明小记者\"] topic=[\"贵阳暴雨\"] url=[\"http://t.cn/abc\"]",
        );
    }

    #[test]
    fn weibo_cards() {
        check(
            "{%#今日打卡#%}好开心 {%上海·外滩%}",
            "今日打卡 好开心 上海·外滩 | emo=[] at=[] topic=[\"今日打卡\"] url=[]",
        );
    }

    #[test]
    fn repeated_punctuation_and_invisible() {
        check(
            "真的吗？？？。。。\u{200b}好",
            "真的吗?。好 | emo=[] at=[] topic=[] url=[]",
        );
    }

    #[test]
    fn brackets_that_are_not_emoticons_stay() {
        check(
            "[通报, 第1号]内容",
            "[通报, 第1号]内容 | emo=[] at=[] topic=[] url=[]",
        );
    }
}
