"""Framework-independent FHIR RESTful API: a plain request in, a plain response out.

Only ``rhip.api`` knows Starlette. Bundles, adapters, workers and tests call ``dispatch`` directly
with a ``Unit`` (one database transaction), so every path shares the same handlers and guards.
URL grammar: FHIR R4 http.html (§3.1.0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rhip.fhir import json as fjson
from rhip.fhir.errors import FhirError
from rhip.store.repository import Unit

__all__ = ["FhirRequest", "FhirResponse", "dispatch", "parse_body"]


@dataclass(slots=True)
class FhirRequest:
    method: str
    path: str
    """Path relative to the FHIR base, without leading slash: ``Patient/1/_history``."""
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-case header names."""
    body: bytes | None = None
    base_url: str = ""
    parsed: Any = None
    """Body already parsed (bundle entries), so it is not serialised and parsed again."""

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def prefer(self, key: str) -> str | None:
        for part in (self.headers.get("prefer") or "").split(";"):
            for item in part.split(","):
                k, _, v = item.strip().partition("=")
                if k.strip() == key:
                    return v.strip().strip('"')
        return None


@dataclass(slots=True)
class FhirResponse:
    status: int
    body: Any = None
    """A dict (serialised by the adapter), a JSON text (``str``, stored content), or None."""
    headers: dict[str, str] = field(default_factory=dict)


def parse_body(req: FhirRequest) -> Any:
    """The request body as JSON (decimals exact); 400 on syntax errors, 415 on non-JSON types."""
    if req.parsed is not None:
        return req.parsed
    ctype = (req.headers.get("content-type") or "application/fhir+json").split(";")[0].strip().lower()
    if ctype not in ("application/fhir+json", "application/json", "application/json-patch+json", "text/json"):
        raise FhirError.of(
            415,
            "not-supported",
            f"unsupported content type '{ctype}'; send application/fhir+json",
            "不支持的内容类型，请使用 application/fhir+json",
        )
    if not req.body:
        raise FhirError.bad_request("request body is empty", "请求体为空")
    try:
        req.parsed = fjson.loads(req.body)
    except fjson.JsonError as exc:
        raise FhirError.of(400, "structure", f"invalid JSON: {exc}", f"JSON 格式错误：{exc}") from None
    return req.parsed


Handler = Callable[[Unit, FhirRequest, list[str]], FhirResponse]


def dispatch(unit: Unit, req: FhirRequest) -> FhirResponse:
    """Route a request to its interaction or operation handler."""
    from rhip.fhir import interactions as ix
    from rhip.fhir.operations import registry as ops

    parts = [p for p in req.path.strip("/").split("/") if p]
    m = req.method.upper()
    n = len(parts)
    if parts and parts[0] == "AuditEvent" and not parts[-1].startswith("$"):
        from rhip.fhir import auditevents

        return auditevents.handle(unit, req, parts)
    if n == 0:
        if m == "POST":
            from rhip.fhir.bundles import process_bundle

            return process_bundle(unit, req)
        if m == "GET":
            return ix.search(unit, req, None)
    elif parts[-1].startswith("$"):
        return ops.invoke(unit, req, parts)
    elif n == 1 and parts[0] == "_search" and m == "POST":
        return ix.search(unit, req, None)
    elif n == 1 and parts[0] == "_history" and m == "GET":
        return ix.history(unit, req, None, None)
    elif n == 1:
        rtype = parts[0]
        table: dict[str, Callable[[], FhirResponse]] = {
            "GET": lambda: ix.search(unit, req, rtype),
            "POST": lambda: ix.create(unit, req, rtype),
            "PUT": lambda: ix.conditional_update(unit, req, rtype),
            "PATCH": lambda: ix.conditional_patch(unit, req, rtype),
            "DELETE": lambda: ix.conditional_delete(unit, req, rtype),
        }
        if m in table:
            return table[m]()
    elif n == 2 and parts[1] == "_search" and m == "POST":
        return ix.search(unit, req, parts[0])
    elif n == 2 and parts[1] == "_history" and m == "GET":
        return ix.history(unit, req, parts[0], None)
    elif n == 2:
        rtype, id = parts
        by_method: dict[str, Callable[[], FhirResponse]] = {
            "GET": lambda: ix.read(unit, req, rtype, id),
            "PUT": lambda: ix.update(unit, req, rtype, id),
            "PATCH": lambda: ix.patch(unit, req, rtype, id),
            "DELETE": lambda: ix.delete(unit, req, rtype, id),
        }
        if m in by_method:
            return by_method[m]()
        raise FhirError.of(405, "not-supported", f"{m} is not allowed on /{req.path}", "该地址不支持此 HTTP 方法")
    elif n == 3 and parts[2] == "_history" and m == "GET":
        return ix.history(unit, req, parts[0], parts[1])
    elif n == 4 and parts[2] == "_history" and m == "GET":
        return ix.vread(unit, req, parts[0], parts[1], parts[3])
    raise FhirError.of(
        404 if m in ("GET", "POST", "PUT", "PATCH", "DELETE") else 405,
        "not-supported",
        f"no FHIR interaction for {m} /{req.path}",
        "不支持的请求地址或方法",
    )
