"""The access predicate's SQL text: constants of its own shape inline, values from a scope bound."""

from __future__ import annotations

import pytest
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
    assert hostile in compiled.params.values()
    assert "'Patient'" in sql
    assert "'_security'" in sql
    assert "OFFSET 0" in sql
    # With the search's own terms the statement stays inside psycopg's query cache (≤ 50 parameters,
    # ≤ 4 kB): it was 66 parameters and 4.3 kB for a clinician's Patient search, converted anew each time.
    assert len(compiled.params) <= 16
    assert len(sql) < 3500


@pytest.mark.parametrize("value", ["org' OR '1'='1", "a b", "", "x;--"])
def test_only_identifier_like_constants_are_written_into_the_sql(value: str) -> None:
    with pytest.raises(ValueError, match="not a predicate constant"):
        access._const(value)
