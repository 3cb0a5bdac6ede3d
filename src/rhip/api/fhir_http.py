"""HTTP adapter for the FHIR API: Starlette request → FhirRequest → dispatch → HTTP response.

Owns what only HTTP has: bearer-token authentication, body-size limits, content negotiation
(``_format``/Accept), ``_pretty`` and turning every failure into an OperationOutcome.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from rhip.fhir import json as fjson
from rhip.fhir.capability import capability_statement
from rhip.fhir.errors import FhirError, outcome
from rhip.fhir.rest import FhirRequest, FhirResponse, dispatch
from rhip.security import tokens
from rhip.store.repository import Repository

log = logging.getLogger("rhip.api")
FHIR_JSON = "application/fhir+json; charset=utf-8"
_JSON_FORMATS = {"json", "application/json", "application/fhir+json", "text/json"}


def base_url(request: Request) -> str:
    configured = request.app.state.settings.base_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")


def render(status: int, body: Any, headers: dict[str, str] | None = None, pretty: bool = False) -> Response:
    if body is None:
        content = b""
    elif isinstance(body, str):
        content = body.encode() if not pretty else fjson.dumps(fjson.loads(body), pretty=True)
    else:
        content = fjson.dumps(body, pretty=pretty)
    return Response(content, status_code=status, headers=headers, media_type=FHIR_JSON if body is not None else None)


def error_response(err: FhirError) -> Response:
    headers = dict(err.headers)
    if err.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="rhip"'
    return render(err.status, err.outcome(), headers)


def _negotiate(request: Request) -> None:
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if fmt.split(";")[0].strip().lower() not in _JSON_FORMATS:
            raise FhirError.of(406, "not-supported", f"_format '{fmt}' is not supported; use json", "仅支持 JSON 格式")
        return
    accept = request.headers.get("accept", "")
    if accept and not any(
        a.split(";")[0].strip().lower() in _JSON_FORMATS | {"*/*", "application/*"} for a in accept.split(",")
    ):
        raise FhirError.of(
            406,
            "not-supported",
            f"cannot produce '{accept}'; use application/fhir+json",
            "仅支持 application/fhir+json",
        )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise FhirError.too_large(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FhirError.too_large(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_url(request: Request) -> None:
    """Control characters in the path or query can never be valid FHIR; reject them before any use."""
    text = request.url.path + "".join(k + v for k, v in request.query_params.multi_items())
    if any(ord(ch) < 32 for ch in text):
        raise FhirError.bad_request("control characters are not allowed in the URL", "请求地址中不允许包含控制字符")
    if len(request.query_params.multi_items()) > 200:
        raise FhirError.too_costly("more than 200 query parameters")


def authenticate(request: Request) -> Any:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise FhirError.unauthorized("an OAuth2 bearer token is required (POST /auth/token)")
    return tokens.verify(request.app.state.jwt_secret, token.strip())


async def fhir_endpoint(request: Request) -> Response:
    """Every FHIR interaction and operation (all routes below lead here)."""
    repo: Repository = request.app.state.repo
    pretty = request.query_params.get("_pretty") == "true"
    try:
        _negotiate(request)
        _check_url(request)
        ctx = authenticate(request)
        body = await _read_body(request, request.app.state.settings.max_body_bytes)
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_format", "_pretty")]
        freq = FhirRequest(
            method=request.method,
            path=request.url.path.strip("/"),
            query=query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body or None,
            base_url=base_url(request),
        )
        from starlette.concurrency import run_in_threadpool

        res: FhirResponse = await run_in_threadpool(_run, repo, ctx, freq)
        return render(res.status, res.body, res.headers, pretty)
    except FhirError as err:
        return error_response(err)
    except Exception:  # a bug: log it, never show a traceback to the client
        log.exception("unhandled error for %s %s", request.method, request.url.path)
        return render(
            500,
            outcome([])
            | {
                "issue": [
                    {
                        "severity": "fatal",
                        "code": "exception",
                        "details": {"text": "服务器内部错误"},
                        "diagnostics": "internal server error",
                    }
                ]
            },
        )


def _run(repo: Repository, ctx: Any, freq: FhirRequest) -> FhirResponse:
    with repo.unit(ctx, write=freq.method != "GET") as unit:
        unit.base_url = unit.base_url or freq.base_url or None
        return dispatch(unit, freq)


def metadata(request: Request) -> Response:
    try:
        _negotiate(request)
    except FhirError as err:
        return error_response(err)
    base = base_url(request)
    return render(
        200, capability_statement(base, f"{base}/auth/token"), pretty=request.query_params.get("_pretty") == "true"
    )


def router() -> APIRouter:
    r = APIRouter()
    r.add_api_route("/metadata", metadata, methods=["GET"], tags=["FHIR"], summary="CapabilityStatement (public)")
    all_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        ("/", ["GET", "POST"], "System search, or a batch/transaction Bundle"),
        ("/_history", ["GET"], "System history"),
        ("/{resource_type}", all_methods, "Search, create, conditional update/patch/delete"),
        ("/{resource_type}/_search", ["POST"], "Search with form-encoded parameters"),
        ("/{resource_type}/_history", ["GET"], "Type history"),
        ("/{resource_type}/{id}", all_methods, "Read, update, patch, delete; or a type-level $operation"),
        ("/{resource_type}/{id}/_history", ["GET"], "Instance history"),
        ("/{resource_type}/{id}/{operation}", ["GET", "POST"], "Instance-level operation such as $everything"),
        ("/{resource_type}/{id}/_history/{version_id}", ["GET"], "Version read (vread)"),
    ]
    for path, methods, summary in routes:
        r.add_api_route(
            path,
            fhir_endpoint,
            methods=methods,
            tags=["FHIR"],
            summary=summary,
            name=f"fhir:{path}",
            response_class=Response,
        )
    return r
