#!/usr/bin/env python
"""China-profile validation cost on the core benchmark's transaction ingest (issue "China core").

    .venv/bin/python bench/bench_profiles.py [--engine all|postgresql|sqlite] [--runs 5]

The 16 Synthea transaction bundles of ``bench_core.py`` figure 1 go through the real transaction path
(``rhip.fhir.rest.dispatch`` -> ``process_bundle`` -> ``Unit.create``), each run on an empty database,
with the China profiles **off** (structural validation only) and in the default **warn** mode (every
finding checked and stored in ``validation_issues``), alternating off/warn so drift hits both alike.
Prints JSON: resources/s per mode (median of ``--runs``), the overhead ``warn/off - 1`` (target
≤ 20 %), findings stored per run, and the pure validation time per resource measured in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from corebench.db import Databases, quiesce, wipe
from corebench.ingest import Fixture, ingest_platform, load_fixtures

from rhip.profiles import profiles
from rhip.profiles import validate as profile_findings
from rhip.settings import Settings
from rhip.store.repository import Repository

HERE = Path(__file__).resolve().parent
ENGINES = ("postgresql", "sqlite")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def findings_count(repo: Repository) -> int:
    with repo.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM validation_issues").scalar_one())


def engine_section(dbs: Databases, engine: str, fixtures: list[Fixture], runs: int, workdir: Path) -> dict[str, Any]:
    n = sum(f.entries for f in fixtures)
    db = dbs.create(engine, "profiles")
    repos = {
        mode: Repository(db.engine, Settings(data_dir=workdir / "node", validation_default=mode))
        for mode in ("off", "warn")
    }
    ingest_platform(repos["warn"], fixtures)  # warm-up: imports, caches, first-use loads
    rates: dict[str, list[float]] = {"off": [], "warn": []}
    stored: list[int] = []
    for run in range(runs):
        order = ("off", "warn") if run % 2 == 0 else ("warn", "off")
        for mode in order:
            wipe(db)
            quiesce(db)
            seconds = sum(ingest_platform(repos[mode], fixtures))
            rates[mode].append(n / seconds)
            if mode == "warn":
                stored.append(findings_count(repos[mode]))
            log(f"[{engine}] run {run + 1} {mode}: {n / seconds:,.0f} resources/s")
    dbs.drop(db)
    off, warn = statistics.median(rates["off"]), statistics.median(rates["warn"])
    overhead = off / warn - 1  # extra time per resource, relative to the time without profiles
    return {
        "resources": n,
        "bundles": len(fixtures),
        "runs": runs,
        "off_resources_per_s": [round(x) for x in rates["off"]],
        "warn_resources_per_s": [round(x) for x in rates["warn"]],
        "off_median": round(off),
        "warn_median": round(warn),
        "overhead": round(overhead, 4),
        "findings_stored_per_run": stored,
        "target": {"overhead_max": 0.20, "pass": overhead <= 0.20},
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def pure_validation(fixtures: list[Fixture], rounds: int = 5) -> dict[str, Any]:
    """Microseconds per resource of ``rhip.profiles.validate`` alone (no database), median of rounds."""
    resources = [e["resource"] for f in fixtures for e in orjson.loads(f.body).get("entry") or ()]
    profiles()
    today = date.today()
    per: list[float] = []
    count = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        count = sum(len(profile_findings(r, today)) for r in resources)
        per.append((time.perf_counter() - t0) / len(resources) * 1e6)
    return {"resources": len(resources), "findings": count, "us_per_resource_median": round(statistics.median(per), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=("all", *ENGINES), default="all")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fixtures", type=Path, default=HERE.parent.parent / "shared" / "fixtures" / "synthea-r4")
    ap.add_argument("--pg", default=os.environ.get("RHIP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    fixtures = load_fixtures(args.fixtures)
    out: dict[str, Any] = {"benchmark": "profiles", "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    out["pure_validation"] = pure_validation(fixtures)
    with tempfile.TemporaryDirectory(prefix="rhip-bench-profiles-") as tmp:
        dbs = Databases(args.pg, Path(tmp))
        try:
            for engine in ENGINES if args.engine == "all" else (args.engine,):
                out[engine] = engine_section(dbs, engine, fixtures, args.runs, Path(tmp))
        finally:
            dbs.close()
    out["all_targets_pass"] = all(out[e]["target"]["pass"] for e in ENGINES if e in out)
    text = json.dumps(out, indent=1, ensure_ascii=False)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"profiles-{args.engine}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
