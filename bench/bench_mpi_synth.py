"""Benchmark the MPI matching engine on the synthetic region's registrations with their ground truth.

Usage (from the repository root)::

    .venv/bin/python bench/bench_mpi_synth.py                       # 20,000 residents, seed 42, noise 0.10
    .venv/bin/python bench/bench_mpi_synth.py --residents 5000 --seed 7

Runs ``rhip synth --format fhir-ndjson`` into a temporary directory, normalises every Patient (the
clean population-register Patients and every facility registration), shuffles them (the file is in
household order), trains a model without labels, links in memory and scores the clusters against
``ground_truth.csv``: pairwise precision and recall of same-cluster pairs, the review queue as a share
of registrations (tasks: one per pair of distinct clusters joined by review pairs, see
``LinkResult.review_tasks``; raw review pairs reported too), recall per noise kind, time per stage and
peak RSS. Prints one JSON object; a copy
goes to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mpibench import truth as scoring

from rhip.mpi import link, patient_record, person_spec, train

TARGETS = {"precision": 0.999, "recall": 0.97, "review_share": 0.02}


def generate(seed: int, residents: int, noise: float, out: Path) -> float:
    """Run ``rhip synth`` (the CLI, as a user would); returns its wall time."""
    rhip = Path(sys.executable).with_name("rhip")
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(rhip),
            "synth",
            "--seed",
            str(seed),
            "--residents",
            str(residents),
            "--noise",
            str(noise),
            "--out",
            str(out),
            "--format",
            "fhir-ndjson",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--noise", type=float, default=0.10)
    parser.add_argument("--u-pairs", type=int, default=200_000, help="random pairs for u (default 200,000)")
    parser.add_argument("--keep", type=Path, help="keep the generated data in this directory")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="rhip-bench-mpi-"))
    try:
        print(f"synth {args.residents} residents …", file=sys.stderr)
        synth_s = generate(args.seed, args.residents, args.noise, work)
        rows = {r["registration_id"]: r for r in csv.DictReader((work / "ground_truth.csv").open(encoding="utf-8"))}
        t0 = time.perf_counter()
        with (work / "fhir" / "Patient.ndjson").open(encoding="utf-8") as fh:
            records = [patient_record(json.loads(line)) for line in fh]
        random.Random(args.seed).shuffle(records)
        t1 = time.perf_counter()
        spec = person_spec()
        model, training = train(records, spec, u_pairs=args.u_pairs, seed=args.seed)
        t2 = time.perf_counter()
        result = link(records, spec, model)
        t3 = time.perf_counter()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    person = [rows[r["id"]]["person_id"] for r in records]
    noise = [rows[r["id"]]["noise"] for r in records]
    cluster_of = result.cluster_of()
    quality = scoring.pairwise(cluster_of, person)
    review_pairs = result.count("review")
    review_tasks = len(result.review_tasks())
    in_review = {int(i) for i, d in zip(result.left, result.decision, strict=True) if d == 1}
    in_review |= {int(j) for j, d in zip(result.right, result.decision, strict=True) if d == 1}
    n = len(records)
    review_share = review_tasks / n
    report: dict[str, Any] = {
        "benchmark": "MPI matching on the synthetic region (rhip synth ground truth)",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "parameters": {"residents": args.residents, "seed": args.seed, "noise": args.noise, "u_pairs": args.u_pairs},
        "registrations": n,
        "noisy_registrations": sum(1 for x in noise if x),
        "model_version": model.version,
        "thresholds": {"auto_link": model.auto_link, "review": model.review},
        "prior": model.prior,
        "em_sessions": [s.__dict__ for s in training.sessions],
        "candidate_pairs": len(result.left),
        "pairs_by_blocking_rule": result.stats.pairs_by_rule,
        "largest_block": result.stats.largest_block,
        "capped_blocks": result.stats.capped_blocks,
        "decisions": {d: result.count(d) for d in ("auto-link", "review", "no-link")},
        "auto_link_quality": quality,
        "review_pairs": review_pairs,
        "review_tasks": review_tasks,
        "review_tasks_share_of_registrations": round(review_share, 5),
        "review_pairs_share_of_registrations": round(review_pairs / n, 5),
        "registrations_in_review": len(in_review),
        "recall_by_noise": scoring.recall_by_noise(cluster_of, person, noise),
        "seconds": {
            "synth": round(synth_s, 2),
            "normalise": round(t1 - t0, 2),
            "train": round(t2 - t1, 2),
            "link": round(t3 - t2, 2),
            "normalise_train_link": round(t3 - t0, 2),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    targets = [
        {
            "name": "auto-link precision",
            "value": quality["precision"],
            "target": ">= 0.999",
            "pass": quality["precision"] >= TARGETS["precision"],
        },
        {
            "name": "auto-link recall",
            "value": quality["recall"],
            "target": ">= 0.97",
            "pass": quality["recall"] >= TARGETS["recall"],
        },
        {
            "name": "review tasks / registrations",
            "value": round(review_share, 5),
            "target": "<= 0.02",
            "pass": review_share <= TARGETS["review_share"],
        },
    ]
    report["targets"] = targets
    report["all_targets_pass"] = all(t["pass"] for t in targets)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"mpi-synth-{datetime.date.today():%Y%m%d}.json").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
