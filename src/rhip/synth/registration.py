"""Per-facility patient registrations (one Patient per person per facility) with identity noise.

Each facility is its own identity domain: the registration carries the facility's patient number
(MRN, system :func:`systems.sid_mrn`) and whatever the facility captured. A configurable share of
registrations (default 10%) carries one or two realistic errors; newborns registered at the birth
hospital get a placeholder name (母亲姓名+之子/之女) and no ID number. The true person and the noise
kinds applied go only to the ground-truth rows, never into the resource.
"""

from __future__ import annotations

import random
from datetime import date
from typing import TYPE_CHECKING, Any

from rhip.synth import systems as cs
from rhip.synth.fhirbase import cc, coding, day, ident, ref
from rhip.synth.geography import Geography, address
from rhip.synth.ids import UniqueBits, to_legacy15
from rhip.synth.names import NameMaker

if TYPE_CHECKING:
    from rhip.synth.context import Ctx
    from rhip.synth.facilities import Facility
    from rhip.synth.population import Person

NOISE_WEIGHTS: dict[str, int] = {
    "pinyin": 6,
    "homophone": 14,
    "traditional": 6,
    "id-transposed": 9,
    "id-mistyped": 9,
    "id-15": 6,
    "id-missing": 12,
    "id-guardian": 4,
    "phone-changed": 14,
    "address-moved": 10,
    "birthdate-typo": 10,
}
_GROUP = {k: k.split("-")[0] if k.startswith("id-") else k for k in NOISE_WEIGHTS}
_GROUP.update(pinyin="name", homophone="name", traditional="name")
_HOSPITALS = ("tertiary", "county", "mch")
_PRIMARY = ("township", "community", "village")

_SEX_GB = {
    "male": {"url": cs.EXT_SEX_GB, "valueCodeableConcept": cc(cs.CS_SEX_GB, "1", "男性")},
    "female": {"url": cs.EXT_SEX_GB, "valueCodeableConcept": cc(cs.CS_SEX_GB, "2", "女性")},
}
_MARITAL = {
    "10": ("未婚", "S", "Never Married"),
    "20": ("已婚", "M", "Married"),
    "21": ("初婚", "M", "Married"),
    "22": ("再婚", "M", "Married"),
    "23": ("复婚", "M", "Married"),
    "30": ("丧偶", "W", "Widowed"),
    "40": ("离婚", "D", "Divorced"),
    "90": ("未说明的婚姻状况", None, None),
}
MARITAL_CC: dict[str, dict[str, Any]] = {}
for _code, (_name, _v3, _v3d) in _MARITAL.items():
    _codings = [coding(cs.CS_MARITAL_GB, _code, _name)]
    if _v3:
        _codings.append(coding(cs.CS_MARITAL_V3, _v3, _v3d))
    MARITAL_CC[_code] = {"coding": _codings, "text": _name}
_ETHNIC: dict[tuple[str, str], dict[str, Any]] = {}


def sex_extension(sex: str) -> dict[str, Any]:
    """GB/T 2261.1 sex as an extension next to administrative gender."""
    return _SEX_GB[sex]


def ethnicity_extension(eth: tuple[str, str]) -> dict[str, Any]:
    """GB 3304 ethnicity extension (cached)."""
    ext = _ETHNIC.get(eth)
    if ext is None:
        ext = _ETHNIC[eth] = {"url": cs.EXT_ETHNICITY, "valueCodeableConcept": cc(cs.CS_ETHNIC_GB, eth[0], eth[1])}
    return ext


def id_card_identifier(number: str) -> dict[str, Any]:
    """身份证号 identifier (OID 2.16.156.10011.1.3, standards.md §3.5)."""
    return ident(cs.SID_ID_CARD, number, "NI")


class Registrar:
    """Creates registrations and their ground-truth rows."""

    def __init__(self, geo: Geography, names: NameMaker, noise: float = 0.10) -> None:
        self.geo, self.names, self.noise = geo, names, noise
        self._bits = UniqueBits()
        self._kinds = list(NOISE_WEIGHTS)
        self._weights = [NOISE_WEIGHTS[k] for k in self._kinds]

    def _mrn(self, rng: random.Random, fac: Facility) -> str:
        digits = 8 if fac.kind == "village" else 10
        while True:
            n = int(rng.random() * 10**digits)
            if self._bits.claim((fac.index * 10**10 + n) * 7 + 5):
                return f"{n:0{digits}d}"

    def _eligible(self, p: Person, kind: str, age: float) -> bool:
        if kind == "traditional":
            return self.names.has_traditional(p.name)
        if kind == "homophone":
            return self.names.has_homophone(p.given)
        if kind == "id-15":
            return p.birth < date(1985, 1, 1).toordinal()
        if kind == "id-missing":
            return age < 16 or age >= 70
        if kind == "id-guardian":
            return age < 14 and (p.mother is not None or p.father is not None)
        if kind == "phone-changed":
            return p.own_phone
        return True

    def _pick(self, rng: random.Random, p: Person, age: float) -> list[str]:
        n = 2 if rng.random() < 0.15 else 1
        chosen: list[str] = []
        for _ in range(12):
            k = rng.choices(self._kinds, weights=self._weights)[0]
            if any(_GROUP[c] == _GROUP[k] for c in chosen) or not self._eligible(p, k, age):
                continue
            chosen.append(k)
            if len(chosen) == n:
                break
        return chosen

    def register(self, ctx: Ctx, p: Person, fac: Facility, on: int) -> tuple[str, str]:
        """Create ``p``'s registration at ``fac`` on day ``on``; returns (resource id, MRN)."""
        rng = ctx.rng
        rid = ctx.nid()
        mrn = self._mrn(rng, fac)
        p.regs[fac.id] = (rid, mrn)
        age = p.age_on(on)
        newborn = p.born_in_sim and on - p.birth < 7 and fac.kind in _HOSPITALS
        kinds = (
            ["newborn-name", "id-missing"]
            if newborn
            else (self._pick(rng, p, age) if rng.random() < self.noise else [])
        )
        family, given = p.family, p.given
        text = family + given
        id_number: str | None = p.id_number
        birth = p.birth
        phone = p.phone
        village, line = ctx.hh.village, ctx.hh.line
        for k in kinds:
            if k == "newborn-name":
                m = p.mother
                given = ("之子" if p.sex == "male" else "之女") if m else "婴"
                family = m.name if m else p.family
                text = family + given
            elif k == "pinyin":
                family, given = self.names.pinyin(p.family, p.given)
                text = f"{family} {given}"
            elif k == "homophone":
                given = self.names.homophone(rng, p.given) or given
                text = family + given
            elif k == "traditional":
                family, given = self.names.traditional(family), self.names.traditional(given)
                text = family + given
            elif k == "id-missing":
                id_number = None
            elif k == "id-15":
                id_number = to_legacy15(p.id_number)
            elif k == "id-guardian":
                guardian = p.mother or p.father
                id_number = guardian.id_number if guardian else None
            elif k == "id-transposed":
                id_number = _transpose(rng, p.id_number)
            elif k == "id-mistyped":
                id_number = _mistype(rng, p.id_number)
            elif k == "phone-changed":
                phone = self.names.mobile(rng)
            elif k == "address-moved":
                village = self.geo.villages[int(rng.random() * len(self.geo.villages))]
                line = (
                    f"{rng.randint(1, 288)}号"
                    if not village.is_community
                    else f"{rng.randint(1, 36)}幢{rng.randint(1, 18)}01室"
                )
            elif k == "birthdate-typo":
                birth = _birth_typo(rng, p.birth)
        identifiers = [
            {
                "use": "usual",
                "type": {"coding": [{"system": cs.CS_V2_0203, "code": "MR"}]},
                "system": cs.sid_mrn(fac.uscc),
                "value": mrn,
                "assigner": ref("Organization", fac.id, fac.name),
            }
        ]
        if id_number:
            identifiers.append(id_card_identifier(id_number))
        if fac.kind in _HOSPITALS and p.health_card and rng.random() < 0.6:
            identifiers.append(ident(cs.SID_HEALTH_CARD, p.health_card))
        if fac is ctx.hh.village.township.centre:
            identifiers.append(ident(cs.SID_HEALTH_RECORD, p.record_no))
        addr = address(self.geo, village, line)
        if fac.kind not in _PRIMARY:  # hospitals keep the text, not the coded division
            addr = {k: v for k, v in addr.items() if k != "extension"}
        pat: dict[str, Any] = {
            "resourceType": "Patient",
            "id": rid,
            "extension": [_SEX_GB[p.sex], ethnicity_extension(p.ethnicity)],
            "identifier": identifiers,
            "active": True,
            "name": [{"use": "official", "text": text, "family": family, "given": [given]}],
            "telecom": [{"system": "phone", "value": phone, "use": "mobile" if phone[0] == "1" else "home"}],
            "gender": p.sex,
            "birthDate": day(birth),
            "address": [addr],
        }
        if age >= 18 and fac.kind not in ("village",):
            pat["maritalStatus"] = MARITAL_CC[p.marital]
        pat["managingOrganization"] = ref("Organization", fac.id, fac.name)
        ctx.out.append(pat)
        ctx.truth.append(
            (f"Patient/{rid}", f"Patient/{p.pid}", f"Organization/{fac.id}", mrn, ";".join(kinds), hard_cases(p))
        )
        return rid, mrn


def hard_cases(p: Person) -> str:
    """Ground-truth hard-case labels of a person (twin, same name and birthday stranger)."""
    out = []
    if p.twin is not None:
        out.append(f"twin:Patient/{p.twin.pid}")
    if p.namesake_of is not None:
        out.append(f"namesake:Patient/{p.namesake_of}")
    return ";".join(out)


def _transpose(rng: random.Random, number: str) -> str:
    for _ in range(20):
        i = rng.randint(6, 15)
        if number[i] != number[i + 1]:
            return number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    return _mistype(rng, number)


def _mistype(rng: random.Random, number: str) -> str:
    i = rng.randint(0, 16)
    d = str((int(number[i]) + rng.randint(1, 9)) % 10)
    return number[:i] + d + number[i + 1 :]


def _birth_typo(rng: random.Random, birth: int) -> int:
    b = date.fromordinal(birth)
    if b.day <= 12 and b.day != b.month and rng.random() < 0.5:
        return date(b.year, b.day, b.month).toordinal()
    for delta in (1, -1, 2, -2, 10, -10):
        try:
            return date(b.year, b.month, b.day + delta).toordinal()
        except ValueError:
            continue
    return birth + 1
