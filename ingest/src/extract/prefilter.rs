//! Cheap passes over the raw HTML before (or instead of) parsing it: inert parts stripped,
//! nesting depth estimated, hostile nesting flattened, byte searches without allocation.

/// Drop `<script>`, `<style>` and comments before parsing. They never hold article text, and
/// on modern pages they are most of the bytes, which the HTML tokenizer would otherwise walk
/// character by character.
pub(super) fn strip_inert(html: &str) -> std::borrow::Cow<'_, str> {
    let b = html.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0usize;
    let mut i = 0usize;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off;
        let rest = &b[at..];
        let end = if rest.starts_with(b"<!--") {
            find_bytes(&b[at + 4..], b"-->").map(|e| at + 4 + e + 3)
        } else if starts_with_ci(rest, b"<script") || starts_with_ci(rest, b"<style") {
            let close: &[u8] = if starts_with_ci(rest, b"<script") {
                b"</script"
            } else {
                b"</style"
            };
            find_ci(&b[at + 1..], close).map(|e| {
                let close_at = at + 1 + e;
                b[close_at..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map_or(b.len(), |g| close_at + g + 1)
            })
        } else {
            i = at + 1;
            continue;
        };
        // An unterminated script or comment swallows the rest of the page, as a browser would.
        let end = end.unwrap_or(b.len());
        let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
        o.push_str(&html[copied..at]);
        copied = end;
        i = end;
        if i >= b.len() {
            break;
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(html),
        Some(mut o) => {
            o.push_str(&html[copied.min(html.len())..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// ASCII-case-insensitive in every byte (`find_ci` matches its first byte exactly). Anchored
/// on the first byte, so a page without it is one fast scan.
pub(super) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut i = 0;
    while let Some(off) = hay[i..].iter().position(|&c| c == lower || c == upper) {
        let at = i + off;
        if starts_with_ci(&hay[at..], needle) {
            return true;
        }
        i = at + 1;
    }
    false
}

pub(super) fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut i = 0;
    while let Some(off) = hay[i..].iter().position(|&c| c == first) {
        let at = i + off;
        if starts_with_ci(&hay[at..], needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Nesting beyond this is hostile or broken; real pages stay far below 200.
pub(super) const MAX_NESTING: usize = 1000;

/// Elements that never nest or that the parser closes implicitly when a sibling opens.
fn is_non_nesting(name: &[u8]) -> bool {
    matches!(
        name,
        b"br"
            | b"img"
            | b"meta"
            | b"link"
            | b"input"
            | b"hr"
            | b"area"
            | b"base"
            | b"col"
            | b"embed"
            | b"param"
            | b"source"
            | b"track"
            | b"wbr"
            | b"p"
            | b"li"
            | b"td"
            | b"th"
            | b"tr"
            | b"option"
            | b"dd"
            | b"dt"
            | b"!doctype"
            | b"!--"
    )
}

/// An upper estimate of the element nesting depth, from the tags alone (no parse).
pub(super) fn nesting_depth(html: &str) -> usize {
    let b = html.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        i += off + 1;
        let closing = b.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let end = b[start..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'!' || *c == b'-'))
            .map_or(b.len(), |e| start + e);
        if end == start {
            continue;
        }
        let name = b[start..end].to_ascii_lowercase();
        if is_non_nesting(&name) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            let self_closing = b[end..]
                .iter()
                .position(|&c| c == b'>')
                .is_some_and(|gt| gt > 0 && b[end + gt - 1] == b'/');
            if !self_closing {
                depth += 1;
                max = max.max(depth);
            }
        }
    }
    max
}

/// `html` as it is, or flattened to its text blocks when nested deeper than [`MAX_NESTING`]
/// (the parser would take quadratic time over it).
pub(super) fn tame_nesting(html: &str) -> std::borrow::Cow<'_, str> {
    if nesting_depth(html) > MAX_NESTING {
        std::borrow::Cow::Owned(flatten(html))
    } else {
        std::borrow::Cow::Borrowed(html)
    }
}

/// Keep only the text, with block boundaries as paragraphs, in a flat document.
fn flatten(html: &str) -> String {
    let title = html
        .find("<title")
        .and_then(|s| html[s..].find('>').map(|g| s + g + 1))
        .and_then(|s| html[s..].find("</title").map(|e| &html[s..s + e]))
        .unwrap_or("");
    let mut out = format!("<html><head><title>{title}</title></head><body><div>");
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                if !text.trim().is_empty() {
                    out.push_str("<p>");
                    out.push_str(text.trim());
                    out.push_str("</p>");
                }
                text.clear();
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    if !text.trim().is_empty() {
        out.push_str("<p>");
        out.push_str(text.trim());
        out.push_str("</p>");
    }
    out.push_str("</div></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inert_parts_are_stripped() {
        assert_eq!(
            strip_inert("a<script type=x>if (a<b) {}</script>b<!-- c -->d<STYLE>p{}</Style>e"),
            "abde"
        );
        assert_eq!(strip_inert("plain <b>text</b>"), "plain <b>text</b>");
        assert_eq!(strip_inert("x<script>never closed"), "x");
        assert_eq!(strip_inert("x<!-- never closed"), "x");
    }

    #[test]
    fn nesting_depth_estimate() {
        assert_eq!(
            nesting_depth("<html><body><div><p>a<p>b<br><img src=x/></div></body></html>"),
            3
        );
        assert_eq!(nesting_depth("<div/><div></div>"), 1);
        assert_eq!(nesting_depth(&"<div>".repeat(5000)), 5000);
        assert_eq!(nesting_depth("a < b and c<>d"), 0);
    }
}
