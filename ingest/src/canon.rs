//! Canonical URLs and deterministic document ids. Two links to the same article (tracking
//! parameters, a fragment, the mobile `m.` or `www.` host, a trailing `index.html`) give one
//! canonical URL, hence one `doc_id`, so a re-crawl or a syndicated link is recognised.

use sha2::{Digest, Sha256};
use url::Url;

/// Query parameters that only track the visitor.
fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_")
        || matches!(
            n.as_str(),
            "spm"
                | "from"
                | "fromurl"
                | "share_token"
                | "share_from"
                | "sharefrom"
                | "wfr"
                | "isappinstalled"
                | "scene"
                | "srcid"
                | "tt_from"
                | "utm"
                | "fbclid"
                | "gclid"
                | "yclid"
                | "mc_cid"
                | "mc_eid"
                | "_hsenc"
                | "_hsmi"
                | "ref"
                | "refer"
                | "source"
                | "timestamp"
                | "_t"
                | "vid_source"
                | "bd_source"
                | "sudaref"
                | "display"
                | "retcode"
                | "ivk_sa"
        )
}

/// The canonical form of a URL, or `None` if it is not an http(s) URL.
pub fn canonical_url(raw: &str) -> Option<String> {
    let mut u = Url::parse(raw.trim()).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    u.set_fragment(None);
    // Desktop and mobile pages of one article share everything but the host prefix.
    let host = u.host_str()?.to_ascii_lowercase();
    let bare = host
        .strip_prefix("www.")
        .or_else(|| host.strip_prefix("m."))
        .or_else(|| host.strip_prefix("wap."))
        .or_else(|| host.strip_prefix("3g."))
        .unwrap_or(&host)
        .to_string();
    if bare.contains('.') {
        u.set_host(Some(&bare)).ok()?;
    }
    // http and https copies of a page are the same document.
    if u.scheme() == "http" {
        let _ = u.set_scheme("https");
    }
    if matches!(u.port(), Some(443) | Some(80)) {
        let _ = u.set_port(None);
    }
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !is_tracking_param(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        u.set_query(None);
    } else {
        let mut kept = kept;
        kept.sort();
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    let path = u.path().to_string();
    for index in [
        "/index.html",
        "/index.htm",
        "/index.shtml",
        "/index.php",
        "/default.aspx",
    ] {
        if let Some(p) = path.strip_suffix(index) {
            let p = format!("{p}/");
            u.set_path(&p);
            break;
        }
    }
    let mut s = u.to_string();
    if s.ends_with('/') && u.path() != "/" {
        s.pop();
    }
    Some(s)
}

fn short_hash(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    hex::encode(&digest[..16])
}

/// The id of a document found at `url`.
pub fn doc_id_for_url(canonical: &str) -> String {
    format!("u-{}", short_hash(canonical))
}

/// The id of an item that has no URL, by its source and the source's own id (guid, post id).
pub fn doc_id_for_guid(source_id: &str, guid: &str) -> String {
    format!("g-{}", short_hash(&format!("{source_id}\u{1f}{guid}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_of_one_article_are_one_url() {
        let variants = [
            "http://www.gywb.cn/content/2026-11/26/content_1.htm?utm_source=weixin&spm=a.b#comments",
            "https://gywb.cn/content/2026-11/26/content_1.htm",
            "https://m.gywb.cn/content/2026-11/26/content_1.htm?from=timeline",
            "HTTPS://GYWB.CN:443/content/2026-11/26/content_1.htm",
        ];
        let canon: Vec<_> = variants.iter().map(|v| canonical_url(v).unwrap()).collect();
        for c in &canon {
            assert_eq!(c, "https://gywb.cn/content/2026-11/26/content_1.htm");
        }
    }

    #[test]
    fn meaningful_params_stay_sorted() {
        assert_eq!(
            canonical_url("http://example.cn/show.asp?id=12&page=2&utm_medium=x").unwrap(),
            "https://example.cn/show.asp?id=12&page=2"
        );
        assert_eq!(
            canonical_url("http://example.cn/show.asp?page=2&id=12").unwrap(),
            canonical_url("http://example.cn/show.asp?id=12&page=2").unwrap()
        );
        assert_ne!(
            canonical_url("http://example.cn/show.asp?id=12").unwrap(),
            canonical_url("http://example.cn/show.asp?id=13").unwrap()
        );
    }

    #[test]
    fn index_pages_and_non_http() {
        assert_eq!(
            canonical_url("http://example.cn/news/index.html").unwrap(),
            "https://example.cn/news"
        );
        assert_eq!(canonical_url("ftp://example.cn/x"), None);
        assert_eq!(canonical_url("not a url"), None);
    }

    #[test]
    fn ids_are_deterministic() {
        let a = doc_id_for_url("https://gywb.cn/a");
        assert_eq!(a, doc_id_for_url("https://gywb.cn/a"));
        assert_ne!(a, doc_id_for_url("https://gywb.cn/b"));
        assert_ne!(doc_id_for_guid("s1", "42"), doc_id_for_guid("s2", "42"));
    }
}
