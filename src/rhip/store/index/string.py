"""Rows of ``idx_string``: ``(code, grp, value_normalized, exact)``.

R4 search §string (http://hl7.org/fhir/R4/search.html#string): a string parameter matches string
and markdown values, and the parts of a HumanName (family, given, prefix, suffix, text) and of an
Address (line, city, district, state, postalCode, country, text); other complex values contribute
their string leaves. A Chinese, Japanese or Korean name is written family-then-given without a space,
so a HumanName with CJK characters also yields the whole name (``张`` + ``三丰`` → ``张三丰``) and
``name=张三`` matches it by prefix. ``value`` is cut to 600 characters (the b-tree key limit of
PostgreSQL is about 2,700 bytes); ``exact`` keeps the value as written.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from typing import Any

from rhip.fhir.search.compile import Item
from rhip.fhir.search.values import normalize_string

__all__ = ["build", "is_cjk"]

Rows = dict[str, list[tuple[Any, ...]]]
MAX_VALUE = 600
# Han (incl. extensions and compatibility ideographs), kana and Hangul.
_CJK = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")
_SKIP_LEAVES = frozenset({"extension", "modifierExtension", "id", "system", "url", "reference"})


def is_cjk(s: str) -> bool:
    """Whether ``s`` contains a Han, kana or Hangul character."""
    return _CJK.search(s) is not None


def _parts(value: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for key in keys:
        v = value.get(key)
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out += [x for x in v if isinstance(x, str)]
    return out


def _human_name(value: dict[str, Any]) -> list[str]:
    parts = _parts(value, _NAME_PARTS)
    family = value.get("family")
    given = [g for g in value.get("given") or () if isinstance(g, str)]
    if given and isinstance(family, str) and (is_cjk(family) or any(is_cjk(g) for g in given)):
        parts.append(family + "".join(given))
    return parts


def _leaves(value: Any, out: list[str]) -> list[str]:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _SKIP_LEAVES:
                _leaves(v, out)
    return out


def build(code: str, grp: int, items: list[Item], rows: Rows, base_url: str | None, tz: tzinfo) -> None:
    """Append the string rows of ``items`` to ``rows["string"]``."""
    out = rows["string"]
    for ftype, value in items:
        if isinstance(value, str):
            texts = [value]
        elif ftype == "HumanName":
            texts = _human_name(value)
        elif ftype == "Address":
            texts = _parts(value, _ADDRESS_PARTS)
        else:
            texts = _leaves(value, [])
        for text in texts:
            norm = normalize_string(text)
            if norm:
                out.append((code, grp, norm[:MAX_VALUE], text))
