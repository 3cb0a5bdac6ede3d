"""Text rules shared by the terminology service: display comparison, search keys, version order.

Displays are compared after Unicode NFKC normalisation (full-width ``（）`` equal ASCII ``()``),
case folding and removal of white space (FHIR R4 terminology-service: "whitespace differences are
ignored in the display"). ``$expand`` text filters match the same normal form as a substring.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_VERSION_PART = re.compile(r"(\d+)")


def fold(text: str) -> str:
    """The comparison form of a display or filter: NFKC, case-folded, white space removed."""
    if text.isascii():
        return "".join(text.lower().split())
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def search_key(parts: Iterable[str]) -> str:
    """One string holding every searchable text of a concept (code and displays), separated by newlines."""
    return "\n".join(fold(p) for p in parts if p)


def filter_terms(text: str) -> tuple[str, ...]:
    """A ``$expand`` filter as terms that must all occur (white space separates terms)."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    return tuple(t for t in normal.split() if t)


def version_key(version: str | None) -> tuple[tuple[int, int | str], ...]:
    """Natural order of version labels: ``"2" < "10"``, ``"2023" < "2024-01"``; no version sorts first."""
    if not version:
        return ()
    out: list[tuple[int, int | str]] = []
    for part in _VERSION_PART.split(version):
        if not part:
            continue
        out.append((1, int(part)) if part.isdigit() else (0, part))
    return tuple(out)


def bilingual(zh: str, en: str, lang: str | None) -> str:
    """A message in the caller's language: Chinese, English, or both when none was asked for."""
    if lang == "en":
        return en
    if lang == "zh":
        return zh
    return f"{zh}（{en}）"
