#!/usr/bin/env python3
"""Generate data/lexicon/domain_topics.tsv: P(domain | word) from jionlp's 100-topic LDA model
(PyPI jionlp 1.5.31, Apache-2.0: dictionary/topic_word_weight.zip holds P(topic | word) for
~96k words). The project labelled each topic by reading its top words (TOPIC_DOMAINS below):
a topic gives each of its domains a share of its mass (below 1 where the topic is only partly
that domain's news; two domains where it mixes them, e.g. aerospace between 科技 and 军事).
Topics without a clear domain (brand copy, trade fairs, tenders, court filings …) are left out.
A word's weight for a domain is the sum over topics of P(topic | word) × share; every domain
that reaches MIN_WEIGHT is kept, so a word may count for two domains.

The analyzer looks every lexicon up in one token dictionary, longest match first: a topic word
that contains a word of the event lexicons (大客车 ⊃ 客车; also one character, since jieba may
split 猛戳 so that 猛 is a token of it) would hide it from the emergency and rumour classifiers,
so such words are left out (SHADOWED_LEXICONS).

Usage: python3 scripts/gen_topic_lexicon.py --jionlp-dir /tmp/j/jionlp
"""
import argparse
import json
import os
import re
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "lexicon", "domain_topics.tsv")
MIN_WEIGHT = 0.3
SHADOWED_LEXICONS = ["emergency", "incident", "incident_kind", "rumor"]

# topic -> {domain: share}. Print a topic's top words with word_topic_weight.zip to review one.
TOPIC_DOMAINS = {
    0: {"科技": 0.4},  # logistics, e-commerce
    2: {"金融": 1}, 3: {"食品药品": 1}, 4: {"金融": 1}, 5: {"医疗卫生": 1},
    7: {"住房": 0.8},  # interior design, decoration
    9: {"国际": 0.7}, 10: {"金融": 1}, 11: {"旅游": 1}, 13: {"科技": 1}, 14: {"文化": 1},
    16: {"体育": 1}, 17: {"金融": 1}, 19: {"政务": 1}, 20: {"金融": 1},
    21: {"体育": 0.4, "文化": 0.3},  # public events, contests
    22: {"汽车": 1}, 23: {"金融": 1},
    24: {"故事": 0.6, "教育": 0.2},  # life essays
    25: {"人力社保": 1}, 26: {"体育": 1},
    27: {"科技": 0.4},  # web platforms, content
    28: {"军事": 1}, 29: {"公安": 1},
    30: {"住房": 0.5},  # building materials
    31: {"住房": 1}, 32: {"金融": 1}, 33: {"医疗卫生": 1}, 35: {"金融": 1}, 37: {"住房": 1},
    39: {"国际": 1}, 40: {"游戏": 1}, 41: {"金融": 1}, 42: {"住房": 1},
    43: {"交通运输": 0.5},  # airports, ports
    44: {"金融": 1}, 47: {"农业": 1},
    48: {"金融": 0.7},  # bankruptcy, debt
    49: {"科技": 1}, 50: {"交通运输": 1}, 52: {"公安": 1},
    53: {"故事": 0.5},  # narrative prose
    54: {"科技": 0.6, "军事": 0.4},  # aerospace
    55: {"故事": 0.4, "文化": 0.3},  # families, dynasties
    56: {"金融": 1}, 57: {"生态环境": 1}, 60: {"国际": 1}, 61: {"金融": 1}, 63: {"金融": 1},
    64: {"体育": 1}, 65: {"体育": 1}, 66: {"教育": 1},
    67: {"金融": 0.3, "科技": 0.3},  # retail, online shops
    68: {"金融": 1},
    69: {"文化": 0.5},  # media, broadcasting
    70: {"安全生产": 1},
    71: {"金融": 0.5},  # company news
    72: {"教育": 1}, 73: {"故事": 1}, 74: {"游戏": 1},
    77: {"金融": 0.5},  # industry reports
    79: {"科技": 1}, 81: {"住房": 1}, 82: {"金融": 1}, 83: {"金融": 1}, 84: {"汽车": 1},
    85: {"金融": 1},
    86: {"科技": 0.3, "汽车": 0.3},  # batteries, power
    87: {"金融": 1}, 88: {"教育": 1}, 89: {"金融": 1}, 90: {"游戏": 1}, 91: {"娱乐": 1},
    92: {"文化": 0.8},  # the classics, old customs
    93: {"科技": 1}, 95: {"体育": 1}, 96: {"金融": 1}, 97: {"金融": 1},
    98: {"国际": 0.6, "金融": 0.4},  # foreign trade
    99: {"金融": 1},
}


def event_words():
    """The words of the lexicons a topic word must not hide."""
    words = set()
    for name in SHADOWED_LEXICONS:
        path = os.path.join(HERE, "..", "data", "lexicon", f"{name}.tsv")
        for line in open(path, encoding="utf-8"):
            word = line.split("\t")[0].strip().lower()
            if word and not line.startswith("#"):
                words.add(word)
    return words


def hides(word, words):
    """Whether `word` contains one of `words` as a proper part."""
    n = len(word)
    return any(
        word[i:j] in words for i in range(n) for j in range(i + 1, n + 1) if j - i < n
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jionlp-dir", required=True)
    args = ap.parse_args()
    path = os.path.join(args.jionlp_dir, "dictionary", "topic_word_weight.zip")
    with zipfile.ZipFile(path) as z:
        word_topics = json.loads(z.read("topic_word_weight.json").decode("utf-8"))
    shadowed = event_words()
    rows = []
    for word, dist in word_topics.items():
        if len(word) < 2 or not re.search(r"[\u4e00-\u9fff]", word) or re.search(r"\d", word):
            continue
        if hides(word.lower(), shadowed):
            continue
        by_domain = {}
        for topic, p in dist.items():
            for d, share in TOPIC_DOMAINS.get(int(topic), {}).items():
                by_domain[d] = by_domain.get(d, 0.0) + p * share
        for d, w in by_domain.items():
            if w >= MIN_WEIGHT:
                rows.append((word.lower(), d, round(w, 2)))
    rows.sort()
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("# generated by scripts/gen_topic_lexicon.py from jionlp 1.5.31 topic_word_weight (Apache-2.0)\n")
        for word, d, w in rows:
            f.write(f"{word}\t{d}\t{w:g}\n")
    print(len(rows), "rows")


if __name__ == "__main__":
    main()
