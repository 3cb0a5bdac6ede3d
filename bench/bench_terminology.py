#!/usr/bin/env python
"""Benchmark of the terminology service: $validate-code, $lookup, $expand, $translate latency; load cost.

    .venv/bin/python bench/bench_terminology.py [--calls 2000] [--http-calls 1000] [--engine sqlite|postgresql|both]

Prints one JSON object to stdout (machine, parameters, every figure with its target and pass/fail);
progress goes to stderr. In-process figures go through ``rhip.fhir.rest.dispatch`` with one unit of
work (database transaction) per call, exactly as the HTTP adapter does; HTTP figures go through the
real app with Starlette's TestClient (token check, JSON rendering, thread pool hop included). SQLite
lives in a temporary directory; PostgreSQL (``--engine postgresql|both``, URL from ``RHIP_TEST_PG``)
uses a throw-away database ``rhip_bench_term_*`` dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rhip.fhir.rest import FhirRequest, dispatch
from rhip.security.context import RequestContext
from rhip.settings import Settings
from rhip.store.db import make_engine, migrate
from rhip.store.repository import Repository

ICD10 = "http://hl7.org/fhir/sid/icd-10"
DIV = "http://rhip.cn/fhir/CodeSystem/gb-t-2260"
LOCAL = "http://hospital-a.example.cn/CodeSystem/his-diagnosis"
T0 = time.perf_counter()
TARGET_VALIDATE_P95_MS = 2.0
TARGET_LOAD_S = 0.5


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def stats(samples: list[float]) -> dict[str, float]:
    xs = sorted(samples)
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return {
        "calls": len(xs),
        "p50_ms": round(statistics.median(xs) * 1000, 3),
        "p95_ms": round(q[94] * 1000, 3),
        "p99_ms": round(q[98] * 1000, 3),
        "mean_ms": round(statistics.fmean(xs) * 1000, 3),
        "max_ms": round(xs[-1] * 1000, 3),
    }


def timed(fn: Callable[[], Any], n: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def load_cost() -> dict[str, Any]:
    """Import + first load of the bundled data in a fresh interpreter (what a worker process pays)."""
    code = (
        "import resource, time\n"
        "import rhip.app, rhip.terminology.bundled as b\n"
        "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.perf_counter(); b.bundled(); dt = time.perf_counter() - t\n"
        "r1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "from rhip.terminology import expansion, service, valueset\n"
        "cs = b.bundled().get('http://hl7.org/fhir/sid/icd-10')\n"
        "vs = service.implicit_value_set('x', cs, None)\n"
        "t = time.perf_counter()\n"
        "expansion.match(valueset.compile_resource(valueset.Context(None, None, {}, {}), vs).entries(), ('糖尿病',))\n"
        "first = time.perf_counter() - t\n"
        "r2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(dt, (r1 - r0) / 1024, first, (r2 - r0) / 1024)\n"
    )
    runs = []
    for _ in range(3):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        dt, mb, first, mb2 = res.stdout.split()
        runs.append((float(dt), float(mb), float(first), float(mb2)))
    best = min(r[0] for r in runs)
    return {
        "load_seconds_runs": [round(r[0], 3) for r in runs],
        "load_seconds": round(best, 3),
        "rss_increase_mb": round(statistics.median(r[1] for r in runs), 1),
        "first_icd10_filter_expansion_ms": round(statistics.median(r[2] for r in runs) * 1000, 1),
        "rss_increase_after_first_expansion_mb": round(statistics.median(r[3] for r in runs), 1),
        "target_seconds": TARGET_LOAD_S,
        "pass": best <= TARGET_LOAD_S,
    }


@contextmanager
def database(engine_name: str, workdir: Path) -> Iterator[str]:
    if engine_name == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite'}"
        return
    import psycopg

    base = os.environ.get("RHIP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    name = f"rhip_bench_term_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fixtures(repo: Repository, ctx: RequestContext, map_size: int) -> None:
    """A stored ValueSet over ICD-10 and a hospital ConceptMap of ``map_size`` local codes."""
    from rhip.terminology.bundled import bundled

    icd = bundled().get(ICD10)
    assert icd is not None
    targets = [c.code for c in icd.order if "." in c.code][:map_size]
    cm = {
        "resourceType": "ConceptMap",
        "id": "his",
        "url": "http://hospital-a.example.cn/ConceptMap/his-to-icd10",
        "version": "1",
        "status": "active",
        "group": [
            {
                "source": LOCAL,
                "target": ICD10,
                "element": [
                    {"code": f"L{i:05d}", "target": [{"code": t, "equivalence": "equivalent"}]}
                    for i, t in enumerate(targets)
                ],
            }
        ],
    }
    vs = {
        "resourceType": "ValueSet",
        "id": "chronic",
        "url": "http://region.example.cn/fhir/ValueSet/chronic",
        "version": "1",
        "status": "active",
        "compose": {
            "include": [
                {"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "I10-I15"}]},
                {"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "E10-E14"}]},
            ]
        },
    }
    with repo.unit(ctx) as unit:
        unit.update("ConceptMap", "his", cm)
        unit.update("ValueSet", "chronic", vs)


def in_process(repo: Repository, ctx: RequestContext, calls: int) -> dict[str, Any]:
    rng = random.Random(7)

    def call(path: str, query: list[tuple[str, str]]) -> Any:
        with repo.unit(ctx, write=False) as unit:
            res = dispatch(unit, FhirRequest("GET", path, query))
        assert res.status == 200, res.body
        return res.body

    validate_mix = [
        [("url", ICD10), ("code", "I10")],
        [("url", ICD10), ("code", "E11.900x001")],
        [("url", ICD10), ("code", "J18.9"), ("display", "肺炎，未特指")],
        [("url", ICD10), ("code", "X99.9")],
        [("url", DIV), ("code", "110103"), ("date", "2005")],
    ]
    out: dict[str, Any] = {}
    log("  $validate-code (bundled ICD-10 / GB/T 2260)")
    s = stats(timed(lambda: call("CodeSystem/$validate-code", rng.choice(validate_mix)), calls))
    out["validate_code_codesystem"] = s | {"target_p95_ms": TARGET_VALIDATE_P95_MS, "pass": s["p95_ms"] <= 2.0}
    log("  $validate-code (implicit ICD-10 value set)")
    vs_mix = [[("url", f"{ICD10}?fhir_vs"), ("system", ICD10), ("code", c)] for c in ("I10", "E11.9", "A00.0")]
    s = stats(timed(lambda: call("ValueSet/$validate-code", rng.choice(vs_mix)), calls))
    out["validate_code_valueset_implicit"] = s | {"target_p95_ms": TARGET_VALIDATE_P95_MS, "pass": s["p95_ms"] <= 2.0}
    log("  $validate-code (stored value set: one url search per call)")
    stored_mix = [
        [("url", "http://region.example.cn/fhir/ValueSet/chronic"), ("system", ICD10), ("code", c)]
        for c in ("I10", "E11.9", "J18.9")
    ]
    out["validate_code_valueset_stored"] = stats(
        timed(lambda: call("ValueSet/$validate-code", rng.choice(stored_mix)), calls)
    )
    log("  $lookup")
    out["lookup"] = stats(
        timed(
            lambda: call("CodeSystem/$lookup", [("system", ICD10), ("code", rng.choice(["I10", "E11.9", "C34.9"]))]),
            calls,
        )
    )
    from rhip.terminology import expansion

    words = [
        "糖尿病",
        "高血压",
        "肺炎",
        "肿瘤",
        "骨折",
        "感染",
        "hypertension",
        "e11",
        "结核",
        "心力衰竭",
        "肾",
        "妊娠",
    ]

    def expand(word: str) -> None:
        body = call("ValueSet/$expand", [("url", f"{ICD10}?fhir_vs"), ("filter", word), ("count", "20")])
        assert "expansion" in body

    log("  $expand of a stored value set with filter (one url search, compose compiled per call)")
    stored_words = ["糖尿病", "高血压", "肾", "i1", "e11.9", "心脏"]
    out["expand_stored_filter"] = stats(
        timed(
            lambda: call(
                "ValueSet/$expand",
                [("url", "http://region.example.cn/fhir/ValueSet/chronic"), ("filter", rng.choice(stored_words))],
            ),
            calls,
        )
    )
    log("  $expand with filter (warm)")
    out["expand_filter_warm"] = stats(timed(lambda: expand(rng.choice(words)), calls))
    log("  $expand with filter (new filter text: expansion cached, matching not)")

    def new_text() -> None:
        expansion._matches.items.clear()
        expand(rng.choice(words))

    out["expand_filter_new_text"] = stats(timed(new_text, calls))
    log("  $translate (stored ConceptMap, no url: search by source-code)")
    out["translate_search"] = stats(
        timed(
            lambda: call("ConceptMap/$translate", [("system", LOCAL), ("code", f"L{rng.randrange(2000):05d}")]), calls
        )
    )
    return out


def over_http(repo: Repository, settings: Settings, calls: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from rhip.app import create_app
    from rhip.security import tokens

    app = create_app(settings, repo)
    ctx = RequestContext(subject="bench", kind="client", scopes=frozenset({"system/*.*"}))
    token = tokens.issue(app.state.jwt_secret, ctx, 3600)
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(11)
    codes = ["I10", "E11.900x001", "J18.9", "X99.9", "C34.9"]
    with TestClient(app, base_url="http://fhir.test") as client:

        def one() -> None:
            r = client.get(
                "/CodeSystem/$validate-code", params={"url": ICD10, "code": rng.choice(codes)}, headers=headers
            )
            assert r.status_code == 200, r.text

        def baseline() -> None:
            r = client.get("/CodeSystem/no-such-id", headers=headers)
            assert r.status_code == 404, r.text

        log("  HTTP $validate-code")
        s = stats(timed(one, calls))
        log("  HTTP baseline: GET /CodeSystem/no-such-id (404 read: adapter, token, one query)")
        b = stats(timed(baseline, calls))
    return {
        "validate_code_codesystem": s | {"target_p95_ms": TARGET_VALIDATE_P95_MS, "pass": s["p95_ms"] <= 2.0},
        "baseline_read_404": b,
    }


def run_engine(engine_name: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, database(engine_name, Path(tmp)) as url:
        log(f"[{engine_name}] setting up")
        engine = make_engine(url)
        migrate(engine)
        settings = Settings(data_dir=Path(tmp) / "node", jwt_secret="bench-secret-key-of-sufficient-length-01")
        repo = Repository(engine, settings)
        ctx = RequestContext.system("bench")
        fixtures(repo, ctx, args.map_size)
        log(f"[{engine_name}] in-process through rhip.fhir.rest.dispatch")
        res: dict[str, Any] = {"in_process": in_process(repo, ctx, args.calls)}
        log(f"[{engine_name}] over HTTP (TestClient)")
        res["http"] = over_http(repo, settings, args.http_calls)
        engine.dispose()
        return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=2000, help="calls per in-process figure (≥ 1000)")
    ap.add_argument("--http-calls", type=int, default=1000)
    ap.add_argument("--map-size", type=int, default=2000, help="elements in the benchmark ConceptMap")
    ap.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = ap.parse_args()
    log("load cost (fresh interpreters)")
    result: dict[str, Any] = {
        "benchmark": "terminology",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "parameters": vars(args),
        "load": load_cost(),
    }
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    for name in engines:
        result[name] = run_engine(name, args)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
