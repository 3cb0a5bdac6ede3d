"""Native implementations of the China profiles' constraints, keyed by constraint key.

Every ``constraint`` in ``data/*.json`` names a key registered here; loading fails for an unknown
key, so no constraint is silently skipped. The FHIRPath ``expression`` in the StructureDefinition
documents the rule for other tools; rhip runs this Python instead (a FHIRPath engine costs ~13 µs per
expression, too slow for the ingest path, and some rules need GB 11643 / GB/T 2260 tables).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from rhip.canonical import CANONICAL
from rhip.identity import IdentifierSystems, division_table, validate_ric
from rhip.identity.ric import DivisionCheck
from rhip.security.fields import mask, sensitive_system
from rhip.terminology.bundled import bundled
from rhip.terminology.divisions import URL as GB2260

Failure = tuple[str, str, str]
"""``(expression, diagnostics, text_zh)`` of one violation."""


@dataclass(frozen=True, slots=True)
class Env:
    """What checks may consult besides the node: the whole resource and the platform's today."""

    resource: dict[str, Any]
    today: date


Check = Callable[[str, Any, Env], Iterator[Failure]]
CHECKS: dict[str, Check] = {}

RIC_SYSTEM = "urn:oid:2.16.156.10011.1.3"
ORG_CODE_SYSTEM = "urn:oid:2.16.156.10011.1.5"
DIVISION_EXT = f"{CANONICAL}/StructureDefinition/address-division-code"
EARLIEST = date(1880, 1, 1)
"""No living person or kept record is older; earlier dates are typing errors (e.g. year 0199)."""
_YEAR_PREFIX = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def check(key: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[key] = fn
        return fn

    return register


@cache
def systems() -> IdentifierSystems:
    return IdentifierSystems()


@cache
def divisions() -> DivisionCheck:
    """GB/T 2260 codes with their periods (historical codes stay valid for people born before)."""
    table = bundled().get(GB2260)
    assert table is not None
    periods = getattr(table, "periods", {})
    return division_table((code, p.valid_from, p.valid_to) for code, ps in periods.items() for p in ps)


def _first_day(text: str) -> date | None:
    m = _YEAR_PREFIX.match(text)
    if m is None:
        return None
    try:
        return date(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    except ValueError:
        return None


@check("cn-ident-1")
def identifier_value(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """An identifier of a registered system must pass that system's check (GB 11643, USCC, …)."""
    if not isinstance(node, dict):
        return
    system, value = node.get("system"), node.get("value")
    if not isinstance(system, str) or not isinstance(value, str):
        return
    info = systems().get(system)
    if info is None:
        return
    if info.uri == RIC_SYSTEM:
        result = validate_ric(value, divisions=divisions(), today=env.today)
        for p in result.problems:
            if p.is_error:
                yield f"{expr}.value", f"ID number: {p.message_en}", f"身份证号：{p.message_zh}"
        return
    if info.check(value) is False:
        shown = mask(value) if sensitive_system(system) else value  # findings are stored (decision 0019)
        yield (
            f"{expr}.value",
            f"'{shown}' is not a valid {info.name_en} ({info.uri})",
            f"“{shown}”不是有效的{info.name_zh}",
        )


@check("cn-pat-1")
def person_identifier(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """A patient needs at least one identifier of a person identity domain (ID number, card, MRN, …)."""
    ids = node.get("identifier") if isinstance(node, dict) else None
    if not isinstance(ids, list) or not ids:
        return  # no identifier at all: the profile's min = 1 on Patient.identifier reports it once
    for ident in ids:
        info = systems().classify(ident) if isinstance(ident, dict) else None
        if info is not None and info.kind == "person":
            return
    yield (
        f"{expr}.identifier",
        "no identifier from a registered person identity domain (resident ID number, health card, "
        "health record number, hospital patient number, passport, …)",
        "缺少已登记身份域的患者标识（身份证号、健康卡号、健康档案编号、院内患者号、护照等）",
    )


@check("cn-pat-2")
def consistent_with_id_number(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """Birth date and sex agree with the resident ID number (which encodes both)."""
    if not isinstance(node, dict):
        return
    for ident in node.get("identifier") or ():
        if not (isinstance(ident, dict) and ident.get("system") == RIC_SYSTEM and isinstance(ident.get("value"), str)):
            continue
        result = validate_ric(ident["value"], today=env.today)
        if not result.valid:
            return
        birth = node.get("birthDate")
        if result.birth_date and isinstance(birth, str) and len(birth) == 10 and birth != result.birth_date.isoformat():
            yield (
                f"{expr}.birthDate",
                f"birthDate {birth} differs from the ID number's {result.birth_date}",
                f"出生日期 {birth} 与身份证号中的 {result.birth_date} 不一致",
            )
        gender = node.get("gender")
        if result.sex and gender in ("male", "female") and gender != result.sex:
            yield (
                f"{expr}.gender",
                f"gender '{gender}' differs from the ID number's '{result.sex}'",
                "性别与身份证号不一致",
            )
        return


@check("cn-name-1")
def name_text_or_family(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """A Chinese name is usually sent whole in ``text``; at least ``text`` or ``family`` is needed."""
    if isinstance(node, dict) and not (node.get("text") or node.get("family")):
        yield expr, "name has neither text nor family", "姓名缺少完整姓名（text）或姓（family）"


@check("cn-addr-1")
def division_code(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """A division code on an address is a GB/T 2260 county (6 digits) or a township/village below one
    (9 or 12 digits); township parts are not bundled, so only their county prefix is checked."""
    if not isinstance(node, dict):
        return
    for i, ext in enumerate(node.get("extension") or ()):
        if not (isinstance(ext, dict) and ext.get("url") == DIVISION_EXT):
            continue
        code = ext.get("valueCode")
        where = f"{expr}.extension[{i}].valueCode"
        if not (isinstance(code, str) and len(code) in (6, 9, 12) and code.isascii() and code.isdigit()):
            en = f"division code '{code}' is not 6, 9 or 12 digits"
            yield where, en, f"行政区划代码“{code}”应为 6、9 或 12 位数字"
        elif not divisions()(code[:6], None):
            yield where, f"'{code[:6]}' is not a GB/T 2260 division code", f"“{code[:6]}”不是 GB/T 2260 行政区划代码"


@check("cn-addr-2")
def has_division_code(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """A home or work address should carry its division code, the key of regional statistics."""
    if not isinstance(node, dict) or node.get("use") in ("old", "temp"):
        return
    if any(isinstance(e, dict) and e.get("url") == DIVISION_EXT for e in node.get("extension") or ()):
        return
    yield expr, "address without a GB/T 2260 division code", "地址缺少行政区划代码"


def _dates(expr: str, node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield expr, node
    elif isinstance(node, dict):  # Period
        for part in ("start", "end"):
            if isinstance(node.get(part), str):
                yield f"{expr}.{part}", node[part]


@check("cn-date-1")
def plausible_date(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """Clinical and birth dates lie between 1880 and tomorrow (absurd dates are typing errors)."""
    latest = env.today + timedelta(days=1)
    for where, text in _dates(expr, node):
        day = _first_day(text)
        if day is None:
            continue  # malformed dates are the structural validator's business
        if day < EARLIEST:
            yield where, f"date {text} is before {EARLIEST}", f"日期 {text} 早于 {EARLIEST}，不合理"
        elif day > latest:
            yield where, f"date {text} is in the future", f"日期 {text} 晚于当前日期，不合理"


@check("cn-pat-3")
def death_after_birth(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """A date of death is not before the date of birth."""
    if not isinstance(node, dict):
        return
    birth, death = node.get("birthDate"), node.get("deceasedDateTime")
    if isinstance(birth, str) and isinstance(death, str) and death[:10] < birth[: len(death[:10])]:
        yield f"{expr}.deceasedDateTime", "deceasedDateTime is before birthDate", "死亡日期早于出生日期"


@check("cn-org-1")
def organisation_code(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """A healthcare organisation is identified by its 医疗卫生机构代码 (USCC or organisation code)."""
    ids = node.get("identifier") if isinstance(node, dict) else None
    if any(isinstance(i, dict) and i.get("system") == ORG_CODE_SYSTEM for i in ids or ()):
        return
    yield (
        f"{expr}.identifier",
        f"no identifier with system {ORG_CODE_SYSTEM} (unified social credit code)",
        "缺少医疗卫生机构代码（统一社会信用代码）",
    )


@check("cn-tel-1")
def phone_number(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """Phone numbers: 11-digit mobile (1xxxxxxxxxx) or landline with area code, optional +86 / extension."""
    if not (isinstance(node, dict) and node.get("system") == "phone" and isinstance(node.get("value"), str)):
        return
    digits = re.sub(r"[\s\-()]", "", node["value"])
    if digits.startswith("+86"):
        digits = digits[3:]
    digits = digits.split("#")[0].split("x")[0]
    if not (digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 12):
        value = mask(node["value"])
        yield f"{expr}.value", f"'{value}' is not a Chinese phone number", f"“{value}”不是有效的电话号码"


@check("cn-enc-1")
def visit_number(expr: str, node: Any, env: Env) -> Iterator[Failure]:
    """An encounter should carry its visit number; without one, sources cannot be reconciled."""
    if isinstance(node, dict) and not node.get("identifier"):
        zh = "就诊缺少就诊流水号（门诊号、住院号或服务记录号）"
        yield f"{expr}.identifier", "encounter without a visit number", zh
