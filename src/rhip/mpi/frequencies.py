"""Term-frequency adjustments (Splink's ``term_frequency_adjustments``) for exact agreements.

A model's u for "name exact" is an average over all names; two records that agree on 王伟 agree on a
name carried by many people, two that agree on 欧阳娜娜 do not. For a comparison with a ``tf_field``
the exact level's weight log2(m/u) becomes log2(m/tf(v)), i.e. an adjustment of log2(u/tf(v)), where
tf(v) is the share of records carrying the value v. Frequencies come from the records being linked
(batch) or, online, from counts in the index; they are not part of the model. The share is floored at
one record, so an unseen value gets the adjustment of a unique one; a field that was not counted gets
no adjustment (``NO_FREQUENCIES``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rhip.mpi.comparison import Comparison, Record


@dataclass(frozen=True)
class TermFrequencies:
    """Value shares per field (``share[field][value]``) and the number of non-null records per field."""

    share: Mapping[str, Mapping[object, float]]
    totals: Mapping[str, int]

    def of(self, field: str, value: object) -> float:
        """Share of records carrying ``value`` in ``field`` (at least one record's worth)."""
        total = max(self.totals.get(field, 0), 1)
        return max(self.share.get(field, {}).get(value, 0.0), 1.0 / total)


NO_FREQUENCIES = TermFrequencies({}, {})


def term_frequencies(records: Sequence[Record], comparisons: Sequence[Comparison]) -> TermFrequencies:
    """Count the values of every ``tf_field`` of ``comparisons`` over ``records``."""
    share: dict[str, dict[object, float]] = {}
    totals: dict[str, int] = {}
    for field in {c.tf_field for c in comparisons if c.tf_field}:
        counts = Counter(r.get(field) for r in records)
        counts.pop(None, None)
        total = sum(counts.values())
        totals[field] = total
        share[field] = {v: n / total for v, n in counts.items()} if total else {}
    return TermFrequencies(share, totals)


def adjustment(comparison: Comparison, u_exact: float, a: Record, b: Record, tf: TermFrequencies) -> float:
    """log2(u / tf(v)) for an exact agreement on a ``tf_field`` (the larger share of the two values)."""
    field = comparison.tf_field
    if field is None or field not in tf.totals:  # not counted: no adjustment
        return 0.0
    share = max(tf.of(field, a.get(field)), tf.of(field, b.get(field)))
    return math.log2(max(u_exact, 1e-12) / share)
