"""``batch`` and ``transaction`` Bundles (FHIR R4 http.html §3.1.0.11).

A transaction runs in one database transaction: entries are processed in the order the spec
prescribes (DELETE, POST, PUT/PATCH, GET), ``urn:uuid:`` fullUrls are given ids up front and every
reference to them is rewritten, conditional references (``Patient?identifier=...``) are resolved by
search, and writes are buffered and flushed together, so a failure anywhere leaves nothing behind.
A batch runs each entry in its own transaction and reports each outcome separately.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from rhip.fhir.errors import FhirError, OutcomeIssue, outcome
from rhip.fhir.interactions import _conditional_matches, version_headers
from rhip.fhir.rest import FhirRequest, FhirResponse, dispatch, parse_body
from rhip.store.ids import new_id as new_id_
from rhip.store.repository import Stored, Unit

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


def _entry_error(i: int, err: FhirError) -> FhirError:
    issues = [
        OutcomeIssue(
            x.severity,
            x.code,
            f"Bundle.entry[{i}]: {x.diagnostics}",
            f"第 {i + 1} 个条目：{x.text_zh}" if x.text_zh else None,
            f"Bundle.entry[{i}]"
            + (f".resource.{x.expression.split('.', 1)[-1]}" if x.expression and "." in x.expression else ""),
        )
        for x in err.issues
    ]
    return FhirError(err.status, issues)


def _check_bundle(unit: Unit, body: Any) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise FhirError.bad_request(
            "POST to the base URL needs a Bundle", "向根地址提交的必须是 Bundle", "resourceType"
        )
    btype = body.get("type")
    if btype not in ("batch", "transaction"):
        raise FhirError.bad_request(
            f"Bundle.type must be batch or transaction, got '{btype}'",
            "Bundle.type 必须是 batch 或 transaction",
            "Bundle.type",
        )
    entries = body.get("entry", [])
    if not isinstance(entries, list):
        raise FhirError.bad_request("Bundle.entry must be an array", "Bundle.entry 必须是数组", "Bundle.entry")
    limit = unit.repo.settings.max_bundle_entries
    if len(entries) > limit:
        raise FhirError.too_large(f"Bundle has {len(entries)} entries; the limit is {limit}")
    for i, e in enumerate(entries):
        req = e.get("request") if isinstance(e, dict) else None
        if not isinstance(req, dict) or req.get("method") not in ORDER or not isinstance(req.get("url"), str):
            raise FhirError.bad_request(
                f"Bundle.entry[{i}].request needs a method and url",
                f"第 {i + 1} 个条目缺少 request.method 或 request.url",
                f"Bundle.entry[{i}].request",
            )
        if req["method"] in ("POST", "PUT") and not isinstance(e.get("resource"), dict):
            raise FhirError.bad_request(
                f"Bundle.entry[{i}] needs a resource", f"第 {i + 1} 个条目缺少资源", f"Bundle.entry[{i}].resource"
            )
    return btype, entries


def process_bundle(unit: Unit, req: FhirRequest) -> FhirResponse:
    btype, entries = _check_bundle(unit, parse_body(req))
    if btype == "transaction":
        return FhirResponse(200, _transaction(unit, req, entries))
    return FhirResponse(200, _batch(unit, req, entries))


def _split_url(url: str, base: str) -> tuple[str, list[tuple[str, str]]]:
    if base and url.startswith(base):
        url = url[len(base) :]
    path, _, query = url.lstrip("/").partition("?")
    return path, parse_qsl(query, keep_blank_values=True)


def _sub_request(req: FhirRequest, e: dict[str, Any]) -> FhirRequest:
    r = e["request"]
    path, query = _split_url(r["url"], req.base_url)
    headers = {"content-type": "application/fhir+json", "prefer": req.headers.get("prefer", "")}
    for src, dst in (("ifMatch", "if-match"), ("ifNoneExist", "if-none-exist"), ("ifNoneMatch", "if-none-match")):
        if r.get(src):
            headers[dst] = r[src]
    body = e.get("resource")
    if r["method"] == "PATCH" and body is not None and body.get("resourceType") == "Binary":
        import base64

        from rhip.fhir import json as fjson

        body = fjson.loads(base64.b64decode(body.get("data", "")))
    return FhirRequest(r["method"], path, query, headers, None, req.base_url, body)


def _entry_response(req: FhirRequest, sub_method: str, res: FhirResponse, representation: bool) -> dict[str, Any]:
    response: dict[str, Any] = {"status": str(res.status)}
    loc = res.headers.get("Location")
    if loc:
        response["location"] = loc[len(req.base_url) + 1 :] if loc.startswith(req.base_url) else loc
    if "ETag" in res.headers:
        response["etag"] = res.headers["ETag"]
    out: dict[str, Any] = {}
    if res.body is not None and (representation or sub_method == "GET"):
        out["resource"] = orjson.Fragment(res.body) if isinstance(res.body, str) else res.body
    out["response"] = response
    return out


def _walk_refs(node: Any, fn: Any) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            new = fn(ref)
            if new is not None:
                node["reference"] = new
        for v in node.values():
            if isinstance(v, dict | list):
                _walk_refs(v, fn)
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, dict | list):
                _walk_refs(v, fn)


def _transaction(unit: Unit, req: FhirRequest, entries: list[dict[str, Any]]) -> dict[str, Any]:
    ids: dict[str, str] = {}
    created_by_condition: dict[int, Stored] = {}
    for i, e in enumerate(entries):
        r = e["request"]
        full = e.get("fullUrl")
        res = e.get("resource")
        try:
            if r["method"] == "POST":
                rtype = res.get("resourceType") if isinstance(res, dict) else None
                path = _split_url(r["url"], req.base_url)[0].strip("/")
                if path != rtype:
                    if path.endswith("/_search") or path.rsplit("/", 1)[-1].startswith("$"):
                        continue  # a search or an operation, not a create: dispatched as it is
                    raise FhirError.bad_request(
                        f"request.url '{r['url']}' does not create a {rtype}",
                        "条目的 request.url 与资源类型不一致",
                    )
                if r.get("ifNoneExist"):
                    found = _conditional_matches(unit, str(rtype), r["ifNoneExist"].split("?", 1)[-1])
                    if len(found) > 1:
                        raise FhirError.multiple_matches(
                            f"ifNoneExist '{r['ifNoneExist']}' matched more than one resource"
                        )
                    if found:
                        created_by_condition[i] = found[0]
                        if full:
                            ids[full] = f"{rtype}/{found[0].id}"
                        continue
                new_id = new_id_()
                e["_assigned"] = new_id
                if full:
                    ids[full] = f"{rtype}/{new_id}"
            elif r["method"] == "PUT" and full:
                path, query = _split_url(r["url"], req.base_url)
                if not query and "/" in path:
                    ids[full] = path
        except FhirError as err:
            raise _entry_error(i, err) from None

    def resolve(ref: str) -> str | None:
        if ref in ids:
            return ids[ref]
        if "?" in ref and not ref.startswith("#") and "://" not in ref:
            rtype, _, query = ref.partition("?")
            found = _conditional_matches(unit, rtype, query)
            if len(found) != 1:
                raise FhirError.of(
                    412 if found else 404,
                    "not-found" if not found else "multiple-matches",
                    f"conditional reference '{ref}' matched {len(found)} resources",
                    f"条件引用 {ref} 匹配到 {len(found)} 个资源",
                )
            return f"{rtype}/{found[0].id}"
        return None

    for i, e in enumerate(entries):
        if isinstance(e.get("resource"), dict):
            try:
                _walk_refs(e["resource"], resolve)
            except FhirError as err:
                raise _entry_error(i, err) from None

    representation = req.prefer("return") == "representation"
    responses: list[dict[str, Any] | None] = [None] * len(entries)
    unit.deferred = True
    order = sorted(range(len(entries)), key=lambda i: ORDER[entries[i]["request"]["method"]])
    touched: set[str] = set()
    for i in order:
        e = entries[i]
        try:
            if i in created_by_condition:
                s = created_by_condition[i]
                res = FhirResponse(200, s.content, version_headers(req, s))
            elif e["request"]["method"] == "POST" and "_assigned" in e:
                body = e["resource"]
                body.pop("id", None)
                w = unit.create(body, id=e["_assigned"], method="POST")
                res = FhirResponse(201, w.stored.content, version_headers(req, w.stored))
            else:
                res = dispatch(unit, _sub_request(req, e))
            target = _write_target(req, e, res)
            if target is not None:
                if target in touched:
                    raise FhirError.bad_request(
                        f"{target} is written by more than one entry of the transaction",
                        f"事务中有多个条目修改同一资源：{target}",
                    )
                touched.add(target)
        except FhirError as err:
            raise _entry_error(i, err) from None
        responses[i] = _entry_response(req, e["request"]["method"], res, representation)
    unit.deferred = False
    unit.flush()
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": responses}


def _write_target(req: FhirRequest, e: dict[str, Any], res: FhirResponse) -> str | None:
    """``Type/id`` a PUT, PATCH or DELETE entry wrote (a transaction may write each resource once)."""
    if e["request"]["method"] not in ("PUT", "PATCH", "DELETE"):
        return None
    loc = res.headers.get("Location")
    if loc:
        path = loc[len(req.base_url) :] if loc.startswith(req.base_url) else loc
        return "/".join(path.strip("/").split("/")[:2])
    path, query = _split_url(e["request"]["url"], req.base_url)
    return path.strip("/") if not query else None


def _batch(unit: Unit, req: FhirRequest, entries: list[dict[str, Any]]) -> dict[str, Any]:
    representation = req.prefer("return") == "representation"
    responses: list[dict[str, Any]] = []
    for e in entries:
        sub = _sub_request(req, e)
        try:
            # Each entry succeeds or fails on its own: a savepoint per entry.
            with unit.conn.begin_nested():
                res = dispatch(unit, sub)
            responses.append(_entry_response(req, sub.method, res, representation))
        except FhirError as err:
            responses.append({"response": {"status": str(err.status), "outcome": outcome(err.issues)}})
    return {"resourceType": "Bundle", "type": "batch-response", "entry": responses}
