//! Extraction on the project's own fixture pages (data-driven), hostile input, and a regression
//! guard on the shared dev set when it is present.

use chrono::{DateTime, Utc};
use ingest::config::china_offset;
use ingest::extract::{Article, extract_bytes};

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/extraction/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-26T08:00:00Z".parse().unwrap()
}

fn extract(bytes: &[u8]) -> Article {
    extract_bytes(bytes, None, None, None, now(), china_offset())
}

struct Expect<'a> {
    file: &'a str,
    title: &'a str,
    encoding: &'a str,
    published: Option<&'a str>,
    /// The body starts and ends with these.
    first: &'a str,
    last: &'a str,
    /// None of these may appear in the body.
    absent: &'a [&'a str],
}

fn check(e: Expect<'_>) {
    let a = extract(&fixture(e.file));
    assert_eq!(a.title, e.title, "{}", e.file);
    assert_eq!(a.encoding.as_deref(), Some(e.encoding), "{}", e.file);
    assert_eq!(
        a.published_at.map(|t| t.to_rfc3339()),
        e.published.map(str::to_string),
        "{}",
        e.file
    );
    assert!(a.body.starts_with(e.first), "{}: {}", e.file, a.body);
    assert!(a.body.ends_with(e.last), "{}: {}", e.file, a.body);
    for bad in e.absent {
        assert!(!a.body.contains(bad), "{}: {bad:?} in {}", e.file, a.body);
    }
    assert!(!a.body.contains('<') && !a.body.contains('\u{FFFD}'));
}

#[test]
fn gbk_table_layout_page() {
    check(Expect {
        file: "gbk_table_article.html",
        title: "花溪区部署春季森林防火工作",
        encoding: "GBK",
        published: Some("2016-03-08T06:20:00+00:00"),
        first: "3月8日上午，花溪区召开春季森林防火工作会议",
        last: "签订了森林防火目标责任书。",
        absent: &[
            "栏目",
            "版权所有",
            "打印本页",
            "区长主持召开常务会议",
            "浏览次数",
        ],
    });
}

#[test]
fn modern_page_with_prose_sidebar_and_comments() {
    check(Expect {
        file: "modern_article.html",
        title: "贵阳今年老旧小区改造全部开工 惠及两万余户",
        encoding: "UTF-8",
        published: Some("2026-11-20T01:15:30+00:00"),
        first: "11月20日，贵阳市住房和城乡建设局发布消息",
        last: "可拨打12345热线反映。",
        absent: &["网友0", "用户1", "首页", "微博", "版权声明"],
    });
    let a = extract(&fixture("modern_article.html"));
    assert_eq!(a.site_name.as_deref(), Some("示范新闻网"));
}

#[test]
fn unclosed_anchor_does_not_turn_the_body_into_link_text() {
    check(Expect {
        file: "unclosed_anchor.html",
        title: "乌当区开展冬季消防安全宣传",
        encoding: "UTF-8",
        published: Some("2015-12-01T16:00:00+00:00"),
        first: "近日，乌当区消防大队走进社区",
        last: "确保辖区火灾形势平稳。",
        absent: &["首页"],
    });
}

#[test]
fn article_split_by_a_promo_bar_is_whole() {
    check(Expect {
        file: "split_by_promo.html",
        title: "南明区城市更新取得新进展",
        encoding: "UTF-8",
        published: Some("2026-11-25T02:00:00+00:00"),
        first: "第0段：南明区今年以来持续推进城市更新工作",
        last: "后半第2段：下一步，南明区将加快推进剩余项目建设，确保年底前全部完工交付使用，并建立长效管护机制。",
        absent: &["点击下载客户端", "首页", "版权所有"],
    });
}

#[test]
fn hostile_input_yields_an_empty_or_partial_article_without_panicking() {
    let deep = format!(
        "{}<p>深层文本。</p>{}",
        "<div>".repeat(50_000),
        "</div>".repeat(50_000)
    );
    let mut garbage = Vec::with_capacity(2 << 20);
    let mut x: u32 = 12345;
    for _ in 0..(2 << 20) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8);
    }
    let unbalanced = "<html><body>".to_string() + &"<table><tr><td><p><b><i>文字".repeat(5_000);
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\x00\x01\x02\x03".to_vec(),
        b"<<<<>>>><!-- unterminated".to_vec(),
        deep.into_bytes(),
        garbage,
        unbalanced.into_bytes(),
        "<script>".repeat(10_000).into_bytes(),
    ];
    for input in inputs {
        let a = extract(&input);
        assert!(!a.body.contains("<script"), "{}", a.body.len());
    }
}

/// The shared dev sets, read at run time (never copied into the repository). A guard against
/// regressions of the method, below the measured figures (see the crate docs).
#[test]
fn dev_set_extraction_quality() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/dev");
    for (file, min_f1, min_time) in [
        ("extraction.jsonl", 0.93, 0.88),
        ("extraction_gne_reference.jsonl", 0.93, 0.85),
    ] {
        let path = std::path::Path::new(dir).join(file);
        if !path.exists() {
            println!("note: {} is absent, dev-set check skipped", path.display());
            continue;
        }
        let mut out = Vec::new();
        ingest::tools::eval_extraction(&path, &mut out).unwrap();
        let report = String::from_utf8(out).unwrap();
        let figure = |label: &str| -> f64 {
            let line = report
                .lines()
                .find(|l| (l.starts_with("body") || l.starts_with("publish")) && l.contains(label))
                .unwrap();
            let after = &line[line.find(label).unwrap() + label.len()..];
            after.split_whitespace().next().unwrap().parse().unwrap()
        };
        let f1 = figure(" F1 ");
        let time = figure("publish time accuracy ");
        println!("{file}: body F1 {f1:.4}, time accuracy {time:.4}");
        assert!(f1 >= min_f1, "{file}: body F1 {f1}\n{report}");
        assert!(time >= min_time, "{file}: time accuracy {time}\n{report}");
    }
}
