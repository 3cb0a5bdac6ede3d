"""Row-level access in SQL: a ``RowScope`` (rhip.security.policy) becomes one predicate on ``resources``.

The predicate is added to every search (so totals, ``_summary=count``, paging and chains only ever see
permitted rows), to included resources, history, ``$everything`` and single reads. Patient
membership follows the R4 Patient CompartmentDefinition exactly (type and parameter), read from
``idx_reference``; refusals and grants come from the tables of ``access_tables``.

Every test is a correlated ``EXISTS`` on the candidate row and its patient, answered by the
``(rid, code)`` and ``(ref_type, ref_id, rtype, code)`` indexes: the cost grows with the rows a query
returns, not with how many patients a clinician's hospital has treated. When the query's resource
types are known, only their compartment parameters are tested.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, bindparam, exists, false, literal, not_, or_, select, true

from rhip.fhir.definitions import compartment_params
from rhip.mpi.tables import mpi_registrations
from rhip.security.policy import RowScope, compartment_types
from rhip.store.access_tables import access_grants, care_links, consent_rules
from rhip.store.dialect import like_escape
from rhip.store.schema import idx_reference, idx_string, idx_token, resources


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_NOW = bindparam("rhip_access_now", callable_=_now_ms, type_=BigInteger)
"""Evaluated at each execution, so a cached predicate never uses a stale clock for grant expiry."""


def region_prefix(code: str) -> str:
    """The prefix all codes inside a GB/T 2260 division share: 330500 (a prefecture) → 3305."""
    code = code.strip()
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def _patient_visible(scope: RowScope, patient: Any) -> ColumnElement[bool]:
    """Whether the patient with id ``patient`` (a correlated column) is inside ``scope``."""
    ways: list[ColumnElement[bool]] = []
    if scope.patients:
        # A resident's records include every registration the master person index links to the same
        # person (the hospitals' own Patient records of them), not only the ones named in the account.
        own, same = mpi_registrations.alias("own"), mpi_registrations.alias("same")
        linked = exists(
            select(literal(1))
            .select_from(own.join(same, same.c.person == own.c.person))
            .where(own.c.id.in_(sorted(scope.patients)), own.c.person > 0, same.c.id == patient)
        )
        ways.append(or_(patient.in_(sorted(scope.patients)), linked))
    if scope.care_organization:
        cl = care_links.alias("cl")
        care: ColumnElement[bool] = exists(
            select(literal(1)).where(cl.c.patient == patient, cl.c.organization == scope.care_organization)
        )
        if scope.consent_actor:
            c = consent_rules.alias("whole")
            refused = exists(
                select(literal(1)).where(
                    c.c.patient == patient, c.c.actor.in_([scope.consent_actor, "*"]), c.c.category == "*"
                )
            )
            care = and_(care, not_(refused))
        ways.append(care)
    if scope.region:
        s = idx_string.alias("division")
        pat2 = resources.alias("pat2")
        ways.append(
            exists(
                select(literal(1))
                .select_from(pat2.join(s, s.c.rid == pat2.c.rid))
                .where(
                    pat2.c.rtype == "Patient",
                    pat2.c.id == patient,
                    s.c.code == "division",
                    s.c.value.like(like_escape(region_prefix(scope.region)) + "%", escape="\\"),
                )
            )
        )
    if scope.grants_for:
        ways.append(_granted(scope.grants_for, patient))
    return or_(*ways) if ways else false()


def _granted(subject: str, patient: Any) -> ColumnElement[bool]:
    g = access_grants.alias("grant")
    return exists(select(literal(1)).where(g.c.subject == subject, g.c.patient == patient, g.c.expires > _NOW))


def _member_codes(types: Iterable[str]) -> ColumnElement[bool]:
    """``idx_reference`` rows (alias ``m``) that make the candidate row part of a patient's record."""
    params = compartment_params()
    conds = []
    for t in sorted(set(types)):
        if params.get(t):
            conds.append(and_(_m.c.rtype == t, _m.c.code.in_(params[t])))
    return or_(*conds) if conds else false()


_m = idx_reference.alias("m")


def predicate(scope: RowScope, types: Iterable[str] | None = None) -> ColumnElement[bool]:
    """True for the rows ``scope`` may read. ``types``: the resource types the query can return (None:
    any); types outside the Patient compartment are always open. Built once per (scope, types) and
    reused: constructing the expression costs far more than executing it."""
    return _predicate(scope, None if types is None else frozenset(types))


@lru_cache(maxsize=4096)
def _predicate(scope: RowScope, types: frozenset[str] | None) -> ColumnElement[bool]:
    r = resources.c
    ctypes = compartment_types()
    wanted = set(types) if types is not None else None
    record_types = sorted(ctypes if wanted is None else wanted & ctypes)
    has_open = wanted is None or bool(wanted - ctypes)
    open_part = r.rtype.not_in(sorted(ctypes))
    if not record_types or not scope.clinical:
        return open_part if has_open else false()
    in_record: ColumnElement[bool] = exists(
        select(literal(1)).where(
            _m.c.rid == r.rid,
            _m.c.ref_type == "Patient",
            _member_codes(record_types),
            _patient_visible(scope, _m.c.ref_id),
        )
    )
    if "Patient" in record_types:
        in_record = or_(and_(r.rtype == "Patient", _patient_visible(scope, r.id)), in_record)
    conditions: list[ColumnElement[bool]] = [in_record]
    if scope.hidden_labels:
        t = idx_token.alias("label")
        conditions.append(
            not_(
                exists(
                    select(literal(1)).where(
                        t.c.rid == r.rid, t.c.code == "_security", t.c.value.in_(sorted(scope.hidden_labels))
                    )
                )
            )
        )
    if scope.consent_actor:
        conditions.append(not_(_refused_category(scope)))
    combined = and_(*conditions)
    return or_(open_part, combined) if has_open else combined


def _refused_category(scope: RowScope) -> ColumnElement[bool]:
    """The row falls in a category (``type:<ResourceType>`` or ``label:<code>``) that a Consent of its
    patient refuses to ``scope.consent_actor``. Break-glass grants override refusals (an emergency must;
    the access is flagged in the audit trail instead)."""
    r = resources.c
    x, c, t = idx_reference.alias("rx"), consent_rules.alias("cat"), idx_token.alias("rt")
    labelled = (literal("label:") + t.c.value) == c.c.category
    label = exists(select(literal(1)).where(t.c.rid == x.c.rid, t.c.code == "_security", labelled))
    override = _granted(scope.grants_for, c.c.patient) if scope.grants_for else false()
    return exists(
        select(literal(1))
        .select_from(x.join(c, c.c.patient == x.c.ref_id))
        .where(
            x.c.rid == r.rid,
            x.c.ref_type == "Patient",
            c.c.actor.in_([scope.consent_actor or "*", "*"]),
            c.c.category != "*",
            or_((literal("type:") + r.rtype) == c.c.category, label),
            not_(override) if scope.grants_for else true(),
        )
    )
