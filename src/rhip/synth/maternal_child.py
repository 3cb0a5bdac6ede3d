"""Maternal and child health: pregnancy care, delivery, newborns, child health checks, immunisation.

Follows the 国家基本公共卫生服务规范 schedules quoted in standards.md §7.2: first antenatal check
before 13 weeks (母子健康手册), visits at 16–20, 21–24, 28–36 and 37–40 weeks, delivery in a
county hospital / 妇幼保健院, postnatal home visit within a week of discharge and a 42-day check;
children are seen at 28–30 days, 3, 6, 8, 12, 18, 24, 30, 36 months and 4, 5, 6 years (blood count
at 8, 18, 30 months). Vaccines follow the national programme in ``data/vaccines.json`` with lot
numbers shared by all children vaccinated from the same batch.
"""

from __future__ import annotations

from typing import Any

from rhip.synth import care_util as cu
from rhip.synth import fhirbase as fb
from rhip.synth import reference
from rhip.synth import systems as cs
from rhip.synth.chronic import vitals
from rhip.synth.context import Ctx, gauss_int
from rhip.synth.facilities import Facility
from rhip.synth.fhirbase import cc, coding, day, dt, qty, ref
from rhip.synth.inpatient import stay
from rhip.synth.population import Person

_CHECK_DAYS = (28, 91, 182, 243, 365, 547, 730, 912, 1095, 1460, 1825, 2190)
_BLOOD_DAYS = (243, 547, 912)
_IMM_FUNCTION = cc(cs.CS_IMM_FUNCTION, "AP", "Administering Provider")
_SITES = {
    "LA": cc(cs.CS_ACT_SITE, "LA", "left arm", "左上臂"),
    "RA": cc(cs.CS_ACT_SITE, "RA", "right arm", "右上臂"),
    "RT": cc(cs.CS_ACT_SITE, "RT", "right thigh", "右大腿"),
}
_VACCINES: list[dict[str, Any]] = []


def _vaccines() -> list[dict[str, Any]]:
    if not _VACCINES:
        routes = reference.clinical()["routes"]
        for v in reference.vaccines():
            codings = [coding(cs.CS_VACCINE, v["code"], v["name"])]
            if v["cvx"]:
                codings.append(coding(cs.CS_CVX, v["cvx"]))
            r = routes[v["route"]]
            route = {"coding": [coding(cs.CS_ROUTE, r["code"], r["name"])], "text": r["name"]}
            if r.get("v3"):
                route["coding"].append(coding(cs.CS_ROUTE_V3, r["v3"], r["v3_display"]))
            _VACCINES.append({**v, "cc": {"coding": codings, "text": v["name"]}, "route_cc": route})
    return _VACCINES


def run(ctx: Ctx, p: Person) -> None:
    """Pregnancies of a mother (one per birth event) and the child programme of a child."""
    members = ctx.hh.members
    if p.sex == "female":
        births = sorted({k.birth for k in members if k.mother is p and k.born_in_sim})
        for b in births:
            pregnancy(ctx, p, b, [k for k in members if k.mother is p and k.birth == b])
    if p.age_on(ctx.start) < 7:
        child_checks(ctx, p)
        if not p.born_in_sim:
            immunizations(ctx, p, None)


def pregnancy(ctx: Ctx, mother: Person, birth: int, babies: list[Person]) -> None:
    """Antenatal care, delivery, newborn care and postnatal visits around one birth."""
    rng = ctx.rng
    centre = cu.centre(ctx)
    r = rng.random()
    hosp = cu.county_hospital(ctx) if r < 0.5 else cu.mch(ctx) if r < 0.95 else cu.tertiary(ctx)
    lmp = birth - 280 + rng.randint(-10, 7)
    schedule = [
        (lmp + rng.randint(56, 90), centre, "ANC-FIRST"),
        (lmp + rng.randint(112, 140), centre, "ANC"),
        (lmp + rng.randint(147, 168), hosp, "ANC"),
        (lmp + rng.randint(196, 252), hosp, "ANC"),
        (lmp + rng.randint(259, 275), hosp, "ANC"),
    ]
    preg: dict[str, str] = {}
    for i, (d, fac, service) in enumerate(schedule):
        if d >= birth or d < ctx.start or d > ctx.end or not mother.alive_on(d) or rng.random() < 0.04:
            continue
        dept = "women_health" if fac is centre else "obstetrics"
        v = ctx.visit(mother, fac, dept, d, cu.office_minute(rng), 25, service, number=fac is hosp)
        cid = preg.get(fac.id)
        if cid is None:
            preg[fac.id] = ctx.condition(v, "Z34.9", "正常妊娠监督", problem=True, onset=lmp + 14, resolved_day=birth)
        else:
            v.resource["diagnosis"] = [{"condition": ref("Condition", cid), "rank": 1}]
        vitals(ctx, v, mother)
        if i == 0:
            labs = ctx.region.labs
            ctx.lab_panel(v, "cbc", {k: cu.lab_value(rng, labs[k], male=False) for k in ("wbc", "hb", "plt")})
            ctx.medication(v, "folic_acid", days=90)
        if fac is hosp and i in (2, 4):
            ctx.imaging(v, "us_ob", rng.random() < 0.1)
    if birth < ctx.start or not mother.alive_on(birth):
        return
    cesarean = rng.random() < 0.38
    twins = len(babies) > 1
    dx = ("O84.9", "多胎分娩") if twins else ("O82.9", "剖宫产分娩") if cesarean else ("O80.0", "单胎顺产")
    admit = birth - (1 if rng.random() < 0.6 else 0)
    los = (rng.randint(4, 6) if cesarean else rng.randint(2, 3)) + (birth - admit)
    v = stay(
        ctx,
        mother,
        hosp,
        "obstetrics",
        admit,
        los,
        [dx],
        source="outp",
        procedure="cesarean" if cesarean else "assisted_delivery",
        drugs=["ceftriaxone"] if cesarean else [],
        labs=True,
    )
    discharge = v.end_day
    for baby in babies:
        _newborn(ctx, baby, hosp, birth, discharge)
    home = discharge + rng.randint(3, 7)
    if home <= ctx.end and mother.alive_on(home):
        hv = ctx.visit(mother, centre, "women_health", home, cu.office_minute(rng), 40, "PNC", cls=fb.CLASS_HH)
        vitals(ctx, hv, mother)
        for baby in babies:
            if baby.alive_on(home):
                bv = ctx.visit(baby, centre, "child_health", home, hv.start + 30, 30, "NEWBORN-VISIT", cls=fb.CLASS_HH)
                _growth(ctx, bv, baby, head=True)
                ctx.vital(bv, "temp", round(rng.gauss(36.7, 0.2), 1))
    d42 = birth + rng.randint(42, 56)
    if d42 <= ctx.end and mother.alive_on(d42):
        fac = centre if rng.random() < 0.7 else cu.mch(ctx)
        pv = ctx.visit(mother, fac, "women_health", d42, cu.office_minute(rng), 30, "PNC-42")
        vitals(ctx, pv, mother)


def _newborn(ctx: Ctx, baby: Person, hosp: Facility, birth: int, discharge: int) -> None:
    rng = ctx.rng
    v = ctx.visit(
        baby,
        hosp,
        "obstetrics",
        birth,
        rng.randint(0, 1439),
        0,
        "IPD",
        cls=fb.CLASS_IMP,
        visit_type="3",
        end_day=max(discharge, birth + 1),
        end_minute=600,
        number=True,
    )
    weight = gauss_int(rng, 3300, 420, 1800, 4800)
    if baby.twin is not None:
        weight = int(weight * 0.78)
    ctx.vital(v, "birth_weight", weight, 10)
    ctx.vital(v, "height", round(rng.gauss(50, 1.8), 1), 10)
    immunizations(ctx, baby, hosp)


def _growth(ctx: Ctx, v: Any, p: Person, head: bool) -> None:
    age = p.age_on(v.day)
    h, w = cu.bmi_weight(p, age)
    ctx.vital(v, "weight", w)
    ctx.vital(v, "height", h)
    if head:
        ctx.vital(v, "head", round(34.5 + 12 * min(age, 3) ** 0.45 + 0.8 * p.z_height, 1))


def child_checks(ctx: Ctx, p: Person) -> None:
    """0–6 year child health checks (儿童健康检查) falling into the window."""
    rng = ctx.rng
    centre = cu.centre(ctx)
    labs = ctx.region.labs
    for ad in _CHECK_DAYS:
        d = p.birth + ad + (rng.randint(0, 2) if ad == 28 else rng.randint(0, 14))
        if d < ctx.start or d > ctx.end or not p.alive_on(d) or rng.random() < 0.07:
            continue
        fac = centre if rng.random() < 0.85 else cu.mch(ctx)
        v = ctx.visit(p, fac, "child_health", d, cu.office_minute(rng), 20, "CHILD-CHECK", visit_type="4")
        _growth(ctx, v, p, head=ad <= 1095)
        if ad in _BLOOD_DAYS:
            ctx.lab_panel(v, "cbc", {k: cu.lab_value(rng, labs[k], male=p.sex == "male") for k in ("wbc", "hb", "plt")})


def _lot(ctx: Ctx, vaccine: str, manufacturer: str, d: int) -> tuple[str, str]:
    date_str = day(d)
    year, quarter = int(date_str[:4]), (int(date_str[5:7]) - 1) // 3
    h = ctx.region.ids.make(f"lot:{vaccine}:{manufacturer}:{year}:{quarter}")
    lot = f"{year}{quarter * 3 + 1:02d}{'ABCDEFGH'[int(h[0], 16) % 8]}{int(h[1:4], 16) % 1000:03d}"
    return lot, f"{year + 2}-{quarter * 3 + 1:02d}-28"


def immunizations(ctx: Ctx, p: Person, birth_hospital: Facility | None) -> None:
    """National-programme doses due in the window (birth doses at the delivery hospital)."""
    rng = ctx.rng
    centre = cu.centre(ctx)
    for vac in _vaccines():
        total = len(vac["doses_days"])
        for n, due in enumerate(vac["doses_days"], start=1):
            if due == 0 and birth_hospital is not None:
                fac, d, minute = birth_hospital, p.birth, rng.randint(0, 1439)
                if rng.random() < 0.3:
                    d += 1
            else:
                if due == 0:
                    continue
                r = rng.random()
                if r < 0.02:
                    continue
                delay = rng.randint(30, 90) if r < 0.08 else rng.randint(0, 14)
                fac, d, minute = centre, p.birth + due + delay, cu.office_minute(rng)
            if d < ctx.start or d > ctx.end or not p.alive_on(d):
                continue
            dept, staff = fac.clinician(rng, "vaccination" if fac is centre else "obstetrics")
            manufacturer = vac["manufacturers"][int(rng.random() * len(vac["manufacturers"]))]
            lot, expiry = _lot(ctx, vac["code"], manufacturer, d)
            imm: dict[str, Any] = {
                "resourceType": "Immunization",
                "id": ctx.nid(),
                "status": "completed",
                "vaccineCode": vac["cc"],
                "patient": ref("Patient", ctx.patient(p, fac, d)),
                "occurrenceDateTime": dt(d, minute),
                "recorded": dt(d, minute + 5),
                "primarySource": True,
                "location": ref("Location", dept.location_id, dept.name),
                "manufacturer": {"display": manufacturer},
                "lotNumber": lot,
                "expirationDate": expiry,
            }
            if vac["site"]:
                imm["site"] = _SITES[vac["site"]]
            imm["route"] = vac["route_cc"]
            imm["doseQuantity"] = qty(0.1 if vac["code"] == "BCG" else 0.5, "mL", "mL")
            imm["performer"] = [
                {"function": _IMM_FUNCTION, "actor": ref("PractitionerRole", staff.role_id, staff.name)}
            ]
            imm["protocolApplied"] = [
                {
                    "series": "国家免疫规划",
                    "targetDisease": [{"text": vac["target"]}],
                    "doseNumberPositiveInt": n,
                    "seriesDosesPositiveInt": total,
                }
            ]
            ctx.out.append(imm)
