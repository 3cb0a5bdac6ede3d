"""In-memory batch linking: records → candidate pairs → scores → decisions → clusters, with explanations.

Decisions (issue 5): **auto-link** when the match weight ≥ ``model.auto_link``, **review** when ≥
``model.review``, otherwise **no-link**. Exclusivity (``spec.exclusive_fields``, for persons the valid
身份证号) overrides the score twice:

- pair rule: two records with different valid ID numbers are never auto-linked (review at most);
- cluster rule: clusters are the connected components of auto-links, built strongest link first; a
  link that would put two different valid ID numbers into one cluster is not applied and the pair is
  demoted to review (rule ``exclusive-cluster``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from rhip.mpi.blocking import BlockingStats, candidate_pairs
from rhip.mpi.comparison import Record
from rhip.mpi.model import MatchModel
from rhip.mpi.spec import LinkSpec
from rhip.mpi.training import gammas

Decision = Literal["auto-link", "review", "no-link"]
DECISIONS: tuple[Decision, ...] = ("auto-link", "review", "no-link")
AUTO, REVIEW, NO_LINK = 0, 1, 2


@dataclass(frozen=True)
class FieldVerdict:
    """One comparison's verdict on a pair: the level label and its weight (with m and u)."""

    comparison: str
    level: str
    weight: float
    m: float
    u: float


@dataclass(frozen=True)
class PairExplanation:
    """Why a pair got its decision: per-field levels and weights, the total, the rule that fired."""

    left: str
    right: str
    model_version: str
    blocking_rule: str
    prior_weight: float
    fields: tuple[FieldVerdict, ...]
    total_weight: float
    probability: float
    decision: Decision
    rule: str


@dataclass
class LinkResult:
    """Scored candidate pairs (parallel arrays), decisions, clusters and blocking statistics."""

    ids: list[str]
    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    gamma: npt.NDArray[np.int8]
    weight: npt.NDArray[np.float64]
    decision: npt.NDArray[np.int8]
    rules: list[str]  # per pair: the decision rule that fired
    blocking: list[str]  # per pair: the blocking rule that produced it
    clusters: list[list[int]]
    stats: BlockingStats = field(default_factory=BlockingStats)

    def count(self, decision: Decision) -> int:
        """Number of pairs with this decision."""
        return int(np.sum(self.decision == DECISIONS.index(decision)))

    def cluster_of(self) -> list[int]:
        """Cluster number of each record (index into :attr:`clusters`)."""
        out = [0] * len(self.ids)
        for c, members in enumerate(self.clusters):
            for i in members:
                out[i] = c
        return out


def probability(weight: float) -> float:
    """Match probability of a match weight (log2 odds)."""
    return 1.0 / (1.0 + math.pow(2.0, -weight)) if weight > -1000 else 0.0


def _conflict(a: Record, b: Record, fields: Sequence[str]) -> bool:
    return any(a.get(f) is not None and b.get(f) is not None and a[f] != b[f] for f in fields)


def decide(weight: float, a: Record, b: Record, spec: LinkSpec, model: MatchModel) -> tuple[int, str]:
    """Decision code and rule of one scored pair (before clustering)."""
    if weight >= model.auto_link:
        if _conflict(a, b, spec.exclusive_fields):
            return REVIEW, "exclusive-pair: different " + "/".join(spec.exclusive_fields) + " (review at most)"
        return AUTO, f"weight {weight:.2f} >= auto-link {model.auto_link:g}"
    if weight >= model.review:
        return REVIEW, f"weight {weight:.2f} >= review {model.review:g}"
    return NO_LINK, f"weight {weight:.2f} < review {model.review:g}"


class _Clusters:
    """Union-find keeping, per root, the set of exclusive values its members carry."""

    def __init__(self, records: Sequence[Record], fields: Sequence[str]) -> None:
        self.parent = list(range(len(records)))
        self.values: list[set[tuple[str, object]]] = [
            {(f, r[f]) for f in fields if r.get(f) is not None} for r in records
        ]
        self.fields = tuple(fields)

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> bool:
        """Join the clusters of i and j unless that mixes two values of an exclusive field."""
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return True
        merged = self.values[ri] | self.values[rj]
        for f in self.fields:
            if len({v for name, v in merged if name == f}) > 1:
                return False
        if len(self.values[ri]) < len(self.values[rj]):
            ri, rj = rj, ri
        self.parent[rj] = ri
        self.values[ri] = merged
        return True

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return list(out.values())


def link(
    records: Sequence[Record],
    spec: LinkSpec,
    model: MatchModel,
    *,
    allow: Callable[[int, int], bool] | None = None,
) -> LinkResult:
    """Link a batch of records: blocking, scoring, decisions, exclusive-aware clusters."""
    model.check(spec)
    stats = BlockingStats()
    cand = candidate_pairs(
        records, spec.blocking_rules, max_block=spec.max_block, window=spec.window, allow=allow, stats=stats
    )
    pairs = list(cand)
    gamma = gammas(records, pairs, spec.comparisons)
    weight = model.scores(gamma) if pairs else np.zeros(0)
    decision = np.full(len(pairs), NO_LINK, dtype=np.int8)
    rules: list[str] = [""] * len(pairs)
    for k, (i, j) in enumerate(pairs):
        code, rule = decide(float(weight[k]), records[i], records[j], spec, model)
        decision[k], rules[k] = code, rule
    clusters = _Clusters(records, spec.exclusive_fields)
    for k in np.argsort(-weight, kind="stable"):
        if decision[k] != AUTO:
            continue
        i, j = pairs[k]
        if not clusters.union(i, j):
            decision[k] = REVIEW
            rules[k] = "exclusive-cluster: the link would join different " + "/".join(spec.exclusive_fields)
    left = np.array([p[0] for p in pairs], dtype=np.int64)
    right = np.array([p[1] for p in pairs], dtype=np.int64)
    return LinkResult(
        ids=[str(r.get("id")) for r in records],
        left=left,
        right=right,
        gamma=gamma,
        weight=weight,
        decision=decision,
        rules=rules,
        blocking=[cand[p] for p in pairs],
        clusters=clusters.groups(),
        stats=stats,
    )


def explain_levels(gamma_row: Sequence[int], model: MatchModel) -> tuple[tuple[FieldVerdict, ...], float]:
    """Per-field verdicts of a level vector and the total match weight."""
    verdicts = []
    total = model.prior_weight
    for c, g in zip(model.comparisons, gamma_row, strict=True):
        lv = c.levels[int(g)]
        verdicts.append(FieldVerdict(c.name, lv.label, round(lv.weight, 3), lv.m, lv.u))
        total += lv.weight
    return tuple(verdicts), total


def explain(result: LinkResult, k: int, model: MatchModel) -> PairExplanation:
    """The explanation of candidate pair ``k`` of a :class:`LinkResult`."""
    verdicts, total = explain_levels([int(g) for g in result.gamma[k]], model)
    return PairExplanation(
        left=result.ids[int(result.left[k])],
        right=result.ids[int(result.right[k])],
        model_version=model.version,
        blocking_rule=result.blocking[k],
        prior_weight=round(model.prior_weight, 3),
        fields=verdicts,
        total_weight=round(total, 3),
        probability=probability(total),
        decision=DECISIONS[int(result.decision[k])],
        rule=result.rules[k],
    )


def compare(a: Record, b: Record, spec: LinkSpec, model: MatchModel) -> PairExplanation:
    """Score and explain one pair directly (the online path compares an incoming record to candidates)."""
    model.check(spec)
    row = [c.level(a, b) for c in spec.comparisons]
    verdicts, total = explain_levels(row, model)
    code, rule = decide(total, a, b, spec, model)
    return PairExplanation(
        left=str(a.get("id")),
        right=str(b.get("id")),
        model_version=model.version,
        blocking_rule="",
        prior_weight=round(model.prior_weight, 3),
        fields=verdicts,
        total_weight=round(total, 3),
        probability=probability(total),
        decision=DECISIONS[code],
        rule=rule,
    )
