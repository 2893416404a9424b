//! Dictionary lookup over jieba tokens instead of raw characters.
//!
//! Every lexicon (emergency, domain, topics, sentiment, rumour, places …) goes into one hash
//! map keyed by token, so one pass over an item's tokens finds the words of all of them: one
//! lookup per token, plus a few more where a multi-token word can start. Matching on tokens
//! also respects word boundaries (局 is not found inside 公安局, 白云 not inside 蓝天白云 when
//! jieba keeps 蓝天白云 whole), which substring matching cannot.
//!
//! A dictionary word that jieba splits (e.g. 花果园 → 花果/园) is stored under its first token
//! with its token count, and matched when the same tokens follow in the text. Longest match
//! wins at each position and matches never overlap, except that the single tokens inside a
//! multi-token match are reported too, marked [`Found::within`]: the caller decides what they
//! count for (the classifiers count them for the lexicons the longer word is not in).

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use rustc_hash::FxHashMap;

use crate::normalize::fold_char;
use crate::segment::Segmented;

/// One dictionary word found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<V> {
    /// The word's value.
    pub value: V,
    /// First token index and one past the last.
    pub tokens: (u32, u32),
    /// Byte span in the text.
    pub bytes: (u32, u32),
    /// A one-token word inside the longer word found just before it (its first and last tokens
    /// are within that word's). The longer word wins for the lexicons it is in; the inner word
    /// still counts for the others, so a long word of one lexicon (大客车, a topic word) does not
    /// hide a short word of another (客车, an incident word).
    pub within: bool,
}

/// The lookup key of a string: a 64-bit hash instead of the string itself, so a lookup touches
/// one table slot and never follows a pointer to compare keys (the tables hold ~140k words; two
/// cache misses per token made lookup cost more than segmentation). A false match needs a 64-bit
/// collision between a text token and a dictionary word (p ≈ 1e-14 per token). Every token's
/// key is computed once, in [`Segmented::new`].
pub fn key(s: &str) -> u64 {
    FixedState::default().hash_one(s)
}

/// The values sit in the tables themselves, not in an array the tables index: a word found
/// then costs one cache miss, not two (the tables are far larger than the CPU caches), so a
/// value should be small and `Copy`.
pub struct TokenDict<V> {
    /// hash(token) → its entry.
    first: FxHashMap<u64, Entry<V>>,
    /// hash(multi-token word) → value
    multi: FxHashMap<u64, V>,
}

/// A token's entry: the value of the one-token word, and bit k set when some word of k tokens
/// starts with it (so only the n-gram lengths that exist are probed).
type Entry<V> = (Option<V>, u8);

const MAX_TOKENS: usize = 6;

impl<V: Copy> TokenDict<V> {
    /// Build from (word, item) pairs: `merge` combines the items of a repeated word, `finish`
    /// turns each word's merged items into its value (once per word).
    pub fn build<T>(
        items: impl IntoIterator<Item = (String, T)>,
        mut merge: impl FnMut(&mut T, T),
        finish: impl FnMut(T) -> V,
    ) -> Self {
        let mut index: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut values: Vec<T> = Vec::new();
        let mut words: Vec<Box<str>> = Vec::new();
        for (word, value) in items {
            let word: String = word.trim().chars().map(fold_char).collect();
            if word.is_empty() {
                continue;
            }
            match index.get(word.as_str()) {
                Some(&i) => merge(&mut values[i as usize], value),
                None => {
                    index.insert(word.clone().into_boxed_str(), values.len() as u32);
                    values.push(value);
                    words.push(word.into_boxed_str());
                }
            }
        }
        let mut first: FxHashMap<u64, Entry<V>> = FxHashMap::default();
        let mut multi: FxHashMap<u64, V> = FxHashMap::default();
        let jieba = crate::segment::shared();
        for (word, value) in words.iter().zip(values.into_iter().map(finish)) {
            // The whole word as one token (jieba may keep it whole in context).
            first.entry(key(word)).or_insert((None, 0)).0 = Some(value);
            let parts = jieba.cut(word, true);
            if parts.len() > 1 && parts.len() <= MAX_TOKENS {
                let e = first.entry(key(parts[0].word)).or_insert((None, 0));
                e.1 |= 1 << parts.len();
                multi.insert(key(word), value);
            }
        }
        Self { first, multi }
    }

    /// The entry of a token's key.
    fn entry(&self, key: u64) -> Option<Entry<V>> {
        self.first.get(&key).copied()
    }

    /// Longest-match, non-overlapping lookup over the tokens of `seg`.
    pub fn find(&self, seg: &Segmented) -> Vec<Found<V>> {
        let n = seg.len();
        let mut out = Vec::with_capacity(n);
        let mut i = 0;
        while i < n {
            let Some((single, lengths)) = self.entry(seg.key(i)) else {
                self.find_inside(seg, i, &mut out);
                i += 1;
                continue;
            };
            let mut matched = false;
            let mut k = MAX_TOKENS.min(n - i);
            while k >= 2 {
                if lengths & (1 << k) == 0 {
                    k -= 1;
                    continue;
                }
                if let Some(&v) = self.multi.get(&key(seg.ngram(i, k))) {
                    out.push(Found {
                        value: v,
                        tokens: (i as u32, (i + k) as u32),
                        bytes: (seg.start(i) as u32, seg.end(i + k - 1) as u32),
                        within: false,
                    });
                    for j in i..i + k {
                        if let Some((Some(inner), _)) = self.entry(seg.key(j)) {
                            out.push(Found {
                                value: inner,
                                tokens: (j as u32, (j + 1) as u32),
                                bytes: (seg.start(j) as u32, seg.end(j) as u32),
                                within: true,
                            });
                        }
                    }
                    i += k;
                    matched = true;
                    break;
                }
                k -= 1;
            }
            if matched {
                continue;
            }
            match single {
                Some(v) => out.push(Found {
                    value: v,
                    tokens: (i as u32, (i + 1) as u32),
                    bytes: (seg.start(i) as u32, seg.end(i) as u32),
                    within: false,
                }),
                None => self.find_inside(seg, i, &mut out),
            }
            i += 1;
        }
        out
    }

    /// A compound token the dictionary does not know (避暑胜地, 集体食物中毒): its longest known
    /// prefix and suffix (2 to 4 characters) count as words of it, so compounds do not hide their
    /// parts.
    fn find_inside(&self, seg: &Segmented, i: usize, out: &mut Vec<Found<V>>) {
        let token = seg.token(i);
        // Only Chinese compounds (three or more characters, no ASCII) are worth probing; CJK
        // characters are three bytes each.
        if token.len() < 9 || token.bytes().any(|b| b.is_ascii()) {
            return;
        }
        let chars = token.len() / 3;
        let known = |s: &str| self.entry(key(s)).and_then(|e| e.0);
        let (base, end) = (seg.start(i) as u32, seg.end(i) as u32);
        let mut prefix_end = 0;
        for n in (2..=4.min(chars - 1)).rev() {
            if let Some(v) = token.get(..n * 3).and_then(known) {
                out.push(Found {
                    value: v,
                    tokens: (i as u32, (i + 1) as u32),
                    bytes: (base, base + (n * 3) as u32),
                    within: false,
                });
                prefix_end = n * 3;
                break;
            }
        }
        for n in (2..=4.min(chars - 1)).rev() {
            let start = token.len() - n * 3;
            if start < prefix_end {
                continue;
            }
            if let Some(v) = token.get(start..).and_then(known) {
                out.push(Found {
                    value: v,
                    tokens: (i as u32, (i + 1) as u32),
                    bytes: (base + start as u32, end),
                    within: false,
                });
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(words: &[&str], text: &str, expect: &str) {
        let d = TokenDict::build(words.iter().map(|w| (w.to_string(), *w)), |_, _| {}, |w| w);
        let norm = crate::normalize::normalize(text).text;
        let seg = Segmented::new(&norm);
        // A word inside a longer one is shown in brackets.
        let got: Vec<String> = d
            .find(&seg)
            .iter()
            .map(|f| match f.within {
                true => format!("({})", f.value),
                false => f.value.to_string(),
            })
            .collect();
        assert_eq!(got.join("/"), expect, "text: {text}");
    }

    #[test]
    fn whole_tokens_and_split_words() {
        check(&["公安局", "局"], "南明区公安局通报", "公安局");
        check(&["局"], "南明区公安局通报", "");
        check(&["食物中毒", "中毒"], "学生食物中毒后送医", "食物中毒");
        check(&["花果园小区"], "花果园小区发生火灾", "花果园小区");
        check(&["ktv"], "ＫＴＶ起火", "ktv");
        check(&["避暑", "胜地"], "避暑胜地", "避暑/胜地");
    }

    #[test]
    fn words_inside_a_longer_word_are_marked() {
        check(
            &["花果园小区", "小区", "火灾"],
            "花果园小区发生火灾",
            "花果园小区/(小区)/火灾",
        );
    }
}
