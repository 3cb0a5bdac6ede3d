"""Estimating m/u from unlabelled records, the way Splink does.

1. **u** from random pairs: almost every random pair is a non-match, so the share of random pairs at
   each level estimates u. Levels never seen get half a count (no infinite weights).
2. **m** by expectation maximisation with u fixed, one session per training blocking rule. Within
   ``block_on(f…)`` every pair agrees on f, so the comparisons reading f carry no information there and
   are left out of that session; the others are estimated. Each comparison's m is the mean over the
   sessions that estimated it.
3. **prior** (λ, probability that two random records match), as Splink's
   ``estimate_probability_two_random_records_match``: the pairs satisfying the spec's deterministic
   rules (almost surely matches) divided by the share of all matches those rules are assumed to catch
   (``deterministic_recall``), over all possible pairs. (EM for λ over the prediction candidates was
   tried and rejected: blocked non-matches agree on the blocking fields far more often than u says,
   so with weak other fields λ came out 10× too high on generated data.)

Everything returns a typed :class:`TrainingRecord` next to the model.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from rhip.mpi.blocking import BlockingRule, candidate_pairs
from rhip.mpi.comparison import Comparison, Record
from rhip.mpi.model import MatchModel, model_from_arrays
from rhip.mpi.spec import LinkSpec

Allow = Callable[[int, int], bool]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SessionRecord:
    """One EM session: its blocking rule, pairs, the comparisons left out, convergence, λ in the block."""

    rule: str
    pairs: int
    skipped: tuple[str, ...]
    iterations: int
    converged: bool
    match_share: float


@dataclass(frozen=True)
class TrainingRecord:
    """What training did, stored in the model's ``trained`` field."""

    records: int
    u_pairs: int
    sessions: tuple[SessionRecord, ...]
    deterministic_pairs: int
    expected_matches: float
    prior: float


def gammas(
    records: Sequence[Record], pairs: Sequence[tuple[int, int]], comparisons: Sequence[Comparison]
) -> npt.NDArray[np.int8]:
    """Level matrix (pairs × comparisons) of the given index pairs."""
    out = np.zeros((len(pairs), len(comparisons)), dtype=np.int8)
    levels = [c.level for c in comparisons]
    for row, (i, j) in enumerate(pairs):
        a, b = records[i], records[j]
        out[row] = [lv(a, b) for lv in levels]
    return out


def random_pairs(n: int, count: int, *, seed: int, allow: Allow | None = None) -> list[tuple[int, int]]:
    """Up to ``count`` distinct random pairs ``i < j`` of ``n`` records (all pairs if fewer exist)."""
    rng = random.Random(seed)
    total = n * (n - 1) // 2
    if total <= count:
        every = [(i, j) for i in range(n) for j in range(i + 1, n)]
        return [p for p in every if allow is None or allow(*p)]
    seen: set[tuple[int, int]] = set()
    attempts = 0
    while len(seen) < count and attempts < count * 20:
        attempts += 1
        i, j = rng.randrange(n), rng.randrange(n)
        if i == j:
            continue
        pair = (i, j) if i < j else (j, i)
        if allow is None or allow(*pair):
            seen.add(pair)
    return sorted(seen)


def estimate_u(gamma: npt.NDArray[np.int8], comparisons: Sequence[Comparison]) -> list[FloatArray]:
    """u per level from the level matrix of random pairs (null excluded from the denominator)."""
    out = []
    for k, c in enumerate(comparisons):
        counts = np.bincount(gamma[:, k], minlength=len(c.labels)).astype(np.float64)
        counts[1:] = np.maximum(counts[1:], 0.5)
        counts[0] = 0.0
        out.append(counts / counts.sum())
    return out


def _initial_m(n_levels: int) -> FloatArray:
    m = np.zeros(n_levels, dtype=np.float64)
    inner = n_levels - 2  # levels between null and else
    m[1] = 0.85 if inner > 1 else 0.9
    for i in range(2, n_levels - 1):
        m[i] = 0.1 / max(inner - 1, 1)
    m[-1] = 1.0 - m[1:-1].sum()
    return m


def _log_ratio(pattern: npt.NDArray[np.int8], tables: Sequence[FloatArray], active: Sequence[int]) -> FloatArray:
    total = np.zeros(pattern.shape[0], dtype=np.float64)
    for k in active:
        total += tables[k][pattern[:, k]]
    return total


def expectation_maximisation(
    gamma: npt.NDArray[np.int8],
    m: list[FloatArray],
    u: Sequence[FloatArray],
    *,
    active: Sequence[int],
    match_share: float = 0.3,
    fit_m: bool = True,
    max_iterations: int = 50,
    tolerance: float = 1e-5,
) -> tuple[list[FloatArray], float, int, bool]:
    """EM with u fixed over the active comparisons; returns (m, λ in these pairs, iterations, converged)."""
    patterns, counts = np.unique(gamma, axis=0, return_counts=True)
    weights = counts.astype(np.float64)
    lam = match_share
    m = [mk.copy() for mk in m]
    for it in range(1, max_iterations + 1):
        log_w = [
            np.where(np.arange(len(mk)) == 0, 0.0, np.log(np.maximum(mk, 1e-12)) - np.log(np.maximum(uk, 1e-12)))
            for mk, uk in zip(m, u, strict=True)
        ]
        log_odds = np.log(lam / (1 - lam)) + _log_ratio(patterns, log_w, active)
        p = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
        pw = p * weights
        change = 0.0
        if fit_m:
            for k in active:
                col = patterns[:, k]
                sums = np.bincount(col, weights=pw, minlength=len(m[k]))
                sums[0] = 0.0
                if sums.sum() <= 0:
                    continue
                new = sums / sums.sum()
                change = max(change, float(np.max(np.abs(new - m[k]))))
                m[k] = new
        new_lam = float(np.clip(pw.sum() / weights.sum(), 1e-9, 1 - 1e-9))
        change = max(change, abs(new_lam - lam))
        lam = new_lam
        if change < tolerance:
            return m, lam, it, True
    return m, lam, max_iterations, False


def _session(
    records: Sequence[Record], spec: LinkSpec, rule: BlockingRule, u: Sequence[FloatArray], allow: Allow | None
) -> tuple[list[FloatArray], list[int], SessionRecord]:
    pairs = list(candidate_pairs(records, [rule], max_block=spec.max_block, window=spec.window, allow=allow))
    active = [k for k, c in enumerate(spec.comparisons) if not set(c.fields) & set(rule.fields)]
    m0 = [_initial_m(len(c.labels)) for c in spec.comparisons]
    if not pairs:
        return m0, [], SessionRecord(rule.name, 0, (), 0, False, 0.0)
    gamma = gammas(records, pairs, spec.comparisons)
    m, lam, iterations, converged = expectation_maximisation(gamma, m0, u, active=active)
    skipped = tuple(c.name for k, c in enumerate(spec.comparisons) if k not in active)
    return m, active, SessionRecord(rule.name, len(pairs), skipped, iterations, converged, round(lam, 6))


def train(
    records: Sequence[Record],
    spec: LinkSpec,
    *,
    u_pairs: int = 200_000,
    seed: int = 1,
    allow: Allow | None = None,
    total_pairs: int | None = None,
) -> tuple[MatchModel, TrainingRecord]:
    """Estimate a model for ``spec`` from unlabelled ``records`` (u by random pairs, m by EM, then λ).

    ``allow`` restricts pairs (link-only jobs); ``total_pairs`` is the number of possible pairs for the
    prior (default n(n−1)/2).
    """
    n = len(records)
    rnd = random_pairs(n, u_pairs, seed=seed, allow=allow)
    u = estimate_u(gammas(records, rnd, spec.comparisons), spec.comparisons)
    sums = [np.zeros(len(c.labels)) for c in spec.comparisons]
    seen = [0] * len(spec.comparisons)
    sessions = []
    for rule in spec.training_rules:
        m_rule, active, record = _session(records, spec, rule, u, allow)
        sessions.append(record)
        for k in active:
            sums[k] += m_rule[k]
            seen[k] += 1
    m = [s / c if c else _initial_m(len(s)) for s, c in zip(sums, seen, strict=True)]
    sure = candidate_pairs(records, spec.deterministic_rules, max_block=spec.max_block, window=spec.window, allow=allow)
    possible = total_pairs if total_pairs is not None else n * (n - 1) // 2
    expected = len(sure) / spec.deterministic_recall
    prior = float(np.clip(expected / max(possible, 1), 1e-12, 0.5))
    summary = TrainingRecord(n, len(rnd), tuple(sessions), len(sure), round(expected, 3), prior)
    model = model_from_arrays(spec, prior, m, u, trained=asdict(summary))
    return model, summary
