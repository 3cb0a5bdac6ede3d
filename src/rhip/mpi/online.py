"""Online matching: every Patient version written is registered in the master person index.

:class:`Matcher` is a repository ``WriteHook`` (installed by ``rhip.platform.repository``): after a
unit flushes Patient versions it registers each one inside the same transaction, so a Patient is
never committed without its person, and a failure rolls both back. Per registration:

1. normalise (``patient_record``), compute the blocking keys, lock them (PostgreSQL advisory locks,
   ascending: writers of the same person queue, writers of different persons do not);
2. candidates: registrations sharing a key, capped blocks by sorted neighbourhood;
3. compare with the current model (term frequencies from the index counts), per pair auto-link /
   review / no-link with the pair rules of :mod:`rhip.mpi.linker`; per candidate person the best pair;
   an auto-link to a person holding another valid 身份证号 is demoted (``exclusive-cluster``);
4. link to the strongest auto-linked person, else found a new person; every other person reached by
   an auto-link or a review pair gets a review task (a registration never joins two persons by
   itself: bridging persons is a clerk's decision);
5. refresh the golden record (survivorship, :mod:`rhip.mpi.golden`) and store the decisions: model
   version, score, rule, blocking rule and per-field verdicts.

``rhip mpi dedupe`` replays exactly this, registration by registration in write (rid) order, so batch
and online results are identical.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from rhip.fhir import json as fjson
from rhip.mpi import index, index_pg
from rhip.mpi.frequencies import TermFrequencies
from rhip.mpi.index import Registration
from rhip.mpi.keys import StoredKey, record_keys
from rhip.mpi.linker import PairExplanation
from rhip.mpi.matching import (
    TF_FIELD,
    TF_MIN_POPULATION,
    Plan,
    decide_registration,
    decision_rows,
    empty_row,
    explain,
    fields_json,
    frequencies_of,
    golden_of,
    score_candidates,
    term_rows,
)
from rhip.mpi.model import MatchModel
from rhip.mpi.model_store import ModelCache
from rhip.mpi.records import patient_record
from rhip.mpi.spec import LinkSpec, person_spec
from rhip.store import dialect

if TYPE_CHECKING:
    from rhip.store.repository import Unit
    from rhip.store.write import NewVersion

__all__ = ["TF_FIELD", "TF_MIN_POPULATION", "Matcher", "Outcome", "fields_json", "matcher_of"]


@dataclass
class Outcome:
    """What matching one registration did (returned for tests, the CLI and the benchmark)."""

    rid: int
    person: int
    decision: str  # auto-link | new-person | kept | deleted
    candidates: int = 0
    reviews: list[int] = field(default_factory=list)
    explanations: list[PairExplanation] = field(default_factory=list)  # the stored pairs


def _now() -> int:
    return time.time_ns() // 1_000_000


class Matcher:
    """The online matcher; one per repository (thread-safe: state is the model cache only)."""

    def __init__(self, spec: LinkSpec | None = None, *, trusted_sources: Sequence[str] = (), ttl: float = 10.0) -> None:
        self.spec = spec or person_spec()
        self.models = ModelCache(self.spec, ttl)
        self.trusted = frozenset(trusted_sources)

    # -- the write hook ----------------------------------------------------------------------
    def __call__(self, unit: Unit, versions: list[NewVersion]) -> None:
        patients = [v for v in versions if v.rtype == "Patient"]
        if not patients:
            return
        conn = unit.conn
        source = unit.ctx.source
        for v in sorted(patients, key=lambda x: x.rid or 0):
            assert v.rid is not None
            if v.content is None:
                self.remove(conn, v.rid, agent=source)
            else:
                self.register(conn, v.rid, v.id, fjson.loads(v.content), v.lu, source, fresh=v.version == 1)

    # -- candidates and scoring (also used read-only by $match) -------------------------------
    def frequencies(
        self, conn: Connection, record: dict[str, Any], others: Sequence[dict[str, Any]]
    ) -> TermFrequencies:
        values = [str(r[TF_FIELD]) for r in (record, *others) if r.get(TF_FIELD)]
        counts, total = index.term_counts(conn, TF_FIELD, values)
        total = max(total, TF_MIN_POPULATION)
        return TermFrequencies({TF_FIELD: {v: n / total for v, n in counts.items()}}, {TF_FIELD: total})

    def score(
        self, conn: Connection, model: MatchModel, record: dict[str, Any], found: dict[int, int]
    ) -> list[tuple[Registration, PairExplanation]]:
        """Compare ``record`` with the candidates ``found`` (rid → rule number), strongest first."""
        regs = index.registrations(conn, found)
        tf = self.frequencies(conn, record, [r.record for r in regs.values()])
        model.check(self.spec)
        found_regs = [(r, found[r.rid]) for r in regs.values()]
        scored = score_candidates(record, found_regs, self.spec, model, tf, prune=False)  # every candidate
        return [(c.reg, explain(record, c, model)) for c in scored]

    def candidates(
        self, conn: Connection, rid: int, keys: Sequence[StoredKey], sizes: dict[int, int]
    ) -> dict[int, int]:
        return index.candidate_rids(conn, rid, keys, sizes, self.spec.max_block, self.spec.window)

    # -- registering -------------------------------------------------------------------------
    def register(
        self,
        conn: Connection,
        rid: int,
        id: str,
        patient: dict[str, Any],
        lu: int,
        source: str,
        *,
        fresh: bool = False,
        agent: str | None = None,
    ) -> Outcome:
        """Match and store one Patient version (create or update) in the caller's transaction."""
        record = patient_record(patient)
        keys = record_keys(record, self.spec)
        trust = 1 if source in self.trusted else 0
        reg = Registration(rid, id, 0, "auto", source, trust, lu, record)
        if fresh and dialect.is_postgres(conn):
            return self._register_new_pg(conn, reg, keys, agent or source)
        return self._register(conn, reg, keys, fresh, agent or source)

    def _register_new_pg(self, conn: Connection, reg: Registration, keys: list[StoredKey], agent: str) -> Outcome:
        """A new registration in three statements (:mod:`rhip.mpi.index_pg`); same decisions as below."""
        record, rid = reg.record, reg.rid
        # the statements below are the same every time: a generic plan saves ≈ 2 ms of planning each
        plan_mode = index.lock_keys_planned(conn, [k.kh for k in keys])
        model = self.models.current(conn)
        name = str(record[TF_FIELD])[:128] if record.get(TF_FIELD) else None
        got = index_pg.prepare(
            conn,
            rid,
            keys,
            term_rows(rid, record, index.TOTAL_SHARDS),
            name,
            TF_FIELD,
            self.spec.max_block,
            self.spec.window,
            index.TOTAL_SHARDS,
        )
        if got.busy:
            raise index.dedupe_running()
        tf = frequencies_of(record, got.name_count, got.name_total)
        scored = score_candidates(record, got.found, self.spec, model, tf)
        holders = {pid: ric for pid, (ric, _) in got.persons.items()}
        plan = decide_registration(record, scored, holders, model)
        now = _now()
        reg.person, reg.status = plan.target or 0, plan.status
        version = None
        known: list[Registration] = []
        if plan.target is None:
            golden = golden_of([reg])
        else:  # if these are all its members (checked when writing), the golden record needs no read
            known = [r for r, _ in got.found if r.person == plan.target]
            golden = golden_of([*known, reg])
            version = got.persons[plan.target][1] if plan.target in got.persons else -1
        rows = decision_rows(plan, now, rid, plan.target or 0, model, agent)
        reviews = [(p.cand.reg.rid, p.person, p.why.total_weight) for p in plan.reviews(plan.target or 0)]
        person, tasks, written = index_pg.store(
            conn,
            reg,
            plan.target,
            version,
            golden,
            index.golden_text(golden),
            rows,
            reviews,
            members=len(known),
            plan_mode=plan_mode,
            now=now,
            model=model.version,
            agent=agent,
        )
        if not written:  # members that are not candidates, or the person changed meanwhile
            index.persons(conn, [person], lock=True)
            index.refresh_person(conn, person, now)
        return Outcome(rid, person, plan.decision, plan.candidates, tasks, [p.why for p in plan.pairs])

    def _register(self, conn: Connection, reg: Registration, keys: list[StoredKey], fresh: bool, agent: str) -> Outcome:
        """Any registration, one step per statement (:mod:`rhip.mpi.index`): SQLite, and updates."""
        record, rid = reg.record, reg.rid
        old = None if fresh else index.registration(conn, rid)
        old_keys = index.stored_keys(conn, rid) if old is not None else []
        index.lock_keys(conn, [k.kh for k in (*keys, *old_keys)])
        index.check_not_deduping(conn)
        if old is not None:
            index.remove_keys(conn, rid, old_keys)
            if old.record.get(TF_FIELD) and old.status != "pending":
                index.count_terms(conn, rid, {TF_FIELD: str(old.record[TF_FIELD])}, -1)
        sizes = index.add_keys(conn, rid, keys)
        if record.get(TF_FIELD):
            index.count_terms(conn, rid, {TF_FIELD: str(record[TF_FIELD])}, +1)
        model = self.models.current(conn)
        found = self.candidates(conn, rid, keys, sizes)
        regs = index.registrations(conn, found)
        name = str(record[TF_FIELD]) if record.get(TF_FIELD) else None
        counts, total = index.term_counts(conn, TF_FIELD, [name] if name else [])
        tf = frequencies_of(record, counts.get(name[:128], 0) if name else 0, total)
        scored = score_candidates(record, [(r, found[r.rid]) for r in regs.values()], self.spec, model, tf)
        holders = {p.person: p.ric_valid for p in index.persons(conn, {c.reg.person for c in scored}).values()}
        old_person = old.person if old is not None and old.status != "pending" else None
        alone = old_person is not None and all(m.rid == rid for m in index.members(conn, old_person))
        plan = decide_registration(record, scored, holders, model, old=old, alone=alone)
        return self._store(conn, reg, plan, old is None, model, agent)

    def _store(
        self, conn: Connection, reg: Registration, plan: Plan, new: bool, model: MatchModel, agent: str
    ) -> Outcome:
        now = _now()
        target = plan.target if plan.target is not None else index.new_person(conn, now)
        reg.person, reg.status = target, plan.status
        index.save_registration(conn, reg, new=new)
        ids = index.record_decisions(conn, decision_rows(plan, now, reg.rid, target, model, agent))
        tasks = []
        for pair, did in zip(plan.pairs, ids, strict=False):
            if pair.person == target:
                continue
            task = index.open_review(
                conn, target, pair.person, reg.rid, pair.cand.reg.rid, did, pair.why.total_weight, now
            )
            if task is not None:
                tasks.append(task)
        touched = {target}
        if plan.old_person is not None and plan.old_person != target:
            touched.add(plan.old_person)
        index.persons(conn, touched, lock=True)
        for pid in sorted(touched):
            index.refresh_person(conn, pid, now, replaced_by=target if pid != target else None)
        return Outcome(reg.rid, target, plan.decision, plan.candidates, tasks, [p.why for p in plan.pairs])

    def remove(self, conn: Connection, rid: int, *, agent: str) -> Outcome | None:
        """A deleted Patient leaves the index; its person is refreshed (retired when empty)."""
        old = index.registration(conn, rid)
        if old is None:
            return None
        keys = index.stored_keys(conn, rid)
        index.lock_keys(conn, [k.kh for k in keys])
        index.check_not_deduping(conn)
        index.remove_keys(conn, rid, keys)
        if old.record.get(TF_FIELD) and old.status != "pending":
            index.count_terms(conn, rid, {TF_FIELD: str(old.record[TF_FIELD])}, -1)
        index.delete_registration(conn, rid)
        now = _now()
        model = self.models.current(conn)
        index.record_decisions(conn, [empty_row(now, rid, old.person, model, agent, kind="delete")])
        index.persons(conn, [old.person], lock=True)
        index.refresh_person(conn, old.person, now)
        return Outcome(rid, old.person, "deleted")


_FALLBACK: list[Matcher] = []


def matcher_of(hooks: Sequence[object]) -> Matcher:
    """The repository's matcher (operations share its model cache); a default one if it has none."""
    for hook in hooks:
        if isinstance(hook, Matcher):
            return hook
    if not _FALLBACK:
        _FALLBACK.append(Matcher())
    return _FALLBACK[0]
