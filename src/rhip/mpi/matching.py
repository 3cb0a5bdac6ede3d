"""What matching one registration decides, given what the index holds: shared by online and batch.

The online matcher (:mod:`rhip.mpi.online`, candidates read from the database) and the batch job
(:mod:`rhip.mpi.batch`, candidates kept in memory) both gather the same inputs — the candidates with
the first blocking rule that found them, the count of the record's name and the name total, and the
valid 身份证号 each candidate person holds — and hand them to :func:`decide_registration`. Everything
after candidate retrieval is therefore one piece of code, which is what makes ``rhip mpi dedupe``
give the result online matching gives for the same registrations in the same order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rhip.mpi import linker
from rhip.mpi.frequencies import TermFrequencies
from rhip.mpi.golden import Member, golden_values
from rhip.mpi.index import Registration
from rhip.mpi.linker import AUTO, REVIEW, PairExplanation, Scored, explanation
from rhip.mpi.model import MatchModel
from rhip.mpi.spec import LinkSpec

TF_FIELD = "name"
TF_MIN_POPULATION = 10_000
"""Denominator floor of online term frequencies: in a young index every name is "common" (two
registrations of one 张伟 out of two would be a share of 1), which would penalise exact name agreement
by up to log2(1/u); below this many registrations shares are taken out of this many."""
TF_WIDTH = 128
"""Stored width of a counted value (``mpi_term_counts.value``)."""
EXCLUSIVE = "exclusive-cluster: the person holds another valid ric_valid (review at most)"


def frequencies_of(record: Mapping[str, Any], count: int, total: int) -> TermFrequencies:
    """Term frequencies for comparing ``record``: its name's count and the total of counted names.

    Only the record's own name matters: the adjustment applies to exact name agreement, where the
    candidate carries the same name.
    """
    total = max(total, TF_MIN_POPULATION)
    value = record.get(TF_FIELD)
    share: dict[object, float] = {str(value)[:TF_WIDTH]: count / total} if value else {}
    return TermFrequencies({TF_FIELD: share}, {TF_FIELD: total})


def term_rows(rid: int, record: Mapping[str, Any], shards: int) -> list[tuple[str, str]]:
    """The ``mpi_term_counts`` rows a registration counts in: its name and its total shard (sorted)."""
    value = record.get(TF_FIELD)
    if not value:
        return []
    return sorted([(TF_FIELD, str(value)[:TF_WIDTH]), (TF_FIELD, f"#{rid % shards}")])


@dataclass(slots=True)
class Candidate:
    """A registration sharing a blocking key with the incoming one, scored."""

    reg: Registration
    blocking: str  # name of the first blocking rule that found it
    scored: Scored

    @property
    def weight(self) -> float:
        return self.scored.weight


def score_candidates(
    record: Mapping[str, Any],
    found: Iterable[tuple[Registration, int]],
    spec: LinkSpec,
    model: MatchModel,
    tf: TermFrequencies,
    *,
    prune: bool = True,
) -> list[Candidate]:
    """Candidates (registration, rule number) scored against ``record``, strongest first (then rid).

    Candidates that can matter only (:func:`rhip.mpi.linker.score_candidates`: a no-link pair below
    the strongest one is neither stored nor decides anything); those found by earlier blocking rules
    (the ID number first) are scored first, so the strongest pair is known early.
    """
    rules = spec.blocking_rules
    regs = {reg.rid: (reg, rule) for reg, rule in sorted(found, key=lambda x: (x[1], x[0].rid))}
    pairs = [(rid, reg.record) for rid, (reg, _) in regs.items()]
    scored = linker.score_candidates(record, pairs, spec, model, tf, prune=prune)
    return [Candidate(regs[rid][0], rules[regs[rid][1]].name, s) for rid, s in scored]


def explain(
    record: Mapping[str, Any], cand: Candidate, model: MatchModel, demoted: str | None = None
) -> PairExplanation:
    """The explanation of a scored candidate (``demoted``: the cluster rule that held an auto-link back)."""
    return explanation(record, cand.reg.record, cand.scored, model, blocking_rule=cand.blocking, demoted=demoted)


@dataclass
class Pair:
    """The best pair with one candidate person that is stored as a decision (auto-link or review)."""

    person: int
    cand: Candidate
    why: PairExplanation


@dataclass
class Plan:
    """What registering one record does: the person it joins (None: a new one), decisions, review pairs."""

    target: int | None
    decision: str  # auto-link | new-person | kept
    status: str  # link status of the registration
    old_person: int | None
    pairs: list[Pair] = field(default_factory=list)  # auto-link / review pairs, strongest person first
    top: Pair | None = None  # the best no-link candidate, stored when there is no pair
    candidates: int = 0

    def reviews(self, target: int) -> list[Pair]:
        """The pairs that open a review task (with a person other than the one joined)."""
        return [p for p in self.pairs if p.person != target]


def decide_registration(
    record: Mapping[str, Any],
    scored: list[Candidate],
    holders: Mapping[int, str | None],
    model: MatchModel,
    *,
    old: Registration | None = None,
    alone: bool = False,
) -> Plan:
    """The decision for one registration (the online rules, decision 0017).

    ``holders``: the valid 身份证号 (golden) each candidate person holds; ``old``: the registration's
    previous state on an update; ``alone``: whether it is its person's only member.
    """
    best: dict[int, Candidate] = {}
    for cand in scored:
        if cand.reg.person not in best:
            best[cand.reg.person] = cand
    mine = record.get("ric_valid")
    auto: list[int] = []
    pairs: list[Pair] = []
    for pid, cand in best.items():
        code = cand.scored.code
        demoted = None
        if code == AUTO and mine and holders.get(pid) and holders[pid] != mine:
            demoted, code = EXCLUSIVE, REVIEW
        if code == AUTO:
            auto.append(pid)
        if code in (AUTO, REVIEW):
            pairs.append(Pair(pid, cand, explain(record, cand, model, demoted)))
    old_person = old.person if old is not None and old.status != "pending" else None
    manual = old is not None and old.status == "manual"
    target: int | None
    if manual or (old_person is not None and (old_person in auto or not alone)):
        target, decision, status = old_person, "kept", (old.status if old else "auto")
    elif auto:
        target, decision, status = auto[0], "auto-link", "auto"
    elif old_person is not None:
        target, decision, status = old_person, "kept", "new"
    else:
        target, decision, status = None, "new-person", "new"
    plan = Plan(target, decision, status, old_person, pairs, candidates=len(scored))
    if not pairs and scored:
        top = scored[0]
        plan.top = Pair(top.reg.person, top, explain(record, top, model))
    return plan


def fields_json(why: PairExplanation) -> str:
    """Per-field verdicts as stored with a decision (level, weight, m, u, term-frequency part)."""
    rows = [
        {
            "comparison": f.comparison,
            "level": f.level,
            "weight": f.weight,
            "m": f.m,
            "u": f.u,
            "tf_adjustment": f.tf_adjustment,
        }
        for f in why.fields
    ]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def decision_rows(plan: Plan, now: int, rid: int, target: int, model: MatchModel, agent: str) -> list[dict[str, Any]]:
    """The ``mpi_decisions`` rows of a plan once its person is known (pairs, else the closest miss)."""
    chosen = plan.pairs or ([plan.top] if plan.top is not None else [])
    if not chosen:
        return [empty_row(now, rid, target, model, agent)]
    return [
        {
            "ts": now,
            "kind": "match",
            "rid": rid,
            "other": p.cand.reg.rid,
            "person": target,
            "other_person": p.person,
            "model": model.version,
            "score": p.why.total_weight,
            "decision": p.why.decision,
            "rule": p.why.rule,
            "blocking": p.why.blocking_rule[:96],
            "fields": fields_json(p.why),
            "agent": agent[:80],
        }
        for p in chosen
    ]


def empty_row(now: int, rid: int, person: int, model: MatchModel, agent: str, kind: str = "match") -> dict[str, Any]:
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


def golden_of(regs: Iterable[Registration]) -> dict[str, Any]:
    """Golden values of a person from its registrations (survivorship, :mod:`rhip.mpi.golden`)."""
    return golden_values([Member(f"Patient/{r.id}", r.trust, r.lu, r.record) for r in regs])
