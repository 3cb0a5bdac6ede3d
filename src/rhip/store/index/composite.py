"""Composite parameters, stored as grouped rows of their components' tables.

R4 search §composite (http://hl7.org/fhir/R4/search.html#composite): the composite's expression
gives items (``Observation``, each ``Observation.component``, ...); each component expression is
evaluated on an item (``code``, ``value.as(Quantity)``) and indexed under code
``<composite-code>$<i>`` in the table of the component definition's type. All rows of one item share
``grp`` (1, 2, ... per composite parameter and resource), so ``code-value-quantity=LOINC|8480-6$gt100``
is answered by a ``$0`` token row and a ``$1`` quantity row with the same ``(rid, grp)``. An item
with a component that yields nothing gets no rows and no group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from rhip.fhir.search.compile import Item, compile_typed
from rhip.fhir.search.params import SearchParam, SearchRegistry

__all__ = ["Component", "build", "components"]

Rows = dict[str, list[tuple[Any, ...]]]
Builder = Callable[[str, int, list[Item], Rows, "str | None", tzinfo], None]
Run = Callable[[list[Item], dict[str, Any]], list[Item]]


@dataclass(frozen=True, slots=True)
class Component:
    """One compiled component: its row code, expression and row builder."""

    code: str
    run: Run
    build: Builder


def components(param: SearchParam, registry: SearchRegistry, builders: dict[str, Builder]) -> tuple[Component, ...]:
    """Compile ``param``'s components against its item types (empty if one cannot be indexed)."""
    out = []
    for i, (definition, expression) in enumerate(param.components):
        target = registry.by_url(definition)
        builder = builders.get(target.type) if target is not None else None
        if builder is None or not param.result_types:
            return ()
        compiled = compile_typed(expression, param.result_types)
        out.append(Component(f"{param.code}${i}", compiled.run, builder))
    return tuple(out)


def build(
    items: list[Item],
    comps: tuple[Component, ...],
    root: dict[str, Any],
    rows: Rows,
    base_url: str | None,
    tz: tzinfo,
) -> None:
    """Append the grouped component rows of each composite item to ``rows``."""
    grp = 0
    last = len(comps) - 1
    for item in items:
        ctx = [item]
        values: list[list[Item]] = []
        for comp in reversed(comps):  # the value component (last) is the one most often absent
            got = comp.run(ctx, root)
            if not got:
                break
            values.append(got)
        else:
            grp += 1
            for i, comp in enumerate(comps):
                comp.build(comp.code, grp, values[last - i], rows, base_url, tz)
