"""``Patient/[id]/$mpi-person``: the master record of a registration (or of ``mpi-<n>``) and its record.

Returns a searchset Bundle: the master view (``Patient/mpi-<n>``, golden values, ``Patient.link``),
every registration of the person, and every resource in those registrations' compartments (as
``$everything`` finds them, through the stored references). Clinical resources are not rewritten on
a merge: they are reached through the person's registrations, so after a merge the surviving master
reaches both residents' resources, and after an unmerge each master reaches its own again. A merged
master answers with its own view (``Patient.link`` ``replaced-by``) and the surviving person's record.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import and_, or_, select

from rhip.fhir.definitions import compartment_params
from rhip.fhir.operations import mpi_common as mc
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.mpi.actions import current
from rhip.security.policy import Access
from rhip.store.repository import Unit
from rhip.store.schema import idx_reference, resources
from rhip.store.search.execute import fetch_rows


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    assert id is not None
    unit.authorize(Access.READ, "Patient")
    asked = mc.person_of(unit, f"Patient/{id}", "id")
    person = current(unit.conn, asked.person)
    entries: list[dict[str, Any]] = []
    if asked.person != person.person:
        entries.append(
            {"fullUrl": mc.full_url(req, asked.person), "resource": mc.view(unit, asked), "search": {"mode": "include"}}
        )
    entries.append(
        {"fullUrl": mc.full_url(req, person.person), "resource": mc.view(unit, person), "search": {"mode": "match"}}
    )
    members = [str(ref).split("/", 1)[-1] for ref in person.golden.get("registrations") or []]
    limit = unit.repo.settings.everything_max
    policy, ctx = unit.repo.policy, unit.ctx
    x, r = idx_reference.c, resources.c
    conds = [
        and_(x.rtype == ctype, x.code.in_(params))
        for ctype, params in compartment_params().items()
        if policy.allows(ctx, Access.READ, ctype)
    ]
    rids: list[int] = []
    if members:
        own = select(r.rid).where(r.rtype == "Patient", r.id.in_(members), r.deleted.is_(False))
        rids += [row.rid for row in unit.conn.execute(own.order_by(r.rid))]
        if conds:
            member = select(x.rid).where(x.ref_type == "Patient", x.ref_id.in_(members), or_(*conds)).distinct()
            stmt = select(r.rid).where(r.rid.in_(member), r.deleted.is_(False)).order_by(r.rid).limit(limit)
            rids += [row.rid for row in unit.conn.execute(stmt) if row.rid not in rids]
    for row in fetch_rows(unit.conn, rids):
        unit.audit.note("operation", row.rtype, row.id, row.content)
        entries.append(
            {
                "fullUrl": f"{req.base_url}/{row.rtype}/{row.id}",
                "resource": orjson.Fragment(row.content),
                "search": {"mode": "match"},
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{req.base_url}/{req.path}"}],
        "entry": entries,
    }
    return FhirResponse(200, bundle)


DEFINITION = Operation(
    code="mpi-person",
    types=("Patient",),
    levels=("instance",),
    methods=("GET",),
    description="The master record of a registration and every resource of all the person's registrations.",
    handle=handle,
)
