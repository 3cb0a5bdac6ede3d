"""Blocking keys as stored: a signed 64-bit hash of (rule number, key values) and a sort value.

Both are keyed with a secret derived from the index key (decision 0019), so neither reveals the ID
numbers and phones most keys are made of, and neither changes when the SM4 keys rotate. The hash is
the index key of ``mpi_keys`` and, on PostgreSQL, the advisory-lock key that serialises writers of the
same block (two sources registering one resident at once). Hash collisions only add a candidate that
the comparison then rejects. The sort value is the rule's ``sort_on`` fields joined, for the sorted
neighbourhood of a capped block (see :mod:`rhip.mpi.blocking`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from rhip.mpi.spec import LinkSpec
from rhip.security.fields import derived_key

SORT_WIDTH = 96


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One blocking key of one record: rule number (position in ``spec.blocking_rules``), hash, sort."""

    rule: int
    kh: int
    sort: str


BLOCKING_PURPOSE = "rhip.mpi.blocking"
SEALED_SORT_FIELDS = frozenset({"ric", "ric_valid", "ric14", "phone", "health_card"})
"""Sort fields stored as a keyed hash: equal values stay adjacent, the numbers are not stored."""


def key_hash(rule: int, key: tuple[Any, ...]) -> int:
    """Signed 64-bit keyed BLAKE2b of the rule number and the key values.

    Keyed with a secret derived from the index key (decision 0019): most keys hold an ID number or a
    phone, whose unkeyed hash could be reversed by enumerating the small number space.
    """
    text = "\x1f".join([str(rule), *(str(v) for v in key)])
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=derived_key(BLOCKING_PURPOSE)).digest()
    return int.from_bytes(digest, "big", signed=True)


def _sort_part(name: str, value: Any) -> str:
    if not value:
        return ""
    if name in SEALED_SORT_FIELDS:
        mac = hashlib.blake2b(str(value).encode(), digest_size=8, key=derived_key(BLOCKING_PURPOSE))
        return mac.hexdigest()
    return str(value)


def record_keys(record: dict[str, Any], spec: LinkSpec) -> list[StoredKey]:
    """The keys of every blocking rule that applies to ``record`` (rules with a missing field do not)."""
    out = []
    sorts: dict[tuple[str, ...], str] = {}  # rules mostly share their sort fields: one keyed hash each
    for n, rule in enumerate(spec.blocking_rules):
        key = rule.key(record)
        if key is None:
            continue
        sort = sorts.get(rule.sort_on)
        if sort is None:
            sort = sorts[rule.sort_on] = "|".join(_sort_part(f, record.get(f)) for f in rule.sort_on)[:SORT_WIDTH]
        out.append(StoredKey(n, key_hash(n, key), sort))
    return out
