"""``Patient/{id}/$break-glass``: a clinician's emergency access to one record (decisions 0016, 0018).

POST a Parameters resource with ``reason`` (valueString, required) and optionally ``minutes``
(valueInteger, 1–240, default 60). Answers a Parameters with the grant's ``expires``; the access is
flagged in the audit trail, shows in the resident's access log, and the resident is notified by a
``Communication`` written in the same transaction as the grant (no grant without its notice).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from rhip.fhir.errors import FhirError
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse, parse_body
from rhip.security.break_glass import notice
from rhip.security.context import RequestContext
from rhip.store.repository import Unit, format_instant

MAX_MINUTES = 240
NOTIFIER = "break-glass notification"
"""Purpose of the platform context that writes the resident's notice."""


@contextmanager
def _as_platform(unit: Unit) -> Iterator[None]:
    """Run the next repository calls as the platform rather than the clinician.

    The notice is the platform's side effect of a grant, not the clinician's own write, so it must not
    depend on the clinician's token holding ``Communication`` write scope. Only the calls made here (one
    read of the clinician's organisation, one create of a resource built by this module) run under the
    system context; the unit's AuditEvent is rendered from the restored context, so it still names the
    clinician as the requestor.
    """
    clinician = unit.ctx
    unit.ctx = replace(RequestContext.system(NOTIFIER), request_id=clinician.request_id)
    try:
        yield
    finally:
        unit.ctx = clinician


def _organization_name(unit: Unit, org: str | None) -> str | None:
    if not org:
        return None
    try:
        name = unit.read("Organization", org).resource().get("name")
    except FhirError:  # unknown or deleted organisation: the notice shows its id
        return None
    return name if isinstance(name, str) and name.strip() else None


def notify_resident(unit: Unit, patient_id: str, reason: str, granted_ms: int, expires_ms: int) -> str:
    """Write the resident's break-glass notice through the repository (validated, indexed, audited in
    the caller's unit); returns the Communication id."""
    clinician = unit.ctx
    with _as_platform(unit):
        org_name = _organization_name(unit, clinician.organization)
        resource = notice(clinician, patient_id, reason, granted_ms, expires_ms, unit.repo.tz, org_name)
        return unit.create(resource).stored.id


def _parameters(req: FhirRequest) -> tuple[str, int]:
    """The request's reason (stripped) and minutes; 400 when either is missing or wrong."""
    body: Any = parse_body(req)
    params = {p.get("name"): p for p in body.get("parameter") or ()} if isinstance(body, dict) else {}
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError.bad_request("send a Parameters resource", "请求体必须是 Parameters 资源")
    reason = (params.get("reason") or {}).get("valueString")
    if not isinstance(reason, str) or len(reason.strip()) < 4:
        raise FhirError.bad_request(
            "a reason (valueString, at least 4 characters) is required to break the glass",
            "紧急授权访问必须填写理由（至少 4 个字符）",
            "Parameters.parameter",
        )
    minutes = (params.get("minutes") or {}).get("valueInteger", 60)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
        raise FhirError.bad_request(
            f"minutes must be an integer from 1 to {MAX_MINUTES}",
            f"授权时长必须在 1 到 {MAX_MINUTES} 分钟之间",
            "Parameters.parameter",
        )
    return reason.strip(), minutes


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    assert id is not None
    try:
        reason, minutes = _parameters(req)
        expires = unit.break_glass(id, reason, minutes)
    except FhirError:
        # Every refused attempt is an AuditEvent (outcome 4), also those refused before any data was
        # touched (no reason, bad minutes, unknown patient); the repository notes its own denials.
        if not unit.audit.denied:
            unit.audit.deny(f"break-glass Patient/{id}")
        raise
    notify_resident(unit, id, reason, expires - minutes * 60_000, expires)
    out = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "valueReference": {"reference": f"Patient/{id}"}},
            {"name": "expires", "valueInstant": format_instant(expires)},
        ],
    }
    return FhirResponse(200, out)


DEFINITION = Operation(
    code="break-glass",
    types=("Patient",),
    levels=("instance",),
    methods=("POST",),
    description="Emergency access of a clinician to one patient's record, for a limited time, with a reason.",
    handle=handle,
)
