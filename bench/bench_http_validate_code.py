#!/usr/bin/env python
"""`$validate-code` latency over real HTTP: `rhip serve` (uvicorn) in a subprocess, an httpx keep-alive client.

    .venv/bin/python bench/bench_http_validate_code.py [--db sqlite|postgresql] [--calls 1000]

Prints JSON with p50/p95/p99 in ms (target of the China-core issue: p95 ≤ 2 ms). Uses a throw-away
SQLite file or PostgreSQL database ``rhip_bench_http`` (dropped afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from rhip.security.accounts import create_client
from rhip.store.db import make_engine, migrate

PG = os.environ.get("RHIP_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
CODES = ["I10", "E11.9", "J44.9", "E11.900x001"]


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process has used: per-call cost, independent of load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--port", type=int, default=8111)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rhip-http-"))
    if args.db == "sqlite":
        url = f"sqlite:///{work / 'bench.sqlite'}"
    else:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS rhip_bench_http")
            c.execute("CREATE DATABASE rhip_bench_http")
        url = f"{PG.replace('postgresql://', 'postgresql+psycopg://')}/rhip_bench_http"
    engine = make_engine(url)
    migrate(engine)
    creds = create_client(engine, name="bench", scopes="system/*.*")
    engine.dispose()
    env = dict(os.environ, RHIP_DATA_DIR=str(work))
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "rhip"), "serve", "--db", url, "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{args.port}")
        for _ in range(150):
            try:
                if client.get("/metadata").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        form = {"grant_type": "client_credentials", "client_id": creds.id, "client_secret": creds.secret}
        headers = {"Authorization": f"Bearer {client.post('/auth/token', data=form).json()['access_token']}"}
        params = {"url": "http://hl7.org/fhir/sid/icd-10"}
        for i in range(100):  # warm-up: load the bundled tables, fill the pool
            client.get("/CodeSystem/$validate-code", params={**params, "code": CODES[i % 4]}, headers=headers)
        cpu0 = server_cpu(server.pid)
        samples = []
        for i in range(args.calls):
            t0 = time.perf_counter()
            r = client.get("/CodeSystem/$validate-code", params={**params, "code": CODES[i % 4]}, headers=headers)
            samples.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise SystemExit(f"unexpected {r.status_code}: {r.text[:200]}")
        cpu_ms = (server_cpu(server.pid) - cpu0) * 1000 / args.calls
        samples.sort()
        out = {
            "benchmark": "$validate-code over HTTP",
            "db": args.db,
            "calls": args.calls,
            "p50_ms": round(samples[len(samples) // 2], 2),
            "p95_ms": round(samples[int(len(samples) * 0.95)], 2),
            "p99_ms": round(samples[int(len(samples) * 0.99)], 2),
            "server_cpu_ms_per_call": round(cpu_ms, 3),
            "target": "p95 <= 2 ms",
            "load_average": os.getloadavg(),
        }
        out["pass"] = out["p95_ms"] <= 2
        print(json.dumps(out))
    finally:
        server.terminate()
        server.wait()
        if args.db == "postgresql":
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as c:
                c.execute("DROP DATABASE IF EXISTS rhip_bench_http WITH (FORCE)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
