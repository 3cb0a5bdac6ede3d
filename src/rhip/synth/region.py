"""The region: geography, facilities, catalogues turned into FHIR fragments, and the window.

Everything here depends only on (seed, residents, years), is built once, and is shared read-only
by every household. Catalogue entries (ICD-10, LOINC, ATC, ICD-9-CM-3, vaccines) are converted
once into CodeableConcepts so that per-resource work is a dict literal.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Any

from rhip.synth import reference
from rhip.synth import systems as cs
from rhip.synth.facilities import Facilities
from rhip.synth.facilities import build as build_facilities
from rhip.synth.fhirbase import cc, coding, qty
from rhip.synth.geography import Geography
from rhip.synth.geography import build as build_geography
from rhip.synth.ids import IdMaker
from rhip.synth.names import NameMaker
from rhip.synth.population import PopulationState
from rhip.synth.registration import Registrar

END_YEAR = 2025  # the simulated window always ends on 2025-12-31 (no wall clock)


@dataclass(slots=True)
class Region:
    """Shared, read-only state of one generation run."""

    seed: int
    residents: int
    years: int
    start: int
    end: int
    ids: IdMaker
    names: NameMaker
    geo: Geography
    facilities: Facilities
    registrar: Registrar
    state: PopulationState
    vital_codes: dict[str, tuple[dict[str, Any], str, str]]
    bp_codes: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
    labs: dict[str, dict[str, Any]]
    panels: dict[str, dict[str, Any]]
    imaging: dict[str, dict[str, Any]]
    drugs: dict[str, dict[str, Any]]
    procedures: dict[str, dict[str, Any]]
    order_lab: dict[str, Any]
    order_imaging: dict[str, Any]
    _icd: dict[str, dict[str, Any]]

    def icd(self, code: str, name: str) -> dict[str, Any]:
        """Cached ICD-10 CodeableConcept."""
        c = self._icd.get(code)
        if c is None:
            c = self._icd[code] = cc(cs.CS_ICD10, code, name)
        return c

    def static_resources(self) -> list[dict[str, Any]]:
        """Geography Locations, then every facility's Organization/Location/Practitioner/Role."""
        out = list(self.geo.locations)
        for fac in self.facilities.all:
            out.extend(fac.resources)
        return out


def _loinc_or_local(loinc: str | None, key: str, name: str) -> dict[str, Any]:
    if loinc:
        return {"coding": [coding(cs.CS_LOINC, loinc, name)], "text": name}
    return cc(cs.CS_LAB_LOCAL, key, name)


_UNIT_DISPLAY = {"[iU]": "U", "10*6.[iU]": "百万U", "{puff}": "吸", "{packet}": "袋", "ug": "μg"}


def _dosage(drug: dict[str, Any], freqs: dict[str, Any], routes: dict[str, Any]) -> list[dict[str, Any]]:
    f = freqs[drug["freq"]]
    r = routes[drug["route"]]
    value, unit = drug["dose"]
    shown = _UNIT_DISPLAY.get(unit, unit)
    route_codings = [coding(cs.CS_ROUTE, r["code"], r["name"])]
    if r.get("v3"):
        route_codings.append(coding(cs.CS_ROUTE_V3, r["v3"], r["v3_display"]))
    repeat: dict[str, Any] = {"frequency": f["frequency"], "period": f["period"], "periodUnit": f["unit"]}
    if "when" in f:
        repeat["when"] = [f["when"]]
    d: dict[str, Any] = {
        "text": f"{r['name']}，{f['text']}，每次{value}{shown}",
        "timing": {"repeat": repeat},
    }
    if f.get("prn"):
        d["asNeededBoolean"] = True
    d["route"] = {"coding": route_codings, "text": r["name"]}
    d["doseAndRate"] = [{"doseQuantity": qty(value, shown, unit)}]
    return [d]


def build(seed: int, residents: int, years: int, noise: float = 0.10) -> Region:
    """Build the region for a run."""
    rng = random.Random(f"rhip-synth-region:{seed}")
    ids = IdMaker(seed)
    names = NameMaker()
    geo = build_geography(rng, ids, residents)
    facilities = build_facilities(rng, ids, geo, names)
    clinical = reference.clinical()
    labs = {}
    for key, lab in clinical["labs"].items():
        lab = dict(lab)
        lab["cc"] = _loinc_or_local(lab["loinc"], key, lab["name"])
        lab["range"] = [
            {"low": qty(lab["low"], lab["unit"], lab["ucum"]), "high": qty(lab["high"], lab["unit"], lab["ucum"])}
        ]
        labs[key] = lab
    panels = {k: {**p, "cc": _loinc_or_local(p["loinc"], k, p["name"])} for k, p in clinical["panels"].items()}
    imaging = {k: {**i, "cc": _loinc_or_local(i["loinc"], k, i["name"])} for k, i in clinical["imaging"].items()}
    drugs = {}
    for key, d in clinical["drugs"].items():
        drugs[key] = {
            **d,
            "cc": {
                "coding": [coding(cs.CS_DRUG, key, d["name"]), coding(cs.CS_ATC, d["atc"])],
                "text": d["name"],
            },
            "dosage": _dosage(d, clinical["frequencies"], clinical["routes"]),
        }
    procedures = {k: {**p, "cc": cc(cs.CS_ICD9CM3, p["code"], p["name"])} for k, p in clinical["procedures"].items()}
    vital = {
        "hr": (cc(cs.CS_LOINC, "8867-4", "Heart rate", "心率"), "次/分", "/min"),
        "weight": (cc(cs.CS_LOINC, "29463-7", "Body weight", "体重"), "kg", "kg"),
        "height": (cc(cs.CS_LOINC, "8302-2", "Body height", "身高"), "cm", "cm"),
        "bmi": (cc(cs.CS_LOINC, "39156-5", "Body mass index (BMI) [Ratio]", "体质指数"), "kg/m2", "kg/m2"),
        "temp": (cc(cs.CS_LOINC, "8310-5", "Body temperature", "体温"), "℃", "Cel"),
        "birth_weight": (cc(cs.CS_LOINC, "8339-4", "Birth weight Measured", "出生体重"), "g", "g"),
        "head": (cc(cs.CS_LOINC, "9843-4", "Head Occipital-frontal circumference", "头围"), "cm", "cm"),
    }
    bp = (
        cc(cs.CS_LOINC, "85354-9", "Blood pressure panel with all children optional", "血压"),
        cc(cs.CS_LOINC, "8480-6", "Systolic blood pressure", "收缩压"),
        cc(cs.CS_LOINC, "8462-4", "Diastolic blood pressure", "舒张压"),
    )
    start = date(END_YEAR - years + 1, 1, 1).toordinal()
    end = date(END_YEAR, 12, 31).toordinal()
    return Region(
        seed=seed,
        residents=residents,
        years=years,
        start=start,
        end=end,
        ids=ids,
        names=names,
        geo=geo,
        facilities=facilities,
        registrar=Registrar(geo, names, noise),
        state=PopulationState(),
        vital_codes=vital,
        bp_codes=bp,
        labs=labs,
        panels=panels,
        imaging=imaging,
        drugs=drugs,
        procedures=procedures,
        order_lab=cc(cs.CS_SNOMED, "108252007", "Laboratory procedure", "检验"),
        order_imaging=cc(cs.CS_SNOMED, "363679005", "Imaging", "检查"),
        _icd={},
    )
