"""Write hooks: called with every flushed batch inside the unit's transaction; a failing hook aborts it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from rhip.fhir.errors import FhirError
from rhip.security.context import RequestContext
from rhip.settings import Settings
from rhip.store.repository import Repository, Unit
from rhip.store.write import NewVersion


def test_hooks_see_written_versions_and_can_abort(engine: Engine, settings: Settings) -> None:
    seen: list[tuple[str, int, int]] = []

    def record(unit: Unit, versions: list[NewVersion]) -> None:
        seen.extend((v.rtype, v.version, v.rid or 0) for v in versions)

    repo = Repository(engine, settings, hooks=[record])
    with repo.unit(RequestContext.system()) as unit:
        created = unit.create({"resourceType": "Basic", "code": {"text": "x"}})
    assert seen == [("Basic", 1, created.stored.rid)]
    assert created.stored.rid > 0

    def veto(unit: Unit, versions: list[NewVersion]) -> Any:
        raise FhirError.conflict("vetoed by hook")

    strict = Repository(engine, settings, hooks=[veto])
    with pytest.raises(FhirError), strict.unit(RequestContext.system()) as unit:
        unit.create({"resourceType": "Basic", "code": {"text": "y"}})
    with repo.unit(RequestContext.system(), write=False) as unit:
        assert [s.id for s in unit.history("Basic")[0]] == [created.stored.id]
