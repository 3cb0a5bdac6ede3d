"""Per-household generation context and the FHIR builders shared by the care modules.

A :class:`Ctx` owns the household's RNG, allocates opaque resource ids, collects the resources
and ground-truth rows, and knows the simulation window. The builders create Encounters,
Conditions, Observations, MedicationRequests, ServiceRequests and DiagnosticReports with the
required elements and bindings of FHIR R4 (statuses, condition-clinical, observation-category,
choice names such as ``valueQuantity`` / ``effectiveDateTime``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rhip.synth import fhirbase as fb
from rhip.synth import systems as cs
from rhip.synth.fhirbase import dt, qty, ref

if TYPE_CHECKING:
    from rhip.synth.facilities import Department, Facility, Staff
    from rhip.synth.population import Household, Person
    from rhip.synth.region import Region


@dataclass(slots=True)
class Visit:
    """An Encounter being built: who, where, when."""

    id: str
    patient: str
    person: Person
    fac: Facility
    dept: Department
    staff: Staff
    day: int
    start: int
    end_day: int
    end: int
    resource: dict[str, Any]

    @property
    def when(self) -> str:
        """Start dateTime."""
        return dt(self.day, self.start)

    def at(self, minutes: int) -> str:
        """dateTime ``minutes`` after the start."""
        return dt(self.day, self.start + minutes)


class Ctx:
    """Generation context of one household."""

    __slots__ = ("_n", "end", "hh", "out", "region", "rng", "start", "truth")

    def __init__(self, region: Region, rng: random.Random, hh: Household) -> None:
        self.region = region
        self.rng = rng
        self.hh = hh
        self.out: list[dict[str, Any]] = []
        self.truth: list[tuple[str, ...]] = []
        self._n = 0
        self.start = region.start
        self.end = region.end

    def nid(self) -> str:
        """A fresh opaque resource id (deterministic in seed, household, order)."""
        self._n += 1
        return self.region.ids.make(f"{self.hh.index}:{self._n}")

    def patient(self, p: Person, fac: Facility, day: int) -> str:
        """Id of ``p``'s registration at ``fac``, created (with identity noise) on first use."""
        reg = p.regs.get(fac.id)
        if reg is None:
            reg = self.region.registrar.register(self, p, fac, day)
        return reg[0]

    # --- encounters -----------------------------------------------------------------------------
    def visit(
        self,
        p: Person,
        fac: Facility,
        dept_key: str,
        day: int,
        minute: int,
        minutes: int,
        service: str,
        cls: dict[str, str] = fb.CLASS_AMB,
        visit_type: str = "1",
        end_day: int | None = None,
        end_minute: int | None = None,
        number: bool = False,
    ) -> Visit:
        """Create a finished Encounter of ``p`` at a facility department."""
        dept, staff = fac.clinician(self.rng, dept_key)
        pid = self.patient(p, fac, day)
        eid = self.nid()
        e_day = day if end_day is None else end_day
        e_min = minute + minutes if end_minute is None else end_minute
        enc: dict[str, Any] = {"resourceType": "Encounter", "id": eid}
        if number:
            prefix = "ZY" if cls is fb.CLASS_IMP else "MZ"
            enc["identifier"] = [{"system": f"{cs.CANONICAL}/sid/visit/{fac.uscc}", "value": prefix + eid[:12].upper()}]
        enc["status"] = "finished"
        enc["class"] = cls
        enc["type"] = [fb.VISIT_TYPE[visit_type]]
        enc["serviceType"] = fb.SERVICE_CC[service]
        enc["subject"] = ref("Patient", pid)
        enc["participant"] = [
            {"type": fb.PARTICIPANT_ATTENDER, "individual": ref("PractitionerRole", staff.role_id, staff.name)}
        ]
        enc["period"] = {"start": dt(day, minute), "end": dt(e_day, e_min)}
        enc["location"] = [{"location": ref("Location", dept.location_id, dept.name)}]
        enc["serviceProvider"] = ref("Organization", fac.id, fac.name)
        self.out.append(enc)
        return Visit(eid, pid, p, fac, dept, staff, day, minute, e_day, e_min, enc)

    # --- conditions -----------------------------------------------------------------------------
    def condition(
        self,
        v: Visit,
        icd: str,
        name: str,
        *,
        problem: bool = False,
        onset: int | None = None,
        resolved_day: int | None = None,
        extra_category: dict[str, Any] | None = None,
        provisional: bool = False,
        rank: int | None = None,
    ) -> str:
        """A Condition diagnosed at visit ``v`` (added to the Encounter's diagnosis list)."""
        cid = self.nid()
        cond: dict[str, Any] = {"resourceType": "Condition", "id": cid}
        cond["clinicalStatus"] = fb.CLINICAL_ACTIVE if resolved_day is None else fb.CLINICAL_RESOLVED
        cond["verificationStatus"] = fb.VER_PROVISIONAL if provisional else fb.VER_CONFIRMED
        cats = [fb.CAT_PROBLEM if problem else fb.CAT_ENCOUNTER_DX]
        if extra_category is not None:
            cats.append(extra_category)
        cond["category"] = cats
        cond["code"] = self.region.icd(icd, name)
        cond["subject"] = ref("Patient", v.patient)
        cond["encounter"] = ref("Encounter", v.id)
        if onset is not None and onset < v.person.birth:
            onset = v.person.birth  # never before birth (newborns, infants)
        cond["onsetDateTime"] = dt(onset, 480) if onset is not None and onset < v.day else v.when
        if resolved_day is not None:
            cond["abatementDateTime"] = dt(resolved_day, 720)
        cond["recordedDate"] = v.when
        cond["recorder"] = ref("PractitionerRole", v.staff.role_id)
        self.out.append(cond)
        diag = v.resource.setdefault("diagnosis", [])
        entry: dict[str, Any] = {"condition": ref("Condition", cid)}
        entry["rank"] = rank if rank is not None else len(diag) + 1
        diag.append(entry)
        return cid

    # --- observations ---------------------------------------------------------------------------
    def _obs(self, v: Visit, code: dict[str, Any], category: list[dict[str, Any]], minutes: int) -> dict[str, Any]:
        oid = self.nid()
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "category": category,
            "code": code,
            "subject": ref("Patient", v.patient),
            "encounter": ref("Encounter", v.id),
            "effectiveDateTime": v.at(minutes),
            "performer": [ref("PractitionerRole", v.staff.role_id)],
        }
        self.out.append(obs)
        return obs

    def vital(self, v: Visit, key: str, value: float | int, minutes: int = 5) -> str:
        """A vital-sign Observation (``key`` in region.vital_codes)."""
        code, unit, ucum = self.region.vital_codes[key]
        obs = self._obs(v, code, fb.OBS_VITALS, minutes)
        obs["valueQuantity"] = qty(value, unit, ucum)
        return str(obs["id"])

    def blood_pressure(self, v: Visit, systolic: int, diastolic: int, minutes: int = 5) -> str:
        """Blood-pressure panel 85354-9 with 8480-6 / 8462-4 components."""
        obs = self._obs(v, self.region.bp_codes[0], fb.OBS_VITALS, minutes)
        obs["component"] = [
            {"code": self.region.bp_codes[1], "valueQuantity": qty(systolic, *fb.MMHG)},
            {"code": self.region.bp_codes[2], "valueQuantity": qty(diastolic, *fb.MMHG)},
        ]
        return str(obs["id"])

    def lab(self, v: Visit, key: str, value: float, minutes: int, based_on: str | None) -> str:
        """A laboratory Observation with reference range and interpretation."""
        lab = self.region.labs[key]
        obs = self._obs(v, lab["cc"], fb.OBS_LAB, minutes)
        if based_on:
            obs["basedOn"] = [ref("ServiceRequest", based_on)]
        obs["valueQuantity"] = qty(value, lab["unit"], lab["ucum"])
        flag = "H" if value > lab["high"] else "L" if value < lab["low"] else "N"
        obs["interpretation"] = [fb.INTERP[flag]]
        obs["referenceRange"] = lab["range"]
        return str(obs["id"])

    # --- orders and reports ---------------------------------------------------------------------
    def order(
        self,
        v: Visit,
        code: dict[str, Any],
        category: dict[str, Any],
        minutes: int = 10,
        performer: Facility | None = None,
    ) -> str:
        """A completed ServiceRequest (lab or imaging order) with an 电子申请单编号."""
        sid = self.nid()
        sr: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "id": sid,
            "identifier": [{"system": cs.SID_ORDER_NO, "value": "SQ" + sid[:14].upper()}],
            "status": "completed",
            "intent": "order",
            "category": [category],
            "code": code,
            "subject": ref("Patient", v.patient),
            "encounter": ref("Encounter", v.id),
            "authoredOn": v.at(minutes),
            "requester": ref("PractitionerRole", v.staff.role_id, v.staff.name),
        }
        if performer is not None:
            sr["performer"] = [ref("Organization", performer.id, performer.name)]
        self.out.append(sr)
        return sid

    def lab_panel(self, v: Visit, panel: str, values: dict[str, float], minutes: int = 15) -> str:
        """Order + results + a LAB DiagnosticReport for a panel (血常规, 生化, …)."""
        pdef = self.region.panels[panel]
        sr = self.order(v, pdef["cc"], self.region.order_lab, minutes)
        results = [self.lab(v, k, values[k], minutes + 60, sr) for k in pdef["items"]]
        rid = self.nid()
        self.out.append(
            {
                "resourceType": "DiagnosticReport",
                "id": rid,
                "basedOn": [ref("ServiceRequest", sr)],
                "status": "final",
                "category": fb.DR_LAB,
                "code": pdef["cc"],
                "subject": ref("Patient", v.patient),
                "encounter": ref("Encounter", v.id),
                "effectiveDateTime": v.at(minutes + 30),
                "issued": v.at(minutes + 90),
                "performer": [ref("Organization", v.fac.id, v.fac.name)],
                "result": [ref("Observation", o) for o in results],
            }
        )
        return rid

    def imaging(self, v: Visit, key: str, abnormal: bool, minutes: int = 30) -> str:
        """Order + RAD DiagnosticReport with a Chinese conclusion."""
        img = self.region.imaging[key]
        sr = self.order(v, img["cc"], self.region.order_imaging, minutes)
        _dept, staff = v.fac.clinician(self.rng, img["dept"])
        rid = self.nid()
        self.out.append(
            {
                "resourceType": "DiagnosticReport",
                "id": rid,
                "basedOn": [ref("ServiceRequest", sr)],
                "status": "final",
                "category": fb.DR_RAD,
                "code": img["cc"],
                "subject": ref("Patient", v.patient),
                "encounter": ref("Encounter", v.id),
                "effectiveDateTime": v.at(minutes + 20),
                "issued": v.at(minutes + 80),
                "performer": [ref("PractitionerRole", staff.role_id, staff.name)],
                "conclusion": img["abnormal"] if abnormal else img["normal"],
            }
        )
        return rid

    def medication(
        self,
        v: Visit,
        drug_key: str,
        minutes: int = 20,
        days: int = 7,
        status: str = "completed",
        reason: str | None = None,
    ) -> str:
        """A MedicationRequest with WS 364 route and structured dosage."""
        drug = self.region.drugs[drug_key]
        mid = self.nid()
        mr: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": mid,
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": drug["cc"],
            "subject": ref("Patient", v.patient),
            "encounter": ref("Encounter", v.id),
            "authoredOn": v.at(minutes),
            "requester": ref("PractitionerRole", v.staff.role_id, v.staff.name),
        }
        if reason:
            mr["reasonReference"] = [ref("Condition", reason)]
        mr["dosageInstruction"] = drug["dosage"]
        mr["dispenseRequest"] = {
            "expectedSupplyDuration": {"value": days, "unit": "天", "system": cs.UCUM, "code": "d"}
        }
        self.out.append(mr)
        return mid

    def procedure(self, v: Visit, key: str, day: int, minute: int, reason: str | None = None) -> str:
        """A completed Procedure coded in ICD-9-CM-3."""
        pdef = self.region.procedures[key]
        pid = self.nid()
        proc: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": pid,
            "status": "completed",
            "code": pdef["cc"],
            "subject": ref("Patient", v.patient),
            "encounter": ref("Encounter", v.id),
            "performedDateTime": dt(day, minute),
            "performer": [{"actor": ref("PractitionerRole", v.staff.role_id, v.staff.name)}],
        }
        if reason:
            proc["reasonReference"] = [ref("Condition", reason)]
        self.out.append(proc)
        return pid


def gauss_int(rng: random.Random, mean: float, sd: float, lo: int, hi: int) -> int:
    """Normal draw rounded and clipped."""
    return max(lo, min(hi, round(rng.gauss(mean, sd))))
