"""Row-level access in SQL: a ``RowScope`` (rhip.security.policy) becomes one predicate on ``resources``.

The predicate is added to every search (so totals, ``_summary=count``, paging and chains only ever see
permitted rows), to included resources, history, ``$everything`` and single reads. Patient
membership follows the R4 Patient CompartmentDefinition exactly (type and parameter), read from
``idx_reference``; refusals and grants come from the tables of ``access_tables``.

The shape (decision 0016) is chosen for PostgreSQL's planner as much as for its executor, since
every search is planned afresh (``plan_cache_mode = force_custom_plan``, see
``dialect.engine_options``):

- the row's membership (``idx_reference`` rows of the compartment parameters) is the one join the
  planner sees: a semi-join it may drive from either side;
- every other test is a correlated ``EXISTS (… OFFSET 0)`` (``probe``), which PostgreSQL keeps as a
  per-row sub-plan, planned on its own, instead of pulling it into the join search: the care
  relationship and a whole-record refusal of the member patient (``care_links (patient,
  organization)``, ``consent_rules (patient)``), then the row's own labels and refused categories,
  nested in the membership test so they run only for rows of visible patients. Pulled up, the eight
  or nine access relations made the join-order search cost ≈ 0.6 ms per statement, more than running
  it; apart, ≈ 0.2 ms. Per-row probes also never hash a whole table per statement (``consent_rules``
  was), so the cost grows with the rows a query touches, not with how many patients a hospital has
  treated or how many Consents the region holds;
- a user's break-glass grants are an uncorrelated set (a handful of rows), evaluated once per
  statement;
- in these inline forms, a row's label and other-patient probes are skipped when its ``imask`` holds
  the facts that make them empty (``UNLABELLED``, ``SOLE_PATIENT``; decision 0023): most rows carry no
  label and name one patient, and the bit test costs nothing next to two index probes per row.

When the query's resource types are known, only their compartment parameters are tested. The
expression is built once per (scope shape, types) and carries that pair as its SQLAlchemy cache key
(``Built``); the scope's values are parameters given with each statement (``scope_params``, decision
0026), so all users of a shape share its statements.

On PostgreSQL, searches, single reads and included resources use ``RowAccess``'s server-side form
instead: the rows a statement's own criteria matched go, as one array, to ``rhip_visible_rows``
(migration 0012), the same rules written once more as a PL/pgSQL statement whose plan the session
keeps. The inline predicate, planned afresh with every search, cost more than the search it guarded
(decision 0016). History and ``$everything``'s record keep the inline forms.
"""

from __future__ import annotations

import re
import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    FromClause,
    Select,
    String,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.ext.compiler import compiles

from rhip.fhir.definitions import compartment_params
from rhip.mpi.tables import mpi_registrations
from rhip.security.policy import RowScope, compartment_types
from rhip.store.access_tables import access_grants, care_links, consent_rules
from rhip.store.dialect import like_escape
from rhip.store.schema import idx_reference, idx_string, idx_token, resources
from rhip.store.write import SOLE_PATIENT, UNLABELLED


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_NOW = bindparam("rhip_access_now", callable_=_now_ms, type_=BigInteger)
"""Evaluated at each execution, so a cached predicate never uses a stale clock for grant expiry."""

# A scope's values are parameters of the statements, given at execution (``scope_params``): the
# expressions, and the SQL SQLAlchemy compiles from them, depend only on the scope's *shape*, so every
# clinician of every organisation shares them. Built per scope, a platform's thousands of users each
# had their own (a new user's first search of a kind: +2.5 ms; beyond SQLAlchemy's 500 cached
# statements, every search compiled afresh).
_PATIENTS = bindparam("rhip_scope_patients", type_=String(), expanding=True)
"""RowScope.patients, for ``IN`` tests (one placeholder per value, on both engines)."""
_PATIENT_LIST = bindparam("rhip_scope_patient_list", type_=ARRAY(String()))
"""RowScope.patients as one array (the server-side function's argument; PostgreSQL only)."""
_ORG = bindparam("rhip_scope_org", type_=String())
_ACTOR = bindparam("rhip_scope_actor", type_=String())
_GRANTEE = bindparam("rhip_scope_grantee", type_=String())
_REGION = bindparam("rhip_scope_region", type_=String())
"""The LIKE pattern of RowScope.region's division codes (``3305%``)."""
_SET = "*"
"""The value every present field of a scope's shape holds (``shape``)."""


@lru_cache(maxsize=4096)
def shape(scope: RowScope) -> RowScope:
    """``scope`` with each value replaced by a marker: what the SQL of its rules depends on (which rules
    apply, the hidden labels, whether clinical content is open), not whose they are."""
    return RowScope(
        patients=frozenset({_SET}) if scope.patients else frozenset(),
        care_organization=_SET if scope.care_organization else None,
        grants_for=_SET if scope.grants_for else None,
        consent_actor=_SET if scope.consent_actor else None,
        hidden_labels=scope.hidden_labels,
        clinical=scope.clinical,
        region=_SET if scope.region else None,
    )


def scope_params(scope: RowScope) -> dict[str, Any]:
    """The execution parameters of every statement holding an access expression built for ``scope``
    (whatever the expression uses of them; the others are ignored)."""
    patients = sorted(scope.patients)
    return {
        _PATIENTS.key: patients,
        _PATIENT_LIST.key: patients,
        _ORG.key: scope.care_organization,
        _ACTOR.key: scope.consent_actor,
        _GRANTEE.key: scope.grants_for,
        _REGION.key: like_escape(region_prefix(scope.region)) + "%" if scope.region else None,
    }


def region_prefix(code: str) -> str:
    """The prefix all codes inside a GB/T 2260 division share: 330500 (a prefecture) → 3305."""
    code = code.strip()
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def probe(stmt: Select[Any], *own: FromClause) -> ColumnElement[bool]:
    """``EXISTS (stmt OFFSET 0)``: a correlated per-row test that PostgreSQL plans on its own (a
    sub-plan) rather than as a semi-/anti-join of the enclosing query, and never as a hash of the
    whole table (see the module docstring); SQLite runs it the same way either way. Every table but
    ``own`` (the test's own aliases) is correlated to an enclosing query, however deep (SQLAlchemy's
    automatic correlation looks one level up only)."""
    return exists(stmt.correlate_except(*own).offset(_ZERO))


_SAFE_CONSTANT = re.compile(r"[A-Za-z0-9_.:*\-]+")
_ONE: ColumnElement[int] = literal_column("1")
_ZERO: ColumnElement[int] = literal_column("0")


def _const(value: str) -> ColumnElement[str]:
    """A constant of the predicate's own shape (a resource type, a parameter code, ``*``) written into
    the SQL text rather than bound: fewer parameters to convert on every execution, and a statement text
    short enough for the driver's query cache (psycopg caches at most 4 kB / 50 parameters). Only our
    own identifiers qualify; values from a scope (organisation, user, patients) stay bound."""
    if not _SAFE_CONSTANT.fullmatch(value):
        raise ValueError(f"not a predicate constant: {value!r}")
    return literal_column(f"'{value}'", String())


def _among(column: Any, constants: Iterable[str]) -> ColumnElement[bool]:
    """``column IN ('a', 'b')`` over predicate constants (``_const``)."""
    test: ColumnElement[bool] = column.in_([_const(v) for v in constants])
    return test


def _patient_visible(scope: RowScope, patient: Any, *, shortcut: bool = False) -> ColumnElement[bool]:
    """Whether the patient with id ``patient`` (a correlated column) is inside ``scope``. As a
    ``shortcut`` (``_clear``, which tests every refusal itself): a care relationship counts even if the
    patient refused the whole record, and break-glass grants are left to the full rules (rare, and one
    sub-plan less to plan on every search)."""
    ways: list[ColumnElement[bool]] = []
    if scope.patients:
        # A resident's records include every registration the master person index links to the same
        # person (the hospitals' own Patient records of them), not only the ones named in the account.
        own, same = mpi_registrations.alias("own"), mpi_registrations.alias("same")
        linked = probe(
            select(_ONE)
            .select_from(own.join(same, same.c.person == own.c.person))
            .where(own.c.id.in_(_PATIENTS), own.c.person > 0, same.c.id == patient),
            own,
            same,
        )
        ways.append(or_(patient.in_(_PATIENTS), linked))
    if scope.care_organization:
        cl = care_links.alias("cl")
        care: ColumnElement[bool] = probe(select(_ONE).where(cl.c.patient == patient, cl.c.organization == _ORG), cl)
        if scope.consent_actor and not shortcut:
            c = consent_rules.alias("whole")
            refused = probe(
                select(_ONE).where(
                    c.c.patient == patient,
                    or_(c.c.actor == _ACTOR, c.c.actor == _const("*")),
                    c.c.category == _const("*"),
                ),
                c,
            )
            care = and_(care, not_(refused))
        ways.append(care)
    if scope.region:
        s = idx_string.alias("division")
        pat2 = resources.alias("pat2")
        ways.append(
            probe(
                select(_ONE)
                .select_from(pat2.join(s, s.c.rid == pat2.c.rid))
                .where(
                    pat2.c.rtype == _const("Patient"),
                    pat2.c.id == patient,
                    s.c.code == _const("division"),
                    s.c.value.like(_REGION, escape="\\"),
                ),
                pat2,
                s,
            )
        )
    if scope.grants_for and not shortcut:
        ways.append(_granted(patient))
    return or_(*ways) if ways else false()


def _granted(patient: Any) -> ColumnElement[bool]:
    """``patient`` has an unexpired break-glass grant for the scope's user: an uncorrelated set (a user's
    own few grants), which PostgreSQL evaluates once per statement and hashes."""
    g = access_grants.alias("grant")
    granted: ColumnElement[bool] = patient.in_(select(g.c.patient).where(g.c.subject == _GRANTEE, g.c.expires > _NOW))
    return granted


def _clear(scope: RowScope, patient: Any) -> ColumnElement[bool]:
    """A sound shortcut, not the rule: ``patient`` is inside ``scope`` (other than by break-glass) and has
    no Consent rule at all for its actor, so every row of the patient's record that carries the access
    facts (no label, no other patient named) is visible. False only means "ask the full rules"
    (``RowAccess``)."""
    seen = _patient_visible(scope, patient, shortcut=True)
    if not scope.consent_actor:
        return seen
    c = consent_rules.alias("anyrule")
    actor = or_(c.c.actor == _ACTOR, c.c.actor == _const("*"))
    rules = probe(select(_ONE).where(c.c.patient == patient, actor), c)
    return and_(seen, not_(rules))


def _member_codes(types: Iterable[str], refs: Any = None) -> ColumnElement[bool]:
    """Reference rows (``refs``: an ``idx_reference`` alias, by default ``m``) that make their resource
    part of a patient's record. Types sharing a parameter list are tested together (67 compartment
    types, 25 distinct lists): a shorter statement and fewer OR arms to plan and evaluate."""
    refs = _m if refs is None else refs
    params = compartment_params()
    groups: dict[tuple[str, ...], list[str]] = {}
    for t in sorted(set(types)):
        if params.get(t):
            groups.setdefault(tuple(params[t]), []).append(t)
    conds = [
        and_(refs.c.rtype == _const(ts[0]) if len(ts) == 1 else _among(refs.c.rtype, ts), _among(refs.c.code, codes))
        for codes, ts in groups.items()
    ]
    return or_(*conds) if conds else false()


_m = idx_reference.alias("m")


def predicate(scope: RowScope, types: Iterable[str] | None = None) -> ColumnElement[bool]:
    """True for the rows ``scope`` may read, executed with ``scope_params(scope)``. ``types``: the
    resource types the query can return (None: any); types outside the Patient compartment are always
    open. Built once per (shape, types) and reused: constructing the expression costs far more than
    executing it."""
    return _predicate(shape(scope), None if types is None else frozenset(types))


class Built(ColumnElement[bool]):
    """A predicate built once per (scope shape, types), whose SQLAlchemy cache key is that pair.

    SQLAlchemy derives the cache key of every statement it executes by walking all of its nodes; the
    access predicate has a few hundred, walked again on each execution (≈ 0.5–1 ms per statement,
    measured, more than PostgreSQL takes to run it). The expression is immutable and determined by
    ``built_for``, so that pair stands for it. It binds no values of its own: the scope's are
    parameters given at execution (``scope_params``), ``rhip_access_now`` a callable bind evaluated at
    every execution."""

    __visit_name__ = "rhip_access_predicate"
    type = Boolean()

    def __init__(self, built_for: Hashable, expr: ColumnElement[bool]) -> None:
        self.built_for = built_for
        self.expr = expr

    def _gen_cache_key(self, anon_map: Any, bindparams: list[Any]) -> tuple[Any, ...]:
        return (Built, self.built_for)

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.expr._from_objects

    def get_children(self, **kw: Any) -> tuple[ColumnElement[bool]]:
        return (self.expr,)


@compiles(Built)
def _compile_built(element: Built, compiler: Any, **kw: Any) -> str:
    # Always parenthesised: the compiler cannot see that the expression inside may be an OR, and
    # ``a AND <x OR y> AND b`` must not lose its grouping.
    return f"({compiler.process(element.expr, **kw)})"


@lru_cache(maxsize=4096)
def _predicate(scope: RowScope, types: frozenset[str] | None) -> ColumnElement[bool]:
    return Built((scope, types), _build(scope, types))


COMPARTMENT_REFS = idx_reference.alias("x")
"""The ``idx_reference`` alias ``compartment_rows`` tests (a short name: the condition lists 67 types)."""


@lru_cache(maxsize=256)
def compartment_rows(types: frozenset[str]) -> ColumnElement[bool]:
    """``COMPARTMENT_REFS`` rows that make their resource part of a patient's record (R4 Patient
    CompartmentDefinition), for resources of ``types``; built once per set, its constants in the SQL."""
    return Built(("compartment", types), _member_codes(types, COMPARTMENT_REFS))


PATIENT = bindparam("rhip_access_patient", type_=String())
"""The patient id of ``sees_patient`` (a value given at execution)."""


def sees_patient(scope: RowScope) -> ColumnElement[bool]:
    """True when ``scope`` sees the patient ``PATIENT`` itself (care relationship, own record, region,
    grant), as opposed to only through a patient it links to. Evaluated once per statement."""
    return _sees_patient(shape(scope))


@lru_cache(maxsize=256)
def _sees_patient(scope: RowScope) -> ColumnElement[bool]:
    expr = _patient_visible(scope, PATIENT) if scope.clinical else false()
    return Built(("sees", scope), expr)


def clear_patient_row(scope: RowScope) -> ColumnElement[bool]:
    """True for a Patient row of ``resources`` that ``scope`` may read without asking the rules: both
    access facts, and the patient ``_clear`` (seen other than by break-glass, no Consent rule for the
    actor). Then ``sees_patient`` is true, ``owner_refusals`` false and the row passes its own tests,
    so a read or ``$everything`` of a clear patient asks nothing more (decision 0024)."""
    return _clear_patient_row(shape(scope))


@lru_cache(maxsize=256)
def _clear_patient_row(scope: RowScope) -> ColumnElement[bool]:
    r = resources.c
    shortcut = _shortcuts(scope, frozenset({"Patient"}), False, r.rtype, r.imask, r.id)
    return Built(("clear-patient", scope), shortcut[0] if shortcut else false())


def owner_refusals(scope: RowScope) -> ColumnElement[bool]:
    """True when ``PATIENT`` has category refusals (of any category) that apply to ``scope``: the
    question ``record_rows`` needs answered once per record instead of once per row."""
    return _owner_refusals(shape(scope))


@lru_cache(maxsize=256)
def _owner_refusals(scope: RowScope) -> ColumnElement[bool]:
    if not scope.consent_actor:
        return Built(("owner-refusals", scope), false())
    return Built(("owner-refusals", scope), exists(_refusals(scope, consent_rules.alias("owner"), PATIENT)))


def record_rows(scope: RowScope, owner_refuses: bool) -> ColumnElement[bool]:
    """The predicate for rows already known to be in the record of ``PATIENT``, a patient ``scope``
    sees itself (``sees_patient``), e.g. ``$everything``: such a row is visible iff its own tests pass
    (labels, refused categories) — the membership and patient tests of ``predicate`` would only
    repeat, per row, what ``sees_patient`` established once (measured: a clinician's ``$everything``
    of 292 resources spent ≈ 30 ms more than the system client's on them).

    ``owner_refuses`` (``owner_refusals``, asked once per record): whether the record's owner has
    category refusals for ``scope``. Most residents have none; then every row's references to the
    owner need no refusal probe, and only references to *other* patients are probed (the full
    per-row test probed every patient reference, the owner's several times over: ``subject`` and
    ``patient`` index the same reference) — ≈ 0.3 ms less for a record of 289 rows — and not even
    those for a row known to name no other patient (``SOLE_PATIENT``)."""
    return _record_rows(shape(scope), owner_refuses)


@lru_cache(maxsize=256)
def _record_rows(scope: RowScope, owner_refuses: bool) -> ColumnElement[bool]:
    r = resources.c
    if owner_refuses or not scope.consent_actor:
        tests = _row_tests(scope, r.rid, r.rtype)
    else:
        x, c = idx_reference.alias("rx"), consent_rules.alias("cat")
        others = probe(
            select(_ONE).where(
                x.c.rid == r.rid,
                x.c.ref_type == _const("Patient"),
                x.c.ref_id != PATIENT,
                probe(_refusals(scope, c, x.c.ref_id, r.rid, r.rtype), c),
            ),
            x,
        )
        tests = [*_row_tests(scope, r.rid, r.rtype, categories=False), or_(_holds(SOLE_PATIENT), not_(others))]
    return Built(("record", scope, owner_refuses), and_(*tests) if tests else true())


def _holds(fact: int) -> ColumnElement[bool]:
    """The outer ``resources`` row's ``imask`` holds ``fact`` (``rhip.store.write``): its constant in the
    SQL, tested before the probe it spares (``OR`` evaluates left to right on both engines)."""
    return resources.c.imask.op("&")(literal_column(str(fact))) != literal_column("0")


def _split(types: frozenset[str] | None) -> tuple[list[str], bool]:
    """The Patient-compartment types among ``types`` (None: any), and whether a type outside the
    compartment (always open to readers of its type) is wanted too."""
    ctypes = compartment_types()
    return sorted(ctypes if types is None else types & ctypes), types is None or bool(types - ctypes)


def _open(rtype: Any) -> ColumnElement[bool]:
    """``rtype`` is outside the Patient compartment."""
    return not_(_among(rtype, sorted(compartment_types())))


def _build(scope: RowScope, types: frozenset[str] | None) -> ColumnElement[bool]:
    r = resources.c
    record_types, has_open = _split(types)
    open_part = _open(r.rtype)
    if not record_types or not scope.clinical:
        return open_part if has_open else false()
    if record_types == ["Patient"]:
        return or_(open_part, _patient_row(scope)) if has_open else _patient_row(scope)
    in_record: ColumnElement[bool] = exists(
        select(_ONE).where(
            _m.c.rid == r.rid,
            _m.c.ref_type == _const("Patient"),
            _member_codes(record_types),
            _patient_visible(scope, _m.c.ref_id),
            *_row_tests(scope, _m.c.rid, _m.c.rtype),
        )
    )
    if "Patient" in record_types:
        in_record = or_(
            and_(r.rtype == _const("Patient"), _patient_visible(scope, r.id), *_row_tests(scope, r.rid, r.rtype)),
            in_record,
        )
    return or_(open_part, in_record) if has_open else in_record


def _patient_row(scope: RowScope) -> ColumnElement[bool]:
    """A Patient row is visible if it, or a patient it links to (``Patient.link``, its compartment
    parameter), is. Written as one test over the union of the two, so PostgreSQL plans the patient's
    visibility sub-plans once rather than once per branch (a clinician's ``Patient?identifier=``:
    ≈ 0.35 ms less planning on every execution)."""
    r = resources.c
    links = select(_m.c.ref_id).where(_m.c.rid == r.rid, _m.c.ref_type == _const("Patient"), _member_codes(["Patient"]))
    members = union_all(select(r.id.label("p")).correlate(resources), links.correlate(resources)).subquery("members")
    visible = exists(select(_ONE).select_from(members).where(_patient_visible(scope, members.c.p)))
    return and_(r.rtype == _const("Patient"), visible, *_row_tests(scope, r.rid, r.rtype))


def _row_tests(scope: RowScope, rid: Any, rtype: Any, *, categories: bool = True) -> list[ColumnElement[bool]]:
    """Tests of the row itself (labels, refused categories unless ``categories`` is off), on
    ``rid``/``rtype`` of the membership row inside the membership test, so PostgreSQL runs them only
    for rows of visible patients. ``rid`` is always the outer ``resources`` row's (``_holds``)."""
    tests: list[ColumnElement[bool]] = []
    if scope.hidden_labels:
        t = idx_token.alias("label")
        hidden = select(_ONE).where(
            t.c.rid == rid, t.c.code == _const("_security"), _among(t.c.value, sorted(scope.hidden_labels))
        )
        tests.append(or_(_holds(UNLABELLED), not_(probe(hidden, t))))
    if scope.consent_actor and categories:
        tests.append(not_(_refused_category(scope, rid, rtype)))
    return tests


def _refused_category(scope: RowScope, rid: Any, rtype: Any) -> ColumnElement[bool]:
    """The row falls in a category (``type:<ResourceType>`` or ``label:<code>``) that a Consent of one
    of the patients it refers to refuses to ``scope.consent_actor``. Break-glass grants override
    refusals (an emergency must; the access is flagged in the audit trail instead). Probed per patient
    reference of the row through ``consent_rules (patient)``."""
    x, c = idx_reference.alias("rx"), consent_rules.alias("cat")
    refusal = _refusals(scope, c, x.c.ref_id, rid, rtype)
    return probe(select(_ONE).where(x.c.rid == rid, x.c.ref_type == _const("Patient"), probe(refusal, c)), x)


def _refusals(scope: RowScope, c: Any, patient: Any, rid: Any = None, rtype: Any = None) -> Select[Any]:
    """The category refusals (``c``: a ``consent_rules`` alias) of ``patient`` that apply to
    ``scope.consent_actor`` and are not overridden by a break-glass grant; with ``rid``/``rtype``,
    only those whose category (``type:<ResourceType>`` or ``label:<code>``) the row falls in."""
    refusal = select(_ONE).where(
        c.c.patient == patient,
        or_(c.c.actor == (_ACTOR if scope.consent_actor else _const("*")), c.c.actor == _const("*")),
        c.c.category != _const("*"),
    )
    if rid is not None:
        t = idx_token.alias("rt")
        label = probe(
            select(_ONE).where(
                t.c.rid == rid, t.c.code == _const("_security"), (_const("label:") + t.c.value) == c.c.category
            ),
            t,
        )
        refusal = refusal.where(or_((_const("type:") + rtype) == c.c.category, label))
    if scope.grants_for:
        refusal = refusal.where(not_(_granted(c.c.patient)))
    return refusal


# -- PostgreSQL: the same rules as one server-side function (migration 0012) ---------------------------

MATCHES = "hits"
"""The CTE a server-side search names its matches: columns ``rid``, ``rt`` (type), ``facts`` (``imask``) and
``pid`` (the resource id)."""

RIDS = bindparam("rhip_access_rids", type_=ARRAY(BigInteger()))
"""The rows ``RowAccess.of_rows`` tests (a value given at execution)."""

PINNED = bindparam("rhip_access_pinned", type_=String())
"""The patient whose record holds every match of a search (``rhip.store.search.terms.pinned_patient``), a
value given at execution to ``RowAccess.among_matches(pinned=True)``."""

FACTS = UNLABELLED | SOLE_PATIENT


@dataclass(frozen=True, slots=True)
class RowAccess:
    """A row scope applied to rows of ``types`` (None: any), in the form the engine runs best.

    ``server_side`` (PostgreSQL): a statement hands the rows its own criteria matched to
    ``rhip_visible_rows`` (migration 0012), whose plan the session keeps, instead of carrying the
    predicate: planned inline, the predicate's sub-plans cost ≈ 0.3–0.45 ms per clinician search at
    1 M resources, more than the search itself (decision 0016). Otherwise (SQLite) the inline
    ``predicate``. Both apply the same rules; the access tests run on both engines. Each form is built
    once per (scope shape, types) and is its own SQLAlchemy cache key (``Built``); every statement
    holding one is executed with ``params`` (the scope's values)."""

    scope: RowScope
    types: frozenset[str] | None
    server_side: bool

    @property
    def params(self) -> dict[str, Any]:
        """The scope's values, parameters of every statement holding one of these forms."""
        return scope_params(self.scope)

    def predicate(self) -> ColumnElement[bool]:
        """The inline predicate on ``resources`` (either engine)."""
        return _predicate(shape(self.scope), self.types)

    def among_matches(self, *, pinned: bool = False) -> ColumnElement[bool]:
        """Server-side form for a search: true for the rows of the CTE ``MATCHES`` that are visible.

        Most rows are decided by a shortcut (decision 0024) before the function is asked: a row with
        both access facts whose patient is ``_clear`` (a Patient row: itself; with ``pinned``, every
        match: the patient ``PINNED``, tested once per statement). The function, given every match at
        once, decides the rest; a statement whose rows all pass a shortcut never calls it (its
        fixed cost, ≈ 70 µs, was most of a small search's authorisation)."""
        return _among_matches(shape(self.scope), self.types, pinned)

    def per_row(self, *, pinned: bool = False) -> ColumnElement[bool]:
        """Server-side form for a search whose matches are a few rows (``terms.selective``): a predicate on
        ``resources``, the shortcuts of ``among_matches`` first, the access function asked for each
        remaining row on its own. It spares such a search the statement around its matches that hands
        them to the function at once (a CTE, its window count and the hashed sub-plan: ≈ 40 µs of
        planning and as much of Python per search); for many rows one call per row would cost more."""
        return _per_row(shape(self.scope), self.types, pinned)

    def of_rows(self) -> ColumnElement[bool]:
        """A predicate on ``resources`` for rows known beforehand (single reads, included resources):
        server-side, their rids are the value of ``RIDS`` at execution (``rows_params``)."""
        return _of_rows(shape(self.scope), self.types) if self.server_side else self.predicate()

    def rows_params(self, rids: list[int]) -> dict[str, Any]:
        """The execution parameters ``of_rows`` needs for ``rids`` (the scope's values included)."""
        return {**self.params, RIDS.key: rids} if self.server_side else self.params


@lru_cache(maxsize=4096)
def _among_matches(scope: RowScope, types: frozenset[str] | None, pinned: bool) -> ColumnElement[bool]:
    rid: ColumnElement[int] = literal_column(f"{MATCHES}.rid", BigInteger())
    rtype: ColumnElement[str] = literal_column(f"{MATCHES}.rt", String())
    facts: ColumnElement[int] = literal_column(f"{MATCHES}.facts", BigInteger())
    own_id: ColumnElement[str] = literal_column(f"{MATCHES}.pid", String())
    candidates: ColumnElement[Any] = literal_column(f"(SELECT array_agg({MATCHES}.rid) FROM {MATCHES})")
    shortcuts = _shortcuts(scope, types, pinned, rtype, facts, own_id)
    return Built(("matches", scope, types, pinned), _server_side(scope, types, rid, rtype, candidates, shortcuts))


@lru_cache(maxsize=4096)
def _per_row(scope: RowScope, types: frozenset[str] | None, pinned: bool) -> ColumnElement[bool]:
    r = resources.c
    shortcuts = _shortcuts(scope, types, pinned, r.rtype, r.imask, r.id)
    own: ColumnElement[Any] = array([r.rid])
    return Built(("per-row", scope, types, pinned), _server_side(scope, types, r.rid, r.rtype, own, shortcuts))


def _shortcuts(
    scope: RowScope, types: frozenset[str] | None, pinned: bool, rtype: Any, facts: Any, own_id: Any
) -> list[ColumnElement[bool]]:
    """The sound shortcuts (decision 0024) for rows with columns ``rtype``, ``facts`` (``imask``) and
    ``own_id`` (the resource id): a Patient row with both facts that is itself ``_clear``; with ``pinned``,
    any row with both facts when the patient ``PINNED`` is (tested once per statement). None for a
    non-clinical scope."""
    if not scope.clinical:
        return []
    with_facts = facts.op("&")(literal_column(str(FACTS))) == literal_column(str(FACTS))
    shortcuts: list[ColumnElement[bool]] = []
    if "Patient" in _split(types)[0]:
        shortcuts.append(and_(rtype == _const("Patient"), with_facts, _clear(scope, own_id)))
    if pinned:
        shortcuts.append(and_(with_facts, select(_clear(scope, PINNED)).scalar_subquery()))
    return shortcuts


@lru_cache(maxsize=4096)
def _of_rows(scope: RowScope, types: frozenset[str] | None) -> ColumnElement[bool]:
    r = resources.c
    return Built(("rows", scope, types), _server_side(scope, types, r.rid, r.rtype, RIDS))


def _texts(constants: list[str]) -> ColumnElement[Any]:
    """A ``text[]`` of predicate constants written into the SQL (``_const``)."""
    for value in constants:
        _const(value)  # checks it is one
    return literal_column("ARRAY[" + ", ".join(f"'{v}'" for v in constants) + "]::text[]")


_NULL: ColumnElement[Any] = literal_column("NULL::text")
"""An absent scope value, written into the SQL: the function's rule is then off."""


def _server_side(
    scope: RowScope,
    types: frozenset[str] | None,
    rid: Any,
    rtype: Any,
    candidates: ColumnElement[Any],
    shortcuts: list[ColumnElement[bool]] | None = None,
) -> ColumnElement[bool]:
    record_types, has_open = _split(types)
    open_part = _open(rtype)
    if not record_types or not scope.clinical:
        return open_part if has_open else false()
    params = compartment_params()
    members = [f"{t}.{code}" for t in record_types for code in params.get(t, ())]
    visible = select(
        func.rhip_visible_rows(
            candidates,
            _texts(members),
            _PATIENT_LIST if scope.patients else _texts([]),
            _ORG if scope.care_organization else _NULL,
            _ACTOR if scope.consent_actor else _NULL,
            _REGION if scope.region else _NULL,
            _GRANTEE if scope.grants_for else _NULL,
            _NOW,
            _texts(sorted(scope.hidden_labels)),
        )
    ).correlate(resources)  # ``per_row``: the candidates are the enclosing row's rid
    # Shortcuts first: OR evaluates left to right, and the function's sub-plan is only run when a row
    # reaches it (hashed, once, for the rows of a CTE; per row for ``per_row``).
    inside: ColumnElement[bool] = or_(*(shortcuts or ()), rid.in_(visible))
    return or_(open_part, inside) if has_open else inside
