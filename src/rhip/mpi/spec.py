"""What a linkage job compares: comparisons, blocking rules, training rules, thresholds, exclusivity.

A :class:`LinkSpec` is code (comparisons are predicates), a :class:`~rhip.mpi.model.MatchModel` is
data (m/u per level, prior, thresholds) that names the spec it was trained for. The default spec for
FHIR Patients is :func:`person_spec`; other data sets (FEBRL in the benchmarks) build their own from
the generic comparisons of :mod:`rhip.mpi.comparison`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rhip.mpi.blocking import DEFAULT_MAX_BLOCK, DEFAULT_WINDOW, BlockingRule, block_on
from rhip.mpi.comparators import person_comparisons
from rhip.mpi.comparison import Comparison

PERSON_SPEC = "rhip-person-1"


@dataclass(frozen=True)
class LinkSpec:
    """Everything about a linkage job that is code rather than estimated parameters."""

    name: str
    comparisons: tuple[Comparison, ...]
    blocking_rules: tuple[BlockingRule, ...]  # candidate pairs for prediction (union)
    training_rules: tuple[BlockingRule, ...]  # one EM session each (Splink: comparisons on the rule's fields skipped)
    auto_link: float  # match weight (log2 odds) at or above which a pair is linked automatically
    review: float  # match weight at or above which a pair goes to the review queue
    deterministic_rules: tuple[BlockingRule, ...] = ()  # pairs that are almost surely matches (for the prior)
    deterministic_recall: float = 0.8  # share of all true matches those rules are assumed to catch
    exclusive_fields: tuple[str, ...] = ()  # a cluster never holds two different values of these
    evidence: tuple[str, ...] = ()  # an auto-link needs one of these comparisons agreeing (twins rule)
    max_block: int = DEFAULT_MAX_BLOCK
    window: int = DEFAULT_WINDOW

    def comparison(self, name: str) -> Comparison:
        """The comparison called ``name``."""
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(name)


def person_spec() -> LinkSpec:
    """Chinese person matching over :func:`rhip.mpi.records.patient_record` records.

    Blocking: ID number; pinyin name + birth date; phone; pinyin surname + birth date (another given
    name); health-card number; the first 14 ID characters (division + birth date) with the pinyin
    surname, which catches one-digit errors in the sequence part; pinyin name + birth year (a typo in
    month or day). Rule numbers are stored with the keys (:mod:`rhip.mpi.keys`): a rule is appended,
    not inserted, and an index built under other rules is rebuilt by ``rhip mpi dedupe --restart``.
    Thresholds and the choice of rules: see docs/decisions (matching; 0021 for the blocking rules).
    """
    return LinkSpec(
        name=PERSON_SPEC,
        comparisons=person_comparisons(),
        blocking_rules=(
            block_on("ric"),
            block_on("name_py", "birth_date"),
            block_on("phone"),
            block_on("family_py", "birth_date"),
            block_on("health_card"),
            block_on("ric14", "family_py"),
            block_on("name_py", "birth_year"),
        ),
        training_rules=(block_on("ric"), block_on("name_py", "birth_date")),
        auto_link=12.0,
        review=4.0,
        deterministic_rules=(block_on("ric_valid"), block_on("name_py", "birth_date", "phone")),
        deterministic_recall=0.9,
        exclusive_fields=("ric_valid",),
        evidence=("id_number", "name", "health_card", "identifiers"),
    )
