"""Master person index, matching engine: normalise → block → compare → score → decide → cluster.

Pure domain code (no web layer, no database). The public face is ``__all__``; the modules behind it
are free to change. See README.md in this folder and docs/decisions (MPI matching).

Typical use::

    records = [patient_record(p) for p in patients]          # FHIR Patient dicts
    spec = person_spec()
    model, training = train(records, spec)                     # u by random pairs, m by EM
    text = model.to_json(); model = MatchModel.from_json(text)
    result = link(records, spec, model)                        # pairs, decisions, clusters
    why = explain(result, k, model)                            # per-field levels and weights
    one = compare(records[0], records[1], spec, model)         # online: one pair, explained
    tf = term_frequencies(records, spec.comparisons)           # name frequencies (batch default)
"""

from __future__ import annotations

from rhip.mpi.blocking import BlockingRule, block_on, block_on_unordered, candidate_pairs
from rhip.mpi.comparison import Comparison, Level
from rhip.mpi.frequencies import NO_FREQUENCIES, TermFrequencies, term_frequencies
from rhip.mpi.linker import DECISIONS, FieldVerdict, LinkResult, PairExplanation, compare, explain, link
from rhip.mpi.model import MatchModel
from rhip.mpi.records import patient_record
from rhip.mpi.spec import LinkSpec, person_spec
from rhip.mpi.training import TrainingRecord, train

__all__ = [
    "DECISIONS",
    "NO_FREQUENCIES",
    "BlockingRule",
    "Comparison",
    "FieldVerdict",
    "Level",
    "LinkResult",
    "LinkSpec",
    "MatchModel",
    "PairExplanation",
    "TermFrequencies",
    "TrainingRecord",
    "block_on",
    "block_on_unordered",
    "candidate_pairs",
    "compare",
    "explain",
    "link",
    "patient_record",
    "person_spec",
    "term_frequencies",
    "train",
]
