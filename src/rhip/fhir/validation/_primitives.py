"""Checks for FHIR R4 primitive values in JSON: JSON type, the spec's regex, calendar dates and ranges.

The spec's regexes follow XML Schema, where ``\\s`` is only ``[ \\t\\n\\r]``; Python's ``re`` treats every
Unicode space (U+3000 IDEOGRAPHIC SPACE, U+00A0, ...) as ``\\s``, which would reject ordinary Chinese text
in a ``string``. ``xsd_to_python`` therefore translates each regex once, exactly, before compiling it.
A check returns ``None`` when the value is fine, else a ``Problem``; it never raises.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal

from rhip.fhir.validation import _issues as msg
from rhip.fhir.validation._issues import Problem

__all__ = ["Check", "base64_ok", "checker_for", "xsd_to_python"]

Check = Callable[[object], Problem | None]

_WS = " \t\n\r"
_ANY = r"[\s\S]"
_INT_RANGES = {
    "integer": (-(2**31), 2**31 - 1),
    "positiveInt": (1, 2**31 - 1),
    "unsignedInt": (0, 2**31 - 1),
}
_CALENDAR = frozenset({"date", "dateTime", "instant"})
_TEXT = frozenset({"string", "markdown"})
_MAX_STRING = 1024 * 1024  # R4 datatypes.html#string: strings SHALL NOT exceed 1 MB
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_STRING = ("string", "字符串")
_NUMBER = ("number", "数字")
_BOOLEAN = ("boolean", "布尔值")


# ---------------------------------------------------------------- XML Schema regex -> Python


def _class_end(pattern: str, start: int) -> int:
    i = start + 1
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            raise ValueError(f"nested character classes are not supported: {pattern!r}")
        if c == "]":
            return i
        i += 1
    raise ValueError(f"unterminated character class: {pattern!r}")


def _translate_class(body: str) -> str:
    negated = body.startswith("^")
    items: list[str] = []
    any_non_space = False
    i = 1 if negated else 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            e = body[i + 1]
            if e == "s":
                items.append(r" \t\n\r")
            elif e == "S":
                if negated:
                    raise ValueError(r"\S inside a negated class is not supported")
                any_non_space = True
            elif e == "d":
                items.append("0-9")
            else:
                items.append(c + e)
            i += 2
        else:
            items.append(c)
            i += 1
    rest = "".join(items)
    if any_non_space:
        # [...\S] equals "any character" only if the class also names all four XML spaces.
        if all(re.fullmatch(f"[{rest}]", ch) for ch in _WS):
            return _ANY
        raise ValueError(r"\S in a class without all of [ \t\n\r] is not supported")
    return f"[{'^' if negated else ''}{rest}]"


def xsd_to_python(pattern: str) -> str:
    """Translate an XML Schema regex (as used in the FHIR spec) to an equivalent Python ``re`` pattern.

    Groups become non-capturing (faster, and nothing reads them); use with ``fullmatch``.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            e = pattern[i + 1]
            out.append({"s": r"[ \t\n\r]", "S": r"[^ \t\n\r]", "d": "[0-9]"}.get(e, c + e))
            i += 2
        elif c == "[":
            end = _class_end(pattern, i)
            out.append(_translate_class(pattern[i + 1 : end]))
            i = end + 1
        elif c == "(" and not pattern.startswith("(?", i):
            out.append("(?:")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


# ---------------------------------------------------------------- checks


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _calendar(prim: str) -> Callable[[str], Problem | None]:
    """Day-of-month validity; runs only after the regex matched, so the slices are digits."""

    def extra(value: str) -> Problem | None:
        if len(value) < 10:
            return None
        day = int(value[8:10])
        if day <= 28:
            return None
        month = int(value[5:7])
        if day <= _DAYS[month] and (month != 2 or day < 29 or _is_leap(int(value[:4]))):
            return None
        return msg.invalid_value(prim, value, msg.NO_SUCH_DAY)

    return extra


def _text(prim: str) -> Callable[[str], Problem | None]:
    control = msg.control_characters(prim)

    def extra(value: str) -> Problem | None:
        if len(value) > _MAX_STRING:
            return msg.too_long(prim, len(value), _MAX_STRING)
        if _CONTROL.search(value) is not None:
            return control
        return None

    return extra


_B64_RUN = re.compile(r"[0-9a-zA-Z+/=]+")
_XML_SPACES = re.compile(r"[ \t\n\r]+")


def base64_ok(value: str) -> bool:
    """The base64Binary regex ``(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+``, in linear time on megabyte payloads.

    Equivalent: every whitespace-separated run is made of the 64+1 characters and a multiple of 4 long.
    """
    if _B64_RUN.fullmatch(value) is not None:
        return len(value) % 4 == 0
    runs = _XML_SPACES.split(value.strip(_WS))
    return all(len(run) % 4 == 0 and _B64_RUN.fullmatch(run) is not None for run in runs)


def _string_check(prim: str, regex: str | None) -> Check:
    pattern = xsd_to_python(regex) if regex else None
    match: Callable[[str], object] | None = None
    if prim == "base64Binary":
        match = base64_ok
    elif pattern is not None and pattern != _ANY + "+":
        match = re.compile(pattern).fullmatch
    extra = _calendar(prim) if prim in _CALENDAR else _text(prim) if prim in _TEXT else None
    empty = msg.EMPTY_STRING

    def check(value: object) -> Problem | None:
        if not isinstance(value, str):
            return msg.wrong_json_type(prim, _STRING, value)
        if not value:
            return empty
        if match is not None and not match(value):
            return msg.invalid_value(prim, value)
        return None if extra is None else extra(value)

    return check


def _integer_check(prim: str, low: int, high: int) -> Check:
    def check(value: object) -> Problem | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return None if low <= value <= high else msg.out_of_range(prim, value, low, high)
        if isinstance(value, (Decimal, float)):
            return msg.invalid_value(prim, value, msg.NOT_WHOLE)
        return msg.wrong_json_type(prim, _NUMBER, value)

    return check


def _decimal_check(value: object) -> Problem | None:
    if isinstance(value, Decimal):
        return None if value.is_finite() else msg.invalid_value("decimal", value, msg.NOT_FINITE)
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else msg.invalid_value("decimal", value, msg.NOT_FINITE)
    return msg.wrong_json_type("decimal", _NUMBER, value)


def _boolean_check(value: object) -> Problem | None:
    if value is True or value is False:
        return None
    return msg.wrong_json_type("boolean", _BOOLEAN, value)


def checker_for(prim: str, regex: str | None) -> Check:
    """The check for one primitive type, given its regex from the structure table."""
    if prim == "boolean":
        return _boolean_check
    if prim == "decimal":
        return _decimal_check
    if prim in _INT_RANGES:
        return _integer_check(prim, *_INT_RANGES[prim])
    return _string_check(prim, regex)
