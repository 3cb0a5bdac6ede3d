"""Blocking: keys, unordered rules, and the cap that keeps common names from exploding quadratically."""

from __future__ import annotations

import time

from rhip.mpi.blocking import BlockingStats, block_on, block_on_unordered, candidate_pairs


def test_records_sharing_a_key_are_paired_once_with_the_first_rule() -> None:
    recs = [{"id": 1, "x": "a", "y": "b"}, {"id": 2, "x": "a", "y": "b"}, {"id": 3, "x": "c", "y": "b"}]
    pairs = candidate_pairs(recs, [block_on("x"), block_on("y")])
    assert pairs == {(0, 1): "block_on(x)", (0, 2): "block_on(y)", (1, 2): "block_on(y)"}


def test_missing_values_do_not_block() -> None:
    assert candidate_pairs([{"x": None}, {"x": None}], [block_on("x")]) == {}


def test_unordered_rule_pairs_swapped_names() -> None:
    recs = [{"given": "wei", "family": "zhang"}, {"given": "zhang", "family": "wei"}]
    assert list(candidate_pairs(recs, [block_on_unordered("given", "family")])) == [(0, 1)]


def test_ten_thousand_namesakes_stay_linear() -> None:
    n, window = 10_000, 10
    recs = [{"id": i, "name_py": "wangwei", "birth_date": "19800101", "phone": f"138{i:08d}"} for i in range(n)]
    stats = BlockingStats()
    t0 = time.perf_counter()
    pairs = candidate_pairs(recs, [block_on("name_py", "birth_date")], max_block=100, window=window, stats=stats)
    seconds = time.perf_counter() - t0
    assert (len(pairs) <= n * window, stats.capped_blocks, stats.largest_block, seconds < 5) == (True, 1, n, True)


def test_capped_block_pairs_neighbours_by_the_secondary_key() -> None:
    recs = [{"k": "same", "ric": f"{i:04d}", "id": i} for i in (5, 1, 4, 2, 3)]
    pairs = candidate_pairs(recs, [block_on("k")], max_block=2, window=1)
    by_ric = {tuple(sorted((recs[i]["ric"], recs[j]["ric"]))) for i, j in pairs}
    assert by_ric == {("0001", "0002"), ("0002", "0003"), ("0003", "0004"), ("0004", "0005")}


def test_allow_filters_pairs() -> None:
    recs = [{"k": 1, "s": "a"}, {"k": 1, "s": "a"}, {"k": 1, "s": "b"}]
    pairs = candidate_pairs(recs, [block_on("k")], allow=lambda i, j: recs[i]["s"] != recs[j]["s"])
    assert set(pairs) == {(0, 2), (1, 2)}
