"""k-anonymity by full-domain generalisation with suppression (Samarati 2001; Sweeney's precision loss).

Every dimension is generalised to one level for all persons (a node of the generalisation lattice).
A node is *feasible* when the persons in equivalence classes smaller than k are at most the allowed
suppression. Merging classes can only shrink the number of persons in small classes, so feasibility is
monotone along the lattice and the first feasible node in order of information loss is optimal. Loss
is the normalised height Σ level/top (Sweeney's Prec); ties go to fewer suppressed persons, then the
discernibility metric Σ|class|², then the lexicographically lower node. Classes are counted over
persons, not records, so one person's several registrations never make up a class on their own.

No maintained Python package fitted (see the decision record): the candidates work on pandas frames,
count records, and pick nodes greedily (Datafly) rather than least-generalised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

import numpy as np
import numpy.typing as npt

from rhip.security.deid.hierarchy import Dimension, Value

__all__ = ["Solution", "anonymise"]

Codes = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Solution:
    levels: tuple[int, ...]
    suppressed: frozenset[int]
    """Indices of the persons to leave out (their classes are smaller than k)."""
    classes: int
    """Equivalence classes among the persons kept."""
    smallest: int
    """Size of the smallest class kept (0 when no one is kept)."""
    feasible: bool
    """False when even full generalisation needs more suppression than allowed (everyone is then left out
    of the small classes regardless)."""


def _encode(values: Sequence[Value]) -> Codes:
    index: dict[Value, int] = {}
    return np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))


def _class_ids(columns: list[Codes], n: int) -> Codes:
    key = np.zeros(n, dtype=np.int64)
    for col in columns:
        width = int(col.max()) + 1 if n else 1
        _, key = np.unique(key * width + col, return_inverse=True)
        key = key.astype(np.int64).reshape(-1)
    return key


def _evaluate(columns: list[Codes], n: int, k: int) -> tuple[int, int, npt.NDArray[np.bool_], Codes]:
    """(suppressed, discernibility, small mask, class id per person) of one node."""
    ids = _class_ids(columns, n)
    counts = np.bincount(ids)
    sizes = counts[ids]
    small = sizes < k
    suppressed = int(small.sum())
    discernibility = int((counts[counts >= k] ** 2).sum()) + suppressed * n
    return suppressed, discernibility, small, ids


def anonymise(table: Sequence[Sequence[Value]], dims: Sequence[Dimension], k: int, max_suppression: float) -> Solution:
    """The least-generalised node reaching k-anonymity over ``table`` (one row of raw values per person)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if not 0 <= max_suppression < 1:
        raise ValueError("max_suppression must be in [0, 1)")
    n = len(table)
    allowed = math.floor(max_suppression * n + 1e-9)
    codes = [
        [_encode([d.generalise(row[j], level) for row in table]) for level in range(d.top + 1)]
        for j, d in enumerate(dims)
    ]
    nodes = sorted(
        product(*(range(d.top + 1) for d in dims)),
        key=lambda node: (sum(Fraction(lv, d.top) for lv, d in zip(node, dims, strict=True)), node),
    )
    best: tuple[int, int, tuple[int, ...], npt.NDArray[np.bool_], Codes] | None = None
    best_loss: Fraction | None = None
    for node in nodes:
        loss = sum((Fraction(lv, d.top) for lv, d in zip(node, dims, strict=True)), Fraction(0))
        if best_loss is not None and loss > best_loss:
            break
        columns = [codes[j][lv] for j, lv in enumerate(node)]
        suppressed, dm, small, ids = _evaluate(columns, n, k)
        if suppressed > allowed:
            continue
        if best is None or (suppressed, dm, node) < best[:3]:
            best, best_loss = (suppressed, dm, node, small, ids), loss
    feasible = best is not None
    if best is None:  # not even the top node: k > persons and suppressing them all is more than allowed
        top = tuple(d.top for d in dims)
        suppressed, dm, small, ids = _evaluate([codes[j][lv] for j, lv in enumerate(top)], n, k)
        best = (suppressed, dm, top, small, ids)
    _, _, node, small, ids = best
    kept_ids = ids[~small]
    sizes = np.bincount(kept_ids) if kept_ids.size else np.zeros(0, dtype=np.int64)
    sizes = sizes[sizes > 0]
    return Solution(
        levels=node,
        suppressed=frozenset(int(i) for i in np.flatnonzero(small)),
        classes=int(sizes.size),
        smallest=int(sizes.min()) if sizes.size else 0,
        feasible=feasible,
    )
