"""Patient records in and out: the person behind a record, its raw quasi-identifiers, the released Patient.

The released Patient is built from scratch (an allow-list), never scrubbed from the original: it holds
the pseudonymous id, one research identifier (the person's pseudonym, shared by all of the person's
registrations), and the quasi-identifiers at the chosen generalisation levels. Everything else (names,
telecom, photo, contacts, identifiers, address lines, managing organisation, links, ...) is left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rhip.canonical import CANONICAL
from rhip.identity import validate_ric
from rhip.security.deid.hierarchy import DIMENSIONS, REMOVED, Value

__all__ = [
    "DIVISION_EXT",
    "ETHNICITY_EXT",
    "ETHNICITY_GROUP_EXT",
    "RESEARCH_ID_SYSTEM",
    "build_patient",
    "person_key",
    "person_values",
    "raw_values",
]

RIC_SYSTEM = "urn:oid:2.16.156.10011.1.3"  # 居民身份证号 (standards.md §3.5)
DIVISION_EXT = f"{CANONICAL}/StructureDefinition/address-division-code"
CATEGORY_EXT = f"{CANONICAL}/StructureDefinition/address-category"
ETHNICITY_EXT = f"{CANONICAL}/StructureDefinition/ethnicity-gb3304"
ETHNIC_GB = "urn:oid:2.16.156.10011.2.3.3.3"
MARITAL_GB = "urn:oid:2.16.156.10011.2.3.3.5"
MARITAL_V3 = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V3_TO_GB = {"S": "10", "M": "20", "W": "30", "D": "40", "U": "90", "UNK": "90"}

RESEARCH_ID_SYSTEM = f"{CANONICAL}/sid/research-person"
"""System of the one identifier a released Patient carries: the person's keyed pseudonym."""
BIRTH_PERIOD_EXT = f"{CANONICAL}/StructureDefinition/research-birth-period"
"""Birth year band (valuePeriod with year-precision start and end) when birthDate cannot express it."""
ETHNICITY_GROUP_EXT = f"{CANONICAL}/StructureDefinition/research-ethnicity-group"
ETHNICITY_GROUP_CS = f"{CANONICAL}/CodeSystem/research-ethnicity-group"
_ETHNICITY_GROUP_ZH = {"han": "汉族", "minority": "少数民族"}


def person_key(patient: Mapping[str, Any]) -> str:
    """Who the record is about: the valid 身份证号 (15-digit numbers upgraded), else the record itself.

    A valid number whose birth year is 10 or more years from ``birthDate`` is taken to be someone else's
    (a child registered under a guardian's number; the MPI rule of decision 0011) and not used.
    """
    birth = patient.get("birthDate")
    for ident in patient.get("identifier") or ():
        if not isinstance(ident, dict) or ident.get("system") != RIC_SYSTEM or not isinstance(ident.get("value"), str):
            continue
        result = validate_ric(ident["value"])
        if not result.valid or result.birth_date is None:
            continue
        if isinstance(birth, str) and birth[:4].isdigit() and abs(int(birth[:4]) - result.birth_date.year) >= 10:
            continue
        return "ric:" + result.normalized
    return f"Patient/{patient.get('id')}"


def _codes(concept: Any) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [
        (c.get("system", ""), c["code"])
        for c in concept.get("coding") or ()
        if isinstance(c, dict) and isinstance(c.get("code"), str)
    ]


def _extension(element: Mapping[str, Any], url: str) -> dict[str, Any] | None:
    for ext in element.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext
    return None


def _residence_code(patient: Mapping[str, Any]) -> str | None:
    """The division code of the residence (地址类别 03 现住址), else of the first address that has one."""
    found: list[tuple[int, str]] = []
    for address in patient.get("address") or ():
        if not isinstance(address, dict):
            continue
        ext = _extension(address, DIVISION_EXT)
        code = ext.get("valueCode") if ext else None
        if not (isinstance(code, str) and code.isdigit() and len(code) >= 6):
            continue
        category = _extension(address, CATEGORY_EXT)
        cat = (category or {}).get("valueCoding", {}).get("code")
        found.append((0 if cat == "03" else 1 if address.get("use") == "home" else 2, code))
    return min(found, key=lambda f: f[0])[1] if found else None


def raw_values(patient: Mapping[str, Any]) -> dict[str, Value]:
    """The record's quasi-identifiers as recorded (birth date not yet shifted)."""
    ethnic = _extension(patient, ETHNICITY_EXT)
    ethnicity = next((c for s, c in _codes((ethnic or {}).get("valueCodeableConcept")) if s == ETHNIC_GB), None)
    marital_codes = _codes(patient.get("maritalStatus"))
    marital = next((c for s, c in marital_codes if s == MARITAL_GB), None)
    if marital is None:
        marital = next((V3_TO_GB[c] for s, c in marital_codes if s == MARITAL_V3 and c in V3_TO_GB), None)
    deceased = patient.get("deceasedBoolean") is True or isinstance(patient.get("deceasedDateTime"), str)
    birth = patient.get("birthDate")
    gender = patient.get("gender")
    return {
        "birth": birth if isinstance(birth, str) else None,
        "gender": gender if isinstance(gender, str) else None,
        "address": _residence_code(patient),
        "ethnicity": ethnicity,
        "marital": marital,
        "deceased": "true" if deceased else "false",
    }


def person_values(records: Sequence[Mapping[str, Value]]) -> dict[str, Value]:
    """One value per dimension for a person with several records: the most frequent present value
    (ties: the smallest), so all of a person's released records carry the same quasi-identifiers."""
    out: dict[str, Value] = {}
    for name in DIMENSIONS:
        present = Counter(v for r in records if (v := r.get(name)) is not None)
        out[name] = min(present.items(), key=lambda item: (-item[1], item[0]))[0] if present else None
    return out


def build_patient(
    pseudo_id: str, person: str, released: Mapping[str, Value], levels: Mapping[str, int], meta: dict[str, Any]
) -> dict[str, Any]:
    """The released Patient: ``released`` maps each released dimension to its value at ``levels``."""
    out: dict[str, Any] = {"resourceType": "Patient", "id": pseudo_id}
    if meta:
        out["meta"] = meta
    extensions: list[dict[str, Any]] = []
    birth = released.get("birth")
    ethnicity = released.get("ethnicity")
    if ethnicity not in (None, REMOVED):
        if levels.get("ethnicity") == 0:
            extensions.append(
                {"url": ETHNICITY_EXT, "valueCodeableConcept": {"coding": [{"system": ETHNIC_GB, "code": ethnicity}]}}
            )
        else:
            coding = {"system": ETHNICITY_GROUP_CS, "code": ethnicity, "display": _ETHNICITY_GROUP_ZH[str(ethnicity)]}
            extensions.append({"url": ETHNICITY_GROUP_EXT, "valueCodeableConcept": {"coding": [coding]}})
    if birth not in (None, REMOVED) and "/" in str(birth):
        start, end = str(birth).split("/")
        extensions.append({"url": BIRTH_PERIOD_EXT, "valuePeriod": {"start": start, "end": end}})
    if extensions:
        out["extension"] = extensions
    out["identifier"] = [{"system": RESEARCH_ID_SYSTEM, "value": person}]
    gender = released.get("gender")
    if gender not in (None, REMOVED):
        out["gender"] = gender
    if birth not in (None, REMOVED) and "/" not in str(birth):
        out["birthDate"] = birth
    if released.get("deceased") == "true":
        out["deceasedBoolean"] = True
    address = released.get("address")
    if address not in (None, REMOVED):
        out["address"] = [{"extension": [{"url": DIVISION_EXT, "valueCode": address}], "use": "home"}]
    marital = released.get("marital")
    if marital not in (None, REMOVED):
        out["maritalStatus"] = {"coding": [{"system": MARITAL_GB, "code": marital}]}
    return out
