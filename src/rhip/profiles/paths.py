"""Element paths of a profile (``Patient.address.extension:division.value[x]``) over resource JSON.

``select`` yields ``(expression, value)`` for every node a path reaches, with concrete JSON
expressions (``Patient.address[0].extension[1].valueCode``) as the structural validator writes them,
so an OperationOutcome points at the exact element.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rhip.profiles.model import Step

Node = tuple[str, Any]


def children(node: Node, step: Step) -> list[Node]:
    """The values of one step below one node (lists flattened, slices filtered by extension url)."""
    expr, value = node
    if not isinstance(value, dict):
        return []
    out: list[Node] = []
    if step.choice:
        n = len(step.name)
        for key, v in value.items():
            if key.startswith(step.name) and len(key) > n and key[n].isupper():
                out += _expand(f"{expr}.{key}", v, None)
        return out
    v = value.get(step.name)
    if v is None:
        return out
    return _expand(f"{expr}.{step.name}", v, step.url)


def _expand(expr: str, value: Any, url: str | None) -> list[Node]:
    if isinstance(value, list):
        return [
            (f"{expr}[{i}]", item)
            for i, item in enumerate(value)
            if url is None or (isinstance(item, dict) and item.get("url") == url)
        ]
    if url is not None and not (isinstance(value, dict) and value.get("url") == url):
        return []
    return [(expr, value)]


def select(steps: Sequence[Step], root: Node) -> list[Node]:
    """Every node reached by ``steps`` from ``root``."""
    nodes = [root]
    for step in steps:
        nxt: list[Node] = []
        for node in nodes:
            nxt += children(node, step)
        nodes = nxt
        if not nodes:
            break
    return nodes


def parse(element_id: str, slices: dict[str, str]) -> tuple[str, list[Step]]:
    """``(resource type, steps)`` for an ElementDefinition id; ``slices`` maps slice ids to urls."""
    parts = element_id.split(".")
    steps: list[Step] = []
    prefix = parts[0]
    for part in parts[1:]:
        prefix = f"{prefix}.{part}"
        name, _, slice_name = part.partition(":")
        choice = name.endswith("[x]")
        if choice:
            name = name[:-3]
        url = None
        if slice_name:
            url = slices.get(prefix)
            if url is None:
                raise ValueError(f"slice {prefix} has no type.profile url")
        steps.append(Step(name, choice, url))
    return parts[0], steps
