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

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from rhip.fhir import json as fjson
from rhip.mpi import index
from rhip.mpi.frequencies import TermFrequencies
from rhip.mpi.index import Registration
from rhip.mpi.keys import StoredKey, record_keys
from rhip.mpi.linker import DECISIONS, REVIEW, PairExplanation, compare
from rhip.mpi.model import MatchModel
from rhip.mpi.model_store import ModelCache
from rhip.mpi.records import patient_record
from rhip.mpi.spec import LinkSpec, person_spec

if TYPE_CHECKING:
    from rhip.store.repository import Unit
    from rhip.store.write import NewVersion

TF_FIELD = "name"
TF_MIN_POPULATION = 10_000
"""Denominator floor of online term frequencies: in a young index every name is "common" (two
registrations of one 张伟 out of two would be a share of 1), which would penalise exact name agreement
by up to log2(1/u); below this many registrations shares are taken out of this many."""


@dataclass
class Outcome:
    """What matching one registration did (returned for tests, the CLI and the benchmark)."""

    rid: int
    person: int
    decision: str  # auto-link | new-person | kept | deleted
    candidates: int = 0
    reviews: list[int] = field(default_factory=list)
    explanations: list[PairExplanation] = field(default_factory=list)


def _now() -> int:
    return time.time_ns() // 1_000_000


def fields_json(why: PairExplanation) -> str:
    """Per-field verdicts as stored with a decision (level, weight, m, u, term-frequency part)."""
    return json.dumps([asdict(f) for f in why.fields], ensure_ascii=False, separators=(",", ":"))


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
        out = []
        for rid, reg in regs.items():
            why = compare(record, reg.record, self.spec, model, frequencies=tf)
            rule = self.spec.blocking_rules[found[rid]].name
            out.append((reg, _with_blocking(why, rule)))
        out.sort(key=lambda x: (-x[1].total_weight, x[0].rid))
        return out

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
        old = None if fresh else index.registration(conn, rid)
        old_keys = index.stored_keys(conn, rid) if old is not None else []
        index.lock_keys(conn, [k.kh for k in (*keys, *old_keys)])
        if old is not None:
            index.remove_keys(conn, rid, old_keys)
            if old.record.get(TF_FIELD) and old.status != "pending":
                index.count_terms(conn, rid, {TF_FIELD: str(old.record[TF_FIELD])}, -1)
        sizes = index.add_keys(conn, rid, keys)
        if record.get(TF_FIELD):
            index.count_terms(conn, rid, {TF_FIELD: str(record[TF_FIELD])}, +1)
        model = self.models.current(conn)
        scored = self.score(conn, model, record, self.candidates(conn, rid, keys, sizes))
        now = _now()
        trust = 1 if source in self.trusted else 0
        reg = Registration(rid, id, 0, "auto", source, trust, lu, record)

        best: dict[int, tuple[Registration, PairExplanation]] = {}
        for cand, why in scored:
            if cand.person not in best:
                best[cand.person] = (cand, why)
        holders = index.persons(conn, best)
        auto, review = [], []
        for pid, (cand, why) in best.items():
            held = holders[pid].ric_valid if pid in holders else None
            if why.decision == "auto-link" and record.get("ric_valid") and held and held != record["ric_valid"]:
                why = _demoted(why, "exclusive-cluster: the person holds another valid ric_valid (review at most)")
                best[pid] = (cand, why)
            if why.decision == "auto-link":
                auto.append(pid)
            elif why.decision == "review":
                review.append(pid)

        old_person = old.person if old is not None and old.status != "pending" else None
        manual = old is not None and old.status == "manual"
        alone = old_person is not None and all(m.rid == rid for m in index.members(conn, old_person))
        if manual or (old_person is not None and (old_person in auto or not alone)):
            target, decision, status = old_person, "kept", (old.status if old else "auto")
        elif auto:
            target, decision, status = auto[0], "auto-link", "auto"
        elif old_person is not None:
            target, decision, status = old_person, "kept", "new"
        else:
            target, decision, status = None, "new-person", "new"
        if target is None:
            target = index.new_person(conn, now)
        reg.person, reg.status = target, status
        index.save_registration(conn, reg, new=old is None)

        rows, pairs = [], []
        for pid, (cand, why) in best.items():
            if why.decision == "no-link":
                continue
            rows.append(_decision_row(now, rid, cand, target, pid, model, why, agent or source))
            pairs.append((pid, cand, why))
        if not rows:
            top = scored[0] if scored else None
            if top is not None:
                rows.append(_decision_row(now, rid, top[0], target, top[0].person, model, top[1], agent or source))
            else:
                rows.append(_empty_row(now, rid, target, model, agent or source))
        ids = index.record_decisions(conn, rows)
        reviews = []
        for (pid, cand, why), did in zip(pairs, ids, strict=False):
            if pid == target:
                continue
            task = index.open_review(conn, target, pid, rid, cand.rid, did, why.total_weight, now)
            if task is not None:
                reviews.append(task)
        touched = {target}
        if old_person is not None and old_person != target:
            touched.add(old_person)
        index.persons(conn, touched, lock=True)
        for pid in sorted(touched):
            index.refresh_person(conn, pid, now, replaced_by=target if pid != target else None)
        return Outcome(rid, target, decision, len(scored), reviews, [w for _, w in scored])

    def remove(self, conn: Connection, rid: int, *, agent: str) -> Outcome | None:
        """A deleted Patient leaves the index; its person is refreshed (retired when empty)."""
        old = index.registration(conn, rid)
        if old is None:
            return None
        keys = index.stored_keys(conn, rid)
        index.lock_keys(conn, [k.kh for k in keys])
        index.remove_keys(conn, rid, keys)
        if old.record.get(TF_FIELD) and old.status != "pending":
            index.count_terms(conn, rid, {TF_FIELD: str(old.record[TF_FIELD])}, -1)
        index.delete_registration(conn, rid)
        now = _now()
        model = self.models.current(conn)
        index.record_decisions(conn, [_empty_row(now, rid, old.person, model, agent, kind="delete")])
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


def _with_blocking(why: PairExplanation, rule: str) -> PairExplanation:
    from dataclasses import replace

    return replace(why, blocking_rule=rule)


def _demoted(why: PairExplanation, rule: str) -> PairExplanation:
    from dataclasses import replace

    return replace(why, decision=DECISIONS[REVIEW], rule=rule)


def _decision_row(
    now: int,
    rid: int,
    cand: Registration,
    person: int,
    other_person: int,
    model: MatchModel,
    why: PairExplanation,
    agent: str,
) -> dict[str, Any]:
    return {
        "ts": now,
        "kind": "match",
        "rid": rid,
        "other": cand.rid,
        "person": person,
        "other_person": other_person,
        "model": model.version,
        "score": why.total_weight,
        "decision": why.decision,
        "rule": why.rule,
        "blocking": why.blocking_rule[:96],
        "fields": fields_json(why),
        "agent": agent[:80],
    }


def _empty_row(now: int, rid: int, person: int, model: MatchModel, agent: str, kind: str = "match") -> dict[str, Any]:
    return {
        "ts": now,
        "kind": kind,
        "rid": rid,
        "other": None,
        "person": person,
        "other_person": None,
        "model": model.version,
        "score": None,
        "decision": "no-link",
        "rule": "no candidates share a blocking key" if kind == "match" else "registration deleted",
        "blocking": "",
        "fields": "[]",
        "agent": agent[:80],
    }
