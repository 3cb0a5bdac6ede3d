"""Rows of ``idx_token``: ``(code, grp, system | None, value | None, text_normalized | None)``.

R4 search §token (http://hl7.org/fhir/R4/search.html#token): code, string, uri, id and
boolean values have no system; a Coding gives ``system|code`` with its display as text; a
CodeableConcept gives one row per coding and, when it has text, a row with the text alone, so
``:text`` ("tests CodeableConcept.text, or Coding.display") matches either: a coding row carries
its own display, else the CodeableConcept text. An Identifier gives ``system|value`` with the
normalised type text (``type.text``, else the first type coding's display); a ContactPoint gives
``ContactPoint.system|value``. Text is ``normalize_string``-ed.

``identifier:of-type=system|code|value`` (R4 §token, "of-type") is served by extra rows with code
``<code>:of-type``, system ``<type.system>|<type.code>`` and value = the identifier's value.

Sensitive values (identity-document numbers, phones: :mod:`rhip.security.fields`) are indexed as their
keyed blind index, never as written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from rhip.fhir.search.compile import Item
from rhip.fhir.search.values import normalize_string
from rhip.security.fields import CONTACT_SYSTEMS, blind, sensitive_system

__all__ = ["build", "identifier_rows"]

Rows = dict[str, list[tuple[Any, ...]]]
Row = tuple[str, int, str | None, str | None, str | None]


def _text(s: Any) -> str | None:
    return normalize_string(s) or None if isinstance(s, str) else None


def _coding(code: str, grp: int, c: dict[str, Any], text: str | None, out: list[Any]) -> None:
    value, system = c.get("code"), c.get("system")
    text = _text(c.get("display")) or text
    if value is not None or text is not None:
        out.append((code, grp, system, value, text))


def _codeable(code: str, grp: int, cc: dict[str, Any], out: list[Any]) -> None:
    text = _text(cc.get("text"))
    for c in cc.get("coding") or ():
        _coding(code, grp, c, text, out)
    if text is not None:
        out.append((code, grp, None, None, text))


def identifier_rows(code: str, grp: int, ident: dict[str, Any], out: list[Any]) -> None:
    """Rows of one Identifier (with the ``:of-type`` rows)."""
    value, itype, system = ident.get("value"), ident.get("type"), ident.get("system")
    if isinstance(value, str) and isinstance(system, str) and sensitive_system(system):
        value = blind(value)
    text = None
    if isinstance(itype, dict):
        codings = itype.get("coding") or ()
        text = _text(itype.get("text")) or (_text(codings[0].get("display")) if codings else None)
        if value is not None:
            for c in codings:
                if c.get("code") is not None:
                    out.append(
                        (
                            code + ":of-type",
                            grp,
                            f"{c.get('system') or ''}|{c['code']}",
                            value,
                            None,
                        )
                    )
    if value is not None or system is not None:
        out.append((code, grp, system, value, text))


def _contact_point(code: str, grp: int, cp: dict[str, Any], out: list[Any]) -> None:
    value, system = cp.get("value"), cp.get("system")
    if value is not None:
        if isinstance(value, str) and system in CONTACT_SYSTEMS:
            value = blind(value)
        out.append((code, grp, system, value, None))


_COMPLEX: dict[str, Callable[[str, int, dict[str, Any], list[Any]], None]] = {
    "Coding": lambda code, grp, c, out: _coding(code, grp, c, None, out),
    "CodeableConcept": _codeable,
    "Identifier": identifier_rows,
    "ContactPoint": _contact_point,
}


def build(code: str, grp: int, items: list[Item], rows: Rows, base_url: str | None, tz: tzinfo) -> None:
    """Append the token rows of ``items`` to ``rows["token"]``."""
    out = rows["token"]
    for ftype, value in items:
        if isinstance(value, str):
            out.append((code, grp, None, value, None))
        elif isinstance(value, bool):
            out.append((code, grp, None, "true" if value else "false", None))
        elif isinstance(value, dict):
            handler = _COMPLEX.get(ftype)
            if handler is not None:
                handler(code, grp, value, out)
