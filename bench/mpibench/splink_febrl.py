"""Splink (DuckDB backend) on FEBRL4, configured as Splink's own FEBRL4 example (the "detailed" model).

Same blocking rules, comparisons (NameComparison with term-frequency adjustments, DateOfBirthComparison,
Damerau-Levenshtein on soc_sec_id and postcode, exact street_number), the same training steps
(λ from deterministic rules at recall 0.8, u by random sampling, EM blocked on date_of_birth and on
postcode) and the example's auto-link threshold (match probability 0.99).
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def _frame(records: list[dict[str, Any]]) -> Any:
    df = pd.DataFrame(records).rename(columns={"id": "rec_id"}).drop(columns=["source"])
    return df.astype(object).where(pd.notna(df), None)


def run(
    a: list[dict[str, Any]], b: list[dict[str, Any]], *, threshold: float, u_pairs: float = 1e7
) -> tuple[set[tuple[str, str]], dict[str, Any]]:
    """Pairs (a id, b id) Splink predicts at ``threshold`` match probability, and run details."""
    import splink
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    blocking_rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("soc_sec_id"),
        block_on("state", "address_1"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    db_api = DuckDBAPI()
    dfs = [db_api.register(_frame(x)) for x in (a, b)]
    linker = Linker(dfs, settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode"), estimate_without_term_frequencies=True
    )
    pred = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    ids_a = {r["id"] for r in a}
    pairs = set()
    for left, right in zip(pred["rec_id_l"].astype(str), pred["rec_id_r"].astype(str), strict=True):
        pairs.add((left, right) if left in ids_a else (right, left))
    return pairs, {"splink_version": splink.__version__}
