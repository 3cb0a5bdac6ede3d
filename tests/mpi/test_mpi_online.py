"""Online matching on Patient writes: linking, golden record, explanations stored, review tasks, bad input."""

from __future__ import annotations

import json

from factories import patient
from feeds import person_of, write
from sqlalchemy import Engine, select

from rhip.mpi.tables import mpi_decisions, mpi_persons, mpi_reviews
from rhip.store.repository import Repository


def test_same_resident_from_two_sources_is_one_person_with_explained_decision(repo: Repository, engine: Engine) -> None:
    a = write(repo, patient("a"), "hospital-a")
    b = write(repo, patient("b", name="張偉", phone="13900000000"), "clinic-b")
    assert person_of(engine, a) == person_of(engine, b)
    with engine.connect() as conn:
        row = conn.execute(select(mpi_decisions).where(mpi_decisions.c.decision == "auto-link")).one()
        persons = conn.execute(select(mpi_persons).where(mpi_persons.c.status == "active")).all()
    fields = {f["comparison"]: f["level"] for f in json.loads(row.fields)}
    assert (fields["id_number"], fields["name"], row.model.startswith("rhip-person-1:")) == (
        "exact",
        "simplified",
        True,
    )
    assert (row.score >= 12, "auto-link" in row.rule, row.blocking) == (True, True, "block_on(ric)")
    assert len(persons) == 1
    golden = json.loads(persons[0].golden)
    assert golden["phone"] == "13900000000"  # most recent wins among equally trusted sources
    assert golden["registrations"] == sorted([f"Patient/{a}", f"Patient/{b}"])


def test_trusted_source_wins_survivorship(repo: Repository, engine: Engine) -> None:
    write(repo, patient("a", phone="13811112222"), "register")
    write(repo, patient("b", phone="13900000000"), "clinic-b")
    with engine.connect() as conn:
        golden = json.loads(conn.execute(select(mpi_persons.c.golden)).scalar_one())
    assert golden["phone"] == "13811112222"


def test_different_people_stay_apart_and_borderline_goes_to_review(repo: Repository, engine: Engine) -> None:
    a = write(repo, patient("a"))
    c = write(repo, patient("c", name="李娜", ric="110105198001010013", birth="1980-01-01", phone="13700000000"))
    # same name, birth date and phone but no ID number: strong but no personal evidence beyond the name
    d = write(repo, patient("d", ric=None, division=None, gender=None))
    assert person_of(engine, a) != person_of(engine, c)
    with engine.connect() as conn:
        tasks = conn.execute(select(mpi_reviews)).all()
        decisions = conn.execute(select(mpi_decisions.c.rid, mpi_decisions.c.decision)).all()
    assert {r.decision for r in decisions} >= {"no-link"}
    assert person_of(engine, d) in (person_of(engine, a), *(t.person_a for t in tasks), *(t.person_b for t in tasks))
