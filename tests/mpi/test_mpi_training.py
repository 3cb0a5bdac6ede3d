"""EM recovers m/u on generated data with known error rates; u from random pairs; the prior."""

from __future__ import annotations

import random
from typing import Any

import pytest

from rhip.mpi.blocking import block_on
from rhip.mpi.comparison import exact_match
from rhip.mpi.spec import LinkSpec
from rhip.mpi.training import train

FIELDS = ("a", "b", "c", "d")
ERROR = {"a": 0.05, "b": 0.10, "c": 0.20, "d": 0.15}  # P(field differs | match): m(exact) = 1 - error
CARDINALITY = {"a": 500, "b": 200, "c": 50, "d": 1000}  # u(exact) ≈ 1 / cardinality


def generated(persons: int, seed: int) -> list[dict[str, Any]]:
    """Two records per person; each field independently corrupted with its error rate."""
    rng = random.Random(seed)
    out = []
    for p in range(persons):
        truth = {f: rng.randrange(CARDINALITY[f]) for f in FIELDS}
        for copy in range(2):
            rec: dict[str, Any] = {"id": f"{p}-{copy}", "person": p}
            for f in FIELDS:
                noisy = copy == 1 and rng.random() < ERROR[f]
                rec[f] = (truth[f] + 1 + rng.randrange(CARDINALITY[f] - 1)) % CARDINALITY[f] if noisy else truth[f]
            out.append(rec)
    return out


def spec() -> LinkSpec:
    return LinkSpec(
        name="generated",
        comparisons=tuple(exact_match(f) for f in FIELDS),
        blocking_rules=(block_on("a"), block_on("d")),
        training_rules=(block_on("a"), block_on("d")),
        deterministic_rules=(block_on("a", "b", "c", "d"),),
        deterministic_recall=(1 - ERROR["a"]) * (1 - ERROR["b"]) * (1 - ERROR["c"]) * (1 - ERROR["d"]),
        auto_link=5.0,
        review=0.0,
    )


@pytest.fixture(scope="module")
def trained() -> Any:
    return train(generated(2000, seed=5), spec(), u_pairs=60_000, seed=2)


@pytest.mark.parametrize("field", FIELDS)
def test_em_recovers_m(trained: Any, field: str) -> None:
    model, _ = trained
    params = {c.name: c for c in model.comparisons}[field]
    assert params.levels[1].m == pytest.approx(1 - ERROR[field], abs=0.03)


@pytest.mark.parametrize("field", FIELDS)
def test_random_pairs_recover_u(trained: Any, field: str) -> None:
    model, _ = trained
    params = {c.name: c for c in model.comparisons}[field]
    assert params.levels[1].u == pytest.approx(1 / CARDINALITY[field], rel=0.35, abs=2e-4)


def test_prior_from_deterministic_rules_is_one_match_per_person(trained: Any) -> None:
    model, _ = trained
    n = 4000
    assert model.prior == pytest.approx(2000 / (n * (n - 1) / 2), rel=0.1)


def test_sessions_skip_the_blocked_comparison(trained: Any) -> None:
    _, record = trained
    assert [s.skipped for s in record.sessions] == [("a",), ("d",)]
