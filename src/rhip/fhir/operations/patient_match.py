"""``Patient/$match`` (FHIR R4 patient-operation-match): who in the master person index is this?

Input: Parameters with ``resource`` (a Patient), ``onlyCertainMatches`` and ``count`` (default 10).
The Patient is normalised, blocked and compared with the current model exactly as a write would be
(nothing is stored). Output: a searchset Bundle of master views (``Patient/mpi-<n>``), strongest first,
``search.score`` = match probability and the ``match-grade`` extension: ``certain`` (would be
auto-linked), ``probable`` (would go to review), ``possible`` (match weight ≥ 0); weaker candidates are
not returned. A Patient with nothing to block on (no identifier, name, phone…) gets an empty Bundle
with an OperationOutcome saying so.
"""

from __future__ import annotations

from typing import Any

from rhip.fhir.errors import FhirError, OutcomeIssue, outcome
from rhip.fhir.operations import mpi_common as mc
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.fhir.validation import validate_resource
from rhip.mpi import index
from rhip.mpi.keys import record_keys
from rhip.mpi.online import matcher_of
from rhip.mpi.records import patient_record
from rhip.security.policy import Access
from rhip.store.repository import Unit

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def grade(decision: str, weight: float) -> str | None:
    if decision == "auto-link":
        return "certain"
    if decision == "review":
        return "probable"
    return "possible" if weight >= 0 else None


def _bool(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    unit.authorize(Access.READ, "Patient")
    params = mc.parameters(req)
    resource = next((p.get("resource") for p in params.get("resource", [])), None)
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        raise FhirError.bad_request(
            "parameter 'resource' must be a Patient", "参数 resource 必须是 Patient 资源", "resource"
        )
    errors = [i for i in validate_resource(resource) if i.severity in ("error", "fatal")]
    if errors:
        raise FhirError.invalid(
            [OutcomeIssue(i.severity, i.code, i.diagnostics, i.text_zh, i.expression) for i in errors]
        )
    only_certain = _bool(mc.value(params, "onlyCertainMatches"))
    raw_count = mc.value(params, "count")
    count = 10 if raw_count is None else raw_count
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise FhirError.bad_request("count must be a positive integer", "count 必须是正整数", "count")
    matcher = matcher_of(unit.repo.write_hooks)
    conn = unit.conn
    record = patient_record(resource)
    keys = record_keys(record, matcher.spec)
    unit.audit.query("operation", "Patient/$match")
    entries: list[dict[str, Any]] = []
    if not keys:
        entries.append(
            {
                "resource": outcome(
                    [
                        OutcomeIssue(
                            "warning",
                            "incomplete",
                            "the Patient has no identifier, name, phone or other field to search the index by",
                            "该患者没有身份证号、姓名、电话等可用于检索主索引的信息",
                        )
                    ]
                ),
                "search": {"mode": "outcome"},
            }
        )
        return FhirResponse(200, _bundle(req, entries))
    model = matcher.models.current(conn)
    found = matcher.candidates(conn, -1, keys, index.block_sizes(conn, [k.kh for k in keys]))
    best: dict[int, tuple[str, float, float]] = {}
    for reg, why in matcher.score(conn, model, record, found):
        g = grade(why.decision, why.total_weight)
        if g is None or reg.person in best:
            continue
        best[reg.person] = (g, why.probability, why.total_weight)
    persons = index.persons(conn, best)
    ranked = sorted(best.items(), key=lambda x: -x[1][2])
    for pid, (g, prob, _) in ranked:
        person = persons[pid]
        if person.ric_valid and record.get("ric_valid") and person.ric_valid != record["ric_valid"]:
            g = "probable" if g == "certain" else g  # another valid ID number: never certain
        if only_certain and g != "certain":
            continue
        entries.append(
            {
                "fullUrl": mc.full_url(req, pid),
                "resource": mc.view(unit, person),
                "search": {
                    "extension": [{"url": MATCH_GRADE, "valueCode": g}],
                    "mode": "match",
                    "score": round(prob, 6),
                },
            }
        )
        if len(entries) >= count:
            break
    return FhirResponse(200, _bundle(req, entries))


def _bundle(req: FhirRequest, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": sum(1 for e in entries if e["search"]["mode"] == "match"),
        "link": [{"relation": "self", "url": f"{req.base_url}/{req.path}"}],
        "entry": entries,
    }


DEFINITION = Operation(
    code="match",
    types=("Patient",),
    levels=("type",),
    methods=("POST",),
    description="Find the persons of the master person index a Patient matches, with scores and match grades.",
    handle=handle,
)
