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

/// The input's characters as normalization sees them: invisible ones skipped, the rest folded.
/// Cloning it is a cheap lookahead (it is a string iterator underneath), so the markup rules
/// below read ahead without first copying the text into a `Vec<char>`.
#[derive(Clone)]
struct Folded<'a>(std::str::Chars<'a>);

impl Iterator for Folded<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        loop {
            let c = self.0.next()?;
            if !is_invisible(c) {
                return Some(fold_char(c));
            }
        }
    }
}

impl Folded<'_> {
    /// Whether the next characters are `prefix` (without consuming them).
    fn starts_with(&self, prefix: &str) -> bool {
        let mut it = self.clone();
        prefix.chars().all(|p| it.next() == Some(p))
    }

    /// The longest prefix of the rest made of characters U+4000..=U+9FFF (lead byte 0xE4 to
    /// 0xE9: the CJK ideographs), consumed. None of them is invisible, folded, whitespace,
    /// punctuation or markup, so a run of them is copied as it is: most of a Chinese text.
    fn take_ideographs(&mut self) -> &str {
        let rest = self.0.as_str();
        let len = rest
            .as_bytes()
            .chunks(3)
            .take_while(|c| (0xE4..=0xE9).contains(&c[0]))
            .count()
            * 3;
        self.0 = rest[len..].chars();
        &rest[..len]
    }

    /// Skip `n` characters.
    fn advance(&mut self, n: usize) {
        for _ in 0..n {
            self.next();
        }
    }
}

/// The output text being built, with the run-collapsing rules of [`normalize`].
struct Writer<'a> {
    text: &'a mut String,
    /// The last character written by this writer (None at its start).
    last: Option<char>,
}

impl Writer<'_> {
    /// Append a run of ideographs (see [`Folded::take_ideographs`]): no rule applies to them.
    fn push_ideographs(&mut self, run: &str) {
        self.text.push_str(run);
        self.last = run.chars().next_back().or(self.last);
    }

    fn push(&mut self, c: char) {
        let c = if c.is_whitespace() { ' ' } else { c };
        // Collapse runs of the same punctuation (！！！, 。。。, ???) and of whitespace; no
        // leading whitespace.
        if c == ' ' {
            if matches!(self.last, None | Some(' ')) {
                return;
            }
        } else if self.last == Some(c) && is_punct(c) {
            return;
        }
        self.text.push(c);
        self.last = Some(c);
    }
}

/// Normalize one text. Linear in its length; allocation is one output string plus the markup.
pub fn normalize(input: &str) -> Normalized {
    let mut out = Normalized {
        text: String::with_capacity(input.len()),
        ..Normalized::default()
    };
    normalize_into(input, &mut out);
    out
}

/// Normalize `input` and append it to `out` (text and markup), as [`normalize`] would produce
/// it on its own: the appended text has no leading or trailing whitespace.
pub fn normalize_into(input: &str, out: &mut Normalized) {
    let base = out.text.len();
    let mut w = Writer {
        text: &mut out.text,
        last: None,
    };
    let mut rest = Folded(input.chars());
    loop {
        w.push_ideographs(rest.take_ideographs());
        let Some(c) = rest.next() else { break };
        match c {
            // URLs: http://, https://, www.
            'h' | 'w'
                if (c == 'h' && (rest.starts_with("ttp://") || rest.starts_with("ttps://")))
                    || (c == 'w' && rest.starts_with("ww.")) =>
            {
                let mut url = String::from(c);
                let mut ahead = rest.clone();
                while let Some(d) = ahead.next().filter(|&d| is_url_char(d)) {
                    url.push(d);
                    rest = ahead.clone();
                }
                out.urls.push(url);
                w.push(' ');
            }
            // Repost chains `//@name:`: the `@name` is a mention, read next.
            '/' if rest.starts_with("/@") => {
                w.push(' ');
                rest.advance(1);
            }
            // Mentions `@name`.
            '@' if rest.clone().next().is_some_and(|d| !ends_mention(d)) => {
                let name: String = rest
                    .clone()
                    .take_while(|&d| !ends_mention(d))
                    .take(30)
                    .collect();
                rest.advance(name.chars().count());
                out.mentions.push(name);
                if rest.clone().next().is_some_and(|d| matches!(d, ':' | '：')) {
                    rest.advance(1);
                }
                w.push(' ');
            }
            // Emoticons `[泪]`: short bracketed names without punctuation inside.
            '[' if emoticon_len(&rest).is_some() => {
                let len = emoticon_len(&rest).unwrap_or(0);
                out.emoticons.push(rest.clone().take(len).collect());
                rest.advance(len + 1);
            }
            // Weibo's `{%…%}` wrappers (topics, places, video cards): keep the words.
            '{' | '%' if rest.starts_with(if c == '{' { "%" } else { "}" }) => {
                w.push(' ');
                rest.advance(1);
            }
            // Topics `#话题#`: keep the words, drop the marks.
            '#' if rest
                .clone()
                .take(40)
                .position(|d| d == '#')
                .is_some_and(|len| len > 0) =>
            {
                let name: String = rest.clone().take_while(|&d| d != '#').collect();
                for d in name.chars() {
                    w.push(d);
                }
                w.push(' ');
                rest.advance(name.chars().count() + 1);
                out.topics.push(name);
            }
            _ => w.push(c),
        }
    }
    while out.text.len() > base && out.text.ends_with(' ') {
        out.text.pop();
    }
}

/// The length in characters of the emoticon name after a `[`, if what follows is one: a
/// closing `]` within ten characters, no punctuation or whitespace before it.
fn emoticon_len(after_bracket: &Folded) -> Option<usize> {
    let len = after_bracket
        .clone()
        .take(10)
        .position(|d| d == ']')
        .filter(|&len| len > 0)?;
    let clean = after_bracket
        .clone()
        .take(len)
        .all(|d| !is_punct(d) && !d.is_whitespace());
    clean.then_some(len)
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
    fn appended_text_is_normalized_as_on_its_own() {
        let mut n = normalize("标题！");
        n.text.push(' ');
        normalize_into("  ！正文[泪] ", &mut n);
        assert_eq!(n.text, "标题! !正文");
        assert_eq!(n.emoticons, ["泪"]);
    }

    #[test]
    fn brackets_that_are_not_emoticons_stay() {
        check(
            "[通报, 第1号]内容",
            "[通报, 第1号]内容 | emo=[] at=[] topic=[] url=[]",
        );
    }
}
