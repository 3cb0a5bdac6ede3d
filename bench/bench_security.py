#!/usr/bin/env python
"""Authorisation + audit overhead on the core ingest and search paths (issue "Security and privacy").

    .venv/bin/python bench/bench_security.py [--engine all|postgresql|sqlite] [--runs 5] [--queries 300]

Same run, same data, two variants of the platform:
- **secured**: the real code path: every unit appends its AuditEvent to the SM3 chain; searches by a
  clinician carry the row-level access predicate (care relationship at their organisation, Consent,
  labels);
- **baseline**: the audit append replaced by a no-op (`rhip.store.audit_log.append`) and the search
  run by the system context (no row predicate). This variant exists only inside this script.
Ingest: the 16 Synthea transaction bundles of bench_core figure 1, alternating variants, median of runs.
Search: in-process `Unit.search` of `Observation?subject=Patient/<id>&_count=20` and
`Patient?identifier=<value>` for every fixture patient, p50/p95 in ms. Target: overhead ≤ 15 %.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from corebench.db import Databases, analyze, quiesce, wipe
from corebench.ingest import Fixture, ingest_platform, load_fixtures

import rhip.store.audit_log as audit_log
import rhip.store.repository as repository
from rhip.fhir.search.parse import parse_query
from rhip.security.context import RequestContext
from rhip.settings import Settings
from rhip.store.repository import Repository

HERE = Path(__file__).resolve().parent
ENGINES = ("postgresql", "sqlite")
_REAL_APPEND = audit_log.append


def audit(enabled: bool) -> None:
    """Switch the audit append for the baseline variant (module attribute used by the repository)."""
    repository.audit_log.append = _REAL_APPEND if enabled else (lambda conn, key, records: [])  # type: ignore[assignment]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def ingest(dbs: Databases, engine: str, fixtures: list[Fixture], runs: int, workdir: Path) -> dict[str, Any]:
    n = sum(f.entries for f in fixtures)
    db = dbs.create(engine, "security")
    repo = Repository(db.engine, Settings(data_dir=workdir / "node", validation_default="warn"))
    ingest_platform(repo, fixtures)
    rates: dict[str, list[float]] = {"secured": [], "baseline": []}
    for run in range(runs):
        for variant in ("secured", "baseline") if run % 2 == 0 else ("baseline", "secured"):
            audit(variant == "secured")
            wipe(db)
            quiesce(db)
            rates[variant].append(n / sum(ingest_platform(repo, fixtures)))
            log(f"[{engine}] ingest run {run + 1} {variant}: {rates[variant][-1]:,.0f}/s")
    audit(True)
    secured, baseline = statistics.median(rates["secured"]), statistics.median(rates["baseline"])
    return {
        "resources": n,
        "secured_per_s": [round(x) for x in rates["secured"]],
        "baseline_per_s": [round(x) for x in rates["baseline"]],
        "overhead": round(baseline / secured - 1, 4),
        "db": db,
        "repo": repo,
    }


def searches(repo: Repository, fixtures: list[Fixture], queries: int) -> dict[str, Any]:
    patients: list[tuple[str, str, str]] = []  # (patient id, identifier value, organisation of an encounter)
    with repo.unit(RequestContext.system("bench"), write=False) as unit:
        for row in unit.search(parse_query("Patient", [("_count", "1000")])).matches:
            p = orjson.loads(row.content)
            ident = next((i["value"] for i in p.get("identifier", []) if "value" in i), None)
            enc = unit.search(parse_query("Encounter", [("subject", f"Patient/{row.id}"), ("_count", "1")])).matches
            org = orjson.loads(enc[0].content).get("serviceProvider", {}).get("reference", "") if enc else ""
            if ident and org.startswith("Organization/"):
                patients.append((row.id, ident, org.split("/", 1)[1]))
    if not patients:
        raise SystemExit("no patient with an identifier and an encounter in the fixtures")

    def timed(ctx_of: Callable[[str], RequestContext]) -> dict[str, float]:
        ms: list[float] = []
        for i in range(queries):
            pid, ident, org = patients[i % len(patients)]
            ctx = ctx_of(org)
            for params, rtype in (
                ([("subject", f"Patient/{pid}"), ("_count", "20")], "Observation"),
                ([("identifier", ident)], "Patient"),
            ):
                t0 = time.perf_counter()
                with repo.unit(ctx, write=False) as unit:
                    unit.search(parse_query(rtype, params))
                ms.append((time.perf_counter() - t0) * 1000)
        return {"p50_ms": round(percentile(ms, 50), 3), "p95_ms": round(percentile(ms, 95), 3)}

    def clinician(org: str) -> RequestContext:
        scopes = frozenset({"user/*.*"})
        return RequestContext(subject="bench-doctor", kind="user", role="clinician", organization=org, scopes=scopes)

    out: dict[str, Any] = {"patients": len(patients), "queries_per_variant": 2 * queries}
    audit(False)
    timed(lambda org: RequestContext.system("bench"))  # warm-up
    out["baseline"] = timed(lambda org: RequestContext.system("bench"))
    audit(True)
    out["secured"] = timed(clinician)
    out["overhead_p95"] = round(out["secured"]["p95_ms"] / out["baseline"]["p95_ms"] - 1, 4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=("all", *ENGINES), default="all")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--fixtures", type=Path, default=HERE.parent.parent / "shared" / "fixtures" / "synthea-r4")
    ap.add_argument("--pg", default=os.environ.get("RHIP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    fixtures = load_fixtures(args.fixtures)
    out: dict[str, Any] = {"benchmark": "security overhead", "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="rhip-bench-security-") as tmp:
        dbs = Databases(args.pg, Path(tmp))
        try:
            for engine in ENGINES if args.engine == "all" else (args.engine,):
                section = ingest(dbs, engine, fixtures, args.runs, Path(tmp))
                db, repo = section.pop("db"), section.pop("repo")
                analyze(db)  # planner statistics, as bench_core does: autovacuum may be off (it is here)
                section["search"] = searches(repo, fixtures, args.queries)
                section["pass"] = section["overhead"] <= 0.15 and section["search"]["overhead_p95"] <= 0.15
                section["loadavg"] = [round(x, 2) for x in os.getloadavg()]
                out[engine] = section
                dbs.drop(db)
        finally:
            dbs.close()
    text = json.dumps(out, indent=1)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"security-{args.engine}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
