"""In-memory batch linking: records → candidate pairs → scores → decisions → clusters, with explanations.

Decisions (issue 5): **auto-link** when the match weight ≥ ``model.auto_link``, **review** when ≥
``model.review``, otherwise **no-link**. Three rules can hold back an auto-link (to review):

- exclusive pair (``spec.exclusive_fields``, for persons the valid 身份证号): two records with different
  valid ID numbers are never auto-linked;
- evidence rule (``spec.evidence``): an auto-link needs at least one of these comparisons at an
  agreeing level (not null, not else). For persons: ID number, name, health card or another
  identifier. Birth date, sex, phone and address are shared by twins (and the phone by a household),
  so a newborn registered as 王芳之女 without an ID number goes to review, not into a twin's record;
- exclusive cluster: clusters are the connected components of auto-links, built strongest link first; a
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
from rhip.mpi.comparison import Comparison, Record
from rhip.mpi.frequencies import TermFrequencies, adjustment, term_frequencies
from rhip.mpi.model import MatchModel
from rhip.mpi.spec import LinkSpec
from rhip.mpi.training import gammas

Decision = Literal["auto-link", "review", "no-link"]
DECISIONS: tuple[Decision, ...] = ("auto-link", "review", "no-link")
AUTO, REVIEW, NO_LINK = 0, 1, 2


@dataclass(frozen=True)
class FieldVerdict:
    """One comparison's verdict on a pair: the level label and its weight (m, u, term-frequency part)."""

    comparison: str
    level: str
    weight: float  # level weight + tf_adjustment
    m: float
    u: float
    tf_adjustment: float = 0.0


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
    tf_adjust: npt.NDArray[np.float64]  # pairs × comparisons, term-frequency adjustments (0 mostly)
    weight: npt.NDArray[np.float64]
    decision: npt.NDArray[np.int8]
    rules: list[str]  # per pair: the decision rule that fired
    blocking: list[str]  # per pair: the blocking rule that produced it
    clusters: list[list[int]]
    stats: BlockingStats = field(default_factory=BlockingStats)

    def count(self, decision: Decision) -> int:
        """Number of pairs with this decision."""
        return int(np.sum(self.decision == DECISIONS.index(decision)))

    def review_tasks(self) -> list[int]:
        """One review-queue task per pair of distinct clusters joined by review pairs: its strongest pair.

        A review pair inside one cluster (already linked through auto-links) needs no clerk, and a
        newborn registration reviewed against three registrations of one person is one decision.
        """
        cluster = self.cluster_of()
        best: dict[tuple[int, int], int] = {}
        for k in np.nonzero(self.decision == REVIEW)[0]:
            a, b = cluster[int(self.left[k])], cluster[int(self.right[k])]
            if a == b:
                continue
            key = (a, b) if a < b else (b, a)
            if key not in best or self.weight[k] > self.weight[best[key]]:
                best[key] = int(k)
        return sorted(best.values())

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


def _has_evidence(row: Sequence[int], spec: LinkSpec) -> bool:
    if not spec.evidence:
        return True
    agreeing = (c.name for k, c in enumerate(spec.comparisons) if 0 < int(row[k]) < len(c.labels) - 1)
    return any(name in spec.evidence for name in agreeing)


def decide(
    weight: float, row: Sequence[int], a: Record, b: Record, spec: LinkSpec, model: MatchModel
) -> tuple[int, str]:
    """Decision code and rule of one scored pair (before clustering); ``row`` is its level vector."""
    if weight >= model.auto_link:
        if _conflict(a, b, spec.exclusive_fields):
            return REVIEW, "exclusive-pair: different " + "/".join(spec.exclusive_fields) + " (review at most)"
        if not _has_evidence(row, spec):
            return REVIEW, "no-personal-evidence: none of " + "/".join(spec.evidence) + " agrees (review at most)"
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
    frequencies: TermFrequencies | None = None,
) -> LinkResult:
    """Link a batch of records: blocking, scoring, decisions, exclusive-aware clusters.

    Term frequencies default to those of ``records`` themselves.
    """
    model.check(spec)
    stats = BlockingStats()
    cand = candidate_pairs(
        records, spec.blocking_rules, max_block=spec.max_block, window=spec.window, allow=allow, stats=stats
    )
    pairs = list(cand)
    gamma = gammas(records, pairs, spec.comparisons)
    tf = frequencies or term_frequencies(records, spec.comparisons)
    tf_adjust = _tf_adjustments(records, pairs, gamma, spec, model, tf)
    weight = model.scores(gamma) + tf_adjust.sum(axis=1) if pairs else np.zeros(0)
    decision = np.full(len(pairs), NO_LINK, dtype=np.int8)
    rules: list[str] = [""] * len(pairs)
    for k, (i, j) in enumerate(pairs):
        code, rule = decide(float(weight[k]), gamma[k], records[i], records[j], spec, model)
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
        tf_adjust=tf_adjust,
        weight=weight,
        decision=decision,
        rules=rules,
        blocking=[cand[p] for p in pairs],
        clusters=clusters.groups(),
        stats=stats,
    )


def _tf_adjustments(
    records: Sequence[Record],
    pairs: Sequence[tuple[int, int]],
    gamma: npt.NDArray[np.int8],
    spec: LinkSpec,
    model: MatchModel,
    tf: TermFrequencies,
) -> npt.NDArray[np.float64]:
    out = np.zeros(gamma.shape, dtype=np.float64)
    for k, c in enumerate(spec.comparisons):
        if c.tf_field is None:
            continue
        u_exact = model.comparisons[k].levels[1].u
        for row in np.nonzero(gamma[:, k] == 1)[0]:
            i, j = pairs[int(row)]
            out[row, k] = adjustment(c, u_exact, records[i], records[j], tf)
    return out


def explain_levels(
    gamma_row: Sequence[int], model: MatchModel, tf_row: Sequence[float] | None = None
) -> tuple[tuple[FieldVerdict, ...], float]:
    """Per-field verdicts of a level vector (with term-frequency adjustments) and the total match weight."""
    verdicts = []
    total = model.prior_weight
    tables, _ = _weights(model)  # the level weights, computed once per model
    for k, (c, g) in enumerate(zip(model.comparisons, gamma_row, strict=True)):
        lv = c.levels[int(g)]
        w = tables[k][int(g)]
        adj = float(tf_row[k]) if tf_row is not None else 0.0
        verdicts.append(FieldVerdict(c.name, lv.label, round(w + adj, 3), lv.m, lv.u, round(adj, 3)))
        total += w + adj
    return tuple(verdicts), total


def explain(result: LinkResult, k: int, model: MatchModel) -> PairExplanation:
    """The explanation of candidate pair ``k`` of a :class:`LinkResult`."""
    verdicts, total = explain_levels([int(g) for g in result.gamma[k]], model, list(result.tf_adjust[k]))
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


@dataclass(frozen=True, slots=True)
class Scored:
    """A pair scored but not yet explained: level vector, term-frequency parts, match weight, decision.

    :func:`explanation` turns it into the :class:`PairExplanation` that :func:`compare` returns; the
    online matcher and the batch job score every candidate this way and explain only the pairs they
    store (the explanation is most of the cost of a comparison).
    """

    row: tuple[int, ...]
    adj: tuple[float, ...]
    total: float  # unrounded match weight
    code: int  # AUTO, REVIEW or NO_LINK (before any cluster rule)
    rule: str

    @property
    def weight(self) -> float:
        """The match weight as stored and ordered on (rounded like ``PairExplanation.total_weight``)."""
        return round(self.total, 3)


_WEIGHTS: dict[str, tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]] = {}


def _weights(model: MatchModel) -> tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]:
    """Per comparison the level weights, and the exact level's u (term-frequency adjustment), per model."""
    cached = _WEIGHTS.get(model.version)
    if cached is None:
        tables = tuple(tuple(lv.weight for lv in c.levels) for c in model.comparisons)
        u_exact = tuple(c.levels[1].u for c in model.comparisons)
        cached = _WEIGHTS[model.version] = (tables, u_exact)
    return cached


def score_pair(
    a: Record, b: Record, spec: LinkSpec, model: MatchModel, frequencies: TermFrequencies | None = None
) -> Scored:
    """Levels, weight and decision of one pair (the arithmetic of :func:`explain_levels`, in its order)."""
    return _finish(a, b, tuple(c.level(a, b) for c in spec.comparisons), spec, model, frequencies)


def _finish(
    a: Record, b: Record, row: tuple[int, ...], spec: LinkSpec, model: MatchModel, tf: TermFrequencies | None
) -> Scored:
    tables, u_exact = _weights(model)
    adj = tuple(
        adjustment(c, u_exact[k], a, b, tf) if tf is not None and row[k] == 1 else 0.0
        for k, c in enumerate(spec.comparisons)
    )
    total = model.prior_weight
    for k, g in enumerate(row):
        total += tables[k][g] + adj[k]
    code, rule = decide(total, row, a, b, spec, model)
    return Scored(row, adj, total, code, rule)


PRUNE_ORDER = ("name", "birth_date", "sex", "id_number", "phone", "identifiers", "health_card", "division")
"""Order in which :func:`score_candidates` evaluates comparisons of a candidate (names not listed follow
in spec order): those whose "else" level lowers the bound most for little work first. Only speed
depends on it (measured on the synthetic region: ≈ 6 of 8 comparisons per candidate)."""
_MARGIN = 0.002  # prune below the strongest pair only by more than stored rounding (3 decimals) can hide


_BOUNDS: dict[tuple[str, tuple[str, ...]], tuple[list[int], list[float], list[float]]] = {}


def _bounds(comps: Sequence[Comparison], model: MatchModel) -> tuple[list[int], list[float], list[float]]:
    """Per model and comparisons: the evaluation order, each comparison's best level weight and its best
    weight other than the exact level (whose weight a term-frequency part changes per record)."""
    names = tuple(c.name for c in comps)
    cached = _BOUNDS.get((model.version, names))
    if cached is None:
        tables, _ = _weights(model)
        order = [names.index(n) for n in PRUNE_ORDER if n in names]
        order += [k for k in range(len(comps)) if k not in order]
        best = [max(tables[k]) for k in range(len(comps))]
        other = [max((w for g, w in enumerate(tables[k]) if g != 1), default=-math.inf) for k in range(len(comps))]
        cached = _BOUNDS[(model.version, names)] = (order, best, other)
    return cached


def score_candidates(
    a: Record,
    others: Sequence[tuple[int, Record]],
    spec: LinkSpec,
    model: MatchModel,
    frequencies: TermFrequencies | None = None,
    *,
    prune: bool = True,
) -> list[tuple[int, Scored]]:
    """Score ``a`` against candidates (key, record), leaving out those that cannot matter; strongest
    first, then by key (``prune`` False: every candidate).

    A candidate is dropped as soon as its weight, with every comparison not yet evaluated at its best
    level, stays below the review threshold and below the strongest candidate scored so far: it would
    be a no-link pair that is not the closest miss, and neither is stored nor decides anything (the
    strongest candidate of its person is then a no-link too, or a kept candidate of that person is the
    stronger one). So the first candidate is always scored in full, and the order of ``others`` (likely
    matches first) decides how many are left out. Everything returned is scored exactly as
    :func:`score_pair` scores it.
    """
    tables, u_exact = _weights(model)
    comps = spec.comparisons
    order, best_level, best_other = _bounds(comps, model)
    # the term-frequency part of an exact level: the incoming value's share (the candidate's is the same)
    extra = [0.0] * len(comps)
    if frequencies is not None:
        best_level = list(best_level)
        for k, c in enumerate(comps):
            if c.tf_field:
                extra[k] = adjustment(c, u_exact[k], a, a, frequencies)
                best_level[k] = max(best_other[k], tables[k][1] + extra[k])
    rest = [0.0] * (len(order) + 1)
    for i in range(len(order) - 1, -1, -1):
        rest[i] = rest[i + 1] + best_level[order[i]]
    floor = model.review - 1e-9 if prune else -math.inf
    strongest = -math.inf
    out: list[tuple[int, Scored]] = []
    prior = model.prior_weight
    for key, b in others:
        row = [0] * len(comps)
        partial = prior
        for i, k in enumerate(order):
            g = comps[k].level(a, b)
            row[k] = g
            partial += tables[k][g] + (extra[k] if g == 1 else 0.0)
            if prune and partial + rest[i + 1] < min(floor, strongest - _MARGIN):
                break
        else:
            scored = _finish(a, b, tuple(row), spec, model, frequencies)
            strongest = max(strongest, scored.total)
            out.append((key, scored))
    out.sort(key=lambda x: (-x[1].weight, x[0]))
    return out


def explanation(
    a: Record, b: Record, scored: Scored, model: MatchModel, *, blocking_rule: str = "", demoted: str | None = None
) -> PairExplanation:
    """The explanation of a scored pair; ``demoted`` names a cluster rule that held an auto-link back."""
    verdicts, total = explain_levels(scored.row, model, scored.adj)
    return PairExplanation(
        left=str(a.get("id")),
        right=str(b.get("id")),
        model_version=model.version,
        blocking_rule=blocking_rule,
        prior_weight=round(model.prior_weight, 3),
        fields=verdicts,
        total_weight=round(total, 3),
        probability=probability(total),
        decision=DECISIONS[REVIEW] if demoted else DECISIONS[scored.code],
        rule=demoted or scored.rule,
    )


def compare(
    a: Record, b: Record, spec: LinkSpec, model: MatchModel, *, frequencies: TermFrequencies | None = None
) -> PairExplanation:
    """Score and explain one pair directly (the online path compares an incoming record to candidates).

    Without ``frequencies`` no term-frequency adjustment is made.
    """
    model.check(spec)
    return explanation(a, b, score_pair(a, b, spec, model, frequencies), model)
