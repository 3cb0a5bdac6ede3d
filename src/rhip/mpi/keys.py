"""Blocking keys as stored: a signed 64-bit hash of (rule number, key values) and a sort value.

The hash is the index key of ``mpi_keys`` and, on PostgreSQL, the advisory-lock key that serialises
writers of the same block (two sources registering one resident at once). Hash collisions only add
a candidate that the comparison then rejects. The sort value is the rule's ``sort_on`` fields joined,
for the sorted neighbourhood of a capped block (see :mod:`rhip.mpi.blocking`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from rhip.mpi.spec import LinkSpec

SORT_WIDTH = 96


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One blocking key of one record: rule number (position in ``spec.blocking_rules``), hash, sort."""

    rule: int
    kh: int
    sort: str


def key_hash(rule: int, key: tuple[Any, ...]) -> int:
    """Signed 64-bit BLAKE2b hash of the rule number and the key values."""
    text = "\x1f".join([str(rule), *(str(v) for v in key)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def record_keys(record: dict[str, Any], spec: LinkSpec) -> list[StoredKey]:
    """The keys of every blocking rule that applies to ``record`` (rules with a missing field do not)."""
    out = []
    for n, rule in enumerate(spec.blocking_rules):
        key = rule.key(record)
        if key is None:
            continue
        sort = "|".join(str(record.get(f) or "") for f in rule.sort_on)[:SORT_WIDTH]
        out.append(StoredKey(n, key_hash(n, key), sort))
    return out
