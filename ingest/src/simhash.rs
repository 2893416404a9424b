//! 64-bit SimHash over character shingles, for near-duplicate detection of Chinese text without
//! segmentation: reposts and syndicated copies differ by a byline or a sentence, so their
//! fingerprints are a few bits apart, while different articles sit ~32 bits apart.

use sha2::{Digest, Sha256};

/// Fingerprint of `text` (whitespace and punctuation ignored).
pub fn simhash(text: &str) -> u64 {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let mut weights = [0i32; 64];
    let mut add = |shingle: &[char]| {
        let h = hash64(shingle);
        for (bit, w) in weights.iter_mut().enumerate() {
            if h >> bit & 1 == 1 {
                *w += 1;
            } else {
                *w -= 1;
            }
        }
    };
    const K: usize = 3;
    if chars.len() < K {
        if !chars.is_empty() {
            add(&chars);
        }
    } else {
        for w in chars.windows(K) {
            add(w);
        }
    }
    weights.iter().enumerate().fold(
        0u64,
        |acc, (bit, &w)| if w > 0 { acc | 1 << bit } else { acc },
    )
}

fn hash64(shingle: &[char]) -> u64 {
    // FNV-1a: fast and stable across builds and platforms (fingerprints are persisted).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in shingle {
        for b in (*c as u32).to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // FNV's low bits are weak for short inputs; one SHA round would be overkill, so mix.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Hash of the exact (whitespace-normalised) content, for exact-duplicate detection.
pub fn content_hash(title: &str, body: &str) -> String {
    let norm: String = title
        .chars()
        .chain(body.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    hex::encode(&Sha256::digest(norm.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "贵阳市人民政府办公厅关于进一步做好政务舆情回应工作的通知。各区（市、县）人民政府，市政府各工作部门：为进一步做好政务舆情回应工作，提升回应关切水平，现就有关事项通知如下。一、明确回应责任，按照属地管理、分级负责、谁主管谁负责的原则做好回应。二、把握回应重点，对涉及重大突发事件的舆情，要在五小时内发布权威信息。";

    #[test]
    fn repost_is_near_and_other_text_is_far() {
        let repost = format!("转发：{A}（来源：贵阳网）");
        let other = "花溪区今日举行农产品展销会，来自全区各乡镇的五十余家合作社参展，现场签约金额达三千万元，带动农户增收。展销会将持续三天，市民可免费入场参观选购。";
        let d_near = distance(simhash(A), simhash(&repost));
        let d_far = distance(simhash(A), simhash(other));
        assert!(d_near <= 10, "near {d_near}");
        assert!(d_far > 16, "far {d_far}");
    }

    #[test]
    fn whitespace_does_not_matter() {
        assert_eq!(simhash("贵阳 市政府"), simhash("贵阳市政府"));
        assert_eq!(
            content_hash("标题", "正文 内容"),
            content_hash("标题", "正文内容")
        );
    }
}
