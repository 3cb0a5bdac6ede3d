#!/usr/bin/env python
"""Benchmark of the online master person index on PostgreSQL: write latency with and without matching,
and batch dedupe throughput with peak memory.

    .venv/bin/python bench/bench_mpi_online.py [--residents 5000] [--writes 300] [--pg URL]

Steps: ``rhip.synth`` generates a region (clean register Patients plus noisy facility registrations);
the Patients are bulk-loaded (COPY, no matching) into a throw-away database ``rhip_bench_mpi_*``;
``rhip mpi dedupe`` builds the index (throughput, peak RSS); then ``--writes`` new noisy registrations
of existing residents (another phone, a new id) are written one per request through the platform
repository (matching) and the same number through a plain repository (no matching), interleaved, and
the p50/p95/p99 of each are reported. Prints one JSON object and writes bench/results/mpi-online-<date>.json.
The issue's target is p95 ≤ 15 ms at 1,000,000 persons; the population reached here is reported as is.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from rhip import platform
from rhip.mpi import index
from rhip.mpi.jobs import dedupe
from rhip.mpi.online import Matcher
from rhip.security.context import RequestContext
from rhip.settings import Settings
from rhip.store.bulk import files_of, load, ndjson_lines
from rhip.store.db import make_engine, migrate
from rhip.store.repository import Repository

HERE = Path(__file__).resolve().parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def noisy_copy(p: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    body = {k: v for k, v in p.items() if k not in ("id", "meta")}
    body["telecom"] = [{"system": "phone", "value": f"13{rng.randrange(10**9):09d}"}]
    return body


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--residents", type=int, default=5000)
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pg", default=os.environ.get("RHIP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    args = ap.parse_args()
    from rhip.synth import generate

    work = Path(tempfile.mkdtemp(prefix="rhip-bench-mpi-online-"))
    t0 = time.perf_counter()
    generate(seed=args.seed, residents=args.residents, years=1, out=work / "region", formats=("fhir-ndjson",))
    print(f"synth {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    name = f"rhip_bench_mpi_{uuid.uuid4().hex[:8]}"
    admin = args.pg.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{args.pg}/{name}")
    try:
        migrate(engine)
        settings = Settings(data_dir=work, jwt_secret="bench-secret-key-of-sufficient-length-0123")
        plain = Repository(engine, settings)
        patients_file = work / "region" / "fhir" / "Patient.ndjson"
        t0 = time.perf_counter()
        report = load(plain, ndjson_lines(files_of(patients_file)), RequestContext.system("bench"))
        load_s = time.perf_counter() - t0
        print(f"loaded {report.loaded} Patients in {load_s:.1f}s", file=sys.stderr)
        matcher = Matcher()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        dd = dedupe(engine, matcher, restart=True, chunk=500)
        dedupe_s = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"dedupe {dd.registrations} in {dedupe_s:.1f}s", file=sys.stderr)
        with engine.connect() as conn:
            sizes = index.counts(conn)
        mpi_repo = platform.repository(engine, settings, matcher=matcher)
        rng = random.Random(args.seed)
        with patients_file.open(encoding="utf-8") as fh:
            sample = [json.loads(line) for line in fh]
        rng.shuffle(sample)
        ctx = RequestContext(subject="bench-feed", kind="client", scopes=frozenset({"system/*.*"}))
        timings: dict[str, list[float]] = {"with_matching": [], "without_matching": []}
        for i in range(args.writes):
            for label, repo in (("with_matching", mpi_repo), ("without_matching", plain)):
                body = noisy_copy(sample[(2 * i + (label == "without_matching")) % len(sample)], rng)
                t = time.perf_counter()
                with repo.unit(ctx) as unit:
                    unit.create(body)
                timings[label].append((time.perf_counter() - t) * 1000)
        out = {
            "benchmark": "mpi-online",
            "date": datetime.now().isoformat(timespec="seconds"),
            "engine": "postgresql",
            "cpus": os.cpu_count(),
            "residents": args.residents,
            "registrations_indexed": sizes["registrations"],
            "persons_indexed": sizes["persons"],
            "open_reviews": sizes["open_reviews"],
            "writes_each": args.writes,
            "patient_write_ms": {
                k: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "p99": pct(v, 0.99), "mean": round(statistics.mean(v), 2)}
                for k, v in timings.items()
            },
            "target": {"p95_ms": 15, "persons": 1_000_000},
            "dedupe": {
                "registrations": dd.registrations,
                "seconds": round(dedupe_s, 1),
                "per_second": round(dd.registrations / dedupe_s, 1) if dedupe_s else None,
                "peak_rss_mb": round(max(rss0, rss1) / 1024, 1),
                "decisions": dd.decisions,
                "target": "1,000,000 registrations in <= 600 s",
            },
            "bulk_load_seconds": round(load_s, 1),
        }
        out["p95_target_met_at_this_size"] = out["patient_write_ms"]["with_matching"]["p95"] <= 15  # type: ignore[index]
        text = json.dumps(out, ensure_ascii=False, indent=2)
        print(text)
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        (results / f"mpi-online-{datetime.now():%Y%m%d-%H%M}.json").write_text(text + "\n", encoding="utf-8")
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
