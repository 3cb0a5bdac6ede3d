"""Rows of ``idx_uri``: ``(code, grp, value)``.

R4 search §uri (http://hl7.org/fhir/R4/search.html#uri): uri, url, canonical, oid and uuid values as
written. A canonical with a version (``http://x/ValueSet/v|1.0``) is also indexed without it, so
a search by the unversioned URL finds it (R4 §references "canonical" version matching).
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from rhip.fhir.search.compile import Item

__all__ = ["build"]

Rows = dict[str, list[tuple[Any, ...]]]


def build(code: str, grp: int, items: list[Item], rows: Rows, base_url: str | None, tz: tzinfo) -> None:
    """Append the uri rows of ``items`` to ``rows["uri"]``."""
    out = rows["uri"]
    for ftype, value in items:
        if isinstance(value, str) and value:
            out.append((code, grp, value))
            if ftype == "canonical" and "|" in value:
                out.append((code, grp, value.split("|", 1)[0]))
