#!/usr/bin/env python
"""Benchmark of ``rhip mpi dedupe`` at scale on PostgreSQL: registrations per second and peak memory.

    .venv/bin/python bench/bench_mpi_dedupe.py [--residents 1000000] [--runs 1] [--db NAME] [--keep-db]

Steps: ``bench/mpibench/population.py`` writes the synthetic region's Patients only (every resident's
population-register Patient plus, per resident, 0.25 facility registrations on average with the
registrar's identity noise: ≈ 1.26 M Patients for 1 M residents) under ``--data`` (reused when
present); they are bulk-loaded (``rhip.store.bulk.load``, what ``rhip import`` runs: no matching)
into a throw-away database ``rhip_bench_mpi_dedupe_*`` (or ``--db``, reused when it already holds
them); then ``--runs`` times ``dedupe(restart=True)`` (what ``rhip mpi dedupe --restart`` runs) in a
fresh child process each, which reports its own wall time, the time at which it had registered
1,000,000 registrations, and the peak RSS of itself and of its worker processes. The bulk load of the
same Patients is the same-run reference. Prints one JSON object and writes
bench/results/mpi-dedupe-<date>.json. Target (issue "Master person index"): 1,000,000 registrations
in ≤ 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
DEFAULT_PG = os.environ.get("RHIP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
TARGET_REGS, TARGET_SECONDS = 1_000_000, 600


def run_dedupe(url: str, data_dir: Path, chunk: int, workers: int) -> dict[str, Any]:
    """One dedupe from scratch in this process (the child of a benchmark run); returns its figures."""
    from rhip.mpi.jobs import dedupe
    from rhip.mpi.online import Matcher
    from rhip.security.fields import configure_from
    from rhip.store.db import make_engine

    configure_from("", data_dir)
    engine = make_engine(url)
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    samples: list[tuple[float, int]] = []

    def progress(n: int) -> None:
        now = time.perf_counter() - t0
        samples.append((round(now, 1), n))
        if n >= TARGET_REGS and "to_1m" not in marks:
            marks["to_1m"] = now
        print(f"{n} registrations {now:.0f}s", file=sys.stderr, flush=True)

    report = dedupe(engine, Matcher(), restart=True, chunk=chunk, workers=workers, progress=progress)
    engine.dispose()
    seconds = time.perf_counter() - t0
    step = max(1, len(samples) // 20)
    return {
        "registrations": report.registrations,
        "seconds": round(seconds, 1),
        "per_second": round(report.registrations / seconds, 1),
        "seconds_to_1m": round(marks["to_1m"], 1) if "to_1m" in marks else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_workers_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "decisions": report.decisions,
        "index": report.index,
        "progress": samples[::step],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--registrations", type=float, default=0.25, help="facility registrations per resident")
    ap.add_argument("--noise", type=float, default=0.10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", type=Path, help="data directory (default /work/bench-data/mpi-<residents>)")
    ap.add_argument("--db", help="database name to (re)use instead of a throw-away one")
    ap.add_argument("--keep-db", action="store_true", help="keep the database (e.g. for bench_mpi_online.py)")
    ap.add_argument("--pg", default=DEFAULT_PG)
    ap.add_argument("--child", nargs=2, metavar=("URL", "DATA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_dedupe(args.child[0], Path(args.child[1]), args.chunk, args.workers)))
        return 0

    import psycopg
    from mpibench.population import generate_patients

    from rhip.security.context import RequestContext
    from rhip.settings import Settings
    from rhip.store.bulk import files_of, load, ndjson_lines
    from rhip.store.db import make_engine, migrate
    from rhip.store.repository import Repository

    data: Path = args.data or Path(f"/work/bench-data/mpi-{args.residents}")
    patients = data / "Patient.ndjson"
    generated = None
    if not patients.exists():
        t0 = time.perf_counter()
        generated = generate_patients(
            data, residents=args.residents, seed=args.seed, registrations=args.registrations, noise=args.noise
        )
        generated["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"generated {generated['patients']} Patients", file=sys.stderr)
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    name = args.db or f"rhip_bench_mpi_dedupe_{uuid.uuid4().hex[:8]}"
    admin = args.pg.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg}/{name}"
    settings = Settings(data_dir=data, jwt_secret="bench-secret-key-of-sufficient-length-0123")
    engine = make_engine(url)
    load_figures: dict[str, Any] = {"reused": True}
    try:
        migrate(engine)
        repo = Repository(engine, settings)  # also installs the field keys kept beside the data
        with engine.connect() as conn:
            have = conn.exec_driver_sql("SELECT count(*) FROM resources WHERE rtype = 'Patient'").scalar_one()
        if have < manifest["patients"]:
            t0 = time.perf_counter()
            loaded = load(repo, ndjson_lines(files_of(patients)), RequestContext.system("bench"))
            secs = time.perf_counter() - t0
            load_figures = {"loaded": loaded.loaded, "seconds": round(secs, 1)}
            load_figures["per_second"] = round(loaded.loaded / secs)
            print(f"loaded {loaded.loaded} Patients in {secs:.0f}s", file=sys.stderr)
        engine.dispose()
        runs = []
        for i in range(args.runs):
            cmd = [sys.executable, __file__, "--child", url, str(data), "--chunk", str(args.chunk)]
            cmd += ["--workers", str(args.workers)]
            done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"run {i + 1}: {runs[-1]['per_second']}/s", file=sys.stderr)
        load_avg = os.getloadavg()
        to_1m = [r["seconds_to_1m"] for r in runs if r["seconds_to_1m"] is not None]
        out = {
            "benchmark": "mpi-dedupe",
            "date": datetime.now().isoformat(timespec="seconds"),
            "engine": "postgresql",
            "cpus": os.cpu_count(),
            "load_average_after": [round(x, 2) for x in load_avg],
            "data": {"dir": str(data), **manifest, **({"generated": generated} if generated else {})},
            "chunk": args.chunk,
            "workers": args.workers,
            "bulk_load_reference": load_figures,
            "runs": runs,
            "median": {
                "seconds": statistics.median(r["seconds"] for r in runs),
                "per_second": statistics.median(r["per_second"] for r in runs),
                "seconds_to_1m": statistics.median(to_1m) if to_1m else None,
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
                "peak_rss_workers_mb": statistics.median(r["peak_rss_workers_mb"] for r in runs),
            },
            "target": {"registrations": TARGET_REGS, "seconds": TARGET_SECONDS},
        }
        out["target_met"] = bool(to_1m) and statistics.median(to_1m) <= TARGET_SECONDS
        text = json.dumps(out, ensure_ascii=False, indent=2)
        print(text)
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        (results / f"mpi-dedupe-{datetime.now():%Y%m%d-%H%M}.json").write_text(text + "\n", encoding="utf-8")
    finally:
        engine.dispose()
        if not (args.keep_db or args.db):
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
