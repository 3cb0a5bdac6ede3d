"""FHIR Patient → match record: the compact, normalised view every comparison and blocking key reads.

A match record is a plain ``dict[str, Any]`` (so the engine also runs on non-FHIR data such as FEBRL,
see :mod:`rhip.mpi.spec`). For a Patient the keys are listed in :data:`PATIENT_FIELDS`. Rules applied
here, once, so that comparators stay simple:

- 身份证号 (GB 11643 via :mod:`rhip.identity`): 15-digit numbers are upgraded to 18 (``ric_legacy``
  remembers it); a number with a bad check digit is kept in ``ric`` (typos are evidence for the
  one-digit/transposition levels) but only a valid one goes to ``ric_valid``, the field a cluster may
  never hold two values of. A *valid* number whose encoded birth year is 10 or more years from the
  record's birth date (a child registered under a guardian's number) is moved to ``ric_conflict`` and
  not compared.
- Names: see :mod:`rhip.mpi.names` (simplified characters, surname-aware pinyin, placeholders).
- Dates: ``YYYYMMDD`` strings; dates before 1900 or in the future are treated as missing.
- Phone: digits only, +86/0086 dropped. Division: the 6-digit county code from the
  ``address-division-code`` extension, else from the address names (GB/T 2260 table).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from rhip.canonical import CANONICAL
from rhip.identity import validate_ric
from rhip.mpi.divisions import county_code
from rhip.mpi.names import name_key

ID_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.3"  # 身份证号 (standards.md §3.5)
HEALTH_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.19"  # 居民健康卡号
DIVISION_EXTENSION = f"{CANONICAL}/StructureDefinition/address-division-code"
_EARLIEST = "19000101"
_CST = timezone(timedelta(hours=8))  # docs/decisions/0004: "today" is China Standard Time
_GUARDIAN_GAP_YEARS = 10  # an encoded birth year this far from the record's is another person's number

PATIENT_FIELDS = (
    "id",
    "ric",
    "ric_valid",
    "ric_legacy",
    "ric_conflict",
    "ric14",
    "name",
    "name_chars",
    "name_py",
    "family_py",
    "name_alts",
    "birth_date",
    "birth_year",
    "sex",
    "phone",
    "division",
    "health_card",
    "identifiers",
)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _official_name(patient: Mapping[str, Any]) -> Mapping[str, Any] | None:
    names = [n for n in patient.get("name") or [] if isinstance(n, Mapping)]
    for use in ("official", "usual", None):
        for n in names:
            if use is None or n.get("use") == use:
                return n
    return None


def birth_key(text: str | None, *, today: date | None = None) -> str | None:
    """``YYYYMMDD`` of a FHIR date (full dates only); None if partial, absurd or in the future."""
    if not text or len(text) < 10:
        return None
    key = text[:4] + text[5:7] + text[8:10]
    if not key.isdigit():
        return None
    try:
        day = date(int(key[:4]), int(key[4:6]), int(key[6:8]))
    except ValueError:
        return None
    if key < _EARLIEST or day > (today or datetime.now(UTC).astimezone(_CST).date()):
        return None
    return key


def phone_key(text: str | None) -> str | None:
    """Digits of a phone number without the country code (+86, 0086); None if fewer than 7 digits."""
    if not text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) in (11, 12):
            digits = digits[len(prefix) :]
            break
    return digits if len(digits) >= 7 else None


def _division(patient: Mapping[str, Any]) -> str | None:
    for addr in patient.get("address") or []:
        if not isinstance(addr, Mapping):
            continue
        for ext in addr.get("extension") or []:
            code = ext.get("valueCode") if isinstance(ext, Mapping) else None
            if ext.get("url") == DIVISION_EXTENSION and isinstance(code, str) and code[:6].isdigit():
                return code[:6]
        code = county_code(_text(addr.get("district")), _text(addr.get("city")), _text(addr.get("state")))
        if code:
            return code
    return None


def _ric_fields(number: str | None, birth: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"ric": None, "ric_valid": None, "ric_legacy": False, "ric_conflict": None, "ric14": None}
    if not number:
        return out
    result = validate_ric(number)
    if len(result.normalized) not in (15, 18) or result.has("length") or result.has("characters"):
        return out
    ric = result.normalized
    if result.valid and result.birth_date is not None:
        own = result.birth_date.strftime("%Y%m%d")
        if birth and abs(int(own[:4]) - int(birth[:4])) >= _GUARDIAN_GAP_YEARS:
            out["ric_conflict"] = ric
            return out
    out["ric"] = ric
    out["ric14"] = ric[:14]
    out["ric_legacy"] = result.legacy
    out["ric_valid"] = ric if result.valid else None
    return out


def patient_record(patient: Mapping[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """Normalise a FHIR R4 Patient (dict) into a match record (keys :data:`PATIENT_FIELDS`)."""
    rid = patient.get("id")
    record: dict[str, Any] = {"id": f"Patient/{rid}" if rid else None}
    ric_number = None
    health_card = None
    identifiers: set[str] = set()
    for ident in patient.get("identifier") or []:
        if not isinstance(ident, Mapping):
            continue
        system, value = _text(ident.get("system")), _text(ident.get("value"))
        if not value:
            continue
        if system == ID_CARD_SYSTEM:
            ric_number = ric_number or value
        elif system == HEALTH_CARD_SYSTEM:
            health_card = health_card or value.upper()
        elif system:
            identifiers.add(f"{system}|{value}")
    birth = birth_key(_text(patient.get("birthDate")), today=today)
    gender = patient.get("gender")
    sex = gender if gender in ("male", "female") else None
    record.update(_ric_fields(ric_number, birth))
    hn = _official_name(patient)
    key = None
    if hn is not None:
        given = " ".join(g for g in hn.get("given") or [] if isinstance(g, str))
        key = name_key(_text(hn.get("text")), _text(hn.get("family")), given or None)
    record.update(
        name=key.written if key else None,
        name_chars=key.chars if key else None,
        name_py=key.pinyin if key else None,
        family_py=key.family_py if key else None,
        name_alts=key.alternatives if key else None,
        birth_date=birth,
        birth_year=birth[:4] if birth else None,
        sex=sex,
        phone=next(
            (
                p
                for t in patient.get("telecom") or []
                if isinstance(t, Mapping) and t.get("system") in ("phone", "sms", None)
                for p in [phone_key(_text(t.get("value")))]
                if p
            ),
            None,
        ),
        division=_division(patient),
        health_card=health_card,
        identifiers=frozenset(identifiers) or None,
    )
    return record
