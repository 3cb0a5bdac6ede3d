"""Small, fast building blocks for FHIR R4 JSON: dates, references, codings, quantities.

Times are (day ordinal, minute of day) pairs rendered as ``YYYY-MM-DDThh:mm:ss+08:00`` (China
Standard Time, FHIR dateTime with a timezone); dates as ``YYYY-MM-DD``. Shared, never-mutated
dicts are reused across resources: orjson serialises them without copying.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rhip.synth import systems as cs

_ISO: dict[int, str] = {}
_COMPACT: dict[int, str] = {}
_HM = [f"T{m // 60:02d}:{m % 60:02d}:00+08:00" for m in range(1440)]


def day(ordinal: int) -> str:
    """FHIR date of a day ordinal."""
    s = _ISO.get(ordinal)
    if s is None:
        s = _ISO[ordinal] = date.fromordinal(ordinal).isoformat()
    return s


def dt(ordinal: int, minute: int) -> str:
    """FHIR dateTime (+08:00) of a day ordinal and a minute offset (may exceed one day)."""
    if minute >= 1440:
        ordinal += minute // 1440
        minute %= 1440
    s = _ISO.get(ordinal)
    if s is None:
        s = day(ordinal)
    return s + _HM[minute]


def compact_day(ordinal: int) -> str:
    """YYYYMMDD (HL7 v2 / CDA date)."""
    s = _COMPACT.get(ordinal)
    if s is None:
        s = _COMPACT[ordinal] = date.fromordinal(ordinal).strftime("%Y%m%d")
    return s


def compact_dt(ordinal: int, minute: int) -> str:
    """YYYYMMDDhhmmss (HL7 v2 / CDA timestamp, local time)."""
    if minute >= 1440:
        ordinal += minute // 1440
        minute %= 1440
    return f"{compact_day(ordinal)}{minute // 60:02d}{minute % 60:02d}00"


def ref(rtype: str, rid: str, display: str | None = None) -> dict[str, str]:
    """Literal reference ``Type/id``."""
    if display is None:
        return {"reference": f"{rtype}/{rid}"}
    return {"reference": f"{rtype}/{rid}", "display": display}


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    """A Coding."""
    if display is None:
        return {"system": system, "code": code}
    return {"system": system, "code": code, "display": display}


def cc(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept with one coding (text defaults to the display)."""
    out: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text or display:
        out["text"] = text or display
    return out


def qty(value: float | int, unit: str, ucum: str) -> dict[str, Any]:
    """A UCUM Quantity."""
    return {"value": value, "unit": unit, "system": cs.UCUM, "code": ucum}


def ident(system: str, value: str, type_code: str | None = None, use: str | None = None) -> dict[str, Any]:
    """An Identifier, optionally typed with a v2-0203 code."""
    out: dict[str, Any] = {}
    if use:
        out["use"] = use
    if type_code:
        out["type"] = {"coding": [{"system": cs.CS_V2_0203, "code": type_code}]}
    out["system"] = system
    out["value"] = value
    return out


# Frequently used constant fragments (shared, never mutated)
CLINICAL_ACTIVE = cc(cs.CS_CONDITION_CLINICAL, "active", "Active")
CLINICAL_RESOLVED = cc(cs.CS_CONDITION_CLINICAL, "resolved", "Resolved")
VER_CONFIRMED = cc(cs.CS_CONDITION_VER, "confirmed", "Confirmed")
VER_PROVISIONAL = cc(cs.CS_CONDITION_VER, "provisional", "Provisional")
CAT_ENCOUNTER_DX = cc(cs.CS_CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")
CAT_PROBLEM = cc(cs.CS_CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
OBS_VITALS = [cc(cs.CS_OBS_CATEGORY, "vital-signs", "Vital Signs")]
OBS_LAB = [cc(cs.CS_OBS_CATEGORY, "laboratory", "Laboratory")]
DR_LAB = [cc(cs.CS_V2_0074, "LAB", "Laboratory")]
DR_RAD = [cc(cs.CS_V2_0074, "RAD", "Radiology")]
CLASS_AMB = coding(cs.CS_ACT_CODE, "AMB", "ambulatory")
CLASS_EMER = coding(cs.CS_ACT_CODE, "EMER", "emergency")
CLASS_IMP = coding(cs.CS_ACT_CODE, "IMP", "inpatient encounter")
CLASS_HH = coding(cs.CS_ACT_CODE, "HH", "home health")
VISIT_TYPE = {
    "1": cc(cs.CS_VISIT_TYPE, "1", "门诊"),
    "2": cc(cs.CS_VISIT_TYPE, "2", "急诊"),
    "3": cc(cs.CS_VISIT_TYPE, "3", "住院"),
    "4": cc(cs.CS_VISIT_TYPE, "4", "体检"),
    "9": cc(cs.CS_VISIT_TYPE, "9", "其他"),
}
PARTICIPANT_ATTENDER = [cc(cs.CS_PARTICIPATION, "ATND", "attender")]
INTERP = {
    "N": cc(cs.CS_INTERPRETATION, "N", "Normal"),
    "H": cc(cs.CS_INTERPRETATION, "H", "High"),
    "L": cc(cs.CS_INTERPRETATION, "L", "Low"),
}
MMHG = ("mmHg", "mm[Hg]")

# Public-health / clinical service types (our own table, Chinese displays)
SERVICE_NAMES = {
    "OPD": "门诊诊疗",
    "ER": "急诊诊疗",
    "IPD": "住院诊疗",
    "HTN-FU": "高血压患者随访",
    "DM-FU": "2型糖尿病患者随访",
    "ELDER-EXAM": "老年人健康体检",
    "CHILD-CHECK": "儿童健康检查",
    "NEWBORN-VISIT": "新生儿家庭访视",
    "ANC-FIRST": "第一次产前检查",
    "ANC": "产前随访",
    "PNC": "产后访视",
    "PNC-42": "产后42天健康检查",
    "IMM": "预防接种",
    "CONTRACT": "家庭医生签约服务",
}
SERVICE = {k: [cc(cs.CS_SERVICE, k, v)] for k, v in SERVICE_NAMES.items()}
SERVICE_CC = {k: cc(cs.CS_SERVICE, k, v) for k, v in SERVICE_NAMES.items()}
