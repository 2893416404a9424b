//! Bytes → text with the right encoding: BOM, then the HTTP `charset`, then `<meta>` / XML
//! declaration, then detection (chardetng). A declared encoding that produces replacement
//! characters is second-guessed by detection, because Chinese sites often declare `gb2312` while
//! serving GB18030 characters, or declare UTF-8 while serving GBK: mojibake must not reach the bus.

use encoding_rs::{Encoding, UTF_8};

/// Decoded text and the encoding it was decoded from (WHATWG name, e.g. `GBK`).
#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    pub encoding: &'static str,
}

/// How much of the document head is searched for a `<meta charset>` or an XML declaration.
const PRESCAN_BYTES: usize = 4096;

/// Decode a page or feed. `header_charset` is the `charset` parameter of `Content-Type`, if any.
pub fn decode(bytes: &[u8], header_charset: Option<&str>) -> Decoded {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        return Decoded {
            text: text.into_owned(),
            encoding: enc.name(),
        };
    }
    let declared = header_charset
        .and_then(|c| Encoding::for_label(c.trim().trim_matches('"').as_bytes()))
        .or_else(|| sniff_declared(&bytes[..bytes.len().min(PRESCAN_BYTES)]));
    // Valid UTF-8 with non-ASCII text is UTF-8 whatever a header says: GBK or Big5 text is
    // practically never valid UTF-8, while UTF-8 read as GBK decodes "cleanly" into mojibake.
    if declared.is_some_and(|d| d != UTF_8) && !bytes.is_ascii() {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Decoded {
                text: text.to_string(),
                encoding: UTF_8.name(),
            };
        }
    }
    if let Some(enc) = declared {
        // No widening needed for GB2312: encoding_rs maps that label to GBK, whose decoder
        // accepts all of GB18030.
        let (text, _, had_errors) = enc.decode(bytes);
        if !had_errors {
            return Decoded {
                text: text.into_owned(),
                encoding: enc.name(),
            };
        }
        // The declaration is wrong somewhere; keep it only if detection does no better.
        let declared_bad = count_replacements(&text);
        let guessed = detect(bytes);
        if guessed != enc {
            let (alt, _, _) = guessed.decode(bytes);
            if count_replacements(&alt) < declared_bad {
                return Decoded {
                    text: alt.into_owned(),
                    encoding: guessed.name(),
                };
            }
        }
        return Decoded {
            text: text.into_owned(),
            encoding: enc.name(),
        };
    }
    let enc = detect(bytes);
    let (text, _, _) = enc.decode(bytes);
    Decoded {
        text: text.into_owned(),
        encoding: enc.name(),
    }
}

fn detect(bytes: &[u8]) -> &'static Encoding {
    // Valid UTF-8 with non-ASCII content is nearly never anything else.
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(
        &bytes[..bytes.len().min(256 * 1024)],
        bytes.len() <= 256 * 1024,
    );
    // `.cn` pages without a declaration are overwhelmingly GBK; the TLD hint biases ties.
    det.guess(Some(b"cn"), true)
}

fn count_replacements(text: &str) -> usize {
    text.chars().filter(|&c| c == '\u{FFFD}').count()
}

/// Find `charset=...` in `<meta>` or `encoding="..."` in an XML declaration (or a crawler
/// wrapper) in the first bytes.
fn sniff_declared(head: &[u8]) -> Option<&'static Encoding> {
    let lower: Vec<u8> = head.iter().map(|b| b.to_ascii_lowercase()).collect();
    for needle in [&b"charset="[..], &b"encoding="[..]] {
        let mut from = 0;
        while let Some(pos) = find(&lower[from..], needle) {
            let start = from + pos + needle.len();
            let rest = &lower[start..];
            let rest = rest
                .strip_prefix(b"\"")
                .or_else(|| rest.strip_prefix(b"'"))
                .unwrap_or(rest);
            let end = rest
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
                .unwrap_or(rest.len());
            if let Some(enc) = Encoding::for_label(&rest[..end]) {
                // UTF-16 declared in an ASCII-compatible byte stream is a lie (HTML spec).
                if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
                    return Some(UTF_8);
                }
                return Some(enc);
            }
            from = start;
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `charset` parameter of a `Content-Type` header value.
pub fn charset_of(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk(s: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(s).0.into_owned()
    }

    #[test]
    fn meta_charset_gbk() {
        let mut page = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head><body>".to_vec();
        page.extend(gbk("贵阳市政府召开常务会议"));
        let d = decode(&page, None);
        assert_eq!(d.encoding, "GBK");
        assert!(d.text.contains("贵阳市政府召开常务会议"));
    }

    #[test]
    fn header_wins_over_detection_and_bom_wins_over_header() {
        let body = gbk("<p>南明区发布暴雨预警，请市民注意出行安全。</p>");
        let d = decode(&body, Some("GB18030"));
        assert!(d.text.contains("暴雨预警"), "{}", d.text);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend("<p>观山湖区</p>".as_bytes());
        assert_eq!(decode(&bom, Some("gbk")).encoding, "UTF-8");
    }

    #[test]
    fn undeclared_gbk_is_detected() {
        let body = gbk(
            "<html><body><p>贵阳市教育局关于二〇二六年秋季学期中小学招生工作的通知，各区县教育行政部门要认真落实。</p></body></html>",
        );
        let d = decode(&body, None);
        assert!(d.text.contains("招生工作"), "{} {}", d.encoding, d.text);
    }

    #[test]
    fn wrong_utf8_declaration_is_corrected() {
        let mut page = b"<meta charset=\"utf-8\"><p>".to_vec();
        page.extend(gbk(
            "花溪区食品安全专项检查结果公布，共抽检样品一百二十批次。",
        ));
        let d = decode(&page, None);
        assert!(d.text.contains("食品安全"), "{} {}", d.encoding, d.text);
        assert!(!d.text.contains('\u{FFFD}'));
    }

    #[test]
    fn utf8_served_as_gbk_is_read_as_utf8() {
        let page = "<meta charset=gbk><p>贵阳市人民政府办公厅关于做好政务舆情回应工作的通知</p>";
        let d = decode(page.as_bytes(), Some("gbk"));
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.text.contains("政务舆情"));
    }

    #[test]
    fn gb2312_label_reads_gb18030_four_byte_characters() {
        // 𠮷 exists only in GB18030 (four bytes); sites declaring gb2312 still serve it.
        let (bytes, _, _) = encoding_rs::GB18030.encode("<meta charset=gb2312><p>吉祥的𠮷字</p>");
        let d = decode(&bytes, None);
        assert!(d.text.contains("吉祥的𠮷字"), "{}", d.text);
    }

    #[test]
    fn big5_declared() {
        let (bytes, _, _) = encoding_rs::BIG5.encode("<meta charset=big5><p>臺灣新聞報導</p>");
        let d = decode(&bytes, None);
        assert_eq!(d.encoding, "Big5");
        assert!(d.text.contains("臺灣新聞報導"));
    }

    #[test]
    fn charset_param() {
        assert_eq!(charset_of("text/html; charset=\"GBK\""), Some("GBK"));
        assert_eq!(charset_of("text/html"), None);
    }
}
