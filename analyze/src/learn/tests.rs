use chrono::{DateTime, Utc};
use common::wire::{Correction, CorrectionField};
use serde_json::{Value, json};

use super::*;
use crate::{Analysis, Config};

fn analyzer() -> Analyzer {
    match Analyzer::new(&Config::default()) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    }
}

fn at() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap_or_default()
}

fn correction(id: &str, text: &str, field: CorrectionField, value: Value) -> Correction {
    Correction {
        item_id: id.into(),
        field,
        value,
        text: text.into(),
        title: None,
        source: None,
        source_kind: common::wire::SourceKind::Rss,
        by: Some("test".into()),
        origin: None,
        at: at(),
        withdrawn: false,
    }
}

/// Project-written texts of every kind the analyzer meets.
const TEXTS: &[&str] = &[
    "11日中午，贵阳市南明区某小学多名学生在食堂就餐后出现呕吐、腹泻症状，23名学生被送医救治。",
    "今日上午，花溪区青岩镇路段发生一起交通事故，一辆货车与客车相撞，造成三人死亡、十二人受伤。",
    "观山湖区人社局举办春季招聘会，200余家企业提供岗位5000个。",
    "网传“贵阳自来水被污染不能喝”，市水务管理局回应：网传信息不实，请勿传播。",
    "市政府常务会议审议通过了《关于进一步优化营商环境的实施意见》。",
    "紧急扩散!!听说明天全市停水三天,消息可靠,大家赶紧囤水!",
    "今天去花溪公园散步，心情超好[哈哈]",
    "服务态度太差了，非常失望",
    "央行宣布降准0.5个百分点，沪指收涨",
    "女星现身球场为男友的篮球比赛加油",
    "今年高考报名人数再创新高，考生注意志愿填报时间",
    "又堵车了[怒]",
];

fn input(text: &str) -> Input<'_> {
    Input {
        body: text,
        ..Input::default()
    }
}

/// Everything but the model stamp.
fn decisions(a: &Analysis) -> Analysis {
    Analysis {
        judged: Judgements::default(),
        ..a.clone()
    }
}

#[test]
fn without_corrections_the_analysis_is_the_lexicons() {
    let a = analyzer();
    let model = Model::train(&a, &CorrectionSet::default(), &Hyper::default());
    assert!(model.is_empty());
    for t in TEXTS {
        let plain = a.analyze(&input(t));
        assert_eq!(a.analyze_with(&input(t), Some(&model)), plain, "{t}");
        assert_eq!(plain.judged.version(), "lexicon");
    }
}

/// Texts the lexicon reads as negative, which the corrections call positive: praise in a
/// phrase the lexicon does not know (made up for the test), in a sentence that sounds weary.
fn slang() -> Vec<String> {
    let places = [
        "南明区",
        "云岩区",
        "花溪区",
        "乌当区",
        "白云区",
        "观山湖区",
        "清镇市",
        "修文县",
    ];
    let things = [
        "地铁站",
        "菜市场",
        "医院门口",
        "小区门口",
        "公交站",
        "学校旁边",
    ];
    let mut out = Vec::new();
    for (i, p) in places.iter().enumerate() {
        for (j, t) in things.iter().enumerate() {
            out.push(format!(
                "{p}{t}今天又是咕噜咕噜的样子，第{}次了",
                i * 10 + j
            ));
        }
    }
    out
}

fn sentiment_set(texts: &[String]) -> CorrectionSet {
    let mut set = CorrectionSet::default();
    for (i, t) in texts.iter().enumerate() {
        set.apply(correction(
            &format!("c{i}"),
            t,
            CorrectionField::Sentiment,
            json!("positive"),
        ));
    }
    // And some the lexicon already gets right, so the lexicon stays worth something.
    for (i, t) in TEXTS.iter().enumerate() {
        let value = if analyzer().analyze(&input(t)).is_negative(0.5) {
            "negative"
        } else {
            "positive"
        };
        set.apply(correction(
            &format!("k{i}"),
            t,
            CorrectionField::Sentiment,
            json!(value),
        ));
    }
    set
}

#[test]
fn corrections_teach_a_field_and_leave_the_others_alone() {
    let a = analyzer();
    let texts = slang();
    let probe = "小河区公交站今天又是咕噜咕噜的样子，第99次了";
    let before = a.analyze(&input(probe));
    assert!(before.is_negative(0.5), "precondition: {before:?}");

    let model = Model::train(&a, &sentiment_set(&texts), &Hyper::default());
    let after = a.analyze_with(&input(probe), Some(&model));
    assert!(!after.is_negative(0.5), "{:?}", after.judged);
    assert!(after.judged.sentiment.learned && after.judged.sentiment.calibrated);
    assert!(after.judged.version().starts_with("learned-"));
    let stats = model.stats();
    assert_eq!(stats.len(), 1);
    assert!(stats[0].cv_accuracy.unwrap_or(0.0) > stats[0].lexicon_accuracy);

    // Fields without corrections keep the lexicon's answers exactly.
    for t in TEXTS.iter().copied().chain([probe]) {
        let (plain, learned) = (
            a.analyze(&input(t)),
            a.analyze_with(&input(t), Some(&model)),
        );
        let mut expect = decisions(&plain);
        expect.negative_score = learned.negative_score;
        expect.has_sentiment = learned.has_sentiment;
        assert_eq!(decisions(&learned), expect, "{t}");
        assert_eq!(learned.judged.department, plain.judged.department);
    }
}

#[test]
fn one_correction_does_not_overturn_the_lexicon() {
    let a = analyzer();
    let texts = slang();
    let model = Model::train(&a, &sentiment_set(&texts[..1]), &Hyper::default());
    let probe = "小河区公交站今天又是咕噜咕噜的样子，第99次了";
    let learned = a.analyze_with(&input(probe), Some(&model));
    assert!(learned.is_negative(0.5), "{:?}", learned.judged);
    for t in TEXTS {
        let plain = a.analyze(&input(t));
        assert_eq!(
            a.analyze_with(&input(t), Some(&model)).is_negative(0.5),
            plain.is_negative(0.5),
            "{t}"
        );
    }
}

#[test]
fn the_model_depends_on_the_set_not_the_order() {
    let a = analyzer();
    let texts = slang();
    let forward = sentiment_set(&texts);
    let mut backward = CorrectionSet::default();
    let mut all: Vec<Correction> = forward.iter().cloned().collect();
    all.reverse();
    // A correction withdrawn and one judged twice end where they would have.
    let extra = correction("x", "随便说说", CorrectionField::Rumor, json!(true));
    backward.apply(extra.clone());
    for c in all {
        backward.apply(c);
    }
    backward.apply(Correction {
        withdrawn: true,
        value: Value::Null,
        ..extra
    });
    assert_eq!(forward, backward);
    let (m1, m2) = (
        Model::train(&a, &forward, &Hyper::default()),
        Model::train(&a, &backward, &Hyper::default()),
    );
    assert_eq!(m1.version(), m2.version());
    assert_eq!(m1.stats(), m2.stats());
    for t in TEXTS.iter().map(|t| t.to_string()).chain(texts) {
        assert_eq!(
            a.analyze_with(&input(&t), Some(&m1)),
            a.analyze_with(&input(&t), Some(&m2)),
            "{t}"
        );
    }
}

#[test]
fn withdrawing_every_correction_restores_the_lexicon() {
    let a = analyzer();
    let mut set = sentiment_set(&slang());
    let keys: Vec<Correction> = set.iter().cloned().collect();
    for c in keys {
        assert!(set.apply(Correction {
            withdrawn: true,
            ..c
        }));
    }
    assert!(set.is_empty());
    let model = Model::train(&a, &set, &Hyper::default());
    for t in TEXTS {
        assert_eq!(
            a.analyze_with(&input(t), Some(&model)),
            a.analyze(&input(t))
        );
    }
}

#[test]
fn unusable_values_are_named_in_chinese() {
    let bad = [
        correction("a", "文本", CorrectionField::Sentiment, json!("neutral")),
        correction("b", "文本", CorrectionField::Rumor, json!("maybe")),
        correction("c", "文本", CorrectionField::Department, json!(3)),
        correction("d", "", CorrectionField::Emergency, json!(true)),
        correction("e", "文本", CorrectionField::Unknown, json!(true)),
    ];
    for c in &bad {
        let e = check(c).err().unwrap_or_default();
        assert!(
            e.chars().any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
            "{e}"
        );
    }
    assert!(
        check(&correction(
            "f",
            "文本",
            CorrectionField::Rumor,
            json!(false)
        ))
        .is_ok()
    );
    assert!(
        check(&correction(
            "g",
            "文本",
            CorrectionField::Department,
            json!("")
        ))
        .is_ok()
    );
}
