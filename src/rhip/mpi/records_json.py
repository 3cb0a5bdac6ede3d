"""Match records as JSON text (stored with each registration, so candidates are not re-normalised).

A record is a ``dict`` of strings, booleans and, for ``identifiers`` and ``name_alts``, frozensets;
JSON has no sets, so those two are written as sorted lists and read back as frozensets.
"""

from __future__ import annotations

import json
from typing import Any

SET_FIELDS = ("identifiers", "name_alts")


def dumps(record: dict[str, Any]) -> str:
    """Compact JSON of a match record (sets sorted, so equal records give equal text)."""
    out = {k: (sorted(v) if isinstance(v, frozenset | set) else v) for k, v in record.items()}
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def loads(text: str) -> dict[str, Any]:
    """The record :func:`dumps` wrote (missing keys read as None by ``record.get``)."""
    record: dict[str, Any] = json.loads(text)
    for f in SET_FIELDS:
        if isinstance(record.get(f), list):
            record[f] = frozenset(record[f])
    return record
