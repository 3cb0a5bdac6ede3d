"""``Patient/{id}/$break-glass``: a clinician's emergency access to one record (decision 0015).

POST a Parameters resource with ``reason`` (valueString, required) and optionally ``minutes``
(valueInteger, 1–240, default 60). Answers a Parameters with the grant's ``expires``; the access is
flagged in the audit trail and shows in the resident's access log.
"""

from __future__ import annotations

from typing import Any

from rhip.fhir.errors import FhirError
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse, parse_body
from rhip.store.repository import Unit, format_instant

MAX_MINUTES = 240


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    assert id is not None
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
    expires = unit.break_glass(id, reason.strip(), minutes)
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
