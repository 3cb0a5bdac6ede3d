#!/usr/bin/env python
"""Benchmark of the platform core: transaction ingest, bulk import at scale, search latency.

    .venv/bin/python bench/bench_core.py [--resources 1000000] [--sqlite-resources 100000] [--runs 3]

Prints one JSON object to stdout (machine, parameters, every figure with its target and pass/fail) and
writes it to bench/results/core-<engine>-<date>.json; progress goes to stderr. Creates throw-away
PostgreSQL databases ``rhip_bench_*`` (dropped at the end) and SQLite files in a temporary directory.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corebench import latency as bhttp  # noqa: E402
from corebench.db import (  # noqa: E402
    ActivitySampler,
    Database,
    Databases,
    analyze,
    machine_info,
    quiesce,
    size_info,
    wipe,
)
from corebench.ingest import (  # noqa: E402
    PATH_DESCRIPTION,
    Fixture,
    capture_rows,
    ingest_baseline,
    ingest_copy_baseline,
    ingest_platform,
    load_fixtures,
    row_counts,
)
from corebench.ndjson import generate  # noqa: E402

from rhip.security.context import RequestContext  # noqa: E402
from rhip.settings import Settings  # noqa: E402
from rhip.store.bulk import files_of, load, ndjson_lines  # noqa: E402
from rhip.store.db import migrate  # noqa: E402
from rhip.store.repository import Repository  # noqa: E402

T_START = time.perf_counter()
ENGINES = ("postgresql", "sqlite")


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T_START:7.1f}s] {msg}", file=sys.stderr, flush=True)


def cpu_seconds() -> tuple[float, float]:
    """User + system CPU seconds of this process and of its finished children (the loader's workers)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def loadavg() -> list[float]:
    """1/5/15-minute load averages: other work on the machine (e.g. test suites) skews the figures."""
    return [round(x, 2) for x in os.getloadavg()]


def settings_for(workdir: Path) -> Settings:
    # Defaults of a node (base_url derived per request, UTC+8, accurate totals), as `rhip serve` uses.
    return Settings(data_dir=workdir / "node", jwt_secret=bhttp.SECRET)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fresh(dbs: Databases, db: Database) -> None:
    """An empty database for the next run: TRUNCATE + CHECKPOINT (PostgreSQL), a new file (SQLite)."""
    if db.engine_name == "postgresql":
        wipe(db)
    else:
        db.dispose()
        for sfx in ("", "-wal", "-shm"):
            Path(db.raw + sfx).unlink(missing_ok=True)
        migrate(db.engine)
        quiesce(db)


# -- figure 1 ---------------------------------------------------------------------------------------
def ingest_section(
    dbs: Databases, engine: str, fixtures: list[Fixture], runs: int, workdir: Path, profile_dir: Path | None
) -> dict[str, Any]:
    n = sum(f.entries for f in fixtures)
    log(f"[{engine}] ingest: {len(fixtures)} bundles, {n} resources; warm-up + row capture run")
    db = dbs.create(engine, "ingest")
    bdb = dbs.create(engine, "baseline")
    settings = settings_for(workdir)
    bounds: list[int] = []
    warm = ingest_platform(Repository(db.engine, settings), fixtures, bounds=bounds)
    captured = capture_rows(db, bounds)
    counts = row_counts(captured)
    if counts["resources"] != n:
        raise RuntimeError(f"captured {counts['resources']} resources, expected {n}")
    plat: list[float] = []
    base: list[float] = []
    copy: list[float] = []
    per_bundle_max: list[float] = []
    for i in range(runs):
        fresh(dbs, db)
        t = ingest_platform(Repository(db.engine, settings), fixtures)
        plat.append(sum(t))
        per_bundle_max.append(max(t))
        fresh(dbs, bdb)
        b = ingest_baseline(bdb, captured)
        base.append(sum(b))
        extra = ""
        if engine == "postgresql":
            fresh(dbs, bdb)
            c = sum(ingest_copy_baseline(bdb, captured))
            copy.append(c)
            extra = f", COPY {c:.2f}s ({n / c:,.0f}/s)"
        log(
            f"[{engine}]   run {i + 1}/{runs}: platform {sum(t):.2f}s ({n / sum(t):,.0f}/s), "
            f"baseline {sum(b):.2f}s ({n / sum(b):,.0f}/s){extra}"
        )
    profile = None
    if profile_dir:
        from corebench.profiling import profiled

        fresh(dbs, db)
        repo = Repository(db.engine, settings)
        _, profile = profiled(lambda: ingest_platform(repo, fixtures), profile_dir / f"profile-ingest-{engine}.prof")
    plat_rate = n / median(plat)
    base_rate = n / median(base)
    out = {
        "path": PATH_DESCRIPTION,
        "bundles": len(fixtures),
        "resources": n,
        "rows_written": counts,
        "rows_written_total": sum(counts.values()),
        "runs": runs,
        "warmup_seconds": round(sum(warm), 3),
        "platform_seconds_runs": [round(x, 3) for x in plat],
        "platform_resources_per_s_runs": [round(n / x, 1) for x in plat],
        "platform_resources_per_s": round(plat_rate, 1),
        "platform_slowest_bundle_seconds": round(max(per_bundle_max), 3),
        "baseline_method": "identical rows read back from a platform run, plain driver executemany per table, "
        "one transaction per bundle, empty schema (same tables and indexes)",
        "baseline_seconds_runs": [round(x, 3) for x in base],
        "baseline_resources_per_s_runs": [round(n / x, 1) for x in base],
        "baseline_resources_per_s": round(base_rate, 1),
        "ratio_platform_to_baseline": round(plat_rate / base_rate, 3),
    }
    if copy:
        out["info_copy_baseline"] = {
            "note": "informational, no target: the same rows with one COPY per table (one transaction per bundle)",
            "seconds_runs": [round(x, 3) for x in copy],
            "resources_per_s": round(n / median(copy), 1),
            "ratio_platform_to_copy": round(plat_rate / (n / median(copy)), 3),
        }
    if profile:
        out["profile"] = profile
    dbs.drop(db)
    dbs.drop(bdb)
    return out


def ingest_on_top(db: Database, fixtures: list[Fixture], runs: int, workdir: Path) -> list[float]:
    rates = []
    n = sum(f.entries for f in fixtures)
    for i in range(runs):
        quiesce(db)
        t = sum(ingest_platform(Repository(db.engine, settings_for(workdir)), fixtures))
        rates.append(n / t)
        log(f"[{db.engine_name}]   on-top run {i + 1}/{runs}: {t:.2f}s ({n / t:,.0f}/s)")
    return rates


# -- figures 2 and 3 --------------------------------------------------------------------------------
def _progress_lines(lines: Any, total: int, engine: str, snapshots: list[dict[str, Any]]) -> Any:
    """Pass lines through, logging progress and keeping (read so far, cumulative rate, recent rate)."""
    t0 = last_t = time.perf_counter()
    last_i = 0
    step = max(10_000, total // 20)
    for i, item in enumerate(lines, 1):
        yield item
        if i % step == 0:
            now = time.perf_counter()
            dt = now - t0
            recent = (i - last_i) / (now - last_t)
            eta = (total - i) / (i / dt) if i < total else 0
            snapshots.append(
                {"read": i, "seconds": round(dt, 1), "cumulative_per_s": round(i / dt), "recent_per_s": round(recent)}
            )
            log(f"[{engine}]   imported {i:,}/{total:,} ({i / dt:,.0f}/s, last {recent:,.0f}/s, ETA {eta:,.0f}s)")
            last_t, last_i = now, i


def scale_section(
    dbs: Databases,
    engine: str,
    fixtures: list[Fixture],
    fixture_dir: Path,
    size: int,
    args: argparse.Namespace,
    workdir: Path,
    empty_rate: float,
    profile_dir: Path | None,
) -> dict[str, Any]:
    nd_dir = args.ndjson_dir or workdir
    nd = Path(nd_dir) / f"ndjson-{size}-seed{args.seed}"
    log(f"[{engine}] scale: generating {size:,} resources of NDJSON in {nd}")
    manifest = generate(fixture_dir, nd, size, seed=args.seed, progress=log)
    log(
        f"[{engine}]   {manifest.resources:,} resources, {manifest.clones:,} patients, "
        f"{manifest.bytes / 1e6:,.0f} MB ({manifest.seconds}s)"
    )
    everything_template = min(manifest.templates, key=lambda k: abs(manifest.templates[k] - 300))
    db = dbs.create(engine, "scale")
    settings = settings_for(workdir)
    repo = Repository(db.engine, settings)
    quiesce(db)
    log(f"[{engine}]   bulk import (rhip.store.bulk.load, chunk 2000) into {db.name}")
    snapshots: list[dict[str, Any]] = []
    lines = _progress_lines(ndjson_lines(files_of(nd)), manifest.resources, engine, snapshots)
    (main0, kids0) = cpu_seconds()
    t0 = time.perf_counter()
    with ActivitySampler(db) as sampler:
        report = load(repo, lines, RequestContext.system("bench import"), workers=args.import_workers)
    secs = time.perf_counter() - t0
    (main1, kids1) = cpu_seconds()
    rate = (report.loaded + report.updated) / secs
    log(
        f"[{engine}]   imported {report.loaded:,} (+{report.updated} updated, {report.rejected} rejected) "
        f"in {secs:,.1f}s = {rate:,.0f}/s"
        + (f" (incl. index build + ANALYZE {report.index_seconds:.1f}s)" if report.deferred_indexes else "")
    )
    with db.engine.connect() as conn:
        max_lu = int(conn.exec_driver_sql("SELECT max(lu) FROM resources").scalar_one())
    lu_ahead_s = round((max_lu - time.time() * 1000) / 1000, 1)
    t1 = time.perf_counter()
    analyze(db)
    analyze_s = time.perf_counter() - t1
    sizes = size_info(db)
    log(
        f"[{engine}]   ANALYZE {analyze_s:.1f}s; database {sizes['bytes'] / 1e9:.2f} GB; "
        f"newest meta.lastUpdated is {lu_ahead_s}s in the future"
    )
    out: dict[str, Any] = {
        "ndjson": {
            "resources": manifest.resources,
            "patients": manifest.clones,
            "shared_providers": manifest.shared,
            "bytes": manifest.bytes,
            "generate_seconds": manifest.seconds,
            "by_type": manifest.by_type,
        },
        "import": {
            "method": "rhip.store.bulk.load (what `rhip import` runs): chunks of 2000 lines parsed, validated and "
            "indexed in worker processes while the main process writes chunks in order, one transaction "
            "each (COPY on PostgreSQL, executemany on SQLite); reading the NDJSON files included; "
            "progress counts lines read (the loader reads up to 2 x workers chunks ahead); into the empty "
            "database the loader drops the value-ordered search indexes first and builds them at the end, "
            "followed by ANALYZE of its tables: both are inside `seconds`",
            "loaded": report.loaded,
            "updated": report.updated,
            "rejected": report.rejected,
            "first_errors": report.errors[:5],
            "seconds": round(secs, 1),
            "resources_per_s": round(rate, 1),
            "deferred_indexes": report.deferred_indexes,
            "index_build_and_analyze_seconds": round(report.index_seconds, 1),
            "newest_last_updated_ahead_of_clock_s": lu_ahead_s,
            "workers": args.import_workers if args.import_workers is not None else f"default ({os.cpu_count()})",
            "cpu_seconds_main_process": round(main1 - main0, 1),
            "cpu_seconds_worker_processes": round(kids1 - kids0, 1),
            "postgres_activity": sampler.summary() if engine == "postgresql" else None,
            "progress": snapshots,
        },
        "analyze_seconds": round(analyze_s, 1),
        "database": sizes,
    }
    db.dispose()
    log(f"[{engine}]   queries through `rhip serve` (uvicorn subprocess) + httpx, {args.queries} each")
    server = bhttp.Server(db.url, workdir / f"server-{engine}", workdir / f"server-{engine}.log")
    try:
        out["queries"] = bhttp.run_queries(
            server, manifest.patients, everything_template, args.queries, args.warmup_queries, args.seed, progress=log
        )
    finally:
        server.stop()
    out["queries"]["everything_template"] = everything_template
    out["queries"]["everything_template_resources"] = manifest.templates[everything_template]
    log(f"[{engine}]   transaction ingest on top of {manifest.resources:,} resources, {args.runs} runs")
    rates = ingest_on_top(db, fixtures, args.runs, workdir)
    on_top = median(rates)
    out["ingest_on_top"] = {
        "resources_per_s_runs": [round(r, 1) for r in rates],
        "resources_per_s": round(on_top, 1),
        "empty_database_resources_per_s": round(empty_rate, 1),
        "ratio_to_empty": round(on_top / empty_rate, 3),
    }
    if profile_dir:
        from corebench.profiling import profiled

        sample = min(20_000, manifest.resources)
        pdb = dbs.create(engine, "profile")
        prepo = Repository(pdb.engine, settings)

        def some_lines() -> Any:
            for i, item in enumerate(ndjson_lines(files_of(nd))):
                if i >= sample:
                    return
                yield item

        _, prof = profiled(
            lambda: load(prepo, some_lines(), RequestContext.system("bench")),
            profile_dir / f"profile-import-{engine}.prof",
        )
        prof["resources"] = sample
        out["import"]["profile"] = prof
        dbs.drop(pdb)
    dbs.drop(db)
    return out


# -- targets ----------------------------------------------------------------------------------------
def targets(engine: str, res: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, op: str, target: float, unit: str) -> None:
        ok = None if value is None else (value >= target if op == ">=" else value <= target)
        out.append(
            {"engine": engine, "figure": name, "value": value, "target": f"{op} {target} {unit}".strip(), "pass": ok}
        )

    ing = res.get("ingest")
    if ing:
        add("ingest_transaction_resources_per_s (median)", ing["platform_resources_per_s"], ">=", 1000, "resources/s")
        add("ingest_ratio_platform_to_baseline", ing["ratio_platform_to_baseline"], ">=", 0.3, "")
    sc = res.get("scale")
    if sc:
        add("bulk_import_resources_per_s", sc["import"]["resources_per_s"], ">=", 5000, "resources/s")
        q = sc["queries"]
        add("p95 Patient?identifier", q["patient_by_identifier"].get("p95_ms"), "<=", 10, "ms")
        add(
            "p95 Observation?subject&code=8867-4&_sort=-date&_count=20",
            q["observation_heart_rate"].get("p95_ms"),
            "<=",
            25,
            "ms",
        )
        add("p95 (same, code 29463-7 which has matches)", q["observation_body_weight"].get("p95_ms"), "<=", 25, "ms")
        add("p95 Patient/$everything (~300 resources)", q["patient_everything"].get("p95_ms"), "<=", 100, "ms")
        add("ingest_on_top_ratio_to_empty", sc["ingest_on_top"]["ratio_to_empty"], ">=", 0.8, "")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resources", type=int, default=1_000_000, help="PostgreSQL scale size (default 1000000)")
    ap.add_argument("--sqlite-resources", type=int, default=100_000, help="SQLite scale size (default 100000)")
    ap.add_argument(
        "--import-workers",
        type=int,
        default=None,
        help="worker processes of the bulk loader (default: the loader's own default, the CPU count)",
    )
    ap.add_argument("--runs", type=int, default=3, help="runs of each ingest figure; the median is reported")
    ap.add_argument("--queries", type=int, default=300, help="measured queries per kind (>= 200 for the issue)")
    ap.add_argument("--warmup-queries", type=int, default=20)
    ap.add_argument("--engine", choices=("all", *ENGINES), default="all")
    ap.add_argument("--skip-scale", action="store_true", help="figure 1 only")
    ap.add_argument(
        "--pg",
        default=os.environ.get("RHIP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
        help="PostgreSQL server (SQLAlchemy URL without database); env RHIP_BENCH_PG",
    )
    ap.add_argument("--fixtures", type=Path, default=HERE.parent.parent / "shared" / "fixtures" / "synthea-r4")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a new temp dir)")
    ap.add_argument(
        "--ndjson-dir",
        type=Path,
        default=None,
        help="where generated NDJSON is kept and reused between runs (default: inside workdir)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile one extra ingest run and a 20k-resource import (written to bench/results)",
    )
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)

    engines = list(ENGINES) if args.engine == "all" else [args.engine]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rhip-bench-"))
    own_workdir = args.workdir is None
    workdir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    profile_dir = args.results if args.profile else None
    started = datetime.now().astimezone().isoformat(timespec="seconds")

    fixtures = load_fixtures(args.fixtures)
    dbs = Databases(args.pg, workdir)
    results: dict[str, Any] = {}
    try:
        for engine in engines:
            t0 = time.perf_counter()
            res: dict[str, Any] = {"load_average": {"start": loadavg()}}
            res["ingest"] = ingest_section(dbs, engine, fixtures, args.runs, workdir, profile_dir)
            res["load_average"]["after_ingest"] = loadavg()
            if not args.skip_scale:
                size = args.resources if engine == "postgresql" else args.sqlite_resources
                res["scale"] = scale_section(
                    dbs,
                    engine,
                    fixtures,
                    args.fixtures,
                    size,
                    args,
                    workdir,
                    res["ingest"]["platform_resources_per_s"],
                    profile_dir,
                )
                res["load_average"]["after_scale"] = loadavg()
            res["seconds"] = round(time.perf_counter() - t0, 1)
            results[engine] = res
    finally:
        dbs.close()
        if own_workdir and args.ndjson_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    all_targets = [t for e in engines for t in targets(e, results[e])]
    doc = {
        "benchmark": "rhip core (bench/bench_core.py)",
        "started": started,
        "duration_seconds": round(time.perf_counter() - T_START, 1),
        "machine": machine_info(dbs.pg_admin if "postgresql" in engines else None),
        "parameters": {
            "engines": engines,
            "runs": args.runs,
            "pg_resources": args.resources if "postgresql" in engines else None,
            "sqlite_resources": args.sqlite_resources if "sqlite" in engines else None,
            "import_workers": args.import_workers,
            "queries_per_kind": args.queries,
            "warmup_queries": args.warmup_queries,
            "seed": args.seed,
            "fixtures": str(args.fixtures),
            "skip_scale": args.skip_scale,
            "profile": args.profile,
        },
        "results": results,
        "targets": all_targets,
        "all_targets_pass": all(t["pass"] for t in all_targets),
        "postgresql_targets_pass": all(t["pass"] for t in all_targets if t["engine"] == "postgresql")
        if "postgresql" in engines
        else None,
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    print(text)
    name = args.engine if args.engine != "all" else "all"
    path = args.results / f"core-{name}-{stamp}.json"
    path.write_text(text + "\n")
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
