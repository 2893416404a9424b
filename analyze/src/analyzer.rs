//! The whole per-item analysis as one pure function over text: normalize → segment → schemes →
//! classifiers → places → severity → keywords. No IO and no clock; the stage and the tools call
//! it from worker threads (everything here is `Sync` and built once).

use std::collections::BTreeMap;

use rustc_hash::FxHashSet;

use common::wire::{
    CorrectionField, Jurisdiction, PlaceMention, Priority, PriorityMatch, SeverityProposal,
};

use crate::Config;
use crate::classify::{Classifiers, Hit, HitDict, Hits, department_for};
use crate::dict;
use crate::learn::{Judgement, Judgements, LexiconView, Model, text_hashes};
use crate::normalize::{Normalized, normalize_into};
use crate::places::Gazetteer;
use crate::scheme::SchemeSet;
use crate::segment::Segmented;
use crate::severity;

const STOPWORDS_TXT: &str = include_str!("../data/lexicon/stopwords.txt");

/// What the analyzer reads from an item.
#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    pub title: &'a str,
    pub body: &'a str,
    /// Outlet name or source id, for source credibility.
    pub source: &'a str,
    /// Posts on social platforms carry no editorial check.
    pub social: bool,
}

/// Everything the analyzer concluded about one item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    pub priorities: Vec<PriorityMatch>,
    pub emergency_probability: f32,
    pub domain: Option<String>,
    pub department: Option<String>,
    pub jurisdiction: Jurisdiction,
    pub places: Vec<PlaceMention>,
    /// Negative-tone probability.
    pub negative_score: f32,
    pub has_sentiment: bool,
    pub rumor_score: f32,
    pub is_rumor: bool,
    pub severity: SeverityProposal,
    /// What kind of incident the item is about (爆炸, 火灾, 洪涝 …), if any: with the place,
    /// the signature that joins differently worded reports of one incident into one event.
    pub incident_kind: Option<String>,
    /// Weighted keywords, strongest first (for display and event clustering).
    pub keywords: Keywords,
    /// Title keywords, in title order (a strong signal for clustering reposts with new bodies).
    pub title_keywords: Keywords,
    /// Which model decided, and how sure it is per field.
    pub judged: Judgements,
}

/// Words with weights, kept in one string buffer: an item's dozen keywords cost two
/// allocations, not one per word.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keywords {
    joined: String,
    /// (byte start, byte end, weight) in `joined`.
    spans: Vec<(u32, u32, f32)>,
}

impl Keywords {
    fn from_words<'a>(words: impl ExactSizeIterator<Item = (&'a str, f32)> + Clone) -> Self {
        let bytes = words.clone().map(|(w, _)| w.len()).sum();
        let mut k = Keywords {
            joined: String::with_capacity(bytes),
            spans: Vec::with_capacity(words.len()),
        };
        for (w, weight) in words {
            let start = k.joined.len() as u32;
            k.joined.push_str(w);
            k.spans.push((start, k.joined.len() as u32, weight));
        }
        k
    }

    /// (word, weight) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f32)> + '_ {
        self.spans
            .iter()
            .map(|&(s, e, w)| (&self.joined[s as usize..e as usize], w))
    }

    pub fn words(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(w, _)| w)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl Analysis {
    pub fn has(&self, p: Priority) -> bool {
        self.priorities.iter().any(|m| m.priority == p)
    }

    /// Negative tone needs negative evidence: a text with no sentiment words is not negative.
    pub fn is_negative(&self, threshold: f32) -> bool {
        self.has_sentiment && self.negative_score >= threshold
    }
}

pub struct Analyzer {
    config: Config,
    schemes: SchemeSet,
    gazetteer: Gazetteer,
    classifiers: Classifiers,
    /// Every lexicon word and place surface, looked up in one pass over the tokens.
    dict: HitDict,
    /// Lookup keys of the stopwords (tokens carry their keys: see [`Segmented::key`]).
    stopwords: FxHashSet<u64>,
}

impl Analyzer {
    /// Compile schemes, gazetteer and lexicons. Builds the shared jieba instance too, so the
    /// first item does not pay for it.
    pub fn new(config: &Config) -> Result<Self, crate::Error> {
        let schemes = SchemeSet::compile(&config.schemes)?;
        let gazetteer = Gazetteer::from_tsv(crate::places::PLACES_TSV)?;
        let classifiers = Classifiers::load()?;
        let stopwords = STOPWORDS_TXT
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(dict::key)
            .collect();
        let entries = classifiers.dict_entries().into_iter().chain(
            gazetteer
                .surfaces()
                .map(|(i, s)| (s.to_string(), Hit::Place(i as u32))),
        );
        let dict = HitDict::build(entries);
        Ok(Self {
            config: config.clone(),
            schemes,
            gazetteer,
            classifiers,
            dict,
            stopwords,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn source_credibility(&self, input: &Input) -> f32 {
        if input.source.is_empty() {
            return 0.0;
        }
        let credible = self
            .config
            .credible_sources
            .iter()
            .any(|s| !s.is_empty() && input.source.contains(s.as_str()));
        match (credible, input.social) {
            (true, _) => 1.0,
            (false, true) => 0.0,
            (false, false) => 0.3,
        }
    }

    /// The lexicons' analysis (no learned layer).
    pub fn analyze(&self, input: &Input) -> Analysis {
        self.analyze_with(input, None)
    }

    /// The analysis with the learned layer of `model` on top of the lexicons. A field the
    /// model has no corrections for keeps the lexicon's answer; with no model (or one learned
    /// from nothing) the analysis is exactly [`Analyzer::analyze`]'s.
    pub fn analyze_with(&self, input: &Input, model: Option<&Model>) -> Analysis {
        let model = model.filter(|m| !m.is_empty());
        self.run(input, model, false).0
    }

    /// What the learned layer reads from an item: the lexicon's answers and the text's
    /// feature hashes (training calls this for every corrected text).
    pub fn observe(&self, input: &Input) -> (LexiconView, Vec<u64>) {
        let (_, observed) = self.run(input, None, true);
        observed.unwrap_or_default()
    }

    fn run(
        &self,
        input: &Input,
        model: Option<&Model>,
        observe: bool,
    ) -> (Analysis, Option<(LexiconView, Vec<u64>)>) {
        let limit = self.config.max_text_chars.max(1);
        // A body of at most `limit` bytes has at most `limit` characters: no walk needed.
        let cut = (input.body.len() > limit)
            .then(|| input.body.char_indices().nth(limit))
            .flatten();
        let body = match cut {
            Some((cut, _)) => &input.body[..cut],
            None => input.body,
        };
        // Title and body are normalized one after the other into one text, joined with a space,
        // so the title's length in the normalized text is known without a second pass.
        let mut norm = Normalized {
            text: String::with_capacity(input.title.len() + body.len() + 1),
            ..Normalized::default()
        };
        normalize_into(input.title, &mut norm);
        let title_len = norm.text.len();
        if title_len > 0 {
            norm.text.push(' ');
        }
        normalize_into(body, &mut norm);
        if title_len > 0 && norm.text.len() == title_len + 1 {
            // An empty body: no separator.
            norm.text.pop();
        }
        let text = norm.text.as_str();
        let seg = Segmented::new(text);
        let hits = Hits::collect(&self.dict.find(&seg), &self.dict);

        let figures = severity::extract(text);
        let emergency = self.classifiers.emergency(&hits, &figures);
        let lexicon_incident = emergency.probability >= self.config.emergency_threshold;
        let mut domain =
            self.classifiers
                .domain(&hits, self.config.domain_min_score, lexicon_incident);
        let sentiment = self.classifiers.sentiment(&hits, &norm);
        let credibility = self.source_credibility(input);
        let rumor = self.classifiers.rumor(&hits, &norm, credibility);
        let places = self.gazetteer.resolve_found(text, &hits.places);

        // Schemes first (they carry the users' own definitions), then the classifiers add a
        // priority the schemes missed, with the classifier named as the evidence's source.
        let mut best: BTreeMap<Priority, PriorityMatch> = BTreeMap::new();
        for m in self.schemes.matches(text) {
            let entry = PriorityMatch {
                priority: m.priority,
                scheme: m.scheme,
                evidence: m.evidence,
                score: m.score,
            };
            match best.get(&m.priority) {
                Some(old) if old.score >= entry.score => {}
                _ => {
                    best.insert(m.priority, entry);
                }
            }
        }
        let emergency_scheme = best.contains_key(&Priority::Emergency);
        let official = best.contains_key(&Priority::Decision);
        if lexicon_incident {
            best.entry(Priority::Emergency).or_insert(PriorityMatch {
                priority: Priority::Emergency,
                scheme: "classifier:emergency".into(),
                evidence: emergency.evidence.iter().map(|w| w.to_string()).collect(),
                score: emergency.probability,
            });
        } else if emergency.probability < 0.2 {
            // The scheme's near/N window caught incident words in a text the classifier reads
            // as something else (a court report, a match, a product launch).
            if best
                .get(&Priority::Emergency)
                .is_some_and(|m| m.scheme != "classifier:emergency" && m.score < 0.6)
            {
                best.remove(&Priority::Emergency);
            }
        }
        let mut is_rumor =
            rumor.score >= self.config.rumor_threshold && rumor.has_claim && !rumor.refutes;
        if is_rumor || rumor.refutes {
            best.entry(Priority::FalseInfo).or_insert(PriorityMatch {
                priority: Priority::FalseInfo,
                scheme: "classifier:rumor".into(),
                evidence: rumor.evidence.iter().map(|w| w.to_string()).collect(),
                score: rumor.score,
            });
        }
        let mut department = domain
            .domain
            .as_deref()
            .and_then(|d| department_for(d, &self.config.departments));
        let figures_casualties =
            figures.deaths.is_some() || figures.injured.is_some() || figures.missing.is_some();
        let mut emergency_probability = emergency.probability;
        let mut negative = sentiment.negative;
        let mut has_sentiment = sentiment.has_evidence;
        let mut rumor_score = rumor.score;
        let mut judged = Judgements {
            emergency: Judgement::lexicon(Some(
                emergency.probability.max(1.0 - emergency.probability),
            )),
            sentiment: Judgement::lexicon(has_sentiment.then_some(negative.max(1.0 - negative))),
            rumor: Judgement::lexicon(Some(rumor.score.max(1.0 - rumor.score))),
            department: Judgement::lexicon(None),
            false_info: Judgement::lexicon(None),
            ..Judgements::default()
        };

        let wanted = model.is_some() || observe;
        let observed = wanted.then(|| {
            let view = LexiconView {
                department: department.clone(),
                emergency: best.contains_key(&Priority::Emergency),
                emergency_probability: emergency.probability,
                emergency_scheme,
                casualties: figures_casualties,
                negative: has_sentiment && negative >= self.config.negative_threshold,
                negative_score: negative,
                has_sentiment,
                rumor: is_rumor,
                rumor_score: rumor.score,
                has_claim: rumor.has_claim,
                refutes: rumor.refutes,
                false_info: best.contains_key(&Priority::FalseInfo),
                credibility,
                social: input.social,
                official,
            };
            (view, text_hashes(&seg))
        });

        if let (Some(model), Some((view, hashes))) = (model, observed.as_ref()) {
            let rows = model.text_scores(hashes);
            judged.version = Some(model.version().clone());
            judged.corrections = model.corrections() as u64;
            if let Some(v) = model.judge(CorrectionField::Emergency, view, &rows) {
                emergency_probability = v.probability_true;
                judged.emergency = Judgement::learned(&v);
                if v.class == 1 {
                    best.entry(Priority::Emergency).or_insert(PriorityMatch {
                        priority: Priority::Emergency,
                        scheme: "learned:emergency".into(),
                        evidence: emergency.evidence.iter().map(|w| w.to_string()).collect(),
                        score: v.probability_true,
                    });
                } else {
                    best.remove(&Priority::Emergency);
                }
                let incident = v.class == 1;
                if incident != lexicon_incident && !model.has(CorrectionField::Department) {
                    // The incident's kind decides the owner of an incident report.
                    domain = self
                        .classifiers
                        .domain(&hits, self.config.domain_min_score, incident);
                    department = domain
                        .domain
                        .as_deref()
                        .and_then(|d| department_for(d, &self.config.departments));
                }
            }
            if let Some(v) = model.judge(CorrectionField::Department, view, &rows) {
                judged.department = Judgement::learned(&v);
                let learned = (!v.label.is_empty()).then(|| v.label.to_string());
                if learned != department {
                    // The domain follows the department it is the domain of.
                    domain.domain = learned.as_ref().and_then(|d| {
                        self.config
                            .departments
                            .iter()
                            .find(|(_, dept)| *dept == d)
                            .map(|(domain, _)| domain.clone())
                    });
                    department = learned;
                }
            }
            if let Some(v) = model.judge(CorrectionField::Sentiment, view, &rows) {
                judged.sentiment = Judgement::learned(&v);
                negative = v.probability_true;
                has_sentiment = has_sentiment || v.class == 1;
            }
            if let Some(v) = model.judge(CorrectionField::Rumor, view, &rows) {
                judged.rumor = Judgement::learned(&v);
                rumor_score = v.probability_true;
                is_rumor = v.class == 1;
                if is_rumor {
                    best.entry(Priority::FalseInfo).or_insert(PriorityMatch {
                        priority: Priority::FalseInfo,
                        scheme: "learned:rumor".into(),
                        evidence: rumor.evidence.iter().map(|w| w.to_string()).collect(),
                        score: v.probability_true,
                    });
                } else if !rumor.refutes
                    && best
                        .get(&Priority::FalseInfo)
                        .is_some_and(|m| m.scheme == "classifier:rumor")
                {
                    best.remove(&Priority::FalseInfo);
                }
            }
            if let Some(v) = model.judge(CorrectionField::FalseInfo, view, &rows) {
                judged.false_info = Judgement::learned(&v);
                if v.class == 1 {
                    best.entry(Priority::FalseInfo).or_insert(PriorityMatch {
                        priority: Priority::FalseInfo,
                        scheme: "learned:false_info".into(),
                        evidence: rumor.evidence.iter().map(|w| w.to_string()).collect(),
                        score: v.probability,
                    });
                } else {
                    best.remove(&Priority::FalseInfo);
                }
            }
        }

        let priorities: Vec<PriorityMatch> = best.into_values().collect();
        let has_emergency = priorities.iter().any(|p| p.priority == Priority::Emergency);
        let casualties = has_emergency && figures_casualties;

        let severity_proposal = {
            let level = severity::grade(&figures)
                .filter(|_| has_emergency)
                .or(has_emergency.then_some(common::wire::Severity::General));
            SeverityProposal {
                level,
                deaths: figures.deaths,
                injured: figures.injured,
                missing: figures.missing,
                loss_wan_yuan: figures.loss_wan_yuan,
                evidence: figures.evidence.clone(),
                proposed: true,
            }
        };

        // The title is the start of the normalized text: its tokens are the first ones.
        let title_tokens = (0..seg.len())
            .take_while(|&i| seg.end(i) <= title_len)
            .count();
        let (keywords, title_keywords) = self.keywords(&seg, title_tokens);

        let analysis = Analysis {
            priorities,
            emergency_probability,
            domain: domain.domain,
            department,
            jurisdiction: places.jurisdiction,
            places: places.mentions,
            // Casualties are bad news however calmly they are reported.
            negative_score: if casualties {
                negative.max(0.75)
            } else {
                negative
            },
            has_sentiment: has_sentiment || casualties,
            rumor_score,
            is_rumor,
            severity: severity_proposal,
            incident_kind: self.classifiers.incident_kind(&hits).map(str::to_string),
            keywords,
            title_keywords,
            judged,
        };
        (analysis, observed)
    }

    /// The dictionary pass alone (for the benchmark's breakdown).
    pub fn lookup(&self, seg: &Segmented) -> usize {
        self.dict.find(seg).len()
    }

    /// Whether token `i` can be a keyword: two characters or more, with a letter or digit, not
    /// only ASCII digits and punctuation, not a stopword. Cheap tests first.
    fn is_content_word(&self, seg: &Segmented, i: usize) -> bool {
        let w = seg.token(i);
        let mut chars = w.chars();
        chars.next().is_some()
            && chars.next().is_some()
            && w.chars().any(is_alphanumeric)
            && !w
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_punctuation())
            && !self.stopwords.contains(&seg.key(i))
    }

    /// Keywords: term frequency × a length prior (longer words are rarer), words of the title
    /// doubled; top 12. And the title's content words in order. Counted in a vector of slices
    /// of the text sorted by token key (an item has a few hundred tokens at most; comparing keys
    /// is cheaper than comparing strings): only the 12 winners and the title words become owned
    /// strings.
    fn keywords(&self, seg: &Segmented, title_tokens: usize) -> (Keywords, Keywords) {
        let title: Vec<(u64, &str)> = (0..title_tokens)
            .filter(|&i| self.is_content_word(seg, i))
            .map(|i| (seg.key(i), seg.token(i)))
            .collect();
        let mut tf: Vec<(u64, &str, f32)> = Vec::with_capacity(seg.len());
        for i in 0..seg.len() {
            let (k, t) = (seg.key(i), seg.token(i));
            if title.iter().any(|&(tk, tw)| tk == k && tw == t) {
                tf.push((k, t, 2.0));
            } else if i >= title_tokens && self.is_content_word(seg, i) {
                tf.push((k, t, 1.0));
            }
        }
        // Equal words have equal keys, so they end up next to each other.
        tf.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let mut kw: Vec<(&str, f32)> = Vec::with_capacity(tf.len());
        for (_, t, w) in tf {
            match kw.last_mut() {
                Some(last) if last.0 == t => last.1 += w,
                _ => kw.push((t, w)),
            }
        }
        for (t, f) in kw.iter_mut() {
            let len = t.chars().count().min(6) as f32;
            *f = (1.0 + f.ln()) * (0.5 + 0.25 * len);
        }
        // Strongest first; words are distinct, so the order is total. Only the top 12 are kept:
        // selected first, so a long text's hundreds of words are not all sorted.
        let stronger =
            |a: &(&str, f32), b: &(&str, f32)| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0));
        if kw.len() > 12 {
            kw.select_nth_unstable_by(11, stronger);
            kw.truncate(12);
        }
        kw.sort_unstable_by(stronger);
        (
            Keywords::from_words(kw.iter().copied()),
            Keywords::from_words(title.iter().map(|&(_, w)| (w, 1.0))),
        )
    }
}

/// `char::is_alphanumeric` with the common cases first: ASCII, and the CJK unified ideographs
/// (all alphabetic), which would otherwise each cost a walk of the Unicode tables.
fn is_alphanumeric(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        ('\u{4E00}'..='\u{9FFF}').contains(&c) || c.is_alphanumeric()
    }
}

/// A plain-text excerpt of at most `chars` characters.
pub fn summary(body: &str, chars: usize) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= chars {
        return flat;
    }
    let mut s: String = flat.chars().take(chars).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_alphanumeric_agrees_with_the_standard_library() {
        for c in '\0'..='\u{10FFFF}' {
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "{c:?}");
        }
    }

    fn analyzer() -> Analyzer {
        match Analyzer::new(&Config::default()) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        }
    }

    /// A compact rendering: priorities, department, jurisdiction, severity.
    fn check(title: &str, body: &str, expect: &str) {
        let a = analyzer().analyze(&Input {
            title,
            body,
            ..Input::default()
        });
        let prios: Vec<&str> = a.priorities.iter().map(|p| p.priority.as_str()).collect();
        let juris = match &a.jurisdiction {
            Jurisdiction::Local { county, .. } => county.clone(),
            Jurisdiction::City { .. } => "city".into(),
            Jurisdiction::Elsewhere { .. } => "elsewhere".into(),
            Jurisdiction::Unknown => "unknown".into(),
        };
        let got = format!(
            "{} | {} | {} | {}",
            prios.join(","),
            a.department.as_deref().unwrap_or("-"),
            juris,
            a.severity.level.map(|l| l.label_zh()).unwrap_or("-")
        );
        assert_eq!(got, expect, "title: {title}");
    }

    #[test]
    fn typical_local_incidents_are_emergencies_with_a_place() {
        check(
            "南明区一小学发生疑似食物中毒 23名学生送医",
            "11日中午，贵阳市南明区某小学多名学生在食堂就餐后出现呕吐、腹泻症状，23名学生被送医救治，目前均无生命危险。区市场监管局已封存留样食品。",
            "emergency | 市食品药品监管局 | 南明区 | 一般",
        );
        check(
            "花溪区一货车与客车相撞致三人死亡",
            "今日上午，花溪区青岩镇路段发生一起交通事故，一辆货车与客车相撞，造成三人死亡、十二人受伤，伤者已送医救治。",
            "emergency | 市交委 | 花溪区 | 较大",
        );
        check(
            "乌当区暴雨致多处内涝 200余名群众转移",
            "受强降雨影响，乌当区多处道路积水，部分村寨发生山洪，当地已转移群众200余人，暂无人员伤亡。",
            "emergency | 市政府应急办 | 乌当区 | 一般",
        );
    }

    /// `is_rumor` and whether `false_info` is among the priorities.
    fn check_rumor(text: &str, expect: &str) {
        let a = analyzer().analyze(&Input {
            body: text,
            social: true,
            source: "某网友",
            ..Input::default()
        });
        let got = format!(
            "rumor={} false_info={}",
            a.is_rumor,
            a.has(Priority::FalseInfo)
        );
        assert_eq!(got, expect, "text: {text} (score {})", a.rumor_score);
    }

    #[test]
    fn hearsay_and_exclamations_alone_are_not_false_information() {
        // Eyewitness posts: hearsay, fear, good wishes, but no claim to spread.
        check_rumor(
            "#观山湖区火灾# 太吓人了!金阳那边一栋楼着火了,听说有人被困在里面,希望平安!",
            "rumor=false false_info=false",
        );
        check_rumor(
            "听说乌当那边下冰雹了!!!我家阳台玻璃都快砸碎了!大家出门小心!",
            "rumor=false false_info=false",
        );
        // Spreading calls and self-vouching claims make it a possible rumour.
        check_rumor(
            "紧急扩散!!听说明天全市停水三天,消息可靠,大家赶紧囤水!",
            "rumor=true false_info=true",
        );
        check_rumor(
            "内部消息:下周起贵阳所有小区封闭管理,千万不要外出,转给家人!",
            "rumor=true false_info=true",
        );
        // Giveaways ask for reposts too, but they are marketing.
        check_rumor(
            "转发本条微博并关注我们,周五抽一位粉丝送演唱会门票两张!",
            "rumor=false false_info=false",
        );
        // A refutation is false-information work, not a rumour itself.
        check_rumor(
            "【辟谣】网传“下周起小区封闭管理”不实,请勿传播。",
            "rumor=false false_info=true",
        );
    }

    #[test]
    fn ordinary_news_has_no_emergency() {
        check(
            "观山湖区举办春季招聘会",
            "观山湖区人社局举办春季招聘会，200余家企业提供岗位5000个。",
            " | 市人力资源社会保障局 | 观山湖区 | -",
        );
    }
}
