"""The quantity value index holds ordinary rows only (grp = 0): searches still find every match and
both engines use that partial index for value searches."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import Engine

from rhip.fhir.search.parse import parse_query
from rhip.security.context import RequestContext
from rhip.store.repository import Repository
from rhip.store.search.terms import Env, matching_rids


def _obs(value: float, code: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "kg", "unit": "kg"},
    }


def test_value_and_composite_quantity_searches(repo: Repository, system: RequestContext) -> None:
    with repo.unit(system) as unit:
        ids = {v: unit.create(_obs(v, "29463-7")).stored.id for v in (50.0, 70.5, 90.0)}
        unit.create(_obs(80.0, "8302-2"))

        def found(*params: tuple[str, str]) -> set[str]:
            return {m.id for m in unit.search(parse_query("Observation", list(params))).matches}

        assert found(("value-quantity", "gt60"), ("code", "29463-7")) == {ids[70.5], ids[90.0]}
        assert found(("value-quantity", "70.5|http://unitsofmeasure.org|kg")) == {ids[70.5]}
        assert found(("code-value-quantity", "http://loinc.org|29463-7$lt71")) == {ids[50.0], ids[70.5]}
        assert found(("combo-code-value-quantity", "29463-7$ge90")) == {ids[90.0]}
        assert len(found(("value-quantity:missing", "false"))) == 4


def test_value_search_uses_the_partial_index(engine: Engine) -> None:
    crit = parse_query("Observation", [("value-quantity", "gt60")]).criteria[0]
    sql = matching_rids(crit, Env(tz=UTC, base_url=None, now_ms=0)).compile(
        engine, compile_kwargs={"literal_binds": True}
    )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))
        else:
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_idx_quantity_0" in plan
