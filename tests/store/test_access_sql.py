"""The access predicate's SQL text: constants of its own shape inline, values from a scope bound."""

from __future__ import annotations

import pytest
from sqlalchemy import literal_column, select
from sqlalchemy.dialects import postgresql

from rhip.security.policy import RowScope
from rhip.store import access


def test_scope_values_are_bound_and_only_own_constants_are_inlined() -> None:
    hostile = "org' OR '1'='1"
    scope = RowScope(
        care_organization=hostile, consent_actor=hostile, grants_for=hostile, hidden_labels=frozenset({"V"})
    )
    compiled = access.predicate(scope, {"Observation", "Patient"}).compile(dialect=postgresql.dialect())
    sql = str(compiled)
    assert hostile not in sql
    assert {"rhip_scope_org", "rhip_scope_actor", "rhip_scope_grantee"} <= set(compiled.params)
    assert hostile in access.scope_params(scope).values()  # given at execution
    assert "'Patient'" in sql
    assert "'_security'" in sql
    assert "OFFSET 0" in sql
    # With the search's own terms the statement stays inside psycopg's query cache (≤ 50 parameters,
    # ≤ 4 kB): it was 66 parameters and 4.3 kB for a clinician's Patient search, converted anew each time.
    assert len(compiled.params) <= 16
    assert len(sql) < 3500


def test_every_user_of_a_scope_shape_shares_the_same_statements() -> None:
    """Scope values are execution parameters: two clinicians of different organisations share the
    expressions and SQLAlchemy's compiled statements (a cache entry per user made a new user's first
    search compile afresh, and a platform's thousands of users overflow the cache)."""
    a = RowScope(care_organization="org-a", consent_actor="org-a", grants_for="doctor-a", hidden_labels=frozenset("V"))
    b = RowScope(care_organization="org-b", consent_actor="org-b", grants_for="doctor-b", hidden_labels=frozenset("V"))
    resident = RowScope(patients=frozenset({"p1", "p2"}))
    types = frozenset({"Observation", "Patient"})
    for form in (
        lambda s: access.predicate(s, types),
        lambda s: access.RowAccess(s, types, server_side=True).among_matches(pinned=True),
        lambda s: access.RowAccess(s, types, server_side=True).of_rows(),
        access.sees_patient,
        lambda s: access.record_rows(s, True),
    ):
        assert form(a) is form(b)
        assert form(a) is not form(resident)
        stmt_a, stmt_b = select(literal_column("1")).where(form(a)), select(literal_column("1")).where(form(b))
        assert stmt_a._generate_cache_key() == stmt_b._generate_cache_key()
    assert access.scope_params(a)["rhip_scope_org"] == "org-a"
    assert access.scope_params(b)["rhip_scope_grantee"] == "doctor-b"
    assert access.scope_params(resident)["rhip_scope_patients"] == ["p1", "p2"]


@pytest.mark.parametrize("value", ["org' OR '1'='1", "a b", "", "x;--"])
def test_only_identifier_like_constants_are_written_into_the_sql(value: str) -> None:
    with pytest.raises(ValueError, match="not a predicate constant"):
        access._const(value)
