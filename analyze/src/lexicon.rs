//! Weighted lexicons: `word <TAB> class <TAB> weight` files. A lexicon is only data here; the
//! classifiers put every lexicon into one [`crate::dict::TokenDict`] and look all of them up in
//! one pass over an item's tokens. Repeated words count with diminishing returns (1, ½, ⅓) so
//! that a long report does not outweigh a short one by repetition alone.

use rustc_hash::FxHashMap;

use crate::normalize::fold_char;

pub struct Lexicon {
    /// (class index, weight) of every pattern, pattern after pattern: one array and a compact
    /// offsets table, where a vector per pattern scatters the entries of a 50k-word lexicon
    /// over the heap (a cache miss more for every word an item contains).
    entries: Vec<(usize, f32)>,
    /// Pattern `p`'s entries are `entries[starts[p]..starts[p + 1]]`.
    starts: Vec<u32>,
    words: Vec<String>,
    classes: Vec<String>,
    index: FxHashMap<String, usize>,
}

/// Per-class scores and the words behind them.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub by_class: Vec<f32>,
    /// (class, pattern, weight) of every distinct word found.
    pub evidence: Vec<(usize, usize, f32)>,
}

impl Scores {
    pub fn get(&self, class: usize) -> f32 {
        self.by_class.get(class).copied().unwrap_or(0.0)
    }

    /// The words behind `class`, strongest first.
    pub fn words_of(&self, lexicon: &Lexicon, class: usize) -> Vec<String> {
        let mut ev: Vec<&(usize, usize, f32)> = self
            .evidence
            .iter()
            .filter(|(c, _, _)| *c == class)
            .collect();
        ev.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
        ev.into_iter()
            .map(|(_, p, _)| lexicon.word(*p).to_string())
            .collect()
    }
}

impl Lexicon {
    /// Parse TSV text. Lines starting with `#` and blank lines are skipped.
    pub fn from_tsv(name: &str, tsv: &str) -> Result<Self, crate::Error> {
        let mut rows: Vec<(String, String, f32)> = Vec::new();
        for (i, line) in tsv.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let weight = cols.get(2).and_then(|w| w.trim().parse::<f32>().ok());
            match (cols.first(), cols.get(1), weight) {
                (Some(w), Some(c), Some(weight)) if !w.trim().is_empty() => {
                    rows.push((w.trim().to_string(), c.trim().to_string(), weight))
                }
                _ => {
                    return Err(crate::Error::Data(format!(
                        "lexicon {name} line {}: {line:?}",
                        i + 1
                    )));
                }
            }
        }
        Ok(Self::from_rows(rows))
    }

    pub fn from_rows(rows: Vec<(String, String, f32)>) -> Self {
        let mut classes: Vec<String> = Vec::new();
        let mut words: Vec<String> = Vec::new();
        let mut index: FxHashMap<String, usize> = FxHashMap::default();
        let mut entries: Vec<Vec<(usize, f32)>> = Vec::new();
        for (word, class, weight) in rows {
            let word: String = word.chars().map(fold_char).collect();
            let ci = match classes.iter().position(|c| *c == class) {
                Some(i) => i,
                None => {
                    classes.push(class);
                    classes.len() - 1
                }
            };
            let wi = *index.entry(word.clone()).or_insert_with(|| {
                words.push(word);
                entries.push(Vec::new());
                words.len() - 1
            });
            match entries[wi].iter_mut().find(|(c, _)| *c == ci) {
                Some(e) => e.1 = weight,
                None => entries[wi].push((ci, weight)),
            }
        }
        let mut starts = Vec::with_capacity(entries.len() + 1);
        starts.push(0);
        for e in &entries {
            starts.push(starts[starts.len() - 1] + e.len() as u32);
        }
        Self {
            entries: entries.concat(),
            starts,
            words,
            classes,
            index,
        }
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn entries(&self, pattern: usize) -> &[(usize, f32)] {
        &self.entries[self.starts[pattern] as usize..self.starts[pattern + 1] as usize]
    }

    pub fn word(&self, pattern: usize) -> &str {
        &self.words[pattern]
    }

    pub fn words(&self) -> impl Iterator<Item = (usize, &str)> {
        self.words.iter().enumerate().map(|(i, w)| (i, w.as_str()))
    }

    /// The pattern of exactly this (folded) word.
    pub fn lookup(&self, word: &str) -> Option<usize> {
        self.index.get(word).copied()
    }

    /// The same sums as [`Lexicon::score`] without the evidence: `add(class, weight)` for every
    /// distinct pattern (repeats diminished as there). Sorts the patterns in place, so callers
    /// can pass a reused buffer and nothing is allocated.
    pub fn accumulate(&self, patterns: &mut [u32], mut add: impl FnMut(usize, f32)) {
        patterns.sort_unstable();
        for run in patterns.chunk_by(|a, b| a == b) {
            let factor: f32 = (1..=run.len().min(3)).map(|i| 1.0 / i as f32).sum();
            for &(c, w) in self.entries(run[0] as usize) {
                add(c, w * factor);
            }
        }
    }

    /// Sum of weights per class over the given pattern occurrences (in text order).
    pub fn score(&self, patterns: impl IntoIterator<Item = usize>) -> Scores {
        let mut patterns = patterns.into_iter().peekable();
        if patterns.peek().is_none() {
            // `Scores::get` reads a missing class as 0: nothing to allocate.
            return Scores::default();
        }
        let mut by_class = vec![0.0f32; self.classes.len()];
        let mut found: Vec<usize> = patterns.collect();
        found.sort_unstable();
        let mut evidence = Vec::with_capacity(found.len());
        let mut k = 0;
        while k < found.len() {
            let p = found[k];
            let n = found[k..].iter().take_while(|&&q| q == p).count();
            k += n;
            // 1 + 1/2 + 1/3 for up to three repeats.
            let factor: f32 = (1..=n.min(3)).map(|i| 1.0 / i as f32).sum();
            for &(c, w) in self.entries(p) {
                by_class[c] += w * factor;
                evidence.push((c, p, w));
            }
        }
        Scores { by_class, evidence }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diminishing_repeats_and_bad_lines() {
        let lex = match Lexicon::from_tsv("t", "中毒\ta\t1\n食物中毒\ta\t3\n火\tb\t2\n") {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        let s = lex.score([1, 2, 2]);
        assert_eq!(s.by_class, vec![3.0, 3.0]);
        assert_eq!(s.words_of(&lex, 0), vec!["食物中毒".to_string()]);
        assert_eq!(lex.lookup("火"), Some(2));
        assert!(Lexicon::from_tsv("t", "bad line").is_err());
        let mut sums = vec![0.0f32; 2];
        lex.accumulate(&mut [2, 1, 2], |c, w| sums[c] += w);
        assert_eq!(sums, s.by_class);
    }
}
