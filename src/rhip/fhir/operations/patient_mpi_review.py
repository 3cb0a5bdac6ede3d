"""``Patient/$mpi-review``: the review queue of the master person index.

GET (``status=open|closed``, ``_count``, default 50): Parameters with one ``task`` part per task — id,
status, the two masters, the strongest pair of registrations, its score, and the stored explanation
(model version, rule, per-field level and weight), so a clerk sees why the pair was held back.
POST Parameters ``task`` (integer) and ``resolution`` (``link`` merges the two persons into the older
one, ``no-link`` closes the task; the same pair of persons is then not queued again).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from rhip.fhir.errors import FhirError
from rhip.fhir.operations import mpi_common as mc
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.mpi import actions
from rhip.mpi.tables import mpi_decisions, mpi_registrations, mpi_reviews
from rhip.security.policy import Access
from rhip.store.repository import Unit


def _list(unit: Unit, req: FhirRequest) -> FhirResponse:
    unit.authorize(Access.READ, "Patient")
    q = dict(req.query)
    status = q.get("status", "open")
    raw = q.get("_count", "50")
    if not raw.isdigit():
        raise FhirError.bad_request("_count must be a non-negative integer", "_count 必须是非负整数", "_count")
    r, d, g = mpi_reviews.c, mpi_decisions.c, mpi_registrations.c
    rows = unit.conn.execute(
        select(r.id, r.status, r.person_a, r.person_b, r.rid, r.other, r.score, r.resolution, d.model, d.rule, d.fields)
        .select_from(mpi_reviews.join(mpi_decisions, d.id == r.decision))
        .where(r.status == status)
        .order_by(r.id)
        .limit(min(int(raw), 500))
    ).all()
    ids = {int(x.rid) for x in rows} | {int(x.other) for x in rows}
    names = {int(x.rid): str(x.id) for x in unit.conn.execute(select(g.rid, g.id).where(g.rid.in_(ids)))} if ids else {}
    unit.audit.query("operation", f"Patient/$mpi-review?status={status}")
    tasks: list[dict[str, Any]] = []
    for x in rows:
        parts: list[dict[str, Any]] = [
            {"name": "id", "valueInteger": int(x.id)},
            {"name": "status", "valueCode": str(x.status)},
            {"name": "personA", "valueReference": {"reference": f"Patient/{mc.MASTER_PREFIX}{x.person_a}"}},
            {"name": "personB", "valueReference": {"reference": f"Patient/{mc.MASTER_PREFIX}{x.person_b}"}},
            {"name": "score", "valueDecimal": round(float(x.score), 3)},
            {"name": "model", "valueString": str(x.model)},
            {"name": "rule", "valueString": str(x.rule)},
        ]
        for rid in (int(x.rid), int(x.other)):
            if rid in names:
                unit.audit.note("operation", "Patient", names[rid])
                parts.append({"name": "registration", "valueReference": {"reference": f"Patient/{names[rid]}"}})
        for f in json.loads(x.fields):
            parts.append({"name": "field", "valueString": f"{f['comparison']}: {f['level']} ({f['weight']:+.2f})"})
        if x.resolution:
            parts.append({"name": "resolution", "valueCode": str(x.resolution)})
        tasks.append({"name": "task", "part": parts})
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": tasks})


def _resolve(unit: Unit, req: FhirRequest) -> FhirResponse:
    unit.authorize(Access.WRITE, "Patient")
    params = mc.parameters(req)
    task = mc.required(params, "task")
    if isinstance(task, str) and task.isdigit():
        task = int(task)
    if not isinstance(task, int) or isinstance(task, bool):
        raise FhirError.bad_request("task must be an integer", "task 必须是整数", "task")
    done = actions.resolve(unit.conn, task, str(mc.required(params, "resolution")), unit.ctx.source, mc.now_ms())
    for pid in done.get("moved", []):
        unit.audit.note("update", "Patient", pid)
    unit.audit.query("operation", f"Patient/$mpi-review task={task}")
    out = [{"name": "task", "valueInteger": task}, {"name": "resolution", "valueCode": done["resolution"]}]
    if "target" in done:
        out.append({"name": "person", "valueReference": {"reference": f"Patient/{mc.MASTER_PREFIX}{done['target']}"}})
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": out})


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    return _list(unit, req) if req.method.upper() == "GET" else _resolve(unit, req)


DEFINITION = Operation(
    code="mpi-review",
    types=("Patient",),
    levels=("type",),
    methods=("GET", "POST"),
    description="The MPI review queue: list tasks with their explanations (GET), resolve one (POST).",
    handle=handle,
)
