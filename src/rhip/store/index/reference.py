"""Rows of ``idx_reference``: ``(code, grp, ref_type | None, ref_id | None, url | None)``.

R4 search §reference (http://hl7.org/fhir/R4/search.html#reference) and §references
(http://hl7.org/fhir/R4/references.html):

- ``Type/id`` and ``Type/id/_history/v`` are local: ``(Type, id, None)`` (a version-specific
  reference matches the resource); so is an absolute URL under this server's ``base_url``;
- another absolute URL: ``(Type, None, url)`` when it ends in ``Type/id`` (``/_history/v`` removed,
  so ``subject=<url>`` finds it), else ``(None, None, url)``;
- a canonical (or uri) used as reference target: ``(None, None, url without |version)``;
- ``urn:uuid:`` / ``urn:oid:``: ``(None, None, urn)`` (the store rewrites ``urn:uuid`` references of
  a transaction before indexing, so only unresolvable ones remain);
- ``#contained`` references are not indexed (R4 §search "contained resources" are not searchable).
- ``Reference.identifier`` gives token rows ``<code>:identifier`` (R4 §reference ``:identifier``).
- A Resource value (``Bundle.entry[0].resource`` of Bundle ``composition``/``message``) is indexed
  as ``(resourceType, id, None)`` when it has an id, for chaining.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from typing import Any

from rhip.fhir.search.compile import Item, resource_types
from rhip.security.fields import blind, sensitive_system

__all__ = ["build", "parse_reference"]

Rows = dict[str, list[tuple[Any, ...]]]
_LOCAL = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?")
_TAIL = re.compile(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")
_TYPES = resource_types()
_URIS = frozenset({"canonical", "uri", "url"})


def parse_reference(ref: str, base_url: str | None) -> tuple[str | None, str | None, str | None] | None:
    """``(ref_type, ref_id, url)`` of a reference string, or None for ``#contained``/empty ones."""
    if not ref or ref[0] == "#":
        return None
    if "://" not in ref:
        m = _LOCAL.fullmatch(ref)
        if m and m.group(1) in _TYPES:
            return m.group(1), m.group(2), None
        return None, None, ref
    if base_url and ref.startswith(base_url) and ref[len(base_url) : len(base_url) + 1] == "/":
        local = parse_reference(ref[len(base_url) + 1 :], None)
        if local is not None and local[1] is not None:
            return local
    m = _TAIL.search(ref)
    if m and m.group(1) in _TYPES:
        return m.group(1), None, ref[: m.start(3)] if m.group(3) else ref
    return None, None, ref


def build(code: str, grp: int, items: list[Item], rows: Rows, base_url: str | None, tz: tzinfo) -> None:
    """Append the reference rows of ``items`` to ``rows["reference"]`` (identifiers to ``token``)."""
    out = rows["reference"]
    for ftype, value in items:
        if ftype == "Reference" and isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str):
                parsed = parse_reference(ref, base_url)
                if parsed is not None:
                    out.append((code, grp, *parsed))
            ident = value.get("identifier")
            if isinstance(ident, dict) and ident.get("value") is not None:
                system, ivalue = ident.get("system"), ident["value"]
                if isinstance(system, str) and isinstance(ivalue, str) and sensitive_system(system):
                    ivalue = blind(ivalue)  # an ID number naming the subject (decision 0019)
                rows["token"].append((code + ":identifier", grp, system, ivalue, None))
        elif ftype in _URIS and isinstance(value, str) and value:
            out.append((code, grp, None, None, value.split("|", 1)[0]))
        elif isinstance(value, dict) and isinstance(value.get("resourceType"), str) and value.get("id"):
            out.append((code, grp, value["resourceType"], value["id"], None))
