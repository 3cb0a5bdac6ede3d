"""``AuditEvent`` over REST: the audit trail is read here, never written by clients (decision 0013).

Reads and searches come from the chained audit table, not the resource store: ``GET /AuditEvent``
with ``patient`` (a resident's "who accessed my record"), ``agent`` (user or client id), ``date``
(``ge``/``gt``/``le``/``lt``/``eq``), ``action`` (C/R/U/D/E), ``outcome`` (0 success, 4 denied or client
error, 8 server failure: an auditor's "every refused access" is ``outcome=4``) and ``_count``; newest
first, keyset paging. Reading the trail is itself audited. Any write answers 405.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from rhip.fhir.errors import FhirError
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.fhir.search.parse import split_prefix
from rhip.store.repository import Unit
from rhip.store.search.terms import date_range_ms

_PARAMS = {"patient", "agent", "date", "action", "outcome", "_count", "_cursor"}
_CODES = {"action": frozenset("CRUDE"), "outcome": frozenset({"0", "4", "8", "12"})}


def handle(unit: Unit, req: FhirRequest, parts: list[str]) -> FhirResponse:
    if req.method.upper() != "GET":
        raise FhirError.of(
            405,
            "not-supported",
            "AuditEvent is written by the platform only",
            "审计事件只能由平台生成，不能通过接口写入或修改",
        )
    if len(parts) == 2:
        content = unit.audit_event(parts[1])
        return FhirResponse(200, content)
    if len(parts) != 1:
        raise FhirError.not_found("/".join(parts))
    return FhirResponse(200, _search(unit, req))


def _search(unit: Unit, req: FhirRequest) -> dict[str, Any]:
    unknown = sorted({k for k, _ in req.query} - _PARAMS)
    if unknown:
        raise FhirError.bad_request(
            f"AuditEvent search supports patient, agent, date, action, outcome and _count, not {', '.join(unknown)}",
            f"审计事件查询仅支持 patient、agent、date、action、outcome、_count 参数，不支持：{'、'.join(unknown)}",
        )
    args: dict[str, Any] = {}
    settings = unit.repo.settings
    count = settings.default_count
    for key, value in req.query:
        if key == "patient":
            args["patient"] = value.rsplit("Patient/", 1)[-1]
        elif key == "agent":
            args["agent"] = value.rsplit("|", 1)[-1]
        elif key in _CODES:
            codes = {v.rsplit("|", 1)[-1] for v in value.split(",")}
            if not codes <= _CODES[key]:
                allowed = ", ".join(sorted(_CODES[key]))
                raise FhirError.bad_request(
                    f"invalid {key} '{value}': one or more of {allowed}", f"{key} 参数无效，可选值：{allowed}", key
                )
            args[key] = sorted(codes & set(args.get(key, codes)))
        elif key == "_count":
            if not value.isdigit():
                raise FhirError.bad_request(f"invalid _count '{value}'", "_count 参数无效", "_count")
            count = min(int(value), settings.max_count)
        elif key == "_cursor":
            if not value.isdigit():
                raise FhirError.bad_request("invalid paging cursor", "分页游标无效", "_cursor")
            args["before_seq"] = int(value)
        elif key == "date":
            prefix, body = split_prefix(value)
            low, high = date_range_ms(body, unit.repo.tz, "date")
            if prefix in ("ge", "eq", "gt", "sa"):
                args["since_ms"] = max(args.get("since_ms", low), high + 1 if prefix in ("gt", "sa") else low)
            if prefix in ("le", "eq", "lt", "eb"):
                args["until_ms"] = high + 1 if prefix in ("le", "eq") else low
    rows = unit.audit_events(count=count + 1, **args)
    more = len(rows) > count
    rows = rows[:count]
    params = [(k, v) for k, v in req.query if k != "_cursor"]
    links = [{"relation": "self", "url": f"{req.base_url}/AuditEvent?{urlencode(params)}"}]
    if more and rows:
        nxt = urlencode([*params, ("_cursor", str(rows[-1][0]))])
        links.append({"relation": "next", "url": f"{req.base_url}/AuditEvent?{nxt}"})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if rows:
        bundle["entry"] = [
            {
                "fullUrl": f"{req.base_url}/AuditEvent/{seq}",
                "resource": orjson.Fragment(content),
                "search": {"mode": "match"},
            }
            for seq, content in rows
        ]
    return bundle
