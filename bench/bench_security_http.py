#!/usr/bin/env python
"""Authorisation + audit overhead on the core search benchmark over HTTP (issue "Security and privacy").

    .venv/bin/python bench/bench_security_http.py [--engine postgresql|sqlite] [--resources N] [--queries 500]
                                                  [--runs 3] [--ndjson-dir /work/bench-ndjson] [--db NAME [--keep-db]]

What: the figure the issue names, "authorisation + audit overhead ≤ 15 % on the core ... search
benchmarks", measured on bench_core's search section (figure 2) itself: the ≈ 1,000,000 resources of
cloned Synthea patients (`corebench.ndjson`), bulk-loaded with `rhip.store.bulk.load` (what
`rhip import` runs) and `VACUUM (ANALYZE)`d (autovacuum is off here), then bench_core's four query kinds
(`corebench.latency.QUERIES`: `Patient?identifier`, `Observation` heart rate and body weight with
`_sort=-date&_count=20`, `Patient/$everything`) for the same random patients (fixed seed) over HTTP: the
API served like `rhip serve` (`corebench/serve.py`) in subprocesses, an httpx keep-alive client, one
request at a time, latency = client-side time to the full response.

How (`--servers one`, the default): one server process (`serve.py --audit-switch`) serves all four
variants; requests of the unaudited ones carry `X-Bench-Audit: off`, for which that process's audit appends
are no-ops (as `bench_security.py` stubs them in-process; bench code only), so the variants differ in the
code under test only — not in process, connection or CPU placement. `--servers two` (the design up to
session 6): the real server and a second one started with `serve.py --no-audit`, two variants each.
Four variants per query, like bench_security.py:
- **baseline**: audit stubbed, system-client token (`system/*.*`, no row predicate);
- **restricted**: audit stubbed, the token (`user/*.*`) of one of 50 clinicians (a different user for
  different patients: `CLINICIANS_PER_ORG`) of an organisation with a care relationship to the queried
  patient (`care_links`, derived by the loader from the Encounters' serviceProvider): the row-level access
  predicate alone;
- **unrestricted**: audited, system token: the audit trail alone;
- **secured**: audited, clinician token: the real path for a clinician.
Every query is sent in the four variants back to back, the order rotating from query to query; the script
stops with an error if the variants return different statuses, totals or entries. A warm-up precedes the
runs. Per run and kind: p50/p95 per variant; figures are medians over runs, overhead ratios are
restricted/baseline (authorisation), unrestricted/baseline (audit), secured/baseline (total) and
secured/unrestricted (authorisation with the audit on). Also overall (all kinds' requests pooled).

Target: total overhead (secured vs baseline) ≤ 15 %, per kind and overall.

The NDJSON is generated once under `--ndjson-dir` and reused; the database is created (`--db NAME`, or a
throw-away `rhip_bench_sechttp_*`) and dropped at the end unless `--keep-db`; an existing `--db` that
already holds the data is reused as is (and never dropped). Its node keys (field sealing, audit chain) live
in `<ndjson-dir>/node-<db>` and must be kept with it. Prints one JSON object (also written to
`bench/results/security-http-<date>.json`); progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import time
import uuid
import zlib
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from bench_core import _progress_lines, loadavg, log
from corebench import latency as bhttp
from corebench.db import Database, Databases, analyze, machine_info, plain_pg, size_info
from corebench.ndjson import Manifest, generate
from corebench.serve import AUDIT_OFF_HEADER, AUDIT_SWITCH_ENV, NO_AUDIT_ENV
from sqlalchemy import bindparam, text

from rhip.security import tokens
from rhip.security.context import RequestContext
from rhip.settings import Settings
from rhip.store.bulk import files_of, load, ndjson_lines
from rhip.store.db import migrate
from rhip.store.repository import Repository

HERE = Path(__file__).resolve().parent
VARIANTS = ("baseline", "restricted", "unrestricted", "secured")
AUDITED = frozenset({"unrestricted", "secured"})
CLINICIAN = frozenset({"restricted", "secured"})
TARGET = 0.15
TOKEN_TTL = 6 * 3600


# -- data -------------------------------------------------------------------------------------------
def database(dbs: Databases, args: argparse.Namespace, manifest: Manifest, nd: Path) -> tuple[Database, dict[str, Any]]:
    """The core scale database: ``--db`` reused when it holds this NDJSON, else created, loaded, VACUUMed and ANALYZEd.
    PostgreSQL: a database of the server; SQLite: ``<ndjson-dir>/<db>.sqlite``."""
    name = args.db or f"rhip_bench_sechttp_{uuid.uuid4().hex[:8]}"
    if args.engine == "postgresql":
        with psycopg.connect(dbs.pg_admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{dbs.pg_base}/{name}"
        db = Database("postgresql", url, plain_pg(url), dbs.pg_admin, name)
    else:
        path = args.ndjson_dir / f"{name}.sqlite"
        exists = path.exists()
        db = Database("sqlite", f"sqlite:///{path}", str(path), None, name)
    if not exists and not args.keep_db:
        dbs.made.append(db)  # dropped by dbs.close()
    migrate(db.engine)
    data_dir = args.data_dir or nd.parent / f"node-{name}"
    info: dict[str, Any] = {"name": name, "engine": args.engine, "created": not exists, "kept": exists or args.keep_db}
    info["data_dir"] = str(data_dir)
    ids = [manifest.patients[0]["id"], manifest.patients[-1]["id"]]
    with db.engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM resources")).scalar_one()
        found = conn.execute(
            text("SELECT count(*) FROM resources WHERE rtype = 'Patient' AND id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        ).scalar_one()
        was_analyzed = args.engine == "sqlite" or bool(
            conn.execute(
                text(
                    "SELECT last_analyze IS NOT NULL AND last_vacuum IS NOT NULL FROM pg_stat_user_tables "
                    "WHERE relname = 'care_links'"
                )
            ).scalar()
        )
    has_patients = found == len(ids)
    if held:
        if held != manifest.resources or not has_patients:
            raise SystemExit(
                f"database {name} holds {held:,} resources, not the {manifest.resources:,} of {nd}: "
                "drop it or name another --db"
            )
        if not (data_dir / "field.keys").exists():
            raise SystemExit(f"database {name} holds the data but its node keys are not in {data_dir} (--data-dir)")
        log(f"reusing {name}: {held:,} resources")
        info["reused"] = True
        if not was_analyzed:
            analyze(db, vacuum=True)
        db.dispose()
        return db, info
    log(f"bulk import of {manifest.resources:,} resources into {name} (rhip.store.bulk.load)")
    repo = Repository(db.engine, Settings(data_dir=data_dir, jwt_secret=bhttp.SECRET))
    lines = _progress_lines(ndjson_lines(files_of(nd)), manifest.resources, args.engine, [])
    t0 = time.perf_counter()
    report = load(repo, lines, RequestContext.system("bench import"), workers=args.import_workers)
    secs = time.perf_counter() - t0
    if report.rejected:
        raise SystemExit(f"the NDJSON did not load cleanly: {report.rejected} rejected, {report.errors[:3]}")
    t1 = time.perf_counter()
    analyze(db, vacuum=True)
    info.update(
        reused=False,
        import_seconds=round(secs, 1),
        import_resources_per_s=round(report.loaded / secs, 1),
        analyze_seconds=round(time.perf_counter() - t1, 1),
    )
    log(f"  loaded {report.loaded:,} in {secs:,.0f} s, VACUUM (ANALYZE) {info['analyze_seconds']} s")
    db.dispose()
    return db, info


Request = tuple[str, str]
"""(relative URL, patient id)."""


def requests_of(manifest: Manifest, template: str, n: int, seed: int) -> dict[str, list[Request]]:
    """Per query kind, ``n`` requests for random patients, chosen as ``corebench.latency.run_queries``
    chooses them (same seed, same patients as bench_core)."""
    big = [p for p in manifest.patients if p["template"] == template]
    out: dict[str, list[Request]] = {}
    for kind in bhttp.QUERIES:
        pool = big if kind == "patient_everything" else manifest.patients
        rng = random.Random(f"{seed}-{kind}")
        chosen = [rng.choice(pool) for _ in range(n)]
        out[kind] = list(zip(bhttp.query_set(kind, chosen, template), [p["id"] for p in chosen], strict=True))
    return out


def care_organizations(db: Database, patients: set[str]) -> dict[str, str]:
    """For each patient, one organisation with a care relationship to it (the smallest id, deterministic)."""
    query = text(
        "SELECT patient, min(organization) FROM care_links WHERE patient IN :patients GROUP BY patient"
    ).bindparams(bindparam("patients", expanding=True))
    with db.engine.connect() as conn:
        rows = conn.execute(query, {"patients": sorted(patients)}).all()
    db.dispose()
    return {str(p): str(o) for p, o in rows}


def source_tree() -> dict[str, Any]:
    """The commit and the uncommitted files under src/ that the servers run (a shared checkout)."""

    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=HERE.parent, capture_output=True, text=True).stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_src": git("status", "--porcelain", "src").splitlines(),
    }


def audit_events(db: Database) -> int:
    """Audit events recorded, chained or still staged (decision 0025): the real server records one per
    audited request, none for the others."""
    with db.engine.connect() as conn:
        n = conn.execute(text("SELECT (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM audit_staging)"))
        count = int(n.scalar_one())
    db.dispose()
    return count


# -- measuring --------------------------------------------------------------------------------------
CLINICIANS_PER_ORG = 50
"""Clinicians per organisation (a patient's requests go to one of them, by id): a platform serves many
users, and nothing a server keeps per user (cached statements, verified tokens) may flatter the figures."""


class Variants:
    """The four variants of one request: a keep-alive client per server, a token per clinician (up to
    ``CLINICIANS_PER_ORG`` per organisation) or the system client's."""

    def __init__(self, real: bhttp.Server, stubbed: bhttp.Server | None, orgs: dict[str, str]) -> None:
        """``stubbed`` None: ``real`` serves every variant and skips the audit of requests marked off."""
        self.orgs = orgs
        self.system = real.token()
        self.clinicians: dict[tuple[str, int], str] = {}
        self.clients = {
            audited: httpx.Client(
                base_url=(real if audited or stubbed is None else stubbed).base,
                headers={"Accept": "application/fhir+json"},
                timeout=120,
            )
            for audited in (True, False)
        }
        self.unaudited = {AUDIT_OFF_HEADER: "off"} if stubbed is None else {}

    def token(self, variant: str, patient: str) -> str:
        if variant not in CLINICIAN:
            return self.system
        org = self.orgs[patient]
        who = (org, zlib.crc32(patient.encode()) % CLINICIANS_PER_ORG)
        if who not in self.clinicians:
            ctx = RequestContext(
                subject=f"bench-doctor-{org[:8]}-{who[1]}",
                kind="user",
                role="clinician",
                organization=org,
                scopes=frozenset({"user/*.*"}),
            )
            self.clinicians[who] = tokens.issue(bhttp.SECRET.encode(), ctx, TOKEN_TTL)
        return self.clinicians[who]

    def sign_in(self, patients: Iterable[str]) -> int:
        """One request (a read of the patient) per clinician token the plan will use, before the
        measured ones: a user's first request verifies its token (≈ 0.1 ms), later ones find it cached,
        as with the system client's single token."""
        seen: set[str] = set()
        for patient in patients:
            token = self.token("secured", patient)
            if token not in seen:
                seen.add(token)
                self.clients[True].get(f"/Patient/{patient}", headers={"Authorization": f"Bearer {token}"})
        return len(seen)

    def get(self, variant: str, req: Request) -> tuple[float, httpx.Response]:
        url, patient = req
        headers = {"Authorization": f"Bearer {self.token(variant, patient)}"}
        if variant not in AUDITED:
            headers |= self.unaudited
        client = self.clients[variant in AUDITED]
        t0 = time.perf_counter()
        r = client.get(url, headers=headers)
        return (time.perf_counter() - t0) * 1000, r

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


def outcome(variant: str, req: Request, r: httpx.Response) -> tuple[Any, ...]:
    """What must be equal across variants: total and the entries (type/id, in order)."""
    if r.status_code != 200:
        raise SystemExit(f"{variant} {req[0]}: HTTP {r.status_code}: {r.text[:500]}")
    body = orjson.loads(r.content)
    entries = tuple(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body.get("entry") or ())
    return body.get("total"), entries


def one(variants: Variants, req: Request, order: tuple[str, ...]) -> tuple[dict[str, float], tuple[Any, ...]]:
    """The request in every variant (in ``order``); stops when their results differ."""
    ms: dict[str, float] = {}
    results: dict[str, tuple[Any, ...]] = {}
    for variant in order:
        ms[variant], r = variants.get(variant, req)
        results[variant] = outcome(variant, req, r)
    if len(set(results.values())) != 1:
        summary = {v: f"total {t}, {len(e)} entries" for v, (t, e) in results.items()}
        raise SystemExit(f"{req[0]}: the variants disagree: {summary}")
    return ms, results["baseline"]


def stats(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {
        "p50_ms": round(bhttp.percentile(s, 50), 3),
        "p95_ms": round(bhttp.percentile(s, 95), 3),
        "mean_ms": round(sum(s) / len(s), 3),
    }


def measure(
    variants: Variants, plan: dict[str, list[Request]], warmup: int, runs: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Warm-up, then ``runs`` runs of every kind's requests in the four rotating variants."""
    signed = variants.sign_in(patient for reqs in plan.values() for _, patient in reqs)
    log(f"warm-up: {signed} clinicians signed in, {warmup} requests per kind in each variant")
    for kind, reqs in plan.items():
        for i, req in enumerate(reqs[:warmup]):
            one(variants, req, VARIANTS[i % 4 :] + VARIANTS[: i % 4])
        log(f"  {kind} warm")
    per_run: list[dict[str, Any]] = []
    shape: dict[str, Any] = {}
    for run in range(runs):
        figures: dict[str, Any] = {}
        pooled: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for kind, reqs in plan.items():
            lat: dict[str, list[float]] = {v: [] for v in VARIANTS}
            entries: list[int] = []
            totals: list[Any] = []
            for i, req in enumerate(reqs[warmup:]):
                ms, (total, found) = one(variants, req, VARIANTS[i % 4 :] + VARIANTS[: i % 4])
                for v, t in ms.items():
                    lat[v].append(t)
                    pooled[v].append(t)
                entries.append(len(found))
                totals.append(total)
            figures[kind] = {v: stats(x) for v, x in lat.items()}
            shape[kind] = {
                "requests": len(entries),
                "entries_mean": round(sum(entries) / len(entries), 1),
                "entries_min": min(entries),
                "entries_max": max(entries),
                "with_total": sum(t is not None for t in totals),
            }
            log(
                f"run {run + 1}/{runs} {kind}: "
                + ", ".join(f"{v} {figures[kind][v]['p50_ms']}/{figures[kind][v]['p95_ms']}" for v in VARIANTS)
                + " ms (p50/p95)"
            )
        figures["overall"] = {v: stats(x) for v, x in pooled.items()}
        figures["load_average"] = loadavg()
        per_run.append(figures)
    return per_run, shape


def summary(per_run: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Medians over runs per variant, and the overhead ratios (minus 1) with the target's pass/fail."""
    med = {
        v: {
            key: round(statistics.median(r[kind][v][key] for r in per_run), 3)
            for key in ("p50_ms", "p95_ms", "mean_ms")
        }
        for v in VARIANTS
    }
    ratios: dict[str, float] = {}
    for key in ("p50_ms", "p95_ms", "mean_ms"):
        tag = key.removesuffix("_ms")
        for name, (num, den) in {
            "total": ("secured", "baseline"),
            "authorisation": ("restricted", "baseline"),
            "audit": ("unrestricted", "baseline"),
            "authorisation_audited": ("secured", "unrestricted"),
        }.items():
            ratios[f"{name}_{tag}"] = round(med[num][key] / med[den][key] - 1, 4)
    passed = ratios["total_p50"] <= TARGET and ratios["total_p95"] <= TARGET
    return {"median": med, "overhead": ratios, "pass": passed}


def servers(
    stack: ExitStack, layout: str, db: Database, data_dir: Path, logs: Path
) -> tuple[bhttp.Server, bhttp.Server | None]:
    """The audited server and, with ``layout`` "two", the audit-stubbed one (else None: the audited
    server skips the audit of requests marked off). Stopped when ``stack`` closes."""

    def start(env: str | None, log_name: str) -> bhttp.Server:
        log(f"starting a server ({env or 'audited'}); log {logs / log_name}")
        if env:
            os.environ[env] = "1"  # latency.Server passes its environment on to serve.py
        try:
            server = bhttp.Server(db.url, data_dir, logs / log_name)
        finally:
            if env:
                del os.environ[env]
        stack.callback(server.stop)
        if env and b"audit appends stubbed" not in (logs / log_name).read_bytes():
            raise SystemExit(f"the server started with {env} did not stub its audit appends")
        return server

    if layout == "one":
        return start(AUDIT_SWITCH_ENV, "server-switch.log"), None
    return start(None, "server-real.log"), start(NO_AUDIT_ENV, "server-no-audit.log")


# -- main -------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--engine",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="storage engine of the served database (bench_core measures both)",
    )
    ap.add_argument(
        "--resources",
        type=int,
        default=None,
        help="size of the core database (whole patients); default as bench_core: 1,000,000 on PostgreSQL, "
        "100,000 on SQLite",
    )
    ap.add_argument(
        "--queries",
        type=int,
        default=500,
        help="measured requests per kind per variant per run (500: each run's p95 rests on 25 requests, not 10)",
    )
    ap.add_argument("--warmup-queries", type=int, default=20, help="unmeasured requests per kind per variant")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--servers",
        choices=("one", "two"),
        default="one",
        help="one process serving every variant (audit switched per request), or a real and a stubbed one",
    )
    ap.add_argument("--seed", type=int, default=1, help="NDJSON generation and patient choice (as bench_core)")
    ap.add_argument("--ndjson-dir", type=Path, default=Path("/work/bench-ndjson"), help="generated once, reused")
    ap.add_argument("--db", default=None, help="PostgreSQL database to use; reused when it already holds the data")
    ap.add_argument("--keep-db", action="store_true", help="do not drop a database this run created")
    ap.add_argument("--data-dir", type=Path, default=None, help="node keys of the database (<ndjson-dir>/node-<db>)")
    ap.add_argument("--import-workers", type=int, default=None)
    ap.add_argument("--pg", default=os.environ.get("RHIP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    ap.add_argument("--fixtures", type=Path, default=HERE.parent.parent / "shared" / "fixtures" / "synthea-r4")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args()
    if args.resources is None:
        args.resources = 1_000_000 if args.engine == "postgresql" else 100_000
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    dbs = Databases(args.pg, args.ndjson_dir)
    t_start = time.perf_counter()
    load_average: dict[str, Any] = {"start": loadavg()}

    nd = args.ndjson_dir / f"ndjson-{args.resources}-seed{args.seed}"
    log(f"NDJSON of {args.resources:,} resources in {nd} (reused when present)")
    manifest = generate(args.fixtures, nd, args.resources, seed=args.seed, progress=log)
    template = min(manifest.templates, key=lambda k: abs(manifest.templates[k] - 300))
    out: dict[str, Any] = {
        "benchmark": "authorisation + audit overhead on the core search benchmark over HTTP "
        "(bench/bench_security_http.py)",
        "started": started,
        "machine": machine_info(dbs.pg_admin),
        "parameters": {k: str(v) for k, v in vars(args).items()},
        "ndjson": {"directory": str(nd), "resources": manifest.resources, "patients": manifest.clones},
        "queries": dict(bhttp.QUERIES),
        "everything_template": {"name": template, "resources": manifest.templates[template]},
        "target": f"secured / baseline - 1 <= {TARGET} (p50 and p95), per kind and overall",
    }
    with ExitStack() as stack:
        stack.callback(dbs.close)
        db, out["database"] = database(dbs, args, manifest, nd)
        load_average["after_load"] = loadavg()
        out["database"]["size"] = size_info(db)["bytes"]
        plan = requests_of(manifest, template, args.warmup_queries + args.queries, args.seed)
        wanted = {p for reqs in plan.values() for _, p in reqs}
        orgs = care_organizations(db, wanted)
        if missing := sorted(wanted - orgs.keys()):
            raise SystemExit(f"{len(missing)} queried patients have no care link (e.g. {missing[:3]})")
        out["clinicians"] = {"patients": len(wanted), "organizations": len(set(orgs.values()))}
        data_dir = Path(out["database"]["data_dir"])
        logs = args.ndjson_dir / f"logs-{db.name}"
        logs.mkdir(parents=True, exist_ok=True)
        if not out["database"]["kept"]:  # a throw-away database: its keys and logs go with it
            stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
            stack.callback(shutil.rmtree, logs, ignore_errors=True)
        out["source"] = source_tree()
        variants = Variants(*servers(stack, args.servers, db, data_dir, logs), orgs)
        stack.callback(variants.close)
        events = audit_events(db)
        per_run, shape = measure(variants, plan, args.warmup_queries, args.runs)
        audited = 2 * len(plan) * (args.warmup_queries + args.runs * args.queries)
        out["audit_check"] = {"audited_requests": audited, "events_appended": audit_events(db) - events}
        if out["audit_check"]["events_appended"] != audited:
            log(f"note: {out['audit_check']} (one AuditEvent per audited request expected)")
        load_average["end"] = loadavg()
    results = {kind: {**shape[kind], **summary(per_run, kind)} for kind in bhttp.QUERIES}
    results["overall"] = summary(per_run, "overall")
    out["results"] = results
    out["pass"] = all(r["pass"] for r in results.values())
    out["runs"] = per_run
    out["load_average"] = load_average
    out["duration_seconds"] = round(time.perf_counter() - t_start, 1)
    text = json.dumps(out, indent=1, ensure_ascii=False)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"security-http-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(text + "\n")
    log(f"wrote {path}")
    for kind, r in results.items():
        o = r["overhead"]
        log(
            f"{kind}: total {o['total_p50']:+.1%} p50 / {o['total_p95']:+.1%} p95, authorisation "
            f"{o['authorisation_p50']:+.1%} / {o['authorisation_p95']:+.1%}, audit {o['audit_p50']:+.1%} / "
            f"{o['audit_p95']:+.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
