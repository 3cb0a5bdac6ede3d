"""Serve the FHIR API like ``rhip serve`` does (``rhip.cli.cmd_serve``): migrate, ``create_app(settings)``,
``uvicorn.run(app, log_level="info")``, one process. Used instead of ``python -m rhip.cli serve`` so the
benchmark does not depend on unrelated CLI sub-commands importing cleanly.

    python bench/corebench/serve.py --db URL --port N --data-dir DIR [--no-audit]   (RHIP_JWT_SECRET from the env)

``--no-audit`` (or ``RHIP_BENCH_NO_AUDIT=1`` in the environment, which ``latency.Server`` passes on) is for
benchmarks only: it replaces the audit appends with no-ops in this process, as ``bench_security.py`` does
in-process, to measure what the audit trail costs. It exists only here, never in ``rhip serve``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import uvicorn

from rhip.app import create_app
from rhip.settings import Settings
from rhip.store.db import make_engine, migrate

NO_AUDIT_ENV = "RHIP_BENCH_NO_AUDIT"


def stub_audit() -> None:
    """No-op audit appends: the module attributes the repository calls (``audit_log.append`` and, where it
    exists, ``append_and_commit``); the unit still commits its own transaction afterwards."""
    import rhip.store.repository as repository

    def append(conn: Any, key: bytes, records: Any, **kw: Any) -> list[int]:
        return []

    def append_and_commit(conn: Any, key: bytes, record: Any, **kw: Any) -> int:
        return 0

    repository.audit_log.append = append  # type: ignore[assignment]
    if hasattr(repository.audit_log, "append_and_commit"):
        repository.audit_log.append_and_commit = append_and_commit  # type: ignore[assignment]


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
    args = ap.parse_args()
    if args.no_audit:
        stub_audit()
        print("serve.py: audit appends stubbed (benchmark baseline)", flush=True)
    settings = Settings(db=args.db, host=args.host, port=args.port, data_dir=args.data_dir)
    engine = make_engine(settings.database_url())
    migrate(engine)
    engine.dispose()
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
