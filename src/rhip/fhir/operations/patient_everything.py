"""``Patient/[id]/$everything`` (FHIR R4 patient-operation-everything): the patient's whole record.

Returns the patient, every resource in the patient's compartment (R4 CompartmentDefinition, vendored)
and the resources those refer to (practitioners, organisations, medications...), with ``_since``,
``_type`` and ``_count`` (paged like a search).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select, tuple_

from rhip.fhir.definitions import compartment_params
from rhip.fhir.errors import FhirError
from rhip.fhir.model import is_resource_type
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.security.policy import Access
from rhip.store.access import COMPARTMENT_REFS, compartment_rows
from rhip.store.repository import Unit
from rhip.store.schema import idx_reference, resources
from rhip.store.search.execute import decode_cursor, encode_cursor, fetch_rows
from rhip.store.search.terms import date_range_ms


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    assert id is not None
    patient, access = unit.read_record(id)
    q: dict[str, str] = dict(req.query)
    types = None
    if q.get("_type"):
        types = [t for t in q["_type"].split(",") if t]
        bad = [t for t in types if not is_resource_type(t)]
        if bad:
            raise FhirError.bad_request(
                f"unknown type(s) in _type: {', '.join(bad)}", "_type 中有未知的资源类型", "_type"
            )
    since_ms = date_range_ms(q["_since"], unit.repo.tz, "_since")[0] if q.get("_since") else None
    count = unit.repo.settings.everything_max
    if q.get("_count"):
        if not (q["_count"].isascii() and q["_count"].isdigit()):
            raise FhirError.bad_request("_count must be a non-negative integer", "_count 必须是非负整数", "_count")
        count = min(int(q["_count"]), unit.repo.settings.everything_max)
    policy, ctx = unit.repo.policy, unit.ctx
    x = idx_reference.c
    r = resources.c
    member_types = frozenset(
        ctype
        for ctype in compartment_params()
        if (not types or ctype in types) and policy.allows(ctx, Access.READ, ctype)
    )
    c = COMPARTMENT_REFS.c
    member = (
        select(c.rid).where(c.ref_type == "Patient", c.ref_id == id, compartment_rows(member_types)).distinct()
        if member_types
        else None
    )
    stmt = select(r.rid).where(r.deleted.is_(False))
    stmt = stmt.where(r.rid.in_(member)) if member is not None else stmt.where(r.rid == -1)
    params: dict[str, Any] = {}
    if access is not None:  # labels and refused categories inside a visible record (decision 0016)
        stmt = stmt.where(access[0])
        params = access[1]
    if since_ms is not None:
        stmt = stmt.where(r.lu >= since_ms)
    cursor = q.get("_cursor")
    if cursor:
        stmt = stmt.where(r.rid > decode_cursor(cursor, 1)[0])
    rids = [row.rid for row in unit.conn.execute(stmt.order_by(r.rid).limit(count + 1), params)]
    next_cursor = encode_cursor([rids[count - 1]]) if len(rids) > count and count > 0 else None
    rows = fetch_rows(unit.conn, rids[:count])
    # Referenced non-compartment resources (Practitioner, Organization, Medication, Location, ...).
    seen = {row.rid for row in rows} | {patient.rid}
    refs = (
        select(x.ref_type, x.ref_id)
        .where(x.rid.in_([row.rid for row in rows] + [patient.rid]), x.ref_id.is_not(None), x.ref_type != "Patient")
        .distinct()
        .subquery()
    )
    found = unit.conn.execute(
        select(r.rid, r.rtype).where(
            tuple_(r.rtype, r.id).in_(select(refs.c.ref_type, refs.c.ref_id)), r.deleted.is_(False)
        )
    ).all()
    extra = [row for row in found if row.rid not in seen]
    referenced = [
        row
        for row in fetch_rows(unit.conn, [row.rid for row in extra], unit.row_access({row.rtype for row in extra}))
        if (not types or row.rtype in types) and policy.allows(ctx, Access.READ, row.rtype)
    ]
    entries: list[dict[str, Any]] = []
    if not cursor and (not types or "Patient" in types):
        entries.append(
            {
                "fullUrl": f"{req.base_url}/Patient/{id}",
                "resource": orjson.Fragment(patient.content or "{}"),
                "search": {"mode": "match"},
            }
        )
    for row in rows:
        if row.rid == patient.rid:
            continue
        entries.append(
            {
                "fullUrl": f"{req.base_url}/{row.rtype}/{row.id}",
                "resource": orjson.Fragment(row.content),
                "search": {"mode": "match"},
            }
        )
    for row in referenced:
        entries.append(
            {
                "fullUrl": f"{req.base_url}/{row.rtype}/{row.id}",
                "resource": orjson.Fragment(row.content),
                "search": {"mode": "include"},
            }
        )
    links = [{"relation": "self", "url": f"{req.base_url}/{req.path}"}]
    if next_cursor:
        from urllib.parse import urlencode

        paging = [(k, v) for k, v in req.query if k != "_cursor"] + [("_cursor", next_cursor)]
        links.append({"relation": "next", "url": f"{req.base_url}/{req.path}?{urlencode(paging)}"})
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "link": links, "entry": entries}
    return FhirResponse(200, bundle)


DEFINITION = Operation(
    code="everything",
    types=("Patient",),
    levels=("instance",),
    methods=("GET", "POST"),
    description="The patient's whole record: compartment resources plus the resources they refer to.",
    handle=handle,
)
