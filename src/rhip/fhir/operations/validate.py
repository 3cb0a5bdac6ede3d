"""``$validate`` (FHIR R4 resource-operation-validate): check a resource without storing it.

Reports structural issues and the China profile's findings at their own severity (as a source set to
``reject`` would see them), whatever the caller's strictness.
"""

from __future__ import annotations

from typing import Any

from rhip.fhir.errors import FhirError, OutcomeIssue, outcome
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse, parse_body
from rhip.fhir.validation import validate_resource
from rhip.profiles import validate as profile_findings
from rhip.security.policy import Access
from rhip.store.repository import Unit, outcome_issues


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    body: Any = parse_body(req)
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        res = next((p.get("resource") for p in body.get("parameter", []) if p.get("name") == "resource"), None)
        if res is None:
            raise FhirError.bad_request("Parameters has no 'resource' parameter", "Parameters 中缺少 resource 参数")
        body = res
    if not isinstance(body, dict):
        raise FhirError.bad_request("the body must be a resource", "请求体必须是资源")
    if rtype and body.get("resourceType") != rtype:
        raise FhirError.bad_request("resourceType does not match the URL", "资源类型与请求地址不一致", "resourceType")
    unit.authorize(Access.READ, str(body.get("resourceType") or rtype or "Resource"))
    issues = [OutcomeIssue(i.severity, i.code, i.diagnostics, i.text_zh, i.expression) for i in validate_resource(body)]
    if not any(i.severity in ("error", "fatal") for i in issues):
        issues += outcome_issues(profile_findings(body, unit.repo.today()), accepted=False)
    return FhirResponse(200, outcome(issues))


DEFINITION = Operation(
    code="validate",
    types=("*",),
    levels=("type", "instance"),
    methods=("POST",),
    description="Validate a resource against the R4 structure definitions and the China profiles without storing it.",
    handle=handle,
)
