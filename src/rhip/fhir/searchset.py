"""Bundles for search results (``searchset``) and histories (``history``), with paging links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from rhip.fhir.rest import FhirRequest
from rhip.fhir.search.parse import SearchQuery
from rhip.fhir.shaping import shape
from rhip.store.repository import Stored, format_instant
from rhip.store.search.execute import Row, SearchResult


def _resource(content: str, q: SearchQuery | None) -> Any:
    if q is None or (q.summary in (None, "false") and not q.elements):
        return orjson.Fragment(content)
    from rhip.fhir import json as fjson

    return shape(fjson.loads(content), q.summary, q.elements)


def _entry(req: FhirRequest, row: Row, mode: str, q: SearchQuery) -> dict[str, Any]:
    return {
        "fullUrl": f"{req.base_url}/{row.rtype}/{row.id}",
        "resource": _resource(row.content, q),
        "search": {"mode": mode},
    }


def _link(req: FhirRequest, params: list[tuple[str, str]]) -> str:
    path = req.path.strip("/")
    if path == "_search" or path.endswith("/_search"):
        path = path[: -len("_search")].rstrip("/")
    url = f"{req.base_url}/{path}" if path else req.base_url
    return f"{url}?{urlencode(params)}" if params else url


def search_bundle(req: FhirRequest, q: SearchQuery, result: SearchResult) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        bundle["total"] = result.total
    links = [{"relation": "self", "url": _link(req, q.echo)}]
    if result.next_cursor:
        links.append({"relation": "next", "url": _link(req, [*q.echo, ("_cursor", result.next_cursor)])})
    bundle["link"] = links
    entries = [_entry(req, row, "match", q) for row in result.matches]
    entries += [_entry(req, row, "include", q) for row in result.included]
    if q.warnings:
        from rhip.fhir.errors import outcome

        entries.append({"resource": outcome(q.warnings), "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def history_bundle(req: FhirRequest, versions: list[Stored], next_cursor: str | None) -> dict[str, Any]:
    params = [(k, v) for k, v in req.query if k != "_cursor"]
    links = [{"relation": "self", "url": _link(req, params)}]
    if next_cursor:
        links.append({"relation": "next", "url": _link(req, [*params, ("_cursor", next_cursor)])})
    entries = []
    for s in versions:
        entry: dict[str, Any] = {"fullUrl": f"{req.base_url}/{s.rtype}/{s.id}"}
        if s.content is not None:
            entry["resource"] = orjson.Fragment(s.content)
        url = f"{s.rtype}/{s.id}" if s.method != "POST" else s.rtype
        entry["request"] = {"method": s.method, "url": url}
        status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(s.method, "200 OK")
        entry["response"] = {"status": status, "etag": s.etag, "lastModified": format_instant(s.lu)}
        entries.append(entry)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "link": links}
    if entries:
        bundle["entry"] = entries
    return bundle
