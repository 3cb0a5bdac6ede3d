"""Chronic disease and primary care programmes of 国家基本公共卫生服务 (standards.md §7.2).

- Chronic conditions by age-specific prevalence at the start and incidence during the window.
- 高血压 / 2型糖尿病 patients aged ≥35 under management: a CarePlan (慢病管理) and one
  face-to-face follow-up per quarter (≥4 a year) at the village clinic or township centre, with
  blood pressure / capillary glucose, weight and a refill; a BP ≥160/100 triggers an upward
  referral (ServiceRequest) and an extra follow-up within 2 weeks.
- Everyone else with a chronic condition sees the county hospital once or twice a year.
- Family-doctor contracts (家庭医生签约) are modelled as yearly CarePlans (category 家庭医生签约服务)
  at the township centre; people aged ≥65 get a yearly health examination (老年人健康体检).
"""

from __future__ import annotations

from typing import Any

from rhip.synth import care_util as cu
from rhip.synth import fhirbase as fb
from rhip.synth import reference
from rhip.synth import systems as cs
from rhip.synth.context import Ctx, Visit, gauss_int
from rhip.synth.fhirbase import cc, day, dt, ref
from rhip.synth.population import Person

_PROGRAMS = {
    "hypertension": ("HTN-FU", cc(cs.CS_CAREPLAN, "htn-management", "高血压患者健康管理")),
    "diabetes": ("DM-FU", cc(cs.CS_CAREPLAN, "dm-management", "2型糖尿病患者健康管理")),
}
_CONTRACT = cc(cs.CS_CAREPLAN, "family-doctor", "家庭医生签约服务")
REFERRAL_CODE = {
    "coding": [
        {"system": cs.CS_SNOMED, "code": "3457005", "display": "Patient referral"},
        {"system": cs.CS_SERVICE, "code": "REFERRAL", "display": "双向转诊"},
    ],
    "text": "转诊",
}


def assign(ctx: Ctx, p: Person) -> None:
    """Give ``p`` chronic conditions (key → onset day) by prevalence and incidence."""
    rng = ctx.rng
    for c in reference.clinical()["chronic"]:
        curve = c["curve"]
        min_age = curve[0][0]
        age0 = p.age_on(ctx.start)
        if age0 >= min_age and rng.random() < cu.interp(curve, age0):
            span = int(min(age0 - min_age, 15) * 365)
            p.chronic[c["key"]] = ctx.start - rng.randint(60, span + 61)
            continue
        for year in cu.years(ctx):
            y0, _ = cu.year_bounds(year)
            a = p.age_on(y0)
            if a < min_age:
                continue
            v0 = cu.interp(curve, a)
            inc = max(0.0, (cu.interp(curve, a + 1) - v0) / (1 - v0))
            if rng.random() < inc:
                onset = y0 + rng.randint(0, 364)
                if p.alive_on(onset) and onset <= ctx.end:
                    p.chronic[c["key"]] = onset
                break


def run(ctx: Ctx, p: Person) -> None:
    """All chronic-care and primary-care programme events of ``p`` in the window."""
    assign(ctx, p)
    catalogue = {c["key"]: c for c in reference.clinical()["chronic"]}
    managed_any = False
    for key, onset in p.chronic.items():
        c = catalogue[key]
        first = max(onset, ctx.start)
        if not p.alive_on(first):
            continue
        managed = c["program"] is not None and p.age_on(first) >= 35 and ctx.rng.random() < 0.72
        if managed:
            managed_any = True
            _manage(ctx, p, c, onset, first)
        _hospital_visits(ctx, p, c, onset, first, 0.5 if managed else 1.6)
    _contracts(ctx, p, managed_any)
    _elderly_exams(ctx, p)


def bp_values(ctx: Ctx, p: Person, age: float) -> tuple[int, int]:
    """Systolic/diastolic for ``p`` (hypertensive patients run higher)."""
    rng = ctx.rng
    if "htn" in p.chronic:
        return gauss_int(rng, 137 + 3 * p.z_height, 14, 100, 210), gauss_int(rng, 84, 9, 55, 130)
    return gauss_int(rng, 108 + 0.35 * age, 10, 85, 170), gauss_int(rng, 68 + 0.15 * age, 7, 45, 110)


def vitals(ctx: Ctx, v: Visit, p: Person, *, weight: bool = True, height: bool = False) -> tuple[int, int]:
    """BP panel + heart rate (+ weight/height/BMI); returns the BP."""
    age = p.age_on(v.day)
    sbp, dbp = bp_values(ctx, p, age)
    ctx.blood_pressure(v, sbp, dbp)
    ctx.vital(v, "hr", gauss_int(ctx.rng, 76, 9, 48, 130))
    if weight or height:
        h, w = cu.bmi_weight(p, age)
        if height:
            ctx.vital(v, "height", h)
        ctx.vital(v, "weight", w)
        if height:
            ctx.vital(v, "bmi", round(w / (h / 100) ** 2, 1))
    return sbp, dbp


def _problem(ctx: Ctx, v: Visit, c: dict[str, Any], onset: int, problems: dict[str, str]) -> str:
    """The facility's problem-list Condition for ``c``, created at its first visit there."""
    key = v.fac.id
    cid = problems.get(key)
    if cid is None:
        cid = problems[key] = ctx.condition(v, c["icd10"], c["name"], problem=True, onset=onset)
    else:
        v.resource.setdefault("diagnosis", []).append({"condition": ref("Condition", cid), "rank": 1})
    return cid


def _manage(ctx: Ctx, p: Person, c: dict[str, Any], onset: int, first: int) -> None:
    rng = ctx.rng
    service, category = _PROGRAMS[c["program"]]
    diabetic = c["program"] == "diabetes"
    centre = cu.centre(ctx)
    clinic = ctx.hh.village.clinic
    drugs = [rng.choice(c["drugs"][:3])]
    if rng.random() < 0.3:
        drugs.append(rng.choice(c["drugs"]))
    problems: dict[str, str] = {}
    enrol = first if onset < ctx.start else min(ctx.end, onset + rng.randint(7, 30))
    plan_start = onset + 30 if onset < ctx.start else enrol
    last_cond = ""
    for year in cu.years(ctx):
        y0, _ = cu.year_bounds(year)
        for q in range(4):
            d = y0 + q * 91 + rng.randint(3, 85)
            if d < enrol or d > ctx.end:
                continue
            if not p.alive_on(d):
                break
            fac = clinic if clinic is not None and rng.random() < 0.55 else centre
            home = rng.random() < 0.15
            v = ctx.visit(
                p, fac, "general", d, cu.office_minute(rng), 20, service, cls=fb.CLASS_HH if home else fb.CLASS_AMB
            )
            last_cond = _problem(ctx, v, c, onset, problems)
            sbp, dbp = vitals(ctx, v, p)
            if diabetic:
                ctx.lab(v, "glu_poc", cu.lab_value(rng, ctx.region.labs["glu_poc"], diabetic=True), 10, None)
            for drug in drugs:
                ctx.medication(v, drug, days=90, status="active" if d > ctx.end - 90 else "completed", reason=last_cond)
            if not diabetic and (sbp >= 160 or dbp >= 100) and rng.random() < 0.6:
                _urgent_referral(ctx, p, v, c, last_cond, d, onset)
    if not problems:
        return
    author = centre.clinician(rng, "general")[1]
    died = p.death is not None and p.death <= ctx.end
    period: dict[str, str] = {"start": day(plan_start)}
    if p.death is not None and died:
        period["end"] = day(p.death)
    centre_pid = ctx.patient(p, centre, max(enrol, ctx.start))
    cond_ref = problems.get(centre.id)
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": ctx.nid(),
        "status": "completed" if died else "active",
        "intent": "plan",
        "category": [category],
        "title": category["text"],
        "subject": ref("Patient", centre_pid),
        "period": period,
        "created": dt(plan_start, 600),
        "author": ref("PractitionerRole", author.role_id, author.name),
    }
    if cond_ref:
        plan["addresses"] = [ref("Condition", cond_ref)]
    ctx.out.append(plan)


def _urgent_referral(ctx: Ctx, p: Person, v: Visit, c: dict[str, Any], cond: str, d: int, onset: int) -> None:
    """Upward referral to the county hospital and a follow-up within two weeks."""
    rng = ctx.rng
    hospital = cu.county_hospital(ctx)
    sr = referral(ctx, v, hospital, cond, d)
    visit_day = d + rng.randint(1, 5)
    if p.alive_on(visit_day) and visit_day <= ctx.end:
        hv = ctx.visit(p, hospital, c["dept"], visit_day, cu.office_minute(rng), 25, "OPD", number=True)
        hv.resource["basedOn"] = [ref("ServiceRequest", sr)]
        ctx.condition(hv, c["icd10"], c["name"], onset=onset)
        vitals(ctx, hv, p, weight=False)
        ctx.medication(hv, rng.choice(c["drugs"]), days=30)
    fu = d + rng.randint(10, 14)
    if p.alive_on(fu) and fu <= ctx.end:
        fv = ctx.visit(
            p, v.fac, "general", fu, cu.office_minute(rng), 15, v.resource["serviceType"]["coding"][0]["code"]
        )
        fv.resource.setdefault("diagnosis", []).append({"condition": ref("Condition", cond), "rank": 1})
        vitals(ctx, fv, p)


def referral(ctx: Ctx, v: Visit, to: Any, cond: str | None, d: int, note: str = "上转") -> str:
    """A completed referral ServiceRequest from the facility of ``v`` to ``to`` (双向转诊)."""
    sid = ctx.nid()
    sr: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": sid,
        "identifier": [{"system": cs.SID_ORDER_NO, "value": "ZZ" + sid[:14].upper()}],
        "status": "completed",
        "intent": "order",
        "category": [cc(cs.CS_SERVICE, "REFERRAL", "双向转诊")],
        "code": REFERRAL_CODE,
        "orderDetail": [{"text": note}],
        "subject": ref("Patient", v.patient),
        "encounter": ref("Encounter", v.id),
        "occurrenceDateTime": dt(d, v.start + 30),
        "authoredOn": dt(d, v.start + 15),
        "requester": ref("PractitionerRole", v.staff.role_id, v.staff.name),
        "performer": [ref("Organization", to.id, to.name)],
    }
    if cond:
        sr["reasonReference"] = [ref("Condition", cond)]
    ctx.out.append(sr)
    return sid


def _hospital_visits(ctx: Ctx, p: Person, c: dict[str, Any], onset: int, first: int, rate: float) -> None:
    rng = ctx.rng
    hospital = cu.county_hospital(ctx) if rng.random() < 0.85 else cu.tertiary(ctx)
    labs = ctx.region.labs
    for year in cu.years(ctx):
        y0, _ = cu.year_bounds(year)
        n = max(1 if rate > 1 else 0, cu.poisson(rng, rate))
        for _ in range(n):
            d = y0 + rng.randint(0, 364)
            if d < first or d > ctx.end or not p.alive_on(d):
                continue
            v = ctx.visit(p, hospital, c["dept"], d, cu.office_minute(rng), 20, "OPD", number=True)
            cond = ctx.condition(v, c["icd10"], c["name"], onset=onset)
            if c["key"] in ("htn", "chd", "stroke"):
                vitals(ctx, v, p, weight=False)
            if c["key"] == "dm2":
                ctx.lab_panel(v, "dm", {k: cu.lab_value(rng, labs[k], diabetic=True) for k in ("glu", "hba1c")})
            elif c["key"] == "lipid":
                ctx.lab_panel(v, "chem", {k: cu.lab_value(rng, labs[k]) for k in ("glu", "tc", "cr", "alt")})
            ctx.medication(v, rng.choice(c["drugs"]), days=30, reason=cond)


def _contracts(ctx: Ctx, p: Person, managed: bool) -> None:
    rng = ctx.rng
    age = p.age_on(ctx.start)
    share = 0.8 if managed else 0.75 if age >= 65 else 0.45 if age < 7 else 0.12
    if rng.random() >= share:
        return
    centre = cu.centre(ctx)
    doctor = centre.clinician(rng, "general")[1]
    clinic = ctx.hh.village.clinic
    package = "慢病包" if managed else "老年人包" if age >= 65 else "儿童包" if age < 7 else "基础包"
    for year in cu.years(ctx):
        y0, _ = cu.year_bounds(year)
        start = y0 + rng.randint(0, 75)
        if not p.alive_on(start) or start > ctx.end or rng.random() < 0.08:
            continue
        end = start + 364
        died = p.death is not None and p.death <= end
        if p.death is not None:
            end = min(end, p.death)
        period = {"start": day(start), "end": day(end)}
        plan: dict[str, Any] = {
            "resourceType": "CarePlan",
            "id": ctx.nid(),
            "status": "completed" if end < ctx.end or died else "active",
            "intent": "plan",
            "category": [_CONTRACT],
            "title": "家庭医生签约服务协议",
            "description": package,
            "subject": ref("Patient", ctx.patient(p, centre, start)),
            "period": period,
            "created": dt(start, cu.office_minute(rng)),
            "author": ref("PractitionerRole", doctor.role_id, doctor.name),
        }
        if clinic is not None:
            vd = clinic.dept("general").staff[0]
            plan["contributor"] = [ref("PractitionerRole", vd.role_id, vd.name)]
        ctx.out.append(plan)


def _elderly_exams(ctx: Ctx, p: Person) -> None:
    rng = ctx.rng
    centre = cu.centre(ctx)
    labs = ctx.region.labs
    for year in cu.years(ctx):
        y0, _ = cu.year_bounds(year)
        d = y0 + rng.randint(60, 300)
        if p.age_on(d) < 65 or not p.alive_on(d) or d > ctx.end or rng.random() > 0.7:
            continue
        v = ctx.visit(p, centre, "general", d, rng.randint(450, 600), 60, "ELDER-EXAM", visit_type="4")
        vitals(ctx, v, p, height=True)
        male = p.sex == "male"
        diabetic = "dm2" in p.chronic
        ctx.lab_panel(v, "cbc", {k: cu.lab_value(rng, labs[k], male=male) for k in ("wbc", "hb", "plt")})
        ctx.lab_panel(
            v, "chem", {k: cu.lab_value(rng, labs[k], diabetic=diabetic, male=male) for k in ("glu", "tc", "cr", "alt")}
        )
        if rng.random() < 0.6:
            ctx.imaging(v, "ecg", rng.random() < 0.2)
        if rng.random() < 0.4:
            ctx.imaging(v, "us_ruq", rng.random() < 0.15)
