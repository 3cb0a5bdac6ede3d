"""The in-memory dedupe against online matching where the two could drift apart: capped blocks (the
sorted neighbourhood), name frequencies, review tasks between existing persons, the exclusive-cluster
demotion, and writes refused while a run is under way."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from factories import patient
from feeds import feed, write
from sqlalchemy import Engine, func, select

from rhip.fhir.errors import FhirError
from rhip.identity import check_digit
from rhip.mpi.jobs import dedupe
from rhip.mpi.online import Matcher
from rhip.mpi.tables import mpi_blocks, mpi_decisions, mpi_persons, mpi_registrations, mpi_reviews, mpi_term_counts
from rhip.store.repository import Repository


def ric(n: int, birth: str = "19800101") -> str:
    body = f"110105{birth}{n:03d}"
    return body + check_digit(body)


def crowd() -> list[dict[str, Any]]:
    """150 王伟 born the same day (a capped name+birth block), some registered twice, a few conflicts."""
    out = []
    for i in range(150):
        body = patient("x", name="王伟", ric=ric(i % 120), birth="1980-01-01", phone=f"139{i % 97:08d}")
        if i % 7 == 0:
            body = patient("x", name="王伟", ric=None, birth="1980-01-01", phone=f"139{i % 97:08d}", gender=None)
        if i % 11 == 0:
            body = patient("x", name="王玮", ric=ric(i % 120), birth="1980-01-10", phone="13700000000")
        out.append(body)
    return out


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything matching decides, with person numbers replaced by their lowest registration."""
    r, d, v = mpi_registrations.c, mpi_decisions.c, mpi_reviews.c
    with engine.connect() as conn:
        regs = conn.execute(select(r.rid, r.person, r.status)).all()
        first: dict[int, int] = {}
        for row in sorted(regs):
            first.setdefault(int(row.person), int(row.rid))
        groups: dict[int, set[int]] = defaultdict(set)
        for row in regs:
            groups[int(row.person)].add(int(row.rid))
        decisions = sorted(
            (
                x.rid,
                x.other,
                x.decision,
                x.score,
                x.rule,
                x.blocking,
                x.fields,
                first.get(x.person),
                first.get(x.other_person),
            )
            for x in conn.execute(
                select(
                    d.rid, d.other, d.decision, d.score, d.rule, d.blocking, d.fields, d.person, d.other_person
                ).where(d.kind == "match")
            )
        )
        reviews = sorted(
            (first[int(x.person_a)], first[int(x.person_b)], x.rid, x.other, x.score, x.status)
            for x in conn.execute(select(v.person_a, v.person_b, v.rid, v.other, v.score, v.status))
        )
        goldens = sorted(
            (first[int(x.person)], x.golden, x.ric_valid, x.version, x.status)
            for x in conn.execute(
                select(
                    mpi_persons.c.person,
                    mpi_persons.c.golden,
                    mpi_persons.c.ric_valid,
                    mpi_persons.c.version,
                    mpi_persons.c.status,
                )
            )
        )
        blocks = sorted(tuple(x) for x in conn.execute(select(mpi_blocks.c.kh, mpi_blocks.c.n)))
        terms = sorted(tuple(x) for x in conn.execute(select(mpi_term_counts.c.value, mpi_term_counts.c.n)))
    return {
        "partition": sorted(sorted(g) for g in groups.values()),
        "statuses": sorted((int(x.rid), str(x.status)) for x in regs),
        "decisions": decisions,
        "reviews": reviews,
        "persons": goldens,
        "blocks": blocks,
        "terms": terms,
    }


@pytest.mark.parametrize("chunk", [17])
def test_capped_blocks_and_reviews_are_identical_after_dedupe_and_resume(
    repo: Repository, engine: Engine, matcher: Matcher, chunk: int
) -> None:
    people = crowd()
    with repo.unit(feed("hospital-a")) as unit:
        for body in people:
            unit.create({k: v for k, v in body.items() if k != "id" and v != []})
    online = snapshot(engine)
    assert max(n for _, n in online["blocks"]) > matcher.spec.max_block  # the cap was reached
    assert online["reviews"], "the crowd should open review tasks"
    partial = dedupe(engine, matcher, restart=True, chunk=chunk, stop_after=3)
    assert partial.registrations == 3 * chunk
    report = dedupe(engine, matcher, chunk=chunk)  # resumed: the memory is rebuilt from the tables
    assert report.resumed_from > 0
    assert snapshot(engine) == online
    again = dedupe(engine, matcher, restart=True, chunk=1000)  # one chunk, from scratch
    assert (again.registrations, snapshot(engine)) == (len(people), online)


def test_patient_writes_wait_for_an_interrupted_dedupe_to_finish(
    repo: Repository, engine: Engine, matcher: Matcher
) -> None:
    first = write(repo, patient("a"))
    dedupe(engine, matcher, restart=True, chunk=1, stop_after=0)  # a run that started and stopped
    with pytest.raises(FhirError) as refused:
        write(repo, patient("b", phone="13900000000"), "clinic-b")
    assert refused.value.status == 503
    dedupe(engine, matcher, chunk=10)  # resumed to the end
    second = write(repo, patient("b", phone="13900000000"), "clinic-b")
    with engine.connect() as conn:
        persons = dict(conn.execute(select(mpi_registrations.c.id, mpi_registrations.c.person)).all())
        regs = conn.execute(select(func.count()).select_from(mpi_registrations)).scalar_one()
    assert (regs, persons[first] == persons[second]) == (2, True)


def test_surname_date_and_name_year_rules_find_the_same_candidates_online_and_in_dedupe(
    repo: Repository, engine: Engine, matcher: Matcher
) -> None:
    """Another given name on the same birth date (``family_py + birth_date``) and a typo in the day with
    the same name (``name_py + birth_year``): without ID number, phone or county in common, only these
    rules bring the registrations together; dedupe replays the same candidates."""
    first = patient("a", name="张伟", ric=ric(1), birth="1980-01-01", phone="13900000001")
    other_given = patient("b", name="张小伟", ric=None, birth="1980-01-01", phone="139002", division="310101001001")
    day_typo = patient("c", name="张伟", ric=None, birth="1980-01-10", phone="139003", division="440103001001")
    for body, who in ((first, "hospital-a"), (other_given, "clinic-b"), (day_typo, "clinic-c")):
        write(repo, body, who)
    online = snapshot(engine)
    blocking = {d[5] for d in online["decisions"]}
    assert {"block_on(family_py, birth_date)", "block_on(name_py, birth_year)"} <= blocking
    dedupe(engine, matcher, restart=True, chunk=2)
    assert snapshot(engine) == online
