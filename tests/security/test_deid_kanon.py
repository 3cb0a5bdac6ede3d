"""The generalisation lattice search: k-anonymous, within the suppression budget, least generalised."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from rhip.security.deid.hierarchy import DIMENSIONS, REMOVED, prefecture
from rhip.security.deid.kanon import anonymise

DIMS = [DIMENSIONS["birth"], DIMENSIONS["gender"], DIMENSIONS["address"]]
ROW = st.tuples(
    st.sampled_from(["1950-03-02", "1950-03-20", "1951-07-01", "1956-11-30", "1962-01-15", None]),
    st.sampled_from(["male", "female", None]),
    st.sampled_from(["330522107201", "330522107202", "330521001002", "330523100200", "340102001001", None]),
)


def classes(table: list[tuple[str | None, ...]], node: tuple[int, ...]) -> Counter[tuple[str | None, ...]]:
    return Counter(tuple(d.generalise(v, lv) for d, v, lv in zip(DIMS, row, node, strict=True)) for row in table)


def loss(node: tuple[int, ...]) -> Fraction:
    return sum((Fraction(lv, d.top) for lv, d in zip(node, DIMS, strict=True)), Fraction(0))


@settings(max_examples=40, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=40), st.integers(2, 5), st.sampled_from([0.0, 0.1, 0.25]))
def test_the_solution_is_k_anonymous_and_no_less_generalised_node_is(
    table: list[tuple[str | None, ...]], k: int, max_suppression: float
) -> None:
    sol = anonymise(table, DIMS, k, max_suppression)
    allowed = math.floor(max_suppression * len(table) + 1e-9)
    kept = [row for i, row in enumerate(table) if i not in sol.suppressed]
    assert all(n >= k for n in classes(kept, sol.levels).values())
    if sol.feasible:
        assert len(sol.suppressed) <= allowed
    for node in product(*(range(d.top + 1) for d in DIMS)):
        if loss(node) < loss(sol.levels):
            small = sum(n for n in classes(table, node).values() if n < k)
            assert small > allowed, node


def test_without_a_budget_small_classes_force_generalisation() -> None:
    table = [("1950-03-02", "male", "330522107201")] * 3 + [("1950-03-20", "female", "330522107202")] * 3
    sol = anonymise(table, DIMS, 3, 0.0)
    assert sol.levels == (0, 0, 0)
    assert sol.classes == 2
    merged = anonymise(table, DIMS, 6, 0.0)
    assert merged.classes == 1
    assert merged.smallest == 6


def test_a_budget_suppresses_an_outlier_instead_of_generalising() -> None:
    table = [("1950-03-02", "male", "330522107201")] * 19 + [("1990-01-01", "female", "110101001001")]
    sol = anonymise(table, DIMS, 5, 0.05)
    assert sol.levels == (0, 0, 0)
    assert sol.suppressed == frozenset({19})


def test_fewer_persons_than_k_are_all_suppressed() -> None:
    sol = anonymise([("1950-03-02", "male", "330522107201")] * 2, DIMS, 5, 0.0)
    assert not sol.feasible
    assert sol.suppressed == frozenset({0, 1})


def test_division_codes_climb_the_gb_t_2260_hierarchy() -> None:
    address = DIMENSIONS["address"]
    steps = [address.generalise("330522107201", level) for level in range(address.top + 1)]
    assert steps == ["330522107201", "330522107", "330522", "330500", "330000", REMOVED]


def test_county_level_divisions_under_a_province_generalise_to_the_province() -> None:
    assert prefecture("429004") == "420000"
    assert prefecture("110101") == "110000"


def test_birth_dates_generalise_to_bands() -> None:
    birth = DIMENSIONS["birth"]
    steps = [birth.generalise("1956-04-26", level) for level in range(birth.top + 1)]
    assert steps == ["1956-04-26", "1956-04", "1956", "1955/1959", "1950/1959", REMOVED]
