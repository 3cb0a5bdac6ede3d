"""Blocking: which pairs are compared at all. Rules are values (``block_on("name_py", "birth_date")``).

A rule's key is the tuple of its fields' values (None if any is missing: the record is not blocked by
that rule). Records sharing a key form a block; small blocks give all their pairs.

**Cap rule** (so that 10,000 registrations of 王伟 born on the same day do not give 50 million pairs):
a block larger than ``max_block`` records is not expanded into all pairs. Its records are sorted by
the rule's ``sort_on`` fields (default: the 身份证号, then phone, then id) and each record is paired with
its next ``window`` neighbours only (sorted neighbourhood). The work per block is therefore
``n × window`` instead of ``n²/2``; the pairs missed are those whose secondary keys sort far apart,
which the other rules (ID number, phone, health card) catch. Every pair remembers the first rule that
produced it, for the explanation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rhip.mpi.comparison import Record

DEFAULT_MAX_BLOCK = 100
DEFAULT_WINDOW = 10
_DEFAULT_SORT = ("ric", "phone", "id")


@dataclass(frozen=True)
class BlockingRule:
    """Records agreeing on every field of ``fields`` are candidates; ``unordered`` matches swapped values."""

    fields: tuple[str, ...]
    sort_on: tuple[str, ...] = _DEFAULT_SORT
    unordered: bool = False

    @property
    def name(self) -> str:
        """Readable form used in explanations: ``block_on(name_py, birth_date)``."""
        kind = "block_on_unordered" if self.unordered else "block_on"
        return f"{kind}({', '.join(self.fields)})"

    def key(self, record: Record) -> tuple[Any, ...] | None:
        """The blocking key of a record, or None if a field is missing."""
        values = tuple(record.get(f) for f in self.fields)
        if any(v is None or v == "" for v in values):
            return None
        if self.unordered:
            return tuple(sorted(str(v) for v in values))
        return values


def block_on(*fields: str, sort_on: Sequence[str] = _DEFAULT_SORT) -> BlockingRule:
    """A blocking rule on equal values of ``fields`` (Splink's ``block_on``)."""
    return BlockingRule(tuple(fields), tuple(sort_on))


def block_on_unordered(*fields: str) -> BlockingRule:
    """Like :func:`block_on` but also pairs records whose values are swapped (given name ↔ surname)."""
    return BlockingRule(tuple(fields), _DEFAULT_SORT, unordered=True)


@dataclass
class BlockingStats:
    """What blocking did: pairs per rule and the blocks that hit the cap (for the benchmark and logs)."""

    pairs_by_rule: dict[str, int] = field(default_factory=dict)
    capped_blocks: int = 0
    largest_block: int = 0


def _sort_key(fields: Sequence[str]) -> Callable[[tuple[int, Record]], tuple[str, ...]]:
    return lambda item: tuple(str(item[1].get(f) or "") for f in fields)


def _block_pairs(
    members: list[int], records: Sequence[Record], rule: BlockingRule, max_block: int, window: int
) -> Iterator[tuple[int, int]]:
    if len(members) <= max_block:
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                yield members[x], members[y]
        return
    ordered = sorted(((i, records[i]) for i in members), key=_sort_key(rule.sort_on))
    idx = [i for i, _ in ordered]
    for x in range(len(idx)):
        for y in range(x + 1, min(x + 1 + window, len(idx))):
            yield idx[x], idx[y]


def candidate_pairs(
    records: Sequence[Record],
    rules: Iterable[BlockingRule],
    *,
    max_block: int = DEFAULT_MAX_BLOCK,
    window: int = DEFAULT_WINDOW,
    allow: Callable[[int, int], bool] | None = None,
    stats: BlockingStats | None = None,
) -> dict[tuple[int, int], str]:
    """Candidate pairs ``(i, j)`` with ``i < j`` (indexes into ``records``) → name of the first rule.

    ``allow`` filters pairs (for example only pairs across two sources in a link-only job).
    """
    out: dict[tuple[int, int], str] = {}
    stats = stats if stats is not None else BlockingStats()
    for rule in rules:
        blocks: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for i, rec in enumerate(records):
            k = rule.key(rec)
            if k is not None:
                blocks[k].append(i)
        added = 0
        for members in blocks.values():
            if len(members) < 2:
                continue
            stats.largest_block = max(stats.largest_block, len(members))
            if len(members) > max_block:
                stats.capped_blocks += 1
            for i, j in _block_pairs(members, records, rule, max_block, window):
                pair = (i, j) if i < j else (j, i)
                if pair in out or (allow is not None and not allow(*pair)):
                    continue
                out[pair] = rule.name
                added += 1
        stats.pairs_by_rule[rule.name] = added
    return out
