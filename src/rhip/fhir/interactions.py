"""Instance and type interactions: read, vread, create, update, patch, delete, search, history.

FHIR R4 http.html. Each handler takes a Unit (one transaction, one request context) and a plain
FhirRequest; conditional variants resolve their search through the same repository search.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonpatch

from rhip.fhir.errors import FhirError, OutcomeIssue
from rhip.fhir.rest import FhirRequest, FhirResponse, parse_body
from rhip.fhir.search.parse import SearchQuery, parse_query
from rhip.fhir.searchset import history_bundle, search_bundle
from rhip.fhir.shaping import shape
from rhip.store.repository import Stored, Unit, WriteResult
from rhip.store.search.terms import date_range_ms

_HTTP_DATE = "%a, %d %b %Y %H:%M:%S GMT"


def last_modified(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime(_HTTP_DATE)


def version_headers(req: FhirRequest, s: Stored) -> dict[str, str]:
    return {
        "ETag": s.etag,
        "Last-Modified": last_modified(s.lu),
        "Location": f"{req.base_url}/{s.rtype}/{s.id}/_history/{s.version}",
    }


def _representation(
    req: FhirRequest, s: Stored, status: int, info: str, issues: Sequence[OutcomeIssue] = ()
) -> FhirResponse:
    headers = version_headers(req, s)
    pref = req.prefer("return")
    if pref == "minimal":
        return FhirResponse(status, None, headers)
    if pref == "OperationOutcome":
        done = {"severity": "information", "code": "informational", "diagnostics": info}
        body = {"resourceType": "OperationOutcome", "issue": [done, *(i.to_json() for i in issues)]}
        return FhirResponse(status, body, headers)
    return FhirResponse(status, s.content, headers)


def _shaped(req: FhirRequest, s: Stored) -> Any:
    summary = next((v for k, v in req.query if k == "_summary"), None)
    elements = next((v for k, v in req.query if k == "_elements"), None)
    if summary in (None, "false") and not elements:
        return s.content
    return shape(s.resource(), summary, tuple(e for e in (elements or "").split(",") if e) or None)


def read(unit: Unit, req: FhirRequest, rtype: str, id: str) -> FhirResponse:
    s = unit.read(rtype, id)
    inm = req.header("if-none-match")
    if inm and inm.strip().removeprefix("W/").strip('"') == str(s.version):
        return FhirResponse(304, None, {"ETag": s.etag})
    headers = version_headers(req, s)
    headers.pop("Location")
    return FhirResponse(200, _shaped(req, s), headers)


def vread(unit: Unit, req: FhirRequest, rtype: str, id: str, vid: str) -> FhirResponse:
    s = unit.vread(rtype, id, vid)
    headers = version_headers(req, s)
    headers.pop("Location")
    return FhirResponse(200, _shaped(req, s), headers)


def _body_resource(req: FhirRequest) -> dict[str, Any]:
    body = parse_body(req)
    if not isinstance(body, dict):
        raise FhirError.of(
            400, "structure", "the body must be a JSON object (a FHIR resource)", "请求体必须是 FHIR 资源 JSON 对象"
        )
    return body


def _conditional_matches(unit: Unit, rtype: str, query: str | list[tuple[str, str]]) -> list[Stored]:
    from urllib.parse import parse_qsl

    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else query
    if not pairs:
        raise FhirError.bad_request("conditional interaction without search criteria", "条件操作缺少检索条件")
    q = parse_query(rtype, pairs, strict=True, default_count=2)
    if not q.criteria:  # only _count, _sort, ...: it would match every resource of the type
        raise FhirError.bad_request("conditional interaction without search criteria", "条件操作缺少检索条件")
    q.count, q.total = 2, "none"
    result = unit.search(q)
    return [Stored(m.rtype, m.id, m.version, m.lu, m.content, rid=m.rid) for m in result.matches]


def create(unit: Unit, req: FhirRequest, rtype: str) -> FhirResponse:
    body = _body_resource(req)
    if body.get("resourceType") != rtype:
        raise FhirError.bad_request(
            f"resourceType '{body.get('resourceType')}' does not match the URL ({rtype})",
            "资源类型与请求地址不一致",
            "resourceType",
        )
    cond = req.header("if-none-exist")
    if cond:
        found = _conditional_matches(unit, rtype, cond.split("?", 1)[-1])
        if len(found) > 1:
            raise FhirError.multiple_matches(f"If-None-Exist '{cond}' matched more than one resource")
        if found:
            return _representation(req, found[0], 200, "resource already exists; nothing created")
    body.pop("id", None)  # create ignores a client id (FHIR R4 §3.1.0.8)
    res = unit.create(body)
    return _representation(req, res.stored, 201, "created", res.issues)


def update(unit: Unit, req: FhirRequest, rtype: str, id: str) -> FhirResponse:
    body = _body_resource(req)
    res = unit.update(rtype, id, body, if_match=req.header("if-match"))
    return _written(req, res)


def _written(req: FhirRequest, res: WriteResult) -> FhirResponse:
    info = "created" if res.created else "updated"
    return _representation(req, res.stored, 201 if res.created else 200, info, res.issues)


def conditional_update(unit: Unit, req: FhirRequest, rtype: str) -> FhirResponse:
    body = _body_resource(req)
    found = _conditional_matches(unit, rtype, req.query)
    if len(found) > 1:
        raise FhirError.multiple_matches("conditional update criteria matched more than one resource")
    if found:
        target = found[0].id
        if body.get("id") not in (None, target):
            raise FhirError.bad_request(
                "body id does not match the resource found by the criteria", "资源 id 与条件匹配结果不一致"
            )
        body["id"] = target
        return _written(req, unit.update(rtype, target, body, if_match=req.header("if-match")))
    if "id" in body:
        if isinstance(body["id"], str) and unit.exists(rtype, body["id"]):
            # It exists but does not match the criteria: overwriting it is not what was asked (R5 §update).
            raise FhirError.conflict(
                f"{rtype}/{body['id']} exists but does not match the conditional update criteria",
                "资源已存在但不符合条件更新的检索条件",
            )
        return _written(req, unit.update(rtype, body["id"], body))
    if body.get("resourceType") != rtype:
        raise FhirError.bad_request("resourceType does not match the URL", "资源类型与请求地址不一致", "resourceType")
    return _written(req, unit.create(body))


def _apply_patch(req: FhirRequest, current: dict[str, Any]) -> dict[str, Any]:
    ops = parse_body(req)
    if not isinstance(ops, list):
        raise FhirError.bad_request("a JSON Patch body must be an array of operations", "JSON Patch 必须是操作数组")
    try:
        patched = jsonpatch.apply_patch(current, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, ValueError) as exc:
        raise FhirError.of(422, "processing", f"JSON Patch failed: {exc}", f"JSON Patch 执行失败：{exc}") from None
    if not isinstance(patched, dict):
        raise FhirError.of(422, "processing", "JSON Patch did not produce a resource", "JSON Patch 结果不是资源")
    return patched


def patch(unit: Unit, req: FhirRequest, rtype: str, id: str) -> FhirResponse:
    current = unit.read(rtype, id)
    patched = _apply_patch(req, current.resource())
    if patched.get("id") != id or patched.get("resourceType") != rtype:
        raise FhirError.of(422, "processing", "a patch may not change id or resourceType", "补丁不能修改 id 或资源类型")
    if_match = req.header("if-match") or current.etag
    return _written(req, unit.update(rtype, id, patched, if_match=if_match))


def conditional_patch(unit: Unit, req: FhirRequest, rtype: str) -> FhirResponse:
    found = _conditional_matches(unit, rtype, req.query)
    if len(found) != 1:
        if found:
            raise FhirError.multiple_matches("conditional patch criteria matched more than one resource")
        raise FhirError.not_found(f"{rtype} matching the criteria")
    return patch(unit, req, rtype, found[0].id)


def delete(unit: Unit, req: FhirRequest, rtype: str, id: str) -> FhirResponse:
    s = unit.delete(rtype, id, if_match=req.header("if-match"))
    if s is None:
        raise FhirError.not_found(f"{rtype}/{id}")
    return FhirResponse(204, None, {"ETag": s.etag})


def conditional_delete(unit: Unit, req: FhirRequest, rtype: str) -> FhirResponse:
    found = _conditional_matches(unit, rtype, req.query)
    if len(found) > 1:
        raise FhirError.multiple_matches("conditional delete criteria matched more than one resource")
    if not found:
        return FhirResponse(204)
    unit.delete(rtype, found[0].id)
    return FhirResponse(204)


def _search_params(req: FhirRequest) -> list[tuple[str, str]]:
    params = list(req.query)
    if req.method.upper() == "POST" and req.body:
        from urllib.parse import parse_qsl

        ctype = (req.headers.get("content-type") or "").split(";")[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            raise FhirError.of(
                415,
                "not-supported",
                "POST _search needs application/x-www-form-urlencoded",
                "_search 需要表单编码的请求体",
            )
        try:
            params += parse_qsl(req.body.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
        except (UnicodeDecodeError, ValueError) as exc:
            raise FhirError.bad_request(f"invalid form body: {exc}", "表单格式无效") from None
    return params


def search(unit: Unit, req: FhirRequest, rtype: str | None) -> FhirResponse:
    settings = unit.repo.settings
    q: SearchQuery = parse_query(
        rtype,
        _search_params(req),
        strict=req.prefer("handling") == "strict",
        default_count=settings.default_count,
        max_count=settings.max_count,
        default_total=settings.default_total,
    )
    result = unit.search(q)
    return FhirResponse(200, search_bundle(req, q, result))


def history(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    since = next((v for k, v in req.query if k == "_since"), None)
    count_s = next((v for k, v in req.query if k == "_count"), None)
    cursor = next((v for k, v in req.query if k == "_cursor"), None)
    since_ms = None
    if since is not None:
        since_ms = date_range_ms(since, unit.repo.tz, "_since")[0]
    count = unit.repo.settings.default_count
    if count_s is not None:
        if not (count_s.isascii() and count_s.isdigit()) or len(count_s) > 7:
            raise FhirError.bad_request("_count must be a non-negative integer", "_count 必须是非负整数", "_count")
        count = min(int(count_s), unit.repo.settings.max_count)
    if rtype and id:
        unit.read_any(rtype, id)
    versions, next_cursor = unit.history(rtype, id, since_ms=since_ms, count=count, cursor=cursor)
    return FhirResponse(200, history_bundle(req, versions, next_cursor))
