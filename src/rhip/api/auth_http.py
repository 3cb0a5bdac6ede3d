"""OAuth 2.0 token endpoint (``POST /auth/token``) and SMART discovery document."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from rhip.api.fhir_http import base_url
from rhip.fhir.errors import FhirError
from rhip.security import accounts, assertions, tokens
from rhip.security.audit import Collector
from rhip.security.context import RequestContext


def _oauth_error(status: int, code: str, description: str) -> Response:
    return JSONResponse(
        {"error": code, "error_description": description}, status_code=status, headers={"Cache-Control": "no-store"}
    )


def _audit_login(request: Request, ctx: RequestContext, err: FhirError | None) -> None:
    """Every login attempt, successful or not, is an AuditEvent (brute force shows in the trail)."""
    collector = Collector()
    collector.note("login", None)
    reason = err.issues[0].diagnostics if err is not None else ""
    request.app.state.repo.record(collector, ctx, kind="login", status=err.status if err else None, reason=reason)


async def token(request: Request) -> Response:
    """Issue a bearer token (RFC 6749 §4.3 password, §4.4 client_credentials)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "use application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > 8192:
        return _oauth_error(400, "invalid_request", "request too large")
    from urllib.parse import parse_qs

    try:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), max_num_fields=20).items()}
    except (UnicodeDecodeError, ValueError):
        return _oauth_error(400, "invalid_request", "malformed form body")
    engine = request.app.state.repo.engine
    grant = form.get("grant_type")
    try:
        if grant == "client_credentials" and "client_assertion" in form:
            if form.get("client_assertion_type") != assertions.ASSERTION_TYPE:
                return _oauth_error(
                    400, "invalid_request", f"client_assertion_type must be {assertions.ASSERTION_TYPE}"
                )
            audiences = {f"{base_url(request)}/auth/token", str(request.url.replace(query=""))}
            ctx = await run_in_threadpool(
                assertions.check_client_assertion, engine, form["client_assertion"], audiences
            )
        elif grant == "client_credentials":
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
            if not cid:
                import base64

                auth = request.headers.get("authorization", "")
                if auth.lower().startswith("basic "):
                    try:
                        cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                    except (ValueError, UnicodeDecodeError):
                        return _oauth_error(400, "invalid_request", "malformed basic credentials")
            ctx = await run_in_threadpool(accounts.check_client, engine, cid, secret)
        elif grant == "password":
            ctx = await run_in_threadpool(
                accounts.check_user,
                engine,
                form.get("username", ""),
                form.get("password", ""),
                form.get("totp"),
                request.app.state.field_keys,
            )
        else:
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials or password")
    except FhirError as err:
        who = form.get("client_id", "") if grant == "client_credentials" else form.get("username", "")
        kind = "client" if grant == "client_credentials" else "user"
        await run_in_threadpool(_audit_login, request, RequestContext(subject=who[:80] or "-", kind=kind), err)
        return _oauth_error(
            401 if grant == "client_credentials" else 400,
            "invalid_client" if grant == "client_credentials" else "invalid_grant",
            err.issues[0].diagnostics,
        )
    await run_in_threadpool(_audit_login, request, ctx, None)
    ttl = request.app.state.settings.token_ttl_seconds
    access = tokens.issue(request.app.state.jwt_secret, ctx, ttl)
    return JSONResponse(
        {"access_token": access, "token_type": "Bearer", "expires_in": ttl, "scope": " ".join(sorted(ctx.scopes))},
        headers={"Cache-Control": "no-store"},
    )


def smart_configuration(request: Request) -> Response:
    base = base_url(request)
    return JSONResponse(
        {
            "token_endpoint": f"{base}/auth/token",
            "grant_types_supported": ["client_credentials", "password"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(assertions.ALGORITHMS),
            "scopes_supported": ["system/*.*", "system/*.read", "user/*.*", "user/*.read", "patient/*.read"],
            "capabilities": ["client-confidential-symmetric", "client-confidential-asymmetric"],
        }
    )


def router() -> APIRouter:
    r = APIRouter()
    r.add_api_route("/auth/token", token, methods=["POST"], tags=["Auth"], summary="OAuth2 token endpoint")
    r.add_api_route("/.well-known/smart-configuration", smart_configuration, methods=["GET"], tags=["Auth"])
    return r
