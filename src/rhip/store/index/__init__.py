"""Search-index row builders, one module per index table (see rhip.store.schema).

``index_rows(resource)`` computes the rows of every search parameter the R4 specification defines
for the resource's type (http://hl7.org/fhir/R4/search.html), keyed by index type, as tuples laid
out like the ``idx_<type>`` tables minus ``rid`` and ``rtype``:

- ``string``: ``(code, grp, value_normalized, exact)``
- ``token``: ``(code, grp, system, value, text_normalized)``
- ``reference``: ``(code, grp, ref_type, ref_id, url)``
- ``date``: ``(code, grp, low_ms, high_ms)``
- ``number``: ``(code, grp, value, low, high)``
- ``quantity``: ``(code, grp, system, unit, value, low, high)``
- ``uri``: ``(code, grp, value)``

Composite parameters are stored as grouped component rows in these tables (``composite``).
``_id`` and ``_lastUpdated`` are columns of ``resources`` and get no rows; parameters without an
expression (``_text``, ``_content``, ``_query``) and SampledData values are not indexed.
The per-type plan (code, compiled extractor, row builder) is computed once per registry and type.
"""

from __future__ import annotations

import logging
from datetime import timedelta, timezone, tzinfo
from typing import Any

from rhip.fhir.search.compile import Item
from rhip.fhir.search.params import SearchRegistry
from rhip.fhir.search.params import registry as default_registry
from rhip.store.index import composite, date, number, quantity, reference, string, token, uri
from rhip.store.index.composite import Builder, Component, Run

__all__ = ["INDEX_TYPES", "index_rows"]

log = logging.getLogger(__name__)

INDEX_TYPES = ("string", "token", "reference", "date", "number", "quantity", "uri")
SKIPPED = frozenset({"_id", "_lastUpdated"})
DEFAULT_TZ = timezone(timedelta(hours=8))
BUILDERS: dict[str, Builder] = {
    "string": string.build,
    "token": token.build,
    "reference": reference.build,
    "date": date.build,
    "number": number.build,
    "quantity": quantity.build,
    "uri": uri.build,
}

# (code, compiled expression, row builder | None for a composite, composite components | None)
_Step = tuple[str, Run, Builder | None, tuple[Component, ...] | None]
_plans: dict[tuple[int, str], tuple[SearchRegistry, tuple[_Step, ...]]] = {}


def _plan(reg: SearchRegistry, rtype: str) -> tuple[_Step, ...]:
    key = (id(reg), rtype)
    cached = _plans.get(key)
    if cached is not None and cached[0] is reg:
        return cached[1]
    steps: list[_Step] = []
    for code, param in reg.for_type(rtype).items():
        compiled = param.compiled
        if code in SKIPPED or compiled is None:
            continue
        if param.type == "composite":
            comps = composite.components(param, reg, BUILDERS)
            if comps:
                steps.append((code, compiled.run, None, comps))
        elif param.type == "special":
            if code == "near":
                steps.append((code, compiled.run, number.build_near, None))
        elif param.type in BUILDERS:
            steps.append((code, compiled.run, BUILDERS[param.type], None))
    plan = tuple(steps)
    _plans[key] = (reg, plan)
    return plan


def index_rows(
    resource: dict[str, Any],
    *,
    base_url: str | None = None,
    tz: tzinfo = DEFAULT_TZ,
    registry: SearchRegistry | None = None,
) -> dict[str, list[tuple[Any, ...]]]:
    """The deduplicated search-index rows of ``resource`` by index type (all seven keys present).

    ``base_url`` (this server's FHIR base) makes absolute references to it local; ``tz`` is the
    time zone of dates and dateTimes written without an offset.
    """
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in INDEX_TYPES}
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return rows
    base = base_url.rstrip("/") if base_url else None
    ctx: list[Item] = [(rtype, resource)]
    for code, run, build, comps in _plan(registry or default_registry(), rtype):
        try:
            items = run(ctx, resource)
            if not items:
                continue
            if build is not None:
                build(code, 0, items, rows, base, tz)
            elif comps is not None:
                composite.build(items, comps, resource, rows, base, tz)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # Malformed content that validation let through: index what can be indexed.
            log.debug("cannot index %s.%s: %r", rtype, code, exc)
    return {t: list(dict.fromkeys(r)) if len(r) > 1 else r for t, r in rows.items()}
