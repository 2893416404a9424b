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

/// The failure classes of issue 14, one fixture page of the project's own per class.
#[test]
fn an_absolute_byline_date_wins_over_relative_times_near_it() {
    check(Expect {
        file: "relative_time_in_byline_area.html",
        title: "开阳县完成农村饮水安全巩固提升工程",
        encoding: "UTF-8",
        published: Some("2021-06-17T16:00:00+00:00"),
        first: "记者从开阳县水务局获悉",
        last: "确保农村群众喝上放心水、安全水。",
        absent: &["3年前", "网友评论", "我们村终于通自来水了"],
    });
}

#[test]
fn a_meta_time_off_by_a_zone_yields_to_the_visible_stamp() {
    check(Expect {
        file: "meta_time_zone_twice.html",
        title: "息烽县开展冬季森林防火专项检查",
        encoding: "UTF-8",
        published: Some("2022-03-08T06:30:00+00:00"),
        first: "近日，息烽县组织应急管理、林业、公安等部门",
        last: "坚决防止森林火灾发生。",
        absent: &["微信", "版权所有"],
    });
}

#[test]
fn a_discuz_thread_is_its_first_post() {
    check(Expect {
        file: "forum_discuz_thread.html",
        title: "小区门口的路灯坏了半个月没人修",
        encoding: "UTF-8",
        published: Some("2024-10-12T13:05:33+00:00"),
        first: "我家住在南湖街道锦绣花园三期",
        last: "带孩子的尽量走对面人行道。",
        absent: &[
            "路灯管理所",
            "同住三期",
            "区长信箱",
            "发表回复",
            "只看该作者",
        ],
    });
}

#[test]
fn an_old_table_bbs_thread_is_its_first_post() {
    check(Expect {
        file: "forum_old_table_thread.html",
        title: "关于老城区停车难的几点建议",
        encoding: "UTF-8",
        published: Some("2006-04-18T12:31:07+00:00"),
        first: "老城区的停车问题已经说了很多年了",
        last: "但总要一步一步去解决。",
        absent: &["第三条非常好", "单行道的建议要慎重", "发表时间", "引用"],
    });
    let a = extract(&fixture("forum_old_table_thread.html"));
    assert_eq!(a.author.as_deref(), Some("清水河畔"));
}

#[test]
fn a_month_precision_date_is_kept() {
    check(Expect {
        file: "month_precision_date.html",
        title: "社区养老服务调查报告",
        encoding: "UTF-8",
        // 2003年5月: the first of the month, Beijing time.
        published: Some("2003-04-30T16:00:00+00:00"),
        first: "随着人口老龄化程度不断加深",
        last: "让有限的财政资金用在最需要的老人身上。",
        absent: &["本站首页", "版权所有"],
    });
}

/// A news page with a dated byline and a comment list under it is not a thread: the article
/// stays whole even though every comment carries a 发表于 header.
#[test]
fn a_news_page_with_dated_comments_keeps_its_article() {
    let page = "<html><head><title>南明区启动背街小巷整治_示范网</title></head><body>\
<h1>南明区启动背街小巷整治</h1><div>来源：示范网 发布时间：2026-11-20 09:00</div>\
<div class=\"txt\"><p>南明区近日启动背街小巷环境整治，计划用三个月时间完成辖区六十条小巷的路面修补、管网疏通和立面清洗。</p>\
<p>区城管局表示，整治期间将分段施工，尽量减少对居民出行的影响，并设立投诉电话接受监督。</p></div>\
<div><p>网友甲 发表于 2026-11-20 10:12</p><p>早就该整治了，支持！</p>\
<p>网友乙 发表于 2026-11-20 11:30</p><p>希望施工期间别影响上学。</p></div></body></html>";
    let a = extract(page.as_bytes());
    assert!(
        a.body.starts_with("南明区近日启动背街小巷环境整治"),
        "{}",
        a.body
    );
    assert!(a.body.contains("接受监督"), "{}", a.body);
    assert_eq!(
        a.published_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-20T01:00:00+00:00")
    );
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
        ingest::tools::eval_extraction(&path, None, &mut out).unwrap();
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
