"""Chinese personal names for matching: simplified characters, surname-aware pinyin, romanised input.

Why surname readings: pypinyin reads a character by its most common reading, but surnames have their
own (曾 zēng not céng, 单 shàn not dān, 解 xiè, 仇 qiú, 朴 piáo …). A clerk who romanises 曾伟 writes
"Zeng Wei", so the surname is read from :data:`SURNAME_READINGS` first. Given names are read by
pypinyin (phrase-aware), and every other reading of a polyphonic character is kept as an alternative so
that a romanisation by a different reading still compares equal (the surname's common reading is an
alternative too, but the main key — used for blocking — is the surname reading). Tones are dropped;
ü is written v.
Traditional characters are converted with OpenCC (``t2s``), the maintained converter.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin, pinyin

# Surname readings that differ from the common reading of the character (or are compound surnames).
SURNAME_READINGS: dict[str, str] = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "区": "ou",
    "盖": "ge",
    "缪": "miao",
    "乐": "yue",
    "覃": "qin",
    "召": "shao",
    "员": "yun",
    "翟": "zhai",
    "重": "chong",
    "种": "chong",
    "秘": "bi",
    "繁": "po",
    "句": "gou",
    "能": "nai",
    "柏": "bai",
    "薄": "bo",
    "折": "she",
    "费": "fei",
    "华": "hua",
    "任": "ren",
    "纪": "ji",
    "藏": "zang",
    "燕": "yan",
    "尉": "wei",
    "莘": "shen",
    "隗": "wei",
    "长孙": "zhangsun",
    "尉迟": "yuchi",
    "万俟": "moqi",
    "单于": "chanyu",
    "澹台": "tantai",
    "欧阳": "ouyang",
    "司马": "sima",
    "诸葛": "zhuge",
    "上官": "shangguan",
    "东方": "dongfang",
    "皇甫": "huangfu",
    "公孙": "gongsun",
    "慕容": "murong",
    "宇文": "yuwen",
    "夏侯": "xiahou",
    "令狐": "linghu",
    "端木": "duanmu",
    "司徒": "situ",
    "司空": "sikong",
    "独孤": "dugu",
    "南宫": "nangong",
    "西门": "ximen",
    "轩辕": "xuanyuan",
    "呼延": "huyan",
    "钟离": "zhongli",
}
_COMPOUND = frozenset(k for k in SURNAME_READINGS if len(k) == 2)
# Placeholder names of newborns registered before naming (母亲姓名 + 之子/之女, 婴): not a name.
_PLACEHOLDER_SUFFIXES = ("之子", "之女", "之婴", "婴", "男婴", "女婴", "之儿")
_MAX_ALTERNATIVES = 16


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc  # imported lazily: loading the dictionaries takes ~50 ms

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Simplified-character form (OpenCC t2s); unchanged for text that is already simplified."""
    return str(_converter().convert(text))


def is_han(text: str) -> bool:
    """True if the text contains at least one CJK ideograph."""
    return any("\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0002ffff" for ch in text)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if not ch.isspace() and ch not in "·•.-'’")


def latin_key(text: str) -> str:
    """Romanised name folded for comparison: lower case, ASCII letters only, ü → v."""
    text = unicodedata.normalize("NFKC", text).lower().replace("ü", "v").replace("u:", "v")
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if "a" <= ch <= "z")


def split_surname(chars: str) -> tuple[str, str]:
    """(family, given) of a name written family first without a separator (compound surnames known)."""
    if len(chars) > 2 and chars[:2] in _COMPOUND:
        return chars[:2], chars[2:]
    return chars[:1], chars[1:]


def surname_pinyin(family: str) -> str:
    """Pinyin of a surname read as a surname (曾 → zeng, 单 → shan), tones dropped."""
    if family in SURNAME_READINGS:
        return SURNAME_READINGS[family]
    return "".join(SURNAME_READINGS.get(ch) or _plain(ch) for ch in family)


_READINGS_CACHE = 1 << 16
"""Given names and surnames cached (pypinyin is most of normalising a Patient; a population of
200,000 carries ≈ 9,000 distinct given names)."""


@lru_cache(maxsize=_READINGS_CACHE)
def _plain(text: str) -> str:
    return "".join(latin_key(s) for s in lazy_pinyin(text, style=Style.NORMAL, v_to_u=False))


@lru_cache(maxsize=_READINGS_CACHE)
def _readings(text: str) -> tuple[tuple[str, ...], ...]:
    """Per character, its readings (the contextual one first), tones dropped."""
    context = lazy_pinyin(text, style=Style.NORMAL)
    every = pinyin(text, style=Style.NORMAL, heteronym=True)
    out: list[tuple[str, ...]] = []
    for first, alts in zip(context, every, strict=False):
        seen = [latin_key(first)]
        seen += [r for r in (latin_key(a) for a in alts) if r not in seen]
        out.append(tuple(seen))
    return tuple(out)


@dataclass(frozen=True)
class NameKey:
    """A name reduced to what matching compares."""

    written: str  # as written, blanks removed (exact level)
    chars: str | None  # simplified characters, None for a romanised name
    family_chars: str | None
    family_py: str  # surname pinyin ("zeng")
    pinyin: str  # surname + given pinyin, no separator ("zengwei")
    alternatives: frozenset[str]  # other full readings of polyphonic given names (and the main one)


def name_key(text: str | None, family: str | None = None, given: str | None = None) -> NameKey | None:
    """Reduce a name (FHIR HumanName text, or family + given) to a :class:`NameKey`; None if no usable name.

    Newborn placeholders (王芳之女) carry the mother's name, not the child's, so they count as no name.
    """
    family = _clean(family or "")
    given = _clean(given or "")
    whole = _clean(text or "") or family + given
    if not whole:
        return None
    if not is_han(whole):
        return _latin_name(text or f"{family} {given}", family)
    if any(whole.endswith(s) for s in _PLACEHOLDER_SUFFIXES):
        return None
    simple = to_simplified(whole)
    fam_simple = to_simplified(family) if family and is_han(family) and simple.startswith(to_simplified(family)) else ""
    fam, giv = (fam_simple, simple[len(fam_simple) :]) if fam_simple else split_surname(simple)
    fam_py = surname_pinyin(fam)
    readings = _readings(giv) if giv else ()
    main = fam_py + "".join(r[0] for r in readings)
    alts = {main}
    # the common reading of the surname too: a clerk (or a system using plain pypinyin) may write "Dan Li"
    for surname in {fam_py, _plain(fam)}:
        for combo in itertools.islice(itertools.product(*readings), _MAX_ALTERNATIVES):
            alts.add(surname + "".join(combo))
    return NameKey(whole, simple, fam, fam_py, main, frozenset(alts))


def _latin_name(text: str, family: str) -> NameKey | None:
    parts = [latin_key(p) for p in unicodedata.normalize("NFKC", text).replace(",", " ").split()]
    parts = [p for p in parts if p]
    if not parts:
        return None
    fam = latin_key(family) if family else parts[0]
    joined = "".join(parts)
    alts = {joined}
    if len(parts) == 2:  # "Wei Zhang" (given first) as well as "Zhang Wei"
        alts.add(parts[1] + parts[0])
    return NameKey(latin_key(text), None, None, fam or parts[0], joined, frozenset(alts))
