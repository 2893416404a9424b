//! RSS 2.0, Atom, RDF and JSON Feed documents → items (feed-rs underneath). Bytes are decoded
//! by [`crate::decode`] first, since feed-rs only knows UTF-8 and Chinese feeds are often GBK.

use chrono::{DateTime, FixedOffset, Utc};
use sha2::{Digest, Sha256};

use crate::decode;
use crate::error::Error;
use crate::extract::html_to_text;
use crate::item::Item;
use crate::timeparse;

pub fn parse_feed(
    bytes: &[u8],
    charset: Option<&str>,
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> Result<Vec<Item>, Error> {
    let decoded = decode::decode(bytes, charset);
    let xml = strip_xml_encoding(&decoded.text);
    let parser = feed_rs::parser::Builder::new()
        .timestamp_parser(move |s: &str| timeparse::parse_time(s, now, tz))
        // feed-rs invents random ids for items without guid; ids must be stable across rounds.
        .id_generator(|links, title, _| {
            let seed = links
                .first()
                .map(|l| l.href.clone())
                .or_else(|| title.as_ref().map(|t| t.content.clone()))
                .unwrap_or_default();
            hex::encode(&Sha256::digest(seed.as_bytes())[..12])
        })
        .build();
    let feed = parser
        .parse(xml.as_bytes())
        .map_err(|e| Error::parse("feed", e))?;
    let site_name = feed
        .title
        .as_ref()
        .map(|t| crate::extract::normalize_space(&html_to_text(&t.content)))
        .filter(|t| !t.is_empty());
    Ok(feed
        .entries
        .into_iter()
        .map(|e| {
            let url = e
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or_else(|| e.links.first())
                .map(|l| l.href.trim().to_string());
            let content = e.content.as_ref().and_then(|c| c.body.clone());
            let summary = e.summary.as_ref().map(|s| s.content.clone());
            // The fuller of content and summary: RSSHub puts the whole post in `description`.
            let text = [content, summary]
                .into_iter()
                .flatten()
                .map(|h| html_to_text(&h))
                .max_by_key(|t| t.chars().count())
                .unwrap_or_default();
            Item {
                guid: (!e.id.is_empty()).then(|| e.id.clone()),
                url,
                title: e
                    .title
                    .map(|t| crate::extract::normalize_space(&html_to_text(&t.content)))
                    .unwrap_or_default(),
                text,
                published_at: e.published.or(e.updated),
                author: e
                    .authors
                    .first()
                    .map(|p| p.name.trim().to_string())
                    .filter(|n| !n.is_empty()),
                engagement: Default::default(),
                site_name: site_name.clone(),
            }
        })
        .collect())
}

/// The text is UTF-8 now; a leftover `encoding="gb2312"` in the prolog would mislead the parser.
fn strip_xml_encoding(xml: &str) -> String {
    let trimmed = xml.trim_start_matches('\u{feff}').trim_start();
    if let Some(rest) = trimmed.strip_prefix("<?xml") {
        if let Some(end) = rest.find("?>") {
            return format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>{}",
                &rest[end + 2..]
            );
        }
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-26T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn rss_gbk_with_chinese_dates() {
        let xml = r#"<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>贵阳网</title>
<item><title>南明区启动老旧小区改造</title><link>http://www.example.cn/a/1.html</link>
<description><![CDATA[<p>南明区今年将改造老旧小区<b>36</b>个。</p>]]></description>
<pubDate>2026-11-26 09:30:00</pubDate><guid>a1</guid></item>
<item><title>无日期条目</title><link>http://www.example.cn/a/2.html</link></item>
</channel></rss>"#;
        let bytes = encoding_rs::GBK.encode(xml).0.into_owned();
        let items = parse_feed(&bytes, None, now(), crate::config::china_offset()).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].title, "南明区启动老旧小区改造");
        assert_eq!(items[0].site_name.as_deref(), Some("贵阳网"));
        assert_eq!(items[0].text, "南明区今年将改造老旧小区36个。");
        assert_eq!(
            items[0].published_at.unwrap().to_rfc3339(),
            "2026-11-26T01:30:00+00:00"
        );
        assert_eq!(items[0].guid.as_deref(), Some("a1"));
        // Stable generated id for an item without guid.
        let again = parse_feed(&bytes, None, now(), crate::config::china_offset()).unwrap();
        assert_eq!(items[1].guid, again[1].guid);
    }

    #[test]
    fn atom() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>x</id><updated>2026-11-26T00:00:00Z</updated>
<entry><id>tag:e1</id><title>观山湖区通报</title><link rel="alternate" href="https://example.cn/e1"/>
<updated>2026-11-26T01:00:00+08:00</updated><content type="html">&lt;p&gt;全文内容。&lt;/p&gt;</content><author><name>记者甲</name></author></entry></feed>"#;
        let items = parse_feed(xml.as_bytes(), None, now(), crate::config::china_offset()).unwrap();
        assert_eq!(items[0].url.as_deref(), Some("https://example.cn/e1"));
        assert_eq!(items[0].text, "全文内容。");
        assert_eq!(items[0].author.as_deref(), Some("记者甲"));
    }

    #[test]
    fn rdf_and_rsshub_style_descriptions() {
        let xml = r#"<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://example.cn/"><title>t</title><link>https://example.cn/</link><description>d</description></channel>
<item rdf:about="https://example.cn/p/1"><title>清镇市发布大风蓝色预警</title><link>https://example.cn/p/1</link>
<description>&lt;p&gt;预计未来24小时&lt;br&gt;清镇市将出现6级以上大风。&lt;img src="x.png"&gt;&lt;/p&gt;</description><dc:date>2026-11-26T07:00:00+08:00</dc:date></item></rdf:RDF>"#;
        let items = parse_feed(xml.as_bytes(), None, now(), crate::config::china_offset()).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].text, "预计未来24小时\n清镇市将出现6级以上大风。");
        assert_eq!(
            items[0].published_at.unwrap().to_rfc3339(),
            "2026-11-25T23:00:00+00:00"
        );
    }

    #[test]
    fn entity_expansion_is_not_performed() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>x</title><item><title>&lol3;</title><link>http://example.cn/1</link></item></channel></rss>"#;
        // Either an error or an item whose title is not expanded: never a blow-up.
        if let Ok(items) = parse_feed(xml.as_bytes(), None, now(), crate::config::china_offset()) {
            assert!(items.iter().all(|i| i.title.len() < 100));
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(
            parse_feed(
                b"\x00\x01 not xml <<<",
                None,
                now(),
                crate::config::china_offset()
            )
            .is_err()
        );
    }
}
