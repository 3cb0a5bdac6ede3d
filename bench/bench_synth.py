"""Benchmark ``rhip synth``: generation speed (resources/s) and peak memory per region size.

Usage (from the repository root)::

    .venv/bin/python bench/bench_synth.py                      # 10,000 and 100,000 residents, 3 runs each
    .venv/bin/python bench/bench_synth.py --residents 100000 --runs 1
    .venv/bin/python bench/bench_synth.py --residents 2000 10000 --format fhir-ndjson,hl7v2

Every run is a fresh child process (so ``resource.getrusage`` reports that run's own peak RSS)
writing into a temporary directory that is deleted afterwards. Prints one JSON document: per size
the median wall time of ``generate()`` (imports excluded), resources/s at the median and the peak
RSS of each run; ``rss_ratio`` compares the largest size with the smallest to show that memory
stays flat in N.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
from pathlib import Path
from rhip.synth import generate
seed, residents, years, out, formats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
t0 = time.perf_counter()
counts = generate(seed=seed, residents=residents, years=years, out=Path(out), formats=formats.split(","))
seconds = time.perf_counter() - t0
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "resources": counts["total_resources"], "persons": counts["persons"],
                  "peak_rss_mb": rss_kb / 1024}))
"""


def one_run(seed: int, residents: int, years: int, formats: str) -> dict[str, float]:
    """Generate once in a child process; returns its timing, size and peak RSS."""
    out = tempfile.mkdtemp(prefix="rhip-bench-synth-")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(seed), str(residents), str(years), out, formats],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, nargs="+", default=[10000, 100000], help="region sizes")
    parser.add_argument("--runs", type=int, default=3, help="runs per size (median reported); default 3")
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--format", default="fhir-ndjson", help="comma list of formats; default fhir-ndjson")
    args = parser.parse_args()
    results = []
    for n in args.residents:
        runs = [one_run(args.seed, n, args.years, args.format) for _ in range(args.runs)]
        med = statistics.median(r["seconds"] for r in runs)
        resources = int(runs[0]["resources"])
        results.append(
            {
                "residents": n,
                "persons": int(runs[0]["persons"]),
                "resources": resources,
                "runs": len(runs),
                "seconds": [round(r["seconds"], 2) for r in runs],
                "median_seconds": round(med, 2),
                "resources_per_s_median": round(resources / med),
                "peak_rss_mb": [round(r["peak_rss_mb"], 1) for r in runs],
            }
        )
    report = {
        "benchmark": "rhip synth generate()",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "years": args.years,
        "seed": args.seed,
        "formats": args.format,
        "results": results,
    }
    if len(results) > 1:
        small, large = results[0], results[-1]
        report["rss_ratio"] = round(max(large["peak_rss_mb"]) / max(small["peak_rss_mb"]), 2)
        report["size_ratio"] = round(large["residents"] / small["residents"], 1)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
