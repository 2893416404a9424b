//! Monitoring schemes (监测方案): boolean keyword expressions as users of commercial 舆情
//! systems write them, compiled once into one Aho-Corasick automaton for all schemes and
//! explained per match.
//!
//! A scheme has optional word groups that must all be satisfied — region words × subject words ×
//! event words (each group: any one word) — an optional expression, and exclusion words that
//! veto a match. The expression language:
//!
//! ```text
//! expr  := or
//! or    := and (('|' | OR) and)*
//! and   := unary (('&' | '+' | AND | juxtaposition) unary)*
//! unary := ('!' | '-' | NOT) unary | atom
//! atom  := '(' expr ')' | near/N '(' expr ',' expr ')' | word | "quoted words"
//! ```
//!
//! `near/N(a, b)`: some occurrence of `a` and some occurrence of `b` at most N characters apart
//! (gap between them). Words are matched on normalized text (half-width, lower-case).

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use common::wire::Priority;
use serde::{Deserialize, Serialize};

use crate::normalize::fold_char;

/// One scheme as written in config.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeConfig {
    pub name: String,
    /// The monitoring priority a match puts on the item.
    pub priority: Priority,
    /// Any one of these must occur (empty: no region condition).
    #[serde(default)]
    pub region: Vec<String>,
    #[serde(default)]
    pub subject: Vec<String>,
    #[serde(default)]
    pub event: Vec<String>,
    /// Boolean expression (empty: no expression condition).
    #[serde(default)]
    pub expr: String,
    /// Any of these vetoes the match.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Scales the match score (evidence count / 5, capped at 1).
    #[serde(default = "default_weight")]
    pub weight: f32,
}

fn default_weight() -> f32 {
    1.0
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemeError {
    #[error("scheme {scheme}: {message} at character {at}")]
    Syntax {
        scheme: String,
        message: String,
        at: usize,
    },
    #[error("scheme {0}: no condition (region, subject, event or expr)")]
    Empty(String),
    #[error("schemes automaton: {0}")]
    Automaton(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Word(usize),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Near(u32, Box<Expr>, Box<Expr>),
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    scheme: &'a str,
    words: &'a mut Interner,
}

#[derive(Default)]
struct Interner {
    ids: BTreeMap<String, usize>,
    words: Vec<String>,
}

impl Interner {
    fn intern(&mut self, word: &str) -> usize {
        let w: String = word.chars().map(fold_char).collect();
        if let Some(&id) = self.ids.get(&w) {
            return id;
        }
        let id = self.words.len();
        self.ids.insert(w.clone(), id);
        self.words.push(w);
        id
    }
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !"()|&+!-,\"".contains(c)
}

impl Parser<'_> {
    fn err(&self, message: &str) -> SchemeError {
        SchemeError::Syntax {
            scheme: self.scheme.to_string(),
            message: message.to_string(),
            at: self.pos,
        }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let k: Vec<char> = kw.chars().collect();
        let end = self.pos + k.len();
        if end <= self.chars.len()
            && self.chars[self.pos..end] == k[..]
            && self
                .chars
                .get(end)
                .is_none_or(|c| !c.is_ascii_alphanumeric())
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn at_keyword(&mut self, kw: &str) -> bool {
        let pos = self.pos;
        let found = self.keyword(kw);
        self.pos = pos;
        found
    }

    fn parse_or(&mut self) -> Result<Expr, SchemeError> {
        let mut items = vec![self.parse_and()?];
        loop {
            if self.peek() == Some('|') {
                self.pos += 1;
            } else if !self.keyword("OR") {
                break;
            }
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, SchemeError> {
        let mut items = vec![self.parse_unary()?];
        loop {
            match self.peek() {
                Some('&') | Some('+') => self.pos += 1,
                _ if self.keyword("AND") => {}
                // Juxtaposition is AND, as in search engines: `暴雨 内涝 -预报`.
                Some(c) if c != ')' && c != ',' && c != '|' && !self.at_keyword("OR") => {}
                _ => break,
            }
            items.push(self.parse_unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, SchemeError> {
        match self.peek() {
            Some('!') | Some('-') => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.parse_unary()?)))
            }
            _ if self.keyword("NOT") => Ok(Expr::Not(Box::new(self.parse_unary()?))),
            _ => self.parse_atom(),
        }
    }

    fn parse_atom(&mut self) -> Result<Expr, SchemeError> {
        match self.peek() {
            None => Err(self.err("expected a word")),
            Some('(') => {
                self.pos += 1;
                let e = self.parse_or()?;
                if self.peek() != Some(')') {
                    return Err(self.err("expected ')'"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some('"') => {
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.chars.len() && self.chars[self.pos] != '"' {
                    self.pos += 1;
                }
                if self.pos >= self.chars.len() {
                    return Err(self.err("unterminated quote"));
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                if word.is_empty() {
                    return Err(self.err("empty quoted word"));
                }
                Ok(Expr::Word(self.words.intern(&word)))
            }
            Some(_) => {
                if self.keyword("near") || self.keyword("NEAR") {
                    return self.parse_near();
                }
                let start = self.pos;
                while self.pos < self.chars.len() && is_word_char(self.chars[self.pos]) {
                    self.pos += 1;
                }
                if start == self.pos {
                    return Err(self.err("expected a word"));
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                Ok(Expr::Word(self.words.intern(&word)))
            }
        }
    }

    fn parse_near(&mut self) -> Result<Expr, SchemeError> {
        if self.chars.get(self.pos) != Some(&'/') {
            return Err(self.err("expected near/N"));
        }
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.chars.len() && self.chars[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        let n: u32 = self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| self.err("expected a distance after near/"))?;
        if self.peek() != Some('(') {
            return Err(self.err("expected '(' after near/N"));
        }
        self.pos += 1;
        let a = self.parse_or()?;
        if self.peek() != Some(',') {
            return Err(self.err("expected ',' in near/N(a, b)"));
        }
        self.pos += 1;
        let b = self.parse_or()?;
        if self.peek() != Some(')') {
            return Err(self.err("expected ')' after near/N(a, b"));
        }
        self.pos += 1;
        Ok(Expr::Near(n, Box::new(a), Box::new(b)))
    }
}

struct CompiledScheme {
    name: String,
    priority: Priority,
    region: Vec<usize>,
    subject: Vec<usize>,
    event: Vec<usize>,
    expr: Option<Expr>,
    exclude: Vec<usize>,
    weight: f32,
}

/// All schemes compiled together.
pub struct SchemeSet {
    ac: Option<AhoCorasick>,
    words: Vec<String>,
    schemes: Vec<CompiledScheme>,
}

/// One scheme that matched, with the words that made it match.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemeMatch {
    pub scheme: String,
    pub priority: Priority,
    pub evidence: Vec<String>,
    pub score: f32,
}

/// Character spans of every word occurrence in one text: one array sorted by word (a text has
/// a handful of occurrences, where a vector per scheme word means hundreds of them per text).
struct Hits {
    /// (word, start, end), sorted by word.
    occurrences: Vec<(usize, u32, u32)>,
}

impl Hits {
    fn has(&self, w: usize) -> bool {
        self.occurrences
            .binary_search_by_key(&w, |&(word, _, _)| word)
            .is_ok()
    }

    /// The spans of word `w`.
    fn spans(&self, w: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
        let from = self.occurrences.partition_point(|&(word, _, _)| word < w);
        self.occurrences[from..]
            .iter()
            .take_while(move |&&(word, _, _)| word == w)
            .map(|&(_, s, e)| (s, e))
    }
}

impl SchemeSet {
    pub fn compile(configs: &[SchemeConfig]) -> Result<Self, SchemeError> {
        let mut words = Interner::default();
        let mut schemes = Vec::with_capacity(configs.len());
        for c in configs {
            let mut list = |ws: &[String]| -> Vec<usize> {
                ws.iter()
                    .filter(|w| !w.trim().is_empty())
                    .map(|w| words.intern(w.trim()))
                    .collect()
            };
            let region = list(&c.region);
            let subject = list(&c.subject);
            let event = list(&c.event);
            let exclude = list(&c.exclude);
            let expr = if c.expr.trim().is_empty() {
                None
            } else {
                let mut p = Parser {
                    chars: c.expr.chars().collect(),
                    pos: 0,
                    scheme: &c.name,
                    words: &mut words,
                };
                let e = p.parse_or()?;
                if p.peek().is_some() {
                    return Err(p.err("unexpected text"));
                }
                Some(e)
            };
            if region.is_empty() && subject.is_empty() && event.is_empty() && expr.is_none() {
                return Err(SchemeError::Empty(c.name.clone()));
            }
            schemes.push(CompiledScheme {
                name: c.name.clone(),
                priority: c.priority,
                region,
                subject,
                event,
                expr,
                exclude,
                weight: c.weight,
            });
        }
        let ac = if words.words.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    // Scheme vocabularies are small (hundreds of words): a full DFA is a few
                    // hundred KB and scans fastest.
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&words.words)
                    .map_err(|e| SchemeError::Automaton(e.to_string()))?,
            )
        };
        Ok(Self {
            ac,
            words: words.words,
            schemes,
        })
    }

    fn hits(&self, text: &str) -> Hits {
        let mut occurrences = Vec::new();
        if let Some(ac) = &self.ac {
            // Character offsets (for near/N), counted incrementally along the matches.
            let mut byte = 0usize;
            let mut chars = 0u32;
            for m in ac.find_overlapping_iter(text) {
                if m.start() >= byte {
                    chars += text[byte..m.start()].chars().count() as u32;
                    byte = m.start();
                } else {
                    chars -= text[m.start()..byte].chars().count() as u32;
                    byte = m.start();
                }
                let len = text[m.start()..m.end()].chars().count() as u32;
                occurrences.push((m.pattern().as_usize(), chars, chars + len));
            }
        }
        // Stable: each word's spans stay in the order found.
        occurrences.sort_by_key(|&(word, _, _)| word);
        Hits { occurrences }
    }

    /// Every scheme that matches `text` (normalized), with evidence.
    pub fn matches(&self, text: &str) -> Vec<SchemeMatch> {
        let hits = self.hits(text);
        let mut out = Vec::new();
        for s in &self.schemes {
            if s.exclude.iter().any(|&w| hits.has(w)) {
                continue;
            }
            let mut evidence: Vec<usize> = Vec::new();
            let mut group_ok = |group: &[usize]| -> bool {
                if group.is_empty() {
                    return true;
                }
                let found: Vec<usize> = group.iter().copied().filter(|&w| hits.has(w)).collect();
                evidence.extend(&found);
                !found.is_empty()
            };
            if !(group_ok(&s.region) && group_ok(&s.subject) && group_ok(&s.event)) {
                continue;
            }
            if let Some(e) = &s.expr {
                if !eval(e, &hits, &mut evidence) {
                    continue;
                }
            }
            evidence.sort_unstable();
            evidence.dedup();
            let score = s.weight * (evidence.len() as f32).min(5.0) / 5.0;
            out.push(SchemeMatch {
                scheme: s.name.clone(),
                priority: s.priority,
                evidence: evidence.iter().map(|&w| self.words[w].clone()).collect(),
                score: score.max(0.2 * s.weight),
            });
        }
        out
    }
}

/// Evaluate; positive evidence (words that made a branch true) is appended.
fn eval(e: &Expr, hits: &Hits, evidence: &mut Vec<usize>) -> bool {
    match e {
        Expr::Word(w) => {
            if hits.has(*w) {
                evidence.push(*w);
                true
            } else {
                false
            }
        }
        Expr::And(items) => {
            let mark = evidence.len();
            for i in items {
                if !eval(i, hits, evidence) {
                    evidence.truncate(mark);
                    return false;
                }
            }
            true
        }
        Expr::Or(items) => {
            let mut any = false;
            for i in items {
                any |= eval(i, hits, evidence);
            }
            any
        }
        Expr::Not(inner) => {
            let mut scratch = Vec::new();
            !eval(inner, hits, &mut scratch)
        }
        Expr::Near(n, a, b) => {
            let (mut sa, mut wa, mut sb, mut wb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            spans(a, hits, &mut sa, &mut wa);
            if sa.is_empty() {
                return false;
            }
            spans(b, hits, &mut sb, &mut wb);
            let close = sa.iter().any(|&(a0, a1)| {
                sb.iter().any(|&(b0, b1)| {
                    // Overlapping spans have gap 0.
                    let gap = b0.saturating_sub(a1).max(a0.saturating_sub(b1));
                    gap <= *n
                })
            });
            if close {
                evidence.extend(wa);
                evidence.extend(wb);
            }
            close
        }
    }
}

/// Spans where a positive sub-expression occurs (words and ORs of words; an AND counts where
/// its parts occur when it holds), appended to `out` with the words to `words`. NOT contributes
/// no positions. Appends only, so a text without hits allocates nothing.
fn spans(e: &Expr, hits: &Hits, out: &mut Vec<(u32, u32)>, words: &mut Vec<usize>) {
    match e {
        Expr::Word(w) => {
            if hits.has(*w) {
                out.extend(hits.spans(*w));
                words.push(*w);
            }
        }
        Expr::Or(items) => {
            for i in items {
                spans(i, hits, out, words);
            }
        }
        Expr::And(items) => {
            let (mark_s, mark_w) = (out.len(), words.len());
            for i in items {
                let before = out.len();
                spans(i, hits, out, words);
                if out.len() == before {
                    out.truncate(mark_s);
                    words.truncate(mark_w);
                    return;
                }
            }
        }
        Expr::Near(..) => {
            let mut ev = Vec::new();
            if eval(e, hits, &mut ev) {
                for &w in &ev {
                    out.extend(hits.spans(w));
                }
                words.extend(ev);
            }
        }
        Expr::Not(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(expr: &str) -> SchemeConfig {
        SchemeConfig {
            name: "t".into(),
            priority: Priority::Emergency,
            region: vec![],
            subject: vec![],
            event: vec![],
            expr: expr.into(),
            exclude: vec![],
            weight: 1.0,
        }
    }

    /// `expect` is the evidence joined by `,`, or `-` for no match.
    fn check(config: SchemeConfig, text: &str, expect: &str) {
        let set = match SchemeSet::compile(&[config]) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let m = set.matches(&crate::normalize::normalize(text).text);
        let got = m
            .first()
            .map(|m| m.evidence.join(","))
            .unwrap_or_else(|| "-".into());
        assert_eq!(got, expect, "text: {text}");
    }

    #[test]
    fn boolean_operators() {
        check(scheme("火灾 | 爆炸"), "仓库发生爆炸", "爆炸");
        check(scheme("火灾 + 死亡"), "火灾致2人死亡", "火灾,死亡");
        check(scheme("火灾 死亡"), "火灾致2人死亡", "火灾,死亡");
        check(scheme("火灾 & 死亡"), "火灾无人员伤亡", "-");
        check(scheme("火灾 AND NOT 演练"), "消防火灾演练", "-");
        check(scheme("(暴雨 OR 洪水) -预报"), "暴雨致内涝", "暴雨");
        check(scheme("\"ktv\" | 酒吧"), "ＫＴＶ起火", "ktv");
    }

    #[test]
    fn near_counts_characters_between() {
        check(scheme("near/3(学校, 中毒)"), "学校食堂中毒", "学校,中毒");
        check(
            scheme("near/3(学校, 中毒)"),
            "学校今天开学典礼后有人中毒",
            "-",
        );
        check(scheme("near/0(火, 灾)"), "火灾", "火,灾");
    }

    #[test]
    fn groups_and_exclusions() {
        let c = SchemeConfig {
            region: vec!["南明区".into(), "花溪区".into()],
            subject: vec!["学校".into()],
            event: vec!["中毒".into(), "腹泻".into()],
            exclude: vec!["演练".into()],
            ..scheme("")
        };
        check(c.clone(), "花溪区一学校学生腹泻", "花溪区,学校,腹泻");
        check(c.clone(), "花溪区学校开展食物中毒应急演练", "-");
        check(c, "南明区一学校开学", "-");
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = SchemeSet::compile(&[scheme("(火灾 | 爆炸")]).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("scheme t: expected ')' at character 8".to_string())
        );
        assert!(SchemeSet::compile(&[scheme("near/x(a, b)")]).is_err());
        assert!(SchemeSet::compile(&[scheme("")]).is_err());
    }
}
