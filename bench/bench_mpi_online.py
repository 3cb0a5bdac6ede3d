#!/usr/bin/env python
"""Benchmark of the online master person index on PostgreSQL: Patient write latency with and without
matching on an indexed population (and, when it builds the index itself, the dedupe that built it).

    .venv/bin/python bench/bench_mpi_online.py [--residents 3000] [--writes 200] [--rounds 3]
    .venv/bin/python bench/bench_mpi_online.py --db NAME --data DIR [--writes 300] [--rounds 3]

Without ``--db``: ``rhip.synth`` generates a region (clean register Patients plus noisy facility
registrations), the Patients are bulk-loaded (COPY, no matching) into a throw-away database
``rhip_bench_mpi_*`` and ``rhip mpi dedupe`` builds the index (its rate and peak RSS are reported).
With ``--db``: an existing database whose index is built (e.g. 1,000,000 persons by
``bench_mpi_dedupe.py --keep-db``; ``--data`` is its data directory: field keys and ``Patient.ndjson``).

Then ``--rounds`` rounds of ``--writes`` new registrations of existing residents (a copy of a stored
Patient with another phone and no id: a second facility registering the resident) are written one per
unit (REST create through the repository: JSON, validation, profiles, index rows, audit) through the
platform repository (matching inside the transaction) and the same number through a plain repository
(no matching), interleaved one by one: the baseline is measured in the same run, on the same database.
Reported: p50/p95/p99 per round and the median of the rounds. Target (issue "Master person index"):
p95 ≤ 15 ms per Patient write with matching at 1,000,000 persons. Writes a JSON copy to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
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
TARGET_MS, TARGET_PERSONS = 15, 1_000_000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": pct(values, 0.5),
        "p95": pct(values, 0.95),
        "p99": pct(values, 0.99),
        "mean": round(statistics.mean(values), 2),
    }


def noisy_copy(p: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    body = {k: v for k, v in p.items() if k not in ("id", "meta")}
    body["telecom"] = [{"system": "phone", "value": f"13{rng.randrange(10**9):09d}"}]
    return body


def sample_patients(path: Path, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """``n`` Patients spread over the file (reservoir sample: the file may hold millions)."""
    chosen: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i < n:
                chosen.append(line)
            else:
                j = rng.randrange(i + 1)
                if j < n:
                    chosen[j] = line
    return [json.loads(line) for line in chosen]


MPI_TABLES = ("mpi_keys", "mpi_blocks", "mpi_registrations", "mpi_persons", "mpi_term_counts", "mpi_reviews")


def prewarm(engine: Any) -> float:
    """Read the MPI tables and their indexes into the OS page cache (pg_prewarm, mode 'read'); MB read."""
    pages = 0
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        rels = conn.exec_driver_sql(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relname = ANY(%(t)s) "
            "UNION SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relname = ANY(%(t)s)",
            {"t": list(MPI_TABLES)},
        ).all()
        for (rel,) in rels:
            pages += int(conn.exec_driver_sql("SELECT pg_prewarm(%(r)s, 'read')", {"r": rel}).scalar_one())
    return round(pages * 8 / 1024, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--residents", type=int, default=3000)
    ap.add_argument("--writes", type=int, default=200, help="writes per round, with and without matching each")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--db", help="an existing indexed database to write into (its name on --pg)")
    ap.add_argument("--data", type=Path, help="with --db: its data directory (field keys, Patient.ndjson)")
    ap.add_argument(
        "--prewarm",
        action="store_true",
        help="read the index tables into the OS page cache first (pg_prewarm 'read'): a server's steady state",
    )
    ap.add_argument("--pg", default=os.environ.get("RHIP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    args = ap.parse_args()
    admin = args.pg.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    built: dict[str, Any] | None = None
    if args.db:
        if args.data is None:
            ap.error("--db needs --data")
        name, work, own = args.db, args.data, False
        patients_file = next(p for p in (work / "Patient.ndjson", work / "fhir" / "Patient.ndjson") if p.exists())
    else:
        from rhip.synth import generate

        work = Path(tempfile.mkdtemp(prefix="rhip-bench-mpi-online-"))
        generate(seed=args.seed, residents=args.residents, years=1, out=work / "region", formats=("fhir-ndjson",))
        patients_file = work / "region" / "fhir" / "Patient.ndjson"
        name, own = f"rhip_bench_mpi_{uuid.uuid4().hex[:8]}", True
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{args.pg}/{name}")
    try:
        migrate(engine)
        settings = Settings(data_dir=work, jwt_secret="bench-secret-key-of-sufficient-length-0123")
        plain = Repository(engine, settings)  # installs the field keys kept beside the data
        matcher = Matcher()
        if own:
            t0 = time.perf_counter()
            report = load(plain, ndjson_lines(files_of(patients_file)), RequestContext.system("bench"))
            load_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            dd = dedupe(engine, matcher, restart=True, chunk=5000)
            dedupe_s = time.perf_counter() - t0
            built = {
                "bulk_load_seconds": round(load_s, 1),
                "loaded": report.loaded,
                "dedupe": {
                    "registrations": dd.registrations,
                    "seconds": round(dedupe_s, 1),
                    "per_second": round(dd.registrations / dedupe_s, 1) if dedupe_s else None,
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                    "peak_rss_workers_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                    "decisions": dd.decisions,
                },
            }
        with engine.connect() as conn:
            sizes = index.counts(conn)
        prewarmed = prewarm(engine) if args.prewarm else None
        mpi_repo = platform.repository(engine, settings, matcher=matcher)
        rng = random.Random(args.seed)
        sample = sample_patients(patients_file, 2 * args.writes * (args.rounds + 1), rng)
        ctx = RequestContext(subject="bench-feed", kind="client", scopes=frozenset({"system/*.*"}))
        repos = (("with_matching", mpi_repo), ("without_matching", plain))
        for _label, repo in repos:  # warm-up: connections, caches, prepared statements
            for p in sample[-20:]:
                with repo.unit(ctx) as unit:
                    unit.create(noisy_copy(p, rng))
        rounds = []
        k = 0
        for _ in range(args.rounds):
            timings: dict[str, list[float]] = {"with_matching": [], "without_matching": []}
            for _ in range(args.writes):
                for label, repo in repos:
                    body = noisy_copy(sample[k], rng)
                    k += 1
                    t = time.perf_counter()
                    with repo.unit(ctx) as unit:
                        unit.create(body)
                    timings[label].append((time.perf_counter() - t) * 1000)
            rounds.append({label: summary(v) for label, v in timings.items()})
        med = {
            label: {q: round(statistics.median(r[label][q] for r in rounds), 2) for q in ("p50", "p95", "p99", "mean")}
            for label, _ in repos
        }
        out = {
            "benchmark": "mpi-online",
            "date": datetime.now().isoformat(timespec="seconds"),
            "engine": "postgresql",
            "cpus": os.cpu_count(),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "database": "reused " + name if not own else f"built: {args.residents} residents",
            "prewarmed_mb": prewarmed,
            "registrations_indexed": sizes["registrations"],
            "persons_indexed": sizes["persons"],
            "open_reviews": sizes["open_reviews"],
            "writes_per_round": args.writes,
            "rounds": rounds,
            "median_of_rounds_ms": med,
            "matching_cost_p50_ms": round(med["with_matching"]["p50"] - med["without_matching"]["p50"], 2),
            "target": {"p95_ms": TARGET_MS, "persons": TARGET_PERSONS},
            "p95_target_met_at_this_size": med["with_matching"]["p95"] <= TARGET_MS,
            **({"built": built} if built else {}),
        }
        text = json.dumps(out, ensure_ascii=False, indent=2)
        print(text)
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        (results / f"mpi-online-{datetime.now():%Y%m%d-%H%M}.json").write_text(text + "\n", encoding="utf-8")
    finally:
        engine.dispose()
        if own:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
