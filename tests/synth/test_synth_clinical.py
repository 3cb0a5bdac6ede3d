"""Care over time: prevalence, follow-up frequency, references, codes and public-health programmes."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime

from synth_region import Region

END = date(2025, 12, 31)
FOLLOW_UP = {"htn-management": "HTN-FU", "dm-management": "DM-FU"}


def _age(birth: str, on: date) -> float:
    return (on - date.fromisoformat(birth)).days / 365.25


def _alive_adults(region: Region) -> list[str]:
    return [
        f"Patient/{p['id']}"
        for p in region.register()
        if "deceasedDateTime" not in p and _age(p["birthDate"], END) >= 18
    ]


def _people_with(region: Region, code: str) -> set[str]:
    return {
        region.person_of(c["subject"]["reference"])
        for c in region.by_type["Condition"]
        if c["code"]["coding"][0]["code"] == code
    }


def test_chronic_prevalence_is_realistic(region: Region) -> None:
    adults = _alive_adults(region)
    assert len(adults) > 250
    htn = _people_with(region, "I10")
    dm = _people_with(region, "E11.9")
    share_htn = sum(a in htn for a in adults) / len(adults)
    share_dm = sum(a in dm for a in adults) / len(adults)
    assert 0.18 <= share_htn <= 0.34, share_htn  # target ~25% of adults
    assert 0.05 <= share_dm <= 0.18, share_dm  # target ~11% of adults


def test_managed_patients_get_at_least_four_follow_ups_a_year(region: Region) -> None:
    deaths = {f"Patient/{p['id']}": p["deceasedDateTime"][:10] for p in region.register() if "deceasedDateTime" in p}
    visits: Counter[tuple[str, str, int]] = Counter()
    for e in region.by_type["Encounter"]:
        service = e["serviceType"]["coding"][0]["code"]
        if service in ("HTN-FU", "DM-FU"):
            visits[(region.person_of(e["subject"]["reference"]), service, int(e["period"]["start"][:4]))] += 1
    checked = []
    for plan in region.by_type["CarePlan"]:
        category = plan["category"][0]["coding"][0]["code"]
        if category not in FOLLOW_UP:
            continue
        person = region.person_of(plan["subject"]["reference"])
        start = plan["period"]["start"]
        for year in (2023, 2024, 2025):
            if start > f"{year}-01-01" or deaths.get(person, "9999") <= f"{year}-12-31":
                continue  # only calendar years fully under management and alive
            n = visits[(person, FOLLOW_UP[category], year)]
            assert n >= 4, (person, category, year, n)
            checked.append(n)
    assert len(checked) > 40
    assert sum(checked) / len(checked) <= 5.5


def test_references_resolve_and_clinical_data_points_at_registrations(region: Region) -> None:
    register = {f"Patient/{p['id']}" for p in region.register()}
    missing = []

    def walk(node: object, owner: dict) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str):
                if ref not in region.by_ref:
                    missing.append((owner["resourceType"], ref))
                elif ref in register and owner["resourceType"] not in ("Group", "RelatedPerson"):
                    missing.append((owner["resourceType"], "points at the register: " + ref))
            for v in node.values():
                walk(v, owner)
        elif isinstance(node, list):
            for v in node:
                walk(v, owner)

    for items in region.by_type.values():
        for r in items:
            walk(r, r)
    assert missing == []


def test_encounters_use_the_right_facility_levels(region: Region) -> None:
    kinds = {o["id"]: o["type"][1]["coding"][0]["code"] for o in region.by_type["Organization"]}
    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    for e in region.by_type["Encounter"]:
        by_class[e["class"]["code"]][kinds[e["serviceProvider"]["reference"][13:]]] += 1
    assert set(by_class["IMP"]) <= {"county", "tertiary", "mch"}
    assert by_class["AMB"]["village"]
    assert by_class["AMB"]["township"] + by_class["AMB"]["community"]
    assert by_class["HH"]
    assert by_class["EMER"]


def test_observations_are_loinc_coded_with_units(region: Region) -> None:
    codes = Counter(o["code"]["coding"][0]["code"] for o in region.by_type["Observation"])
    for loinc in ("85354-9", "8867-4", "29463-7", "8302-2", "4548-4", "14749-6"):
        assert codes[loinc], loinc
    for o in region.by_type["Observation"]:
        assert o["status"] == "final"
        assert o["effectiveDateTime"].endswith("+08:00")
        if o["code"]["coding"][0]["code"] == "85354-9":
            assert [c["code"]["coding"][0]["code"] for c in o["component"]] == ["8480-6", "8462-4"]
            assert "valueQuantity" not in o
        else:
            q = o["valueQuantity"]
            assert q["system"] == "http://unitsofmeasure.org"
            assert q["code"]


def test_immunizations_follow_the_national_schedule(region: Region) -> None:
    imms = region.by_type["Immunization"]
    assert imms
    vaccines = Counter(i["vaccineCode"]["coding"][0]["code"] for i in imms)
    assert {"HepB", "DTaP", "MMR"} <= set(vaccines)
    for i in imms:
        assert i["status"] == "completed"
        assert i["lotNumber"]
        assert i["protocolApplied"][0]["doseNumberPositiveInt"] >= 1
    persons = {region.person_of(i["patient"]["reference"]) for i in imms}
    for person in persons:
        birth = region.by_ref[person]["birthDate"]
        for i in imms:
            if region.person_of(i["patient"]["reference"]) == person:
                assert i["occurrenceDateTime"][:10] >= birth


def test_infectious_cases_are_reported_to_the_cdc(region: Region) -> None:
    comms = region.by_type.get("Communication", [])
    assert comms
    orgs = {o["id"]: o["name"] for o in region.by_type["Organization"]}
    on_time = 0
    for c in comms:
        cond = region.by_ref[c["about"][0]["reference"]]
        classes = [cat["coding"][0]["code"] for cat in cond["category"][1:]]
        assert classes
        assert classes[0] in ("A", "B", "C")
        assert orgs[c["recipient"][0]["reference"][13:]].endswith("疾病预防控制中心")
        assert c["sent"] >= cond["recordedDate"]
        hours = 2 if classes[0] == "A" else 24
        delay = datetime.fromisoformat(c["sent"]) - datetime.fromisoformat(cond["recordedDate"])
        on_time += delay.total_seconds() <= hours * 3600 + 1800
    assert on_time / len(comms) > 0.8


def test_programmes_and_documents_exist(region: Region) -> None:
    categories = Counter(p["category"][0]["coding"][0]["code"] for p in region.by_type["CarePlan"])
    assert categories["family-doctor"]
    assert categories["htn-management"]
    assert categories["dm-management"]
    services = Counter(e["serviceType"]["coding"][0]["code"] for e in region.by_type["Encounter"])
    for s in ("CHILD-CHECK", "ANC-FIRST", "ANC", "PNC", "ELDER-EXAM", "IPD", "OPD"):
        assert services[s], s
    referrals = [s for s in region.by_type["ServiceRequest"] if s["category"][0]["coding"][0]["code"] == "REFERRAL"]
    assert referrals
    assert region.by_type["Composition"]
    assert region.by_type["Procedure"]
    assert region.by_type["MedicationRequest"]
    imaging = [d for d in region.by_type["DiagnosticReport"] if d["category"][0]["coding"][0]["code"] == "RAD"]
    assert imaging
    assert all(d["conclusion"] for d in imaging)
