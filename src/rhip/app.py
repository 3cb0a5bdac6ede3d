"""Wiring: settings → database → repository → routers. Read top to bottom to find everything."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from rhip import __version__, platform
from rhip.api import auth_http, fhir_http
from rhip.fhir.errors import FhirError
from rhip.security import fields
from rhip.security.tokens import load_secret
from rhip.settings import Settings
from rhip.store.db import make_engine, migrate
from rhip.store.repository import Repository


def create_app(settings: Settings | None = None, repo: Repository | None = None) -> FastAPI:
    settings = settings or Settings()
    field_keys = fields.configure_from(settings.field_keys, settings.data_dir, settings.index_key)
    if repo is None:
        engine = make_engine(settings.database_url())
        migrate(engine)
        repo = platform.repository(engine, settings)
    app = FastAPI(
        title="rhip 区域全民健康信息平台 FHIR R4 API",
        version=__version__,
        description="FHIR R4 (4.0.1) server of a regional health information platform node. "
        "Obtain a token at POST /auth/token; /metadata is public.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.repo = repo
    app.state.jwt_secret = load_secret(settings.jwt_secret, settings.data_dir)
    app.state.field_keys = field_keys

    async def http_error(_: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 400)
        return fhir_http.error_response(
            FhirError.of(
                status,
                "not-supported" if status in (404, 405) else "invalid",
                str(getattr(exc, "detail", exc)),
                "请求无效",
            )
        )

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, http_error)
    app.include_router(auth_http.router())
    app.include_router(fhir_http.router())
    return app
