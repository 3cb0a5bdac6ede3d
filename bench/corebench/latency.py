"""Query latency through the real HTTP stack: ``rhip serve`` (uvicorn, one process) in a subprocess,
an ``httpx`` client on 127.0.0.1 with keep-alive, one request at a time, bearer token as in tests."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from rhip.security import tokens
from rhip.security.context import RequestContext

SECRET = "bench-secret-key-of-sufficient-length-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / VmSize of a process in KiB (from /proc/<pid>/status)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM", "VmSize"):
                out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


class Server:
    """The FHIR API served as ``rhip serve`` does (see ``serve.py``), in a subprocess."""

    def __init__(self, db_url: str, data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RHIP_JWT_SECRET": SECRET}
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("serve.py")),
                "--db",
                db_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.pid = self.proc.pid
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {log_path}")
            try:
                if httpx.get(f"{self.base}/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start; see {log_path}")
            time.sleep(0.2)
        self.started_status = proc_status(self.pid)

    def token(self) -> str:
        ctx = RequestContext(subject="bench", kind="client", scopes=frozenset({"system/*.*"}))
        return tokens.issue(SECRET.encode(), ctx, 6 * 3600)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(-(-p * len(sorted_ms) // 100)) - 1))
    return sorted_ms[k]


def summarize(ms: list[float]) -> dict[str, Any]:
    s = sorted(ms)
    return {
        "n": len(s),
        "p50_ms": round(percentile(s, 50), 2),
        "p95_ms": round(percentile(s, 95), 2),
        "p99_ms": round(percentile(s, 99), 2),
        "mean_ms": round(sum(s) / len(s), 2),
        "min_ms": round(s[0], 2),
        "max_ms": round(s[-1], 2),
    }


def query_set(name: str, patients: list[dict[str, Any]], everything_template: str) -> list[str]:
    """Relative URLs for one query kind, one per (randomly chosen) patient."""
    if name == "patient_by_identifier":
        return [f"Patient?identifier={p['system']}|{p['value']}" for p in patients]
    if name == "observation_heart_rate":
        return [
            f"Observation?subject=Patient/{p['id']}&code=http://loinc.org|8867-4&_sort=-date&_count=20"
            for p in patients
        ]
    if name == "observation_body_weight":
        return [
            f"Observation?subject=Patient/{p['id']}&code=http://loinc.org|29463-7&_sort=-date&_count=20"
            for p in patients
        ]
    if name == "patient_everything":
        return [f"Patient/{p['id']}/$everything" for p in patients]
    raise ValueError(name)


QUERIES = {
    "patient_by_identifier": "Patient?identifier=https://github.com/synthetichealth/synthea|<value>",
    "observation_heart_rate": "Observation?subject=Patient/<id>&code=http://loinc.org|8867-4&_sort=-date&_count=20",
    "observation_body_weight": "Observation?subject=Patient/<id>&code=http://loinc.org|29463-7&_sort=-date&_count=20",
    "patient_everything": "Patient/<id>/$everything",
}


def run_queries(
    server: Server,
    patients: list[dict[str, Any]],
    everything_template: str,
    n: int,
    warmup: int,
    seed: int,
    progress: Any = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {server.token()}", "Accept": "application/fhir+json"}
    everyone = patients
    big = [p for p in patients if p["template"] == everything_template]
    out: dict[str, Any] = {"server_pid": server.pid, "server_status_at_start_kib": server.started_status}
    peak_rss = 0
    with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
        for name in QUERIES:
            pool = big if name == "patient_everything" else everyone
            rng = random.Random(f"{seed}-{name}")  # the same patients for a given seed
            chosen = [rng.choice(pool) for _ in range(n + warmup)]
            urls = query_set(name, chosen, everything_template)
            lat: list[float] = []
            totals: list[int] = []
            errors = 0
            for i, url in enumerate(urls):
                t0 = time.perf_counter()
                r = client.get(url)
                dt = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    errors += 1
                    if errors <= 3:
                        print(f"  {name}: {r.status_code} {r.text[:300]}", file=sys.stderr)
                    continue
                if i < warmup:
                    continue
                lat.append(dt)
                body = r.json()
                totals.append(len(body.get("entry") or []))
                if i % 50 == 0:
                    peak_rss = max(peak_rss, proc_status(server.pid).get("VmRSS", 0))
            res = summarize(lat) if lat else {"n": 0}
            res.update(
                {
                    "url": QUERIES[name],
                    "errors": errors,
                    "warmup": warmup,
                    "entries_mean": round(sum(totals) / len(totals), 1) if totals else None,
                    "entries_min": min(totals) if totals else None,
                    "entries_max": max(totals) if totals else None,
                }
            )
            if name == "patient_by_identifier":
                res["exactly_one_match"] = sum(1 for t in totals if t == 1)
            out[name] = res
            if progress:
                progress(
                    f"  {name}: p50 {res.get('p50_ms')} ms, p95 {res.get('p95_ms')} ms "
                    f"({res['n']} queries, {errors} errors, ~{res['entries_mean']} entries)"
                )
    st = proc_status(server.pid)
    out["server_memory"] = {
        "VmRSS_kib_end": st.get("VmRSS"),
        "VmHWM_kib": st.get("VmHWM"),
        "VmRSS_kib_peak_sampled": max(peak_rss, st.get("VmRSS", 0)),
        "VmRSS_kib_at_start": server.started_status.get("VmRSS"),
    }
    return out
