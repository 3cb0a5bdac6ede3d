"""The two forms of the row-access rules agree: the inline SQL predicate (SQLite, history) and the
PostgreSQL function ``rhip_visible_rows`` (searches, reads, includes; migration 0012) return the same
rows for every role of the access matrix, with a break-glass grant, a region, Consent refusals and
confidentiality labels in the data. PostgreSQL only: SQLite has the inline form alone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from test_access_matrix import ROLES, put, region, user  # noqa: F401  (region: the matrix's fixture)

from rhip.security.accounts import ROLE_SCOPES
from rhip.security.context import RequestContext
from rhip.store.access import RowAccess
from rhip.store.repository import Repository
from rhip.store.schema import resources


@pytest.fixture
def engine(engines: dict[str, Engine]) -> Engine:
    """PostgreSQL only (overrides the engine-parametrised fixture of conftest)."""
    return engines["postgresql"]


TYPE_SETS: list[frozenset[str] | None] = [
    None,
    frozenset({"Observation"}),
    frozenset({"Patient"}),
    frozenset({"Encounter", "Organization"}),
    frozenset({"Consent", "Observation", "Patient"}),
]


def test_the_function_and_the_inline_predicate_see_the_same_rows(region: Any, repo: Repository) -> None:  # noqa: F811
    div = "http://rhip.cn/fhir/StructureDefinition/address-division-code"
    address = [{"use": "home", "extension": [{"url": div, "valueCode": "330523104001"}]}]
    put(region, {"resourceType": "Patient", "id": "p4", "name": [{"text": "患者p4"}], "address": address})
    put(region, {"resourceType": "Observation", "id": "o4", "status": "final", "code": {"text": "o4"},
                 "subject": {"reference": "Patient/p4"}})  # fmt: skip
    contexts = {name: _context(name) for name in ROLES}
    contexts["officer-330500"] = _context("public-health-officer", region="330500")
    glass = user(region, "clinician-b")("POST", "/Patient/p1/$break-glass", json=_reason())
    assert glass.status_code == 200, glass.text  # a grant for every "clinician-user" from here on
    checked = set()
    with repo.engine.connect() as conn:
        every = [row.rid for row in conn.execute(select(resources.c.rid).where(resources.c.deleted.is_(False)))]
        for name, ctx in contexts.items():
            scope = repo.policy.rows(ctx)
            if scope is None:
                continue
            for types in TYPE_SETS:
                access = RowAccess(scope, types, server_side=True)
                base = select(resources.c.rid).where(resources.c.rid.in_(every))
                if types is not None:
                    base = base.where(resources.c.rtype.in_(sorted(types)))
                inline = {r.rid for r in conn.execute(base.where(access.predicate()), access.params)}
                function = {r.rid for r in conn.execute(base.where(access.of_rows()), access.rows_params(every))}
                assert function == inline, (name, types)
                checked |= inline
    assert len(checked) > 10  # the roles between them saw most of the data


def _reason() -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "reason", "valueString": "急诊抢救"}, {"name": "minutes", "valueInteger": 30}],
    }


def _context(name: str, **kw: Any) -> RequestContext:
    """The context the matrix's ``user`` helper puts in its token for ``name``."""
    role = name.split("-")[0] if name.startswith("clinician") else name
    fields = {**ROLES.get(name, {}), **kw}
    return RequestContext(
        subject=f"{role}-user", kind="user", role=role, scopes=frozenset(ROLE_SCOPES[role].split()), **fields
    )
