"""Audit records (WS/T 790.4 安全审计服务): what one request did, as a FHIR R4 AuditEvent, and the keyed
SM3 hash chain that makes deletion or alteration of any entry detectable (decision 0013).

Domain code only: the repository collects a ``Collector`` per unit of work and the store appends the
finished ``AuditRecord`` in sequence; ``link`` and ``render`` are the only places that define the
chain and the stored form, so ``rhip audit verify`` recomputes exactly what was written.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

from rhip.canonical import CANONICAL
from rhip.fhir import json as fjson
from rhip.security.context import RequestContext
from rhip.security.fields import mask_query
from rhip.security.keyfiles import key_file

_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_RESTFUL = frozenset(
    [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history",
        "history-instance",
        "history-type",
        "history-system",
        "create",
        "search",
        "search-type",
        "search-system",
        "capabilities",
        "transaction",
        "batch",
        "operation",
    ]
)
GENESIS = "0" * 64
"""``prev`` of the first entry."""
MAX_ENTITIES = 200
"""Entities listed per event (the rest are counted); patients are always listed in full."""
_PATIENT_REF = re.compile(r'"reference"\s*:\s*"(?:[^"]*/)?Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^"]*)?"')

_ACTION_OF = {
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "search-type": "E",
    "search-system": "E",
    "login": "E",
    "export": "E",
}


def load_key(configured: str, data_dir: Path) -> bytes:
    """The configured chain key, or a random one kept in ``<data_dir>/audit.key`` (created on first use).

    Keep it outside the database and back it up with the keys of ``rhip.security.crypto``: without it
    the chain can no longer be verified; with it and database access, the chain could be rewritten.
    """
    if configured:
        return configured.encode()
    return bytes.fromhex(key_file(data_dir, "audit.key", lambda: secrets.token_hex(32)))


def patients_in(rtype: str, id: str | None, content: str | None) -> set[str]:
    """Residents whose data a resource is: the Patient itself, or every Patient it references.

    Over-inclusive on purpose (a resource naming a patient as performer counts too): a resident's
    "who accessed my record" view must never miss an access. A regex over the stored JSON text is used
    because it costs microseconds, where parsing every search result would not.
    """
    found = set(_PATIENT_REF.findall(content)) if content else set()
    if rtype == "Patient" and id:
        found.add(id)
    return found


@dataclass(slots=True)
class Collector:
    """What one unit of work touched, gathered as it runs."""

    interactions: list[str] = field(default_factory=list)
    entities: dict[str, str] = field(default_factory=dict)
    """``Type/id`` → interaction, in first-touched order."""
    patients: set[str] = field(default_factory=set)
    queries: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    """Facts the event must carry whatever the outcome (e.g. a break-glass reason)."""

    def note(self, interaction: str, rtype: str | None, id: str | None = None, content: str | None = None) -> None:
        if interaction not in self.interactions:
            self.interactions.append(interaction)
        if rtype and id:
            self.entities.setdefault(f"{rtype}/{id}", interaction)
            self.patients |= patients_in(rtype, id, content)

    def query(self, interaction: str, text: str) -> None:
        if interaction not in self.interactions:
            self.interactions.append(interaction)
        if len(self.queries) < 20:
            self.queries.append(mask_query(text)[:2000])

    def deny(self, what: str) -> None:
        self.denied.append(what)

    def remark(self, text: str) -> None:
        self.remarks.append(text[:500])

    @property
    def empty(self) -> bool:
        return not (self.interactions or self.denied)


@dataclass(slots=True)
class AuditRecord:
    """One finished event, ready to be appended to the chain."""

    ts: int
    kind: str
    """``rest`` (FHIR interactions), ``login``, ``export``, ``import``."""
    action: str
    outcome: str
    """FHIR AuditEventOutcome: 0 success, 4 minor failure (client error, denied), 8 serious failure."""
    ctx: RequestContext
    subtypes: list[str]
    entities: dict[str, str]
    patients: list[str]
    queries: list[str] = field(default_factory=list)
    description: str = ""
    unlisted: int = 0
    """Resources touched beyond those in ``entities`` (a staged record keeps only what ``render`` lists)."""


def record_from(
    collector: Collector, ctx: RequestContext, ts: int, outcome: str, description: str, kind: str = "rest"
) -> AuditRecord:
    """The event for one unit of work (one request, one transaction), or a ``login``/``export``/…"""
    actions = {_ACTION_OF.get(i, "E") for i in collector.interactions}
    action = actions.pop() if len(actions) == 1 else "E"
    if collector.denied and not collector.interactions:
        action = "E"
    return AuditRecord(
        ts,
        kind,
        action,
        outcome,
        ctx,
        collector.interactions or ["authorization"],
        collector.entities,
        sorted(collector.patients),
        collector.queries,
        "; ".join(
            [*collector.remarks, *(f"denied: {d}" for d in collector.denied), *([description] if description else [])]
        ),
    )


_CTX_FIELDS = ("subject", "kind", "role", "organization", "purpose", "request_id")
"""The parts of a RequestContext an event renders (``render``): all a staged event keeps of it."""


def encode_record(rec: AuditRecord) -> str:
    """A record as JSON text, to be rendered and chained later (``decode_record``; decision 0025). Only the
    resources ``render`` lists are kept, with a count of the others: a page of 1,000 rows stages 200."""
    ctx = {k: getattr(rec.ctx, k) for k in _CTX_FIELDS if getattr(rec.ctx, k) is not None}
    listed = _listed(rec)
    entities = {ref: rec.entities[ref] for ref in listed[:MAX_ENTITIES]}
    unlisted = rec.unlisted + max(0, len(listed) - MAX_ENTITIES)
    data = [rec.ts, rec.kind, rec.action, rec.outcome, ctx, rec.subtypes, entities, rec.patients]
    return fjson.dumps([*data, rec.queries, rec.description, unlisted]).decode()


def decode_record(text: str) -> AuditRecord:
    """The record ``encode_record`` wrote; it renders to the same event. (Records staged before the count
    of unlisted resources existed have ten fields and every resource.)"""
    ts, kind, action, outcome, ctx, subtypes, entities, patients, queries, description, *rest = fjson.loads(text)
    unlisted = int(rest[0]) if rest else 0
    return AuditRecord(
        ts, kind, action, outcome, RequestContext(**ctx), subtypes, entities, patients, queries, description, unlisted
    )


def _listed(rec: AuditRecord) -> list[str]:
    """The resources an event lists one by one: all but the patients it names as such."""
    named = set(rec.patients)
    return [ref for ref in rec.entities if not (ref.startswith("Patient/") and ref[8:] in named)]


def outcome_for(status: int | None) -> str:
    """AuditEvent outcome for an HTTP-like status (None = success)."""
    if status is None or status < 400:
        return "0"
    return "4" if status < 500 else "8"


def _instant(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(seq: int, rec: AuditRecord) -> str:
    """The stored (and hashed) JSON text of an event: a valid FHIR R4 AuditEvent."""
    ctx = rec.ctx
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser" if ctx.kind == "user" else "dataprocessor",
                }
            ]
        },
        "who": {"identifier": {"system": f"{CANONICAL}/sid/{ctx.kind}", "value": ctx.subject}},
        "requestor": True,
    }
    if ctx.role:
        agent["role"] = [{"text": ctx.role}]
    if ctx.organization:
        agent["location"] = {"display": ctx.organization}
    if ctx.purpose:
        agent["purposeOfUse"] = [{"text": ctx.purpose}]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(seq),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {
                "system": "http://hl7.org/fhir/restful-interaction"
                if s in _RESTFUL
                else f"{CANONICAL}/CodeSystem/audit-kind",
                "code": s,
            }
            for s in rec.subtypes
        ],
        "action": rec.action,
        "recorded": _instant(rec.ts),
        "outcome": rec.outcome,
        "agent": [agent],
        "source": {"site": "rhip", "observer": {"display": "rhip platform node"}},
    }
    if rec.kind == "login":
        event["type"] = {"system": _DCM, "code": "110114", "display": "User Authentication"}
        event["subtype"] = [{"system": _DCM, "code": "110122", "display": "Login"}]
    elif rec.kind != "rest":
        event["type"] = {"system": f"{CANONICAL}/CodeSystem/audit-kind", "code": rec.kind}
        event["subtype"] = [{"system": f"{CANONICAL}/CodeSystem/audit-kind", "code": s} for s in rec.subtypes]
    if rec.description:
        event["outcomeDesc"] = rec.description[:1000]
    if ctx.request_id:
        event["extension"] = [{"url": f"{CANONICAL}/StructureDefinition/request-id", "valueString": ctx.request_id}]
    entities: list[dict[str, Any]] = [
        {"what": {"reference": f"Patient/{p}"}, "role": _role("1", "Patient")} for p in rec.patients
    ]
    listed = _listed(rec)
    for ref in listed[:MAX_ENTITIES]:
        entities.append({"what": {"reference": ref}, "role": _role("4", "Domain Resource")})
    unlisted = rec.unlisted + max(0, len(listed) - MAX_ENTITIES)
    if unlisted:
        entities.append({"description": f"{unlisted} more resources not listed"})
    for q in rec.queries:
        entities.append({"type": _role("2", "System Object"), "query": _b64(q)})
    if entities:
        event["entity"] = entities
    return fjson.dumps(event).decode()


def _role(code: str, display: str) -> dict[str, str]:
    return {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": code, "display": display}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    """The HMAC-SM3 state after the key (copied per entry: the key schedule is done once)."""
    return hmac.HMAC(key, hashes.SM3())


def link(key: bytes, prev: str, seq: int, content: str) -> str:
    """The chain: HMAC-SM3(key, prev | seq | content). Keyed, so rewriting the whole chain needs the
    key, which lives outside the database (``<data_dir>/audit.key`` or ``RHIP_AUDIT_KEY``)."""
    h = _keyed(key).copy()
    h.update(f"{prev}|{seq}|".encode())
    h.update(content.encode())
    return h.finalize().hex()


def patients_of(content: str) -> list[str]:
    """The patient entities of a stored event (role 1), to cross-check the ``audit_patients`` index."""
    event = fjson.loads(content)
    return sorted(
        e["what"]["reference"][8:]
        for e in event.get("entity") or ()
        if e.get("role", {}).get("code") == "1" and "what" in e
    )
