"""Serve the FHIR API like ``rhip serve`` does (``rhip.cli.cmd_serve``): migrate, ``create_app(settings)``,
``uvicorn.run(app, log_level="info")``, one process. Used instead of ``python -m rhip.cli serve`` so the
benchmark does not depend on unrelated CLI sub-commands importing cleanly.

    python bench/corebench/serve.py --db URL --port N --data-dir DIR [--no-audit]   (RHIP_JWT_SECRET from the env)

``--no-audit`` (or ``RHIP_BENCH_NO_AUDIT=1`` in the environment, which ``latency.Server`` passes on) is for
benchmarks only: it replaces the audit appends with no-ops in this process, as ``bench_security.py`` does
in-process, to measure what the audit trail costs. ``--audit-switch`` (``RHIP_BENCH_AUDIT_SWITCH=1``) does
the same for single requests only, those sent with the header ``X-Bench-Audit: off``, so one process can
serve audited and unaudited variants of the same request (``bench_security_http.py --servers one``).
Both exist only here, never in ``rhip serve``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import uvicorn

from rhip.app import create_app
from rhip.settings import Settings
from rhip.store.db import make_engine, migrate

NO_AUDIT_ENV = "RHIP_BENCH_NO_AUDIT"
AUDIT_SWITCH_ENV = "RHIP_BENCH_AUDIT_SWITCH"
AUDIT_OFF_HEADER = "X-Bench-Audit"
_audit_off: ContextVar[bool] = ContextVar("bench_audit_off", default=False)


def stub_audit(*, only_marked: bool = False) -> None:
    """No-op audit appends: the module attributes the repository calls (``audit_log.append`` and, where it
    exists, ``append_and_commit``); the unit still commits its own transaction afterwards. ``only_marked``:
    no-ops only in requests marked ``X-Bench-Audit: off`` (``with_audit_switch``), real otherwise; the
    mark is a context variable, which Starlette copies into the thread that runs the unit of work."""
    import rhip.store.repository as repository

    real = repository.audit_log
    real_append, real_append_and_commit = real.append, getattr(real, "append_and_commit", None)

    def stubbed() -> bool:
        return not only_marked or _audit_off.get()

    def append(conn: Any, key: bytes, records: Any, **kw: Any) -> list[int]:
        return [] if stubbed() else real_append(conn, key, records, **kw)

    def append_and_commit(conn: Any, key: bytes, record: Any, **kw: Any) -> int:
        assert real_append_and_commit is not None
        return 0 if stubbed() else real_append_and_commit(conn, key, record, **kw)

    real.append = append  # type: ignore[assignment]
    if real_append_and_commit is not None:
        real.append_and_commit = append_and_commit  # type: ignore[assignment]


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_audit_switch(app: Asgi) -> Asgi:
    """ASGI wrapper marking requests sent with ``X-Bench-Audit: off`` (see ``stub_audit``)."""
    off = (AUDIT_OFF_HEADER.lower().encode(), b"off")

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or off not in scope["headers"]:
            await app(scope, receive, send)
            return
        mark = _audit_off.set(True)
        try:
            await app(scope, receive, send)
        finally:
            _audit_off.reset(mark)

    return wrapped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument(
        "--no-audit",
        action="store_true",
        default=os.environ.get(NO_AUDIT_ENV) == "1",
        help=f"benchmarks only: audit appends are no-ops (also env {NO_AUDIT_ENV}=1)",
    )
    ap.add_argument(
        "--audit-switch",
        action="store_true",
        default=os.environ.get(AUDIT_SWITCH_ENV) == "1",
        help=f"benchmarks only: no audit appends in requests with {AUDIT_OFF_HEADER}: off "
        f"(also env {AUDIT_SWITCH_ENV}=1)",
    )
    args = ap.parse_args()
    if args.no_audit:
        stub_audit()
        print("serve.py: audit appends stubbed (benchmark baseline)", flush=True)
    elif args.audit_switch:
        stub_audit(only_marked=True)
        print(f"serve.py: audit appends stubbed in requests with {AUDIT_OFF_HEADER}: off", flush=True)
    settings = Settings(db=args.db, host=args.host, port=args.port, data_dir=args.data_dir)
    engine = make_engine(settings.database_url())
    migrate(engine)
    engine.dispose()
    app: Any = create_app(settings)
    if args.audit_switch and not args.no_audit:
        app = with_audit_switch(app)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
