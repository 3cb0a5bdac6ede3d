"""Serve the FHIR API like ``rhip serve`` does (``rhip.cli.cmd_serve``): migrate, ``create_app(settings)``,
``uvicorn.run(app, log_level="info")``, one process. Used instead of ``python -m rhip.cli serve`` so the
benchmark does not depend on unrelated CLI sub-commands importing cleanly.

    python bench/corebench/serve.py --db URL --port N --data-dir DIR   (RHIP_JWT_SECRET from the env)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from rhip.app import create_app
from rhip.settings import Settings
from rhip.store.db import make_engine, migrate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    args = ap.parse_args()
    settings = Settings(db=args.db, host=args.host, port=args.port, data_dir=args.data_dir)
    engine = make_engine(settings.database_url())
    migrate(engine)
    engine.dispose()
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
