"""FHIR JSON in and out, keeping decimals exactly as written (``1.50`` stays ``1.50``).

Bodies are parsed with the standard library so that ``parse_float=Decimal`` preserves each decimal's
digits (FHIR R4 §2.6.4: precision is significant); output goes through orjson, with decimals written
back verbatim as raw JSON fragments.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["JsonError", "dumps", "loads"]


class JsonError(ValueError):
    """The body is not valid JSON (message gives line and column)."""


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not valid JSON")


def _has_nul(node: Any) -> bool:
    if isinstance(node, str):
        return "\x00" in node
    if isinstance(node, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_nul(v) for v in node)
    return False


def loads(data: bytes | str) -> Any:
    """Parse JSON with decimals as ``Decimal``; raise JsonError on syntax errors and NUL characters.

    NUL (U+0000) is legal JSON but not a legal FHIR string character, and PostgreSQL text cannot hold it.
    """
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        parsed = json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
        if "\\u0000" in data and _has_nul(parsed):
            raise JsonError("strings must not contain the NUL character (\\u0000)")
        return parsed
    except UnicodeDecodeError as exc:
        raise JsonError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise JsonError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JsonError("JSON nested too deeply") from None


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(_decimal_text(obj))
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _decimal_text(d: Decimal) -> str:
    # str(Decimal) keeps the digits as written ("1.50", "1E+2"); both are valid JSON numbers.
    return str(d)


def dumps(obj: Any, *, pretty: bool = False) -> bytes:
    """Serialise to UTF-8 JSON bytes (non-ASCII kept as is)."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(obj, default=_default, option=option)
