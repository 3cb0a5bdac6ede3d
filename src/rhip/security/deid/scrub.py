"""Scrub one non-Patient resource: direct identifiers and free text out, references and dates rewritten.

The walk is typed by the R4 definitions (``rhip.fhir.model.element_type``), so a date is shifted because
the element *is* a date/dateTime/instant (never because a string looks like one) and a data type is
recognised wherever it occurs: inside backbone elements, extensions and contained resources.

Removed wherever they occur:
- data types that identify or carry free text: Identifier, HumanName, ContactPoint, Address, Attachment
  (photos, scanned documents), Annotation (notes with author names), Signature, Narrative (``text``), and
  every ``markdown`` element (descriptions, instructions);
- free-text strings: ``description``, ``comment``, ``patientInstruction``, ``contentString``
  (Communication payloads: report-card texts quote true dates) and ``valueString`` (free-text results and
  extension values); names and aliases (``name`` holds a household's or a village clinic's name);
  ``position`` (coordinates); ``birthDate`` (of relatives and staff; only the Patient's is released,
  generalised); ``Reference.display`` and ``Reference.identifier``; ``_x`` primitive extensions;
- elements and extensions left empty by the above, and elements the definitions do not know.

References to resources that are not exported are removed (so every kept reference resolves in the
export); references to other servers are removed; ``#local`` and ``urn:uuid:``/``urn:oid:`` are kept.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

from rhip.fhir.model import element_type
from rhip.security.deid.dates import shift_date
from rhip.security.deid.keys import Keys

__all__ = ["Scrubber", "patient_refs", "reduce_meta"]

DROP_TYPES = frozenset(
    {"Identifier", "HumanName", "ContactPoint", "Address", "Attachment", "Annotation", "Signature", "Narrative"}
)
DROP_PRIMITIVES = frozenset({"markdown", "xhtml", "base64Binary"})
DROP_KEYS = frozenset(
    {
        "description",
        "comment",
        "patientInstruction",
        "contentString",
        "valueString",
        "name",
        "alias",
        "position",
        "birthDate",
    }
)
DATE_TYPES = frozenset({"date", "dateTime", "instant"})
_BACKBONE = frozenset({"BackboneElement", "Element"})
_DROP = object()


_REFERENCE = re.compile(r'"reference"\s*:\s*"((?:[^"\\]|\\.)*)"')


def patient_refs(content: str, base_url: str | None = None) -> set[str]:
    """Ids of the Patients a resource's JSON text refers to anywhere (contained resources included).

    Read from the text without parsing it: the second pass only needs to know whose resource it is.
    """
    found: set[str] = set()
    for raw in _REFERENCE.findall(content):
        ref = json.loads(f'"{raw}"') if "\\" in raw else raw
        local = _local(ref, base_url)
        if local is not None and local[0] == "Patient":
            found.add(local[1])
    return found


def _local(ref: str, base_url: str | None) -> tuple[str, str] | None:
    """(type, id) of a reference to this server, else None (contained, urn, or another server)."""
    if base_url and ref.startswith(base_url + "/"):
        ref = ref[len(base_url) + 1 :]
    elif "://" in ref or ref.startswith(("#", "urn:")):
        return None
    parts = ref.split("/")
    if len(parts) in (2, 4) and parts[0][:1].isupper() and parts[1] and (len(parts) == 2 or parts[2] == "_history"):
        return parts[0], parts[1]
    return None


def reduce_meta(meta: Any, offset: int | None) -> dict[str, Any]:
    """``meta`` reduced to the profiles and lastUpdated (shifted with the person's dates)."""
    if not isinstance(meta, dict):
        return {}
    out: dict[str, Any] = {}
    if isinstance(meta.get("profile"), list) and meta["profile"]:
        out["profile"] = meta["profile"]
    updated = meta.get("lastUpdated")
    if isinstance(updated, str):
        with contextlib.suppress(ValueError):  # an unreadable lastUpdated is left out
            out["lastUpdated"] = shift_date(updated, offset) if offset else updated
    return out


class Scrubber:
    """Scrubs resources for one export: ``exported(type, id)`` says which references may stay."""

    def __init__(self, keys: Keys, exported: Callable[[str, str], bool], base_url: str | None = None) -> None:
        self.keys = keys
        self.exported = exported
        self.base_url = base_url

    def resource(self, res: dict[str, Any], offset: int | None, *, inline: bool = False) -> dict[str, Any]:
        """The scrubbed copy; ``offset`` shifts dates (None: a resource of no person keeps its dates)."""
        rtype = str(res.get("resourceType"))
        out: dict[str, Any] = {"resourceType": rtype}
        if isinstance(res.get("id"), str):
            out["id"] = res["id"] if inline else self.keys.resource_id(rtype, res["id"])
        meta = reduce_meta(res.get("meta"), offset)
        if meta:
            out["meta"] = meta
        body = self._object(
            {k: v for k, v in res.items() if k not in ("resourceType", "id", "meta")}, rtype, "", offset
        )
        out.update(body or {})
        return out

    def reference(self, ref: dict[str, Any]) -> dict[str, Any] | None:
        target = ref.get("reference")
        if not isinstance(target, str):
            return None
        if target.startswith(("#", "urn:uuid:", "urn:oid:")):
            new = target
        else:
            local = _local(target, self.base_url)
            if local is None or not self.exported(*local):
                return None
            new = f"{local[0]}/{self.keys.resource_id(*local)}"
        out: dict[str, Any] = {"reference": new}
        if isinstance(ref.get("type"), str):
            out["type"] = ref["type"]
        return out

    def _object(self, obj: dict[str, Any], tname: str, path: str, offset: int | None) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key.startswith("_") or key in DROP_KEYS:
                continue
            rel = f"{path}.{key}" if path else key
            types = element_type(tname, rel)
            if not types or types[0] in DROP_TYPES or types[0] in DROP_PRIMITIVES:
                continue
            if isinstance(value, list):
                items = [v for v in (self._value(x, types[0], tname, rel, offset) for x in value) if v is not _DROP]
                if items:
                    out[key] = items
            else:
                kept = self._value(value, types[0], tname, rel, offset)
                if kept is not _DROP:
                    out[key] = kept
        if tname == "Extension" and not path and not any(k.startswith("value") or k == "extension" for k in out):
            return None
        return out or None

    def _value(self, value: Any, t: str, tname: str, rel: str, offset: int | None) -> Any:
        if isinstance(value, dict):
            if t == "Reference":
                found: Any = self.reference(value)
            elif t == "Resource":
                found = self.resource(value, offset, inline=True)
            elif t in _BACKBONE:
                found = self._object(value, tname, rel, offset)
            else:
                found = self._object(value, t, "", offset)
            return _DROP if found is None else found
        if t in DATE_TYPES and isinstance(value, str) and offset:
            try:
                return shift_date(value, offset)
            except ValueError:
                return _DROP
        return value
