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

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rhip.mpi.blocking import BlockingRule, block_on, block_on_unordered, candidate_pairs
    from rhip.mpi.comparison import Comparison, Level
    from rhip.mpi.frequencies import NO_FREQUENCIES, TermFrequencies, term_frequencies
    from rhip.mpi.linker import DECISIONS, FieldVerdict, LinkResult, PairExplanation, compare, explain, link
    from rhip.mpi.model import MatchModel
    from rhip.mpi.records import patient_record
    from rhip.mpi.spec import LinkSpec, person_spec
    from rhip.mpi.training import TrainingRecord, train

# Where each public name lives. Imported on first use (PEP 562), so that ``rhip.store`` can import
# ``rhip.mpi.tables`` without loading pypinyin, OpenCC and numpy into every process that opens a database.
_HOME = {
    "DECISIONS": "linker",
    "NO_FREQUENCIES": "frequencies",
    "BlockingRule": "blocking",
    "Comparison": "comparison",
    "FieldVerdict": "linker",
    "Level": "comparison",
    "LinkResult": "linker",
    "LinkSpec": "spec",
    "MatchModel": "model",
    "PairExplanation": "linker",
    "TermFrequencies": "frequencies",
    "TrainingRecord": "training",
    "block_on": "blocking",
    "block_on_unordered": "blocking",
    "candidate_pairs": "blocking",
    "compare": "linker",
    "explain": "linker",
    "link": "linker",
    "patient_record": "records",
    "person_spec": "spec",
    "term_frequencies": "frequencies",
    "train": "training",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'rhip.mpi' has no attribute {name!r}")
    value = getattr(import_module(f"rhip.mpi.{home}"), name)
    globals()[name] = value
    return value


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
