"""Inpatient stays, referrals between levels (双向转诊) and discharge summaries (出院小结).

Admissions happen at the county hospital or, for a share of each reason, the city tertiary
hospital; some are upward referrals (ServiceRequest from the village/township or county level),
some tertiary discharges are referred down to the township centre for follow-up. Each stay has
admission vitals, labs, imaging, procedures (ICD-9-CM-3), medication orders and a discharge
summary as a FHIR ``Composition`` (LOINC 18842-5, sections after WS/T 500.53 出院小结). About
45% of deaths happen in hospital (dischargeDisposition ``exp``).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from rhip.synth import care_util as cu
from rhip.synth import fhirbase as fb
from rhip.synth import reference
from rhip.synth import systems as cs
from rhip.synth.chronic import referral, vitals
from rhip.synth.context import Ctx, Visit
from rhip.synth.facilities import Facility
from rhip.synth.fhirbase import cc, dt, ref
from rhip.synth.population import Person

_ADMIT = {
    k: cc(cs.CS_ADMIT_SOURCE, k, d)
    for k, d in (
        ("outp", "From outpatient department"),
        ("emd", "From accident/emergency department"),
        ("hosp-trans", "Transferred from other hospital"),
        ("born", "Born in hospital"),
    )
}
_DISCHARGE = {
    k: cc(cs.CS_DISCHARGE, k, d)
    for k, d in (("home", "Home"), ("exp", "Expired"), ("other-hcf", "Other healthcare facility"))
}
_SECTION = {
    "admit": (cc(cs.CS_LOINC, "46241-6", "Hospital admission diagnosis Narrative"), "入院诊断"),
    "discharge": (cc(cs.CS_LOINC, "11535-2", "Hospital discharge Dx Narrative"), "出院诊断"),
    "course": (cc(cs.CS_LOINC, "8648-8", "Hospital course Narrative"), "住院过程"),
    "procedures": (cc(cs.CS_LOINC, "47519-4", "History of Procedures Document"), "手术操作"),
    "meds": (cc(cs.CS_LOINC, "10183-2", "Hospital discharge medications Narrative"), "出院带药"),
    "instructions": (cc(cs.CS_LOINC, "8653-8", "Hospital Discharge instructions"), "出院医嘱"),
}
_DOC_TYPE = cc(cs.CS_LOINC, "18842-5", "Discharge summary", "出院小结")
_PERSISTENT = frozenset(("E11.9", "I10", "J44.1", "C34.9", "I63.9", "I20.0"))
_EMR = cc(f"{cs.CANONICAL}/CodeSystem/shared-document-category", "EMR", "电子病历")


def _rate(age: float) -> float:
    if age < 5:
        return 0.08
    if age < 15:
        return 0.03
    if age < 45:
        return 0.04
    if age < 65:
        return 0.09
    if age < 80:
        return 0.2
    return 0.28


def _choose(ctx: Ctx, p: Person, age: float, severe: bool = False) -> dict[str, Any] | None:
    options = [
        r
        for r in reference.clinical()["inpatient"]
        if r["ages"][0] <= age <= r["ages"][1] and (r["requires"] is None or r["requires"] in p.chronic)
    ]
    if severe:
        options = [r for r in options if r["icd10"] in ("J18.9", "I63.9", "C34.9", "J44.1", "I20.0")] or options
    key = "child_weight" if age < 15 else "elderly_weight" if age >= 65 else "weight"
    weights = [r[key] for r in options]
    if not options or not any(weights):
        return None
    chosen: dict[str, Any] = ctx.rng.choices(options, weights=weights)[0]
    return chosen


def run(ctx: Ctx, p: Person) -> None:
    """Admissions of ``p`` in the window (and the final stay of a death in hospital)."""
    rng = ctx.rng
    for year in cu.years(ctx):
        y0, _ = cu.year_bounds(year)
        age = p.age_on(y0 + 182)
        if age < 0:
            continue
        for _ in range(cu.poisson(rng, _rate(age))):
            d = y0 + rng.randint(0, 364)
            reason = _choose(ctx, p, p.age_on(d))
            if reason and p.alive_on(d) and p.alive_on(d + 1) and d + 1 <= ctx.end:
                admission(ctx, p, d, reason)
    if p.death is not None and ctx.start < p.death <= ctx.end and p.age_on(p.death) > 1 and rng.random() < 0.45:
        reason = _choose(ctx, p, p.age_on(p.death), severe=True)
        if reason:
            los = rng.randint(1, 12)
            if p.death - los >= ctx.start and p.death - los > p.birth:
                admission(ctx, p, p.death - los, reason, died=True)


def admission(ctx: Ctx, p: Person, d: int, reason: dict[str, Any], died: bool = False) -> None:
    """One stay for ``reason`` starting on day ``d`` (referral, orders, summary)."""
    rng = ctx.rng
    tertiary = rng.random() < reason["tertiary"]
    fac = cu.tertiary(ctx) if tertiary else cu.county_hospital(ctx)
    los = p.death - d if died and p.death is not None else rng.randint(*reason["los"])
    source = "emd" if rng.random() < 0.35 else "outp"
    referred: str | None = None
    if not died and rng.random() < (0.4 if tertiary else 0.3):
        origin = cu.county_hospital(ctx) if tertiary else cu.primary(ctx)
        rv = ctx.visit(
            p, origin, reason["dept"], d, cu.office_minute(rng), 20, "OPD", number=origin.kind in ("county", "tertiary")
        )
        cond = ctx.condition(rv, reason["icd10"], reason["name"], provisional=True)
        referred = referral(ctx, rv, fac, cond, d)
        source = "hosp-trans" if tertiary else "outp"
    dept = "pediatrics" if p.age_on(d) < 14 and reason["dept"] not in ("surgery", "ortho", "eye") else reason["dept"]
    v = stay(
        ctx,
        p,
        fac,
        dept,
        d,
        los,
        [(reason["icd10"], reason["name"])],
        source=source,
        died=died,
        drugs=reason["drugs"],
        imaging=reason.get("imaging"),
        procedure=reason["procedure"]
        if reason.get("procedure") and rng.random() < reason.get("procedure_share", 0)
        else None,
        referral=referred,
    )
    if tertiary and not died and rng.random() < 0.15:
        down = v.end_day + rng.randint(1, 14)
        sr = referral(ctx, v, cu.centre(ctx), None, v.end_day, note="下转")
        if p.alive_on(down) and down <= ctx.end:
            fv = ctx.visit(p, cu.centre(ctx), "general", down, cu.office_minute(rng), 20, "OPD")
            fv.resource["basedOn"] = [ref("ServiceRequest", sr)]
            vitals(ctx, fv, p, weight=False)


def stay(
    ctx: Ctx,
    p: Person,
    fac: Facility,
    dept: str,
    d: int,
    los: int,
    diagnoses: list[tuple[str, str]],
    *,
    source: str = "outp",
    died: bool = False,
    drugs: Sequence[str] = (),
    imaging: str | None = None,
    procedure: str | None = None,
    referral: str | None = None,
    labs: bool = True,
) -> Visit:
    """An inpatient Encounter with its clinical content and discharge summary."""
    rng = ctx.rng
    admit_min = rng.randint(420, 1260) if source == "emd" else rng.randint(480, 960)
    end_day, end_min = d + los, (rng.randint(0, 1439) if died else rng.randint(540, 660))
    v = ctx.visit(
        p,
        fac,
        dept,
        d,
        admit_min,
        0,
        "IPD",
        cls=fb.CLASS_IMP,
        visit_type="3",
        end_day=end_day,
        end_minute=end_min,
        number=True,
    )
    enc = v.resource
    if referral:
        enc["basedOn"] = [ref("ServiceRequest", referral)]
    enc["length"] = {"value": los, "unit": "天", "system": cs.UCUM, "code": "d"}
    enc["hospitalization"] = {
        "admitSource": _ADMIT[source],
        "dischargeDisposition": _DISCHARGE["exp" if died else "home"],
    }
    conds: list[tuple[str, str, str]] = []
    for icd, name in diagnoses:
        resolved = None if died or icd in _PERSISTENT else end_day
        conds.append((ctx.condition(v, icd, name, onset=d - rng.randint(0, 5), resolved_day=resolved), icd, name))
    catalogue = {c["key"]: c for c in reference.clinical()["chronic"]}
    for key in list(p.chronic)[:2]:
        c = catalogue[key]
        if c["icd10"] not in (x[1] for x in conds):
            conds.append((ctx.condition(v, c["icd10"], c["name"], onset=p.chronic[key]), c["icd10"], c["name"]))
    if p.age_on(d) >= 3:
        vitals(ctx, v, p, weight=True)
    ctx.vital(v, "temp", round(rng.gauss(36.9, 0.5), 1), 8)
    if labs:
        lab = ctx.region.labs
        male = p.sex == "male"
        ctx.lab_panel(
            v,
            "cbc",
            {
                k: cu.lab_value(rng, lab[k], infection=diagnoses[0][0].startswith("J"), male=male)
                for k in ("wbc", "hb", "plt")
            },
            minutes=40,
        )
        ctx.lab_panel(
            v,
            "chem",
            {k: cu.lab_value(rng, lab[k], diabetic="dm2" in p.chronic, male=male) for k in ("glu", "tc", "cr", "alt")},
            minutes=45,
        )
    if imaging:
        ctx.imaging(v, imaging, True, minutes=120)
    procs: list[tuple[str, str]] = []
    if procedure:
        pday = d + min(los - 1, 1) if los > 1 else d
        pid = ctx.procedure(v, procedure, pday, 600 if pday > d else admit_min + 120, reason=conds[0][0])
        procs.append((pid, ctx.region.procedures[procedure]["name"]))
    meds = [
        (ctx.medication(v, drug, minutes=60, days=los, reason=conds[0][0]), ctx.region.drugs[drug]["name"])
        for drug in drugs
    ]
    discharge_summary(ctx, v, p, conds, procs, meds, died)
    return v


def _div(lines: list[str]) -> dict[str, str]:
    body = "".join(f"<p>{escape(x)}</p>" for x in lines)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def _section(key: str, lines: list[str], entries: list[str], rtype: str) -> dict[str, Any]:
    code, title = _SECTION[key]
    sec: dict[str, Any] = {"title": title, "code": code, "text": _div(lines)}
    if entries:
        sec["entry"] = [ref(rtype, e) for e in entries]
    return sec


def discharge_summary(
    ctx: Ctx,
    v: Visit,
    p: Person,
    conds: list[tuple[str, str, str]],
    procs: list[tuple[str, str]],
    meds: list[tuple[str, str]],
    died: bool,
) -> str:
    """出院小结 as a Composition referencing the stay's resources."""
    admit = fb.day(v.day)
    leave = fb.day(v.end_day)
    main = conds[0][2]
    treatment = "、".join(m[1] for m in meds) or "对症支持"
    course = f"患者因{main}于{admit}入院，入院后完善相关检查，予{treatment}等治疗，" + (
        f"病情危重，经抢救无效，于{leave}死亡。" if died else f"病情好转，于{leave}出院。"
    )
    sections = [
        _section("admit", [f"{c[2]}（{c[1]}）" for c in conds[:1]], [conds[0][0]], "Condition"),
        _section("discharge", [f"{c[2]}（{c[1]}）" for c in conds], [c[0] for c in conds], "Condition"),
        _section("course", [course], [], "Condition"),
    ]
    if procs:
        sections.append(_section("procedures", [x[1] for x in procs], [x[0] for x in procs], "Procedure"))
    if meds and not died:
        sections.append(_section("meds", [x[1] for x in meds], [x[0] for x in meds], "MedicationRequest"))
    if not died:
        sections.append(
            _section("instructions", ["注意休息，规律服药，定期门诊复查；如有不适及时就诊。"], [], "Condition")
        )
    cid = ctx.nid()
    when = dt(v.end_day, v.end)
    ctx.out.append(
        {
            "resourceType": "Composition",
            "id": cid,
            "identifier": {"system": f"urn:oid:{cs.OID_DOCUMENT}", "value": "C0053-" + cid[:16].upper()},
            "status": "final",
            "type": _DOC_TYPE,
            "category": [_EMR],
            "subject": ref("Patient", v.patient),
            "encounter": ref("Encounter", v.id),
            "date": when,
            "author": [ref("PractitionerRole", v.staff.role_id, v.staff.name)],
            "title": "出院小结",
            "confidentiality": "N",
            "attester": [
                {"mode": "legal", "time": when, "party": ref("PractitionerRole", v.staff.role_id, v.staff.name)}
            ],
            "custodian": ref("Organization", v.fac.id, v.fac.name),
            "section": sections,
        }
    )
    return cid
