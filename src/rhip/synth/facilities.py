"""Facilities and workforce: Organizations, departments (Location), Practitioners, PractitionerRoles.

One city tertiary hospital; per county a 人民医院 (secondary), 妇幼保健院, 疾病预防控制中心 and
卫生健康局; per township a 卫生院 (镇/乡) or 社区卫生服务中心 (街道); per village a 村卫生室.
Organisations carry a GB 32100 统一社会信用代码 (with its embedded GB 11714 check) under the
医疗卫生机构 OID 2.16.156.10011.1.5 (standards.md §3.5).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from rhip.synth import reference
from rhip.synth import systems as cs
from rhip.synth.fhirbase import cc, ident, ref
from rhip.synth.geography import Geography, Township, Village
from rhip.synth.ids import IdMaker, make_uscc
from rhip.synth.names import NameMaker

_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ROLE_CC = {
    "doctor": cc(cs.CS_PRACTITIONER_ROLE, "doctor", "Doctor"),
    "nurse": cc(cs.CS_PRACTITIONER_ROLE, "nurse", "Nurse"),
    "village": cc(cs.CS_PRACTITIONER_ROLE, "doctor", "Doctor"),
}
_QUALIFICATION = {
    "doctor": (cs.SID_PHYSICIAN_LICENCE, cc(cs.CS_QUALIFICATION, "physician", "医师执业证书")),
    "nurse": (cs.SID_NURSE_LICENCE, cc(cs.CS_QUALIFICATION, "nurse", "护士执业证书")),
    "village": (cs.SID_VILLAGE_DOCTOR_LICENCE, cc(cs.CS_QUALIFICATION, "village-doctor", "乡村医生执业证书")),
}


@dataclass(frozen=True, slots=True)
class Staff:
    """A clinician as referenced by events: role id, practitioner id, name, job kind, title."""

    role_id: str
    practitioner_id: str
    name: str
    family: str
    given: str
    kind: str
    title: str
    number: str


@dataclass(slots=True)
class Department:
    """A department Location inside a facility."""

    key: str
    code: str
    name: str
    location_id: str
    staff: list[Staff] = field(default_factory=list)


@dataclass(slots=True)
class Facility:
    """An Organization with its departments and staff."""

    index: int
    id: str
    kind: str
    name: str
    uscc: str
    division: str
    departments: dict[str, Department] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)

    def dept(self, key: str) -> Department:
        """The department ``key`` or the facility's first clinical one as a fall-back."""
        d = self.departments.get(key)
        if d is None:
            for fallback in ("internal", "general", "pediatrics", "public_health"):
                d = self.departments.get(fallback)
                if d is not None:
                    break
            else:
                d = next(iter(self.departments.values()))
        return d

    def clinician(self, rng: random.Random, key: str) -> tuple[Department, Staff]:
        """A department and one of its doctors (or any staff member if it has no doctor)."""
        d = self.dept(key)
        staff = d.staff or self.dept("general").staff
        doctors = [s for s in staff if s.kind in ("doctor", "village")] or staff
        return d, doctors[int(rng.random() * len(doctors))]


@dataclass(slots=True)
class Facilities:
    """All facilities of the region and lookups by role."""

    all: list[Facility]
    tertiary: Facility
    city_commission: Facility


def _uscc(rng: random.Random, prefix: str, division: str) -> str:
    body = "".join(rng.choice(_ORG_ALPHABET) for _ in range(8))
    return make_uscc(prefix, division, body)


def _org_resource(
    fac: Facility,
    kind_def: dict[str, Any],
    address: dict[str, Any] | None,
    phone: str,
    part_of: str | None,
) -> dict[str, Any]:
    org: dict[str, Any] = {"resourceType": "Organization", "id": fac.id}
    if kind_def.get("level"):
        code, display = kind_def["level"]
        org["extension"] = [
            {
                "url": cs.EXT_HOSPITAL_LEVEL,
                "valueCoding": {"system": cs.CS_HOSPITAL_LEVEL, "code": code, "display": display},
            }
        ]
    org["identifier"] = [ident(cs.SID_ORG, fac.uscc)]
    org["active"] = True
    org["type"] = [
        cc(
            cs.CS_ORG_TYPE,
            kind_def["hl7_type"],
            "Healthcare Provider" if kind_def["hl7_type"] == "prov" else "Government",
        ),
        cc(cs.CS_FACILITY_KIND, fac.kind, kind_def["name"]),
    ]
    org["name"] = fac.name
    org["telecom"] = [{"system": "phone", "value": phone, "use": "work"}]
    if address:
        org["address"] = [address]
    if part_of:
        org["partOf"] = ref("Organization", part_of)
    return org


def _facility_address(village: Village, geo: Geography, street_no: int) -> dict[str, Any]:
    town = village.township
    county = town.county
    line = f"{village.name}{street_no}号"
    prov, city = geo.province["name"], geo.city["name"]
    return {
        "extension": [{"url": cs.EXT_DIVISION, "valueCode": village.code}],
        "use": "work",
        "type": "physical",
        "text": f"{prov}{city}{county.name}{town.name}{line}",
        "line": [town.name, line],
        "city": city,
        "district": county.name,
        "state": prov,
        "postalCode": county.postal,
        "country": "CN",
    }


class _Builder:
    def __init__(self, rng: random.Random, ids: IdMaker, geo: Geography, names: NameMaker) -> None:
        self.rng, self.ids, self.geo, self.names = rng, ids, geo, names
        self.all: list[Facility] = []
        self.defs = reference.facilities()
        self.area = geo.city["area_code"]

    def phone(self) -> str:
        return f"{self.area}-{self.rng.randint(2000000, 8999999)}"

    def add(
        self,
        kind: str,
        name: str,
        division: str,
        village: Village | None,
        part_of: str | None = None,
        uscc_prefix: str | None = None,
    ) -> Facility:
        kind_def = self.defs["kinds"][kind]
        prefix = uscc_prefix or kind_def.get("uscc_prefix", "12")
        uscc = _uscc(self.rng, prefix, division)
        fac = Facility(len(self.all), self.ids.make("org:" + uscc), kind, name, uscc, division)
        addr = _facility_address(village, self.geo, self.rng.randint(1, 388)) if village else None
        fac.resources.append(_org_resource(fac, kind_def, addr, self.phone(), part_of))
        for key in kind_def["departments"]:
            self._department(fac, key, kind_def["staff"])
        self.all.append(fac)
        return fac

    def _department(self, fac: Facility, key: str, staff_n: int) -> None:
        ddef = self.defs["departments"][key]
        lid = self.ids.make(f"dept:{fac.uscc}:{key}")
        dept = Department(key, ddef["code"], ddef["name"], lid)
        fac.departments[key] = dept
        fac.resources.append(
            {
                "resourceType": "Location",
                "id": lid,
                "status": "active",
                "name": f"{fac.name}{ddef['name']}",
                "alias": [ddef["name"]],
                "mode": "instance",
                "type": [cc(cs.CS_DEPARTMENT, ddef["code"], ddef["name"])],
                "managingOrganization": ref("Organization", fac.id),
            }
        )
        if fac.kind == "village":
            kinds = ["village"]
        elif key in self.defs["technician_departments"]:
            kinds = ["technician"] * staff_n + ["doctor"]
        else:
            kinds = ["doctor"] * staff_n + ["nurse"] * max(1, staff_n // 2)
        for k in kinds:
            dept.staff.append(self._staff(fac, dept, k))

    def _staff(self, fac: Facility, dept: Department, kind: str) -> Staff:
        rng = self.rng
        n = sum(len(d.staff) for d in fac.departments.values()) + 1
        sex = "female" if rng.random() < (0.85 if kind == "nurse" else 0.5) else "male"
        birth_year = rng.randint(1965, 1998)
        family, given = self.names.person_name(rng, sex, birth_year)
        titles = self.defs["titles"][kind]
        t_code, t_name, _ = rng.choices(titles, weights=[t[2] for t in titles])[0]
        pid = self.ids.make(f"prac:{fac.uscc}:{n}")
        rid = self.ids.make(f"role:{fac.uscc}:{n}")
        name = family + given
        prac: dict[str, Any] = {
            "resourceType": "Practitioner",
            "id": pid,
            "identifier": [ident(cs.SID_STAFF, f"{fac.uscc}-{n:04d}", "EI")],
            "active": True,
            "name": [{"use": "official", "text": name, "family": family, "given": [given]}],
            "telecom": [{"system": "phone", "value": self.names.mobile(rng), "use": "mobile"}],
            "gender": sex,
            "birthDate": f"{birth_year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        }
        if kind in _QUALIFICATION:
            system, qcc = _QUALIFICATION[kind]
            if kind == "doctor":
                number = f"110{fac.division}{rng.randint(0, 999999):06d}"
            elif kind == "nurse":
                number = f"{rng.randint(2005, 2022)}{rng.randint(0, 99999999):08d}"
            else:
                number = f"{fac.division}{rng.randint(0, 999999):06d}"
            prac["qualification"] = [
                {
                    "identifier": [ident(system, number)],
                    "code": qcc,
                    "issuer": {"display": f"{self.geo.province['name']}卫生健康委员会"},
                }
            ]
        role: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "id": rid,
            "active": True,
            "practitioner": ref("Practitioner", pid, name),
            "organization": ref("Organization", fac.id, fac.name),
        }
        codes = [cc(cs.CS_TITLE, t_code, t_name)] if t_code else []
        if kind in _ROLE_CC:
            codes.insert(0, _ROLE_CC[kind])
        if not t_code:
            codes.append(cc(cs.CS_TITLE, "village-doctor", t_name))
        role["code"] = codes
        role["specialty"] = [cc(cs.CS_DEPARTMENT, dept.code, dept.name)]
        role["location"] = [ref("Location", dept.location_id)]
        fac.resources.append(prac)
        fac.resources.append(role)
        return Staff(rid, pid, name, family, given, kind, t_name, f"{fac.uscc}-{n:04d}")


def build(rng: random.Random, ids: IdMaker, geo: Geography, names: NameMaker) -> Facilities:
    """Create every facility of the region and attach them to the geography."""
    b = _Builder(rng, ids, geo, names)
    city = geo.city
    seat = city["seat"]
    commission = b.add("health_commission", f"{city['name']}卫生健康委员会", city["code"], None, uscc_prefix="11")
    tertiary = b.add("tertiary", f"{city['name']}中心医院", city["code"], None)
    seat_addr = {
        "extension": [{"url": cs.EXT_DIVISION, "valueCode": seat["township"]["code"]}],
        "use": "work",
        "type": "physical",
        "text": f"{geo.province['name']}{city['name']}{seat['name']}{seat['township']['name']}红旗路198号",
        "line": [seat["township"]["name"], "红旗路198号"],
        "city": city["name"],
        "district": seat["name"],
        "state": geo.province["name"],
        "postalCode": city["postal"],
        "country": "CN",
    }
    tertiary.resources[0]["address"] = [seat_addr]
    for county in geo.counties:
        seat_village = county.townships[0].villages[0]
        county.bureau = b.add(
            "health_commission", f"{county.name}卫生健康局", county.code, seat_village, commission.id, "11"
        )
        county.hospital = b.add("county", f"{county.name}人民医院", county.code, seat_village)
        county.mch = b.add("mch", f"{county.name}妇幼保健院", county.code, seat_village)
        county.cdc = b.add("cdc", f"{county.name}疾病预防控制中心", county.code, seat_village)
        for town in county.townships:
            _township_facilities(b, town)
    return Facilities(b.all, tertiary, commission)


def _township_facilities(b: _Builder, town: Township) -> None:
    county = town.county
    kind = "community" if town.kind == "街道" else "township"
    suffix = "社区卫生服务中心" if kind == "community" else "卫生院"
    town.centre = b.add(kind, f"{county.name}{town.name}{suffix}", county.code, town.villages[0])
    for v in town.villages:
        if not v.is_community:
            v.clinic = b.add("village", f"{county.name}{town.name}{v.name}卫生室", county.code, v, town.centre.id)
