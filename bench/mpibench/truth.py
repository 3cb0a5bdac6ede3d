"""Scoring clusters against ground truth: pairwise precision/recall and recall per noise kind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(cluster_of: Sequence[int], person_of: Sequence[str]) -> dict[str, Any]:
    """Precision and recall of the same-cluster pairs against the same-person pairs."""
    by_cluster: dict[int, list[int]] = defaultdict(list)
    by_person: dict[str, list[int]] = defaultdict(list)
    cell: dict[tuple[int, str], int] = defaultdict(int)
    for i, (c, p) in enumerate(zip(cluster_of, person_of, strict=True)):
        by_cluster[c].append(i)
        by_person[p].append(i)
        cell[(c, p)] += 1
    predicted = sum(_pairs(len(v)) for v in by_cluster.values())
    true = sum(_pairs(len(v)) for v in by_person.values())
    tp = sum(_pairs(n) for n in cell.values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    return {
        "true_pairs": true,
        "predicted_pairs": predicted,
        "true_positive_pairs": tp,
        "false_positive_pairs": predicted - tp,
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(2 * precision * recall / (precision + recall), 6) if tp else 0.0,
        "persons": len(by_person),
        "clusters": len(by_cluster),
    }


def recall_by_noise(cluster_of: Sequence[int], person_of: Sequence[str], noise: Sequence[str]) -> dict[str, Any]:
    """Per noise kind: share of registrations (of persons with ≥ 2) sharing a cluster with their person."""
    members: Mapping[str, list[int]] = defaultdict(list)
    for i, p in enumerate(person_of):
        members[p].append(i)
    total: dict[str, int] = defaultdict(int)
    linked: dict[str, int] = defaultdict(int)
    for i, p in enumerate(person_of):
        if len(members[p]) < 2:
            continue
        ok = any(cluster_of[j] == cluster_of[i] for j in members[p] if j != i)
        for kind in noise[i].split(";") if noise[i] else ["clean"]:
            total[kind] += 1
            linked[kind] += ok
    return {k: {"registrations": total[k], "linked": round(linked[k] / total[k], 4)} for k in sorted(total)}
