"""Acute outpatient care and notifiable infectious disease cases (法定传染病报告, standards.md §7.1).

Acute problems are seen at the level a Chinese patient would choose (village clinic, township
centre, county or city hospital; 急诊 for a share of hospital visits) with temperature, labs,
imaging, prescriptions and minor procedures. Infectious cases are diagnosed like any visit and
reported to the county CDC as a ``Communication`` (category 传染病报告卡) within the legal time
limit (甲类 2 h, 乙/丙类 24 h; ~3% late, for timeliness indicators).
"""

from __future__ import annotations

from typing import Any

from rhip.synth import care_util as cu
from rhip.synth import fhirbase as fb
from rhip.synth import reference
from rhip.synth import systems as cs
from rhip.synth.chronic import vitals
from rhip.synth.context import Ctx, Visit
from rhip.synth.fhirbase import cc, dt, ref
from rhip.synth.population import Person

_RESPIRATORY = ("J06", "J20", "J02", "J03", "J18", "J11", "H66")
_CLASS_CC = {k: cc(cs.CS_NOTIFIABLE_CLASS, k, v) for k, v in reference.infectious()["classes"].items()}
_CASE_CC: dict[str, dict[str, Any]] = {}
_IDR_CARD = cc(cs.CS_COMMUNICATION, "idr-card", "传染病报告卡")
_RESIDENCE = {
    "1": {"system": cs.CS_PATIENT_RESIDENCE, "code": "1", "display": "本县区"},
    "2": {"system": cs.CS_PATIENT_RESIDENCE, "code": "2", "display": "本市其他县区"},
}


def _rate(age: float) -> float:
    if age < 7:
        return 2.2
    if age < 18:
        return 0.9
    if age < 60:
        return 0.7
    return 1.1


def run(ctx: Ctx, p: Person) -> None:
    """Acute visits and infectious cases of ``p`` in the window."""
    rng = ctx.rng
    catalogue = reference.clinical()["acute"]
    for year in cu.years(ctx):
        y0, _y1 = cu.year_bounds(year)
        age = p.age_on(y0 + 182)
        if age < 0:
            continue
        for _ in range(cu.poisson(rng, _rate(age))):
            d = y0 + rng.randint(0, 364)
            if p.alive_on(d) and d <= ctx.end:
                _acute_visit(ctx, p, d, catalogue)
        for disease in reference.infectious()["diseases"]:
            lo, hi = disease["ages"]
            if lo <= age <= hi and rng.random() < disease["incidence"] / 100000:
                d = y0 + rng.randint(0, 364)
                if p.alive_on(d) and d <= ctx.end:
                    infectious_case(ctx, p, d, disease)


def _choose(ctx: Ctx, age: float, catalogue: list[dict[str, Any]]) -> dict[str, Any]:
    child = age < 14
    options = [a for a in catalogue if a["ages"][0] <= age <= a["ages"][1]]
    weights = [a["child_weight"] if child else a["weight"] for a in options]
    if not any(weights):
        weights = [1] * len(options)
    return ctx.rng.choices(options, weights=weights)[0]


def _acute_visit(ctx: Ctx, p: Person, d: int, catalogue: list[dict[str, Any]]) -> None:
    rng = ctx.rng
    age = p.age_on(d)
    problem = _choose(ctx, age, catalogue)
    fac = cu.outpatient_facility(ctx, p, d)
    hospital = fac.kind in ("county", "tertiary", "mch")
    er = hospital and rng.random() < 0.1
    dept = "emergency" if er else ("pediatrics" if age < 14 and hospital else problem["dept"])
    minute = rng.randint(0, 1439) if er else cu.office_minute(rng)
    v = ctx.visit(
        p,
        fac,
        dept,
        d,
        minute,
        rng.randint(10, 40),
        "ER" if er else "OPD",
        cls=fb.CLASS_EMER if er else fb.CLASS_AMB,
        visit_type="2" if er else "1",
        number=hospital,
    )
    cond = ctx.condition(
        v, problem["icd10"], problem["name"], onset=d - rng.randint(0, 3), resolved_day=d + rng.randint(5, 14)
    )
    _treat(ctx, p, v, problem, cond, infection=problem["icd10"].startswith(_RESPIRATORY))


def _treat(ctx: Ctx, p: Person, v: Visit, problem: dict[str, Any], cond: str, infection: bool) -> None:
    rng = ctx.rng
    age = p.age_on(v.day)
    if infection:
        ctx.vital(v, "temp", round(rng.gauss(38.0, 0.6), 1))
    elif rng.random() < 0.3 and age >= 18:
        vitals(ctx, v, p, weight=False)
    has_lab = v.fac.kind != "village"
    if has_lab and problem.get("labs") and rng.random() < problem.get("lab_share", 0):
        labs = ctx.region.labs
        male = p.sex == "male"
        ctx.lab_panel(
            v, "cbc", {k: cu.lab_value(rng, labs[k], infection=infection, male=male) for k in ("wbc", "hb", "plt")}
        )
    img = problem.get("imaging")
    if img and has_lab and v.fac.kind != "community" and rng.random() < 0.4:
        ctx.imaging(v, img, rng.random() < 0.5)
    if problem.get("procedure"):
        ctx.procedure(v, problem["procedure"], v.day, v.start + 15, reason=cond)
    for drug in problem.get("drugs", []):
        if rng.random() < 0.85:
            ctx.medication(v, drug, days=rng.randint(3, 7), reason=cond)


def infectious_case(ctx: Ctx, p: Person, d: int, disease: dict[str, Any]) -> None:
    """Diagnose a notifiable disease and file the 传染病报告卡 to the county CDC."""
    rng = ctx.rng
    r = rng.random()
    fac = cu.county_hospital(ctx) if r < 0.6 else cu.centre(ctx) if r < 0.85 else cu.tertiary(ctx)
    age = p.age_on(d)
    hospital = fac.kind in ("county", "tertiary")
    dept = "pediatrics" if age < 14 and hospital else "infectious" if hospital else "general"
    v = ctx.visit(p, fac, dept, d, cu.office_minute(rng), 30, "OPD", number=hospital)
    case = disease["case"]
    chronic = disease["icd10"] in ("B18.1", "B18.2", "B24")
    resolved = None if chronic or disease["icd10"] == "A15.0" else d + rng.randint(7, 21)
    onset = d - rng.randint(0, 5)
    cond = ctx.condition(
        v,
        disease["icd10"],
        disease["name"],
        onset=onset,
        resolved_day=resolved,
        extra_category=_CLASS_CC[disease["class"]],
        provisional=case == "疑似病例",
    )
    _treat(
        ctx,
        p,
        v,
        {"drugs": disease["drugs"], "labs": ["cbc"], "lab_share": 0.5},
        cond,
        infection=disease["icd10"].startswith(_RESPIRATORY),
    )
    limit = disease["report_hours"] * 60
    late = rng.random() < 0.03
    delay = limit + rng.randint(60, 2880) if late else rng.randint(10, int(limit * 0.9))
    sent_min = v.start + 30 + delay
    county = ctx.hh.village.township.county
    residence = _RESIDENCE["1" if fac.division == county.code else "2"]
    cls_cc = _CLASS_CC[disease["class"]]
    cdc = cu.cdc(ctx)
    comm_id = ctx.nid()
    ctx.out.append(
        {
            "resourceType": "Communication",
            "id": comm_id,
            "extension": [{"url": cs.EXT_PATIENT_RESIDENCE, "valueCoding": residence}],
            "identifier": [{"system": cs.SID_REPORT_CARD, "value": f"{fac.division}{comm_id[:10].upper()}"}],
            "status": "completed",
            "category": [_IDR_CARD],
            "priority": "asap" if disease["class"] == "A" else "routine",
            "subject": ref("Patient", v.patient),
            "topic": ctx.region.icd(disease["icd10"], disease["name"]),
            "about": [ref("Condition", cond)],
            "encounter": ref("Encounter", v.id),
            "sent": dt(d, sent_min),
            "received": dt(d, sent_min + rng.randint(1, 20)),
            "recipient": [ref("Organization", cdc.id, cdc.name)],
            "sender": ref("Organization", fac.id, fac.name),
            "reasonCode": [cls_cc, _case_cc(case)],
            "payload": [
                {
                    "contentString": (
                        f"{cls_cc['text']}传染病 {disease['name']}（{case}）；发病日期 {fb.day(onset)}；"
                        f"诊断日期 {v.when[:16].replace('T', ' ')}；报卡类别：初次报告；"
                        f"病人属于：{residence['display']}"
                    )
                }
            ],
        }
    )


def _case_cc(case: str) -> dict[str, Any]:
    c = _CASE_CC.get(case)
    if c is None:
        code = {"疑似病例": "1", "临床诊断病例": "2", "确诊病例": "3", "病原携带者": "4"}[case]
        c = _CASE_CC[case] = cc(cs.CS_CASE_CLASS, code, case)
    return c
