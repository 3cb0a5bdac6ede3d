"""Administrative geography: province → city → counties → townships → villages/communities.

Province, city and county codes are real GB/T 2260 codes; township 9-digit codes follow the NBS
statistical-code convention (``data/divisions.json``); village (村委会, 2xx) and community (居委会,
0xx) 12-digit codes are synthesised under the township. The number of villages grows with the
population so that a village holds a few hundred to a few thousand people. Each division is also
emitted as a FHIR Location (physicalType ``jdn``) linked by ``partOf``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from rhip.synth import reference
from rhip.synth import systems as cs
from rhip.synth.fhirbase import cc, ident, ref
from rhip.synth.ids import IdMaker

_JDN = cc(cs.CS_LOCATION_PHYSICAL, "jdn", "Jurisdiction")


@dataclass(slots=True)
class Village:
    """A village (村) or community (社区): the smallest address unit, with a 12-digit code."""

    code: str
    name: str
    is_community: bool
    weight: float
    township: Township
    location_id: str = ""
    clinic: Any = None  # Facility of the village clinic (villages only)


@dataclass(slots=True)
class Township:
    """A 街道, 镇 or 乡 with its 9-digit code."""

    code: str
    name: str
    kind: str  # 街道 | 镇 | 乡
    county: County
    villages: list[Village] = field(default_factory=list)
    location_id: str = ""
    centre: Any = None  # Facility: 卫生院 or 社区卫生服务中心


@dataclass(slots=True)
class County:
    """A county (县) with its GB/T 2260 code and postal code."""

    code: str
    name: str
    postal: str
    townships: list[Township] = field(default_factory=list)
    location_id: str = ""
    hospital: Any = None
    mch: Any = None
    cdc: Any = None
    bureau: Any = None


@dataclass(slots=True)
class Geography:
    """The whole region plus the migrants' origin counties."""

    province: dict[str, str]
    city: dict[str, Any]
    counties: list[County]
    villages: list[Village]
    village_cum_weights: list[float]
    origins: list[dict[str, Any]]
    origin_weights: list[int]
    locations: list[dict[str, Any]]
    province_location_id: str
    city_location_id: str


def _township_kind(code: str, name: str) -> str:
    return "街道" if name.endswith("街道") else "乡" if code[6] == "2" else "镇"


def build(rng: random.Random, ids: IdMaker, residents: int) -> Geography:
    """Build the region; ``residents`` only scales the number of villages per township."""
    data = reference.divisions()
    n_townships = sum(len(c["townships"]) for c in data["counties"])
    per_township = max(2, min(12, round(residents / (n_townships * 350))))
    stems = data["village_stems"]
    community_stems = data["community_stems"]
    counties: list[County] = []
    villages: list[Village] = []
    for c in data["counties"]:
        county = County(c["code"], c["name"], c["postal"])
        for tcode, tname in c["townships"]:
            town = Township(tcode, tname, _township_kind(tcode, tname), county)
            if town.kind == "街道":
                n_comm = max(1, round(per_township * 0.8))
            elif town.kind == "镇":
                n_comm = 1
            else:
                n_comm = 0
            n_vill = max(1, per_township - n_comm) if town.kind != "街道" else per_township - n_comm
            for i, name in enumerate(rng.sample(community_stems, min(n_comm, len(community_stems)))):
                w = rng.uniform(1.0, 2.0)
                town.villages.append(Village(f"{tcode}{i + 1:03d}", f"{name}社区", True, w, town))
            for i, name in enumerate(rng.sample(stems, min(n_vill, len(stems)))):
                w = rng.uniform(0.6, 1.4)
                town.villages.append(Village(f"{tcode}{201 + i:03d}", f"{name}村", False, w, town))
            county.townships.append(town)
            villages.extend(town.villages)
        counties.append(county)
    cum: list[float] = []
    total = 0.0
    for v in villages:
        total += v.weight
        cum.append(total)
    origins = data["origins"]
    geo = Geography(
        province=data["province"],
        city=data["city"],
        counties=counties,
        villages=villages,
        village_cum_weights=cum,
        origins=origins,
        origin_weights=[o["weight"] for o in origins],
        locations=[],
        province_location_id=ids.make("loc:" + data["province"]["code"]),
        city_location_id=ids.make("loc:" + data["city"]["code"]),
    )
    geo.locations = list(_locations(geo, ids))
    return geo


def _location(lid: str, code: str, name: str, parent: str | None) -> dict[str, Any]:
    loc: dict[str, Any] = {
        "resourceType": "Location",
        "id": lid,
        "identifier": [ident(cs.SID_DIVISION, code)],
        "status": "active",
        "name": name,
        "mode": "instance",
        "physicalType": _JDN,
    }
    if parent:
        loc["partOf"] = ref("Location", parent)
    return loc


def _locations(geo: Geography, ids: IdMaker) -> Any:
    yield _location(geo.province_location_id, geo.province["code"], geo.province["name"], None)
    yield _location(geo.city_location_id, geo.city["code"], geo.city["name"], geo.province_location_id)
    for county in geo.counties:
        county.location_id = ids.make("loc:" + county.code)
        yield _location(county.location_id, county.code, county.name, geo.city_location_id)
        for town in county.townships:
            town.location_id = ids.make("loc:" + town.code)
            yield _location(town.location_id, town.code, town.name, county.location_id)
            for v in town.villages:
                v.location_id = ids.make("loc:" + v.code)
                yield _location(v.location_id, v.code, v.name, town.location_id)


def address(
    geo: Geography, village: Village, line: str, category: tuple[str, str] = ("03", "居住地址")
) -> dict[str, Any]:
    """FHIR Address down to the house, carrying the 12-digit division code and WS 364 category."""
    town = village.township
    county = town.county
    prov, city = geo.province["name"], geo.city["name"]
    return {
        "extension": [
            {"url": cs.EXT_DIVISION, "valueCode": village.code},
            {
                "url": cs.EXT_ADDRESS_CATEGORY,
                "valueCoding": {
                    "system": cs.CS_ADDRESS_CATEGORY,
                    "code": category[0],
                    "display": category[1],
                },
            },
        ],
        "use": "home",
        "type": "both",
        "text": f"{prov}{city}{county.name}{town.name}{village.name}{line}",
        "line": [town.name, village.name, line],
        "city": city,
        "district": county.name,
        "state": prov,
        "postalCode": county.postal,
        "country": "CN",
    }


def origin_address(origin: dict[str, Any], line: str) -> dict[str, Any]:
    """户籍地址 of a migrant: only the county code is known to the region (GB/T 2260)."""
    return {
        "extension": [
            {"url": cs.EXT_DIVISION, "valueCode": origin["code"]},
            {
                "url": cs.EXT_ADDRESS_CATEGORY,
                "valueCoding": {"system": cs.CS_ADDRESS_CATEGORY, "code": "01", "display": "户籍住址"},
            },
        ],
        "use": "home",
        "type": "postal",
        "text": f"{origin['province']}{origin['city']}{origin['county']}{line}",
        "line": [line],
        "city": origin["city"],
        "district": origin["county"],
        "state": origin["province"],
        "country": "CN",
    }


def hukou_category(addr: dict[str, Any]) -> dict[str, Any]:
    """Copy of a residence address re-labelled as 户籍住址 (for natives both coincide)."""
    out = dict(addr)
    out["extension"] = [
        addr["extension"][0],
        {
            "url": cs.EXT_ADDRESS_CATEGORY,
            "valueCoding": {"system": cs.CS_ADDRESS_CATEGORY, "code": "01", "display": "户籍住址"},
        },
    ]
    return out
