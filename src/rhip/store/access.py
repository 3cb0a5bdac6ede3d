"""Row-level access in SQL: a ``RowScope`` (rhip.security.policy) becomes one predicate on ``resources``.

The predicate is added to every search (so totals, ``_summary=count``, paging and chains only ever see
permitted rows), to included resources, history, ``$everything`` and single reads. Patient
membership follows the R4 Patient CompartmentDefinition exactly (type and parameter), read from
``idx_reference``; refusals and grants come from the tables of ``access_tables``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, literal, not_, or_, select, tuple_, union

from rhip.fhir.definitions import patient_compartment
from rhip.security.policy import RowScope, compartment_types
from rhip.store.access_tables import access_grants, consent_rules
from rhip.store.dialect import like_escape
from rhip.store.schema import idx_reference, idx_string, idx_token, resources


@cache
def compartment_pairs() -> tuple[tuple[str, str], ...]:
    """``(resource type, search parameter)`` pairs that place a resource in a patient's record."""
    return tuple(
        (r["code"], p) for r in patient_compartment().get("resource", []) for p in r.get("param", []) if r["code"]
    )


def _care_patients(org: str) -> Select[Any]:
    """Patients with a care relationship at ``org``: subject of an Encounter it provided, or managed by it."""
    enc, subj = idx_reference.alias("enc"), idx_reference.alias("subj")
    by_encounter = (
        select(subj.c.ref_id)
        .select_from(subj.join(enc, enc.c.rid == subj.c.rid))
        .where(
            enc.c.rtype == "Encounter",
            enc.c.code == "service-provider",
            enc.c.ref_type == "Organization",
            enc.c.ref_id == org,
            subj.c.rtype == "Encounter",
            subj.c.code == "subject",
            subj.c.ref_type == "Patient",
        )
    )
    managed = idx_reference.alias("managed")
    by_management = (
        select(resources.c.id)
        .select_from(resources.join(managed, managed.c.rid == resources.c.rid))
        .where(
            resources.c.rtype == "Patient",
            managed.c.rtype == "Patient",
            managed.c.code == "organization",
            managed.c.ref_type == "Organization",
            managed.c.ref_id == org,
        )
    )
    return union(by_encounter, by_management).subquery("care").select()


def _refused_patients(actor: str) -> Select[Any]:
    c = consent_rules.c
    return select(c.patient).where(c.actor.in_([actor, "*"]), c.category == "*")


def region_prefix(code: str) -> str:
    """The prefix all codes inside a GB/T 2260 division share: 330500 (a prefecture) → 3305."""
    code = code.strip()
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def _region_patients(region: str) -> Select[Any]:
    """Patients with an address division code inside ``region`` (the ``division`` string index)."""
    s = idx_string.c
    return (
        select(resources.c.id)
        .select_from(resources.join(idx_string, s.rid == resources.c.rid))
        .where(
            resources.c.rtype == "Patient",
            s.rtype == "Patient",
            s.code == "division",
            s.value.like(like_escape(region_prefix(region)) + "%", escape="\\"),
        )
    )


def _granted_patients(subject: str, now_ms: int) -> Select[Any]:
    g = access_grants.c
    return select(g.patient).where(g.subject == subject, g.expires > now_ms)


def patient_ids(scope: RowScope, now_ms: int) -> Select[Any] | None:
    """The visible patients as a selectable (None: nobody)."""
    parts: list[Select[Any]] = []
    if scope.patients:
        parts.append(select(resources.c.id).where(resources.c.rtype == "Patient", resources.c.id.in_(scope.patients)))
    if scope.care_organization:
        care = _care_patients(scope.care_organization)
        if scope.consent_actor:
            care = select(care.selected_columns[0]).where(
                care.selected_columns[0].not_in(_refused_patients(scope.consent_actor))
            )
        parts.append(care)
    if scope.region:
        parts.append(_region_patients(scope.region))
    if scope.grants_for:
        parts.append(_granted_patients(scope.grants_for, now_ms))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else union(*parts).subquery("visible").select()


def predicate(scope: RowScope, now_ms: int) -> ColumnElement[bool]:
    """True for the rows ``scope`` may read (types outside the Patient compartment are always open)."""
    r = resources.c
    open_types = r.rtype.not_in(sorted(compartment_types()))
    if not scope.clinical:
        return open_types
    visible = patient_ids(scope, now_ms)
    if visible is None:
        return open_types
    x = idx_reference.c
    in_record = or_(
        and_(r.rtype == "Patient", r.id.in_(visible)),
        r.rid.in_(
            select(x.rid).where(
                x.ref_type == "Patient",
                x.ref_id.in_(visible),
                tuple_(x.rtype, x.code).in_(compartment_pairs()),
            )
        ),
    )
    conditions: list[ColumnElement[bool]] = [in_record]
    if scope.hidden_labels:
        t = idx_token.c
        conditions.append(
            r.rid.not_in(select(t.rid).where(t.code == "_security", t.value.in_(sorted(scope.hidden_labels))))
        )
    if scope.consent_actor:
        granted = _granted_patients(scope.grants_for, now_ms) if scope.grants_for else None
        conditions.append(not_(r.rid.in_(_refused_rows(scope.consent_actor, granted))))
    return or_(open_types, and_(*conditions))


def _refused_rows(actor: str, granted: Select[Any] | None) -> Select[Any]:
    """Rows in a patient's record that a Consent refuses to ``actor`` by category: a resource type
    (``type:Observation``) or a security label (``label:PSY``). Break-glass (``granted``) overrides
    refusals, as an emergency must; it is flagged in the audit trail instead."""
    x, c, t = idx_reference.alias("rx"), consent_rules.c, idx_token.alias("rt")
    label = exists(
        select(literal(1)).where(
            t.c.rid == x.c.rid, t.c.code == "_security", (literal("label:") + t.c.value) == c.category
        )
    )
    stmt = (
        select(x.c.rid)
        .select_from(x.join(consent_rules, c.patient == x.c.ref_id))
        .where(
            x.c.ref_type == "Patient",
            c.actor.in_([actor, "*"]),
            c.category != "*",
            or_((literal("type:") + x.c.rtype) == c.category, label),
        )
    )
    return stmt if granted is None else stmt.where(c.patient.not_in(granted))
