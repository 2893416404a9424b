//! Social and generic JSON sources: Weibo-style mobile timelines / search results
//! (`data.cards[].mblog`, also nested in `card_group`) and any JSON mapped by config.

use chrono::{DateTime, FixedOffset, Utc};
use common::wire::Engagement;
use serde_json::Value;

use crate::config::JsonMapping;
use crate::error::Error;
use crate::extract::html_to_text;
use crate::item::Item;
use crate::timeparse;

pub fn parse_weibo(bytes: &[u8], now: DateTime<Utc>, tz: FixedOffset) -> Result<Vec<Item>, Error> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| Error::parse("weibo json", e))?;
    let cards = doc
        .pointer("/data/cards")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::parse("weibo json", "no data.cards array"))?;
    let mut out = Vec::new();
    let nested = cards.iter().flat_map(|c| {
        let group = c.get("card_group").and_then(Value::as_array);
        std::iter::once(c).chain(group.into_iter().flatten())
    });
    for card in nested {
        let Some(m) = card.get("mblog") else {
            continue;
        };
        let id = scalar(m.get("id")).or_else(|| scalar(m.get("mid")));
        let Some(id) = id else {
            continue;
        };
        let mut text = m
            .get("text")
            .and_then(Value::as_str)
            .map(html_to_text)
            .unwrap_or_default();
        if let Some(rt) = m
            .get("retweeted_status")
            .and_then(|r| r.get("text"))
            .and_then(Value::as_str)
        {
            let rt_user = m
                .pointer("/retweeted_status/user/screen_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            text = format!("{text}\n//@{rt_user}: {}", html_to_text(rt));
        }
        let bid = scalar(m.get("bid")).unwrap_or_else(|| id.clone());
        out.push(Item {
            guid: Some(id),
            url: Some(format!("https://m.weibo.cn/status/{bid}")),
            title: first_sentence(&text),
            text,
            published_at: m
                .get("created_at")
                .and_then(Value::as_str)
                .and_then(|s| timeparse::parse_time(s, now, tz)),
            author: m
                .pointer("/user/screen_name")
                .and_then(Value::as_str)
                .map(str::to_string),
            engagement: Engagement {
                reposts: count(m.get("reposts_count")),
                comments: count(m.get("comments_count")),
                likes: count(m.get("attitudes_count")),
                views: None,
            },
            site_name: Some("微博".into()),
        });
    }
    Ok(out)
}

pub fn parse_mapped(
    bytes: &[u8],
    map: &JsonMapping,
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> Result<Vec<Item>, Error> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| Error::parse("json source", e))?;
    let items = lookup(&doc, &map.items)
        .and_then(Value::as_array)
        .ok_or_else(|| Error::parse("json source", format!("no array at {:?}", map.items)))?;
    let field =
        |v: &Value, path: &Option<String>| path.as_deref().and_then(|p| lookup(v, p)).cloned();
    let mut out = Vec::new();
    for v in items {
        let text = lookup(v, &map.text)
            .and_then(Value::as_str)
            .map(html_to_text)
            .unwrap_or_default();
        let title = field(v, &map.title)
            .as_ref()
            .and_then(Value::as_str)
            .map(crate::extract::normalize_space)
            .unwrap_or_else(|| first_sentence(&text));
        if text.is_empty() && title.is_empty() {
            continue;
        }
        out.push(Item {
            guid: scalar(field(v, &map.id).as_ref()),
            url: field(v, &map.url)
                .as_ref()
                .and_then(Value::as_str)
                .map(str::to_string),
            title,
            text,
            published_at: field(v, &map.published_at).and_then(|t| match t {
                Value::String(s) => timeparse::parse_time(&s, now, tz),
                Value::Number(n) => timeparse::parse_time(&n.to_string(), now, tz),
                _ => None,
            }),
            author: field(v, &map.author).as_ref().and_then(|a| scalar(Some(a))),
            engagement: Engagement {
                reposts: count(field(v, &map.reposts).as_ref()),
                comments: count(field(v, &map.comments).as_ref()),
                likes: count(field(v, &map.likes).as_ref()),
                views: count(field(v, &map.views).as_ref()),
            },
            site_name: None,
        });
    }
    Ok(out)
}

/// `a.b.0.c` in a JSON document; the empty path is the document.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(v, |cur, seg| match cur {
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => cur.get(seg),
        })
}

fn scalar(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Counts arrive as numbers or as display strings such as `"1.2万"` / `"100万+"`.
fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => {
            let s = s.trim().trim_end_matches('+');
            let (num, mul) = if let Some(n) = s.strip_suffix('万') {
                (n, 10_000.0)
            } else if let Some(n) = s.strip_suffix('亿') {
                (n, 100_000_000.0)
            } else {
                (s, 1.0)
            };
            num.trim().parse::<f64>().ok().map(|f| (f * mul) as u64)
        }
        _ => None,
    }
}

/// Posts have no title: their first sentence (at most 40 chars) stands in.
fn first_sentence(text: &str) -> String {
    let first = text
        .split(['。', '！', '？', '\n', '!', '?'])
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("");
    first.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-26T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn weibo_cards_and_card_groups() {
        let json = r#"{"ok":1,"data":{"cards":[
          {"card_type":9,"mblog":{"id":"4900000000000001","bid":"Abc1","text":"云岩区某小区停水三天了，<a href='/n/x'>@贵阳水务</a> 什么时候恢复？","created_at":"Thu Nov 26 15:30:00 +0800 2026",
            "reposts_count":120,"comments_count":"1.2万","attitudes_count":"100万+","user":{"screen_name":"贵阳市民甲"}}},
          {"card_type":11,"card_group":[{"card_type":9,"mblog":{"id":4900000000000002,"text":"转发","created_at":"3小时前",
            "retweeted_status":{"text":"原微博内容","user":{"screen_name":"原作者"}},"user":{"screen_name":"乙"}}}]},
          {"card_type":4}
        ]}}"#;
        let items = parse_weibo(json.as_bytes(), now(), crate::config::china_offset()).unwrap();
        assert_eq!(items.len(), 2);
        let a = &items[0];
        assert_eq!(a.text, "云岩区某小区停水三天了，@贵阳水务 什么时候恢复？");
        assert_eq!(a.url.as_deref(), Some("https://m.weibo.cn/status/Abc1"));
        assert_eq!(a.site_name.as_deref(), Some("微博"));
        assert_eq!(a.author.as_deref(), Some("贵阳市民甲"));
        assert_eq!(a.engagement.reposts, Some(120));
        assert_eq!(a.engagement.comments, Some(12_000));
        assert_eq!(a.engagement.likes, Some(1_000_000));
        assert_eq!(
            a.published_at.unwrap().to_rfc3339(),
            "2026-11-26T07:30:00+00:00"
        );
        let b = &items[1];
        assert_eq!(b.guid.as_deref(), Some("4900000000000002"));
        assert!(b.text.contains("//@原作者: 原微博内容"));
        assert_eq!(
            b.published_at.unwrap().to_rfc3339(),
            "2026-11-26T05:00:00+00:00"
        );
    }

    #[test]
    fn mapped_json() {
        let map = JsonMapping {
            items: "result.list".into(),
            id: Some("nid".into()),
            title: Some("t".into()),
            text: "content".into(),
            url: Some("link".into()),
            published_at: Some("ts".into()),
            author: Some("user.name".into()),
            reposts: None,
            comments: Some("stats.cmt".into()),
            likes: None,
            views: Some("stats.pv".into()),
        };
        let json = r#"{"result":{"list":[{"nid":7,"t":"标题","content":"<p>正文</p>","link":"https://example.cn/7","ts":1764144000,"user":{"name":"网友"},"stats":{"cmt":5,"pv":"3万"}}]}}"#;
        let items =
            parse_mapped(json.as_bytes(), &map, now(), crate::config::china_offset()).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].guid.as_deref(), Some("7"));
        assert_eq!(items[0].text, "正文");
        assert_eq!(items[0].engagement.views, Some(30_000));
        assert_eq!(items[0].published_at.unwrap().timestamp(), 1764144000);
        assert!(parse_mapped(b"{}", &map, now(), crate::config::china_offset()).is_err());
    }
}
