"""Linking: decisions, explanations, exclusive clusters, model JSON, and a small synthetic region end to end."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from factories import patient

from rhip.identity import check_digit
from rhip.mpi import MatchModel, compare, explain, link, patient_record, person_spec, train
from rhip.mpi.frequencies import NO_FREQUENCIES, term_frequencies
from rhip.mpi.model import model_from_arrays
from rhip.mpi.spec import LinkSpec

RIC_A = "11010519491231002X"
RIC_B = "110105194912310038"  # a valid number of another person, same birth date


def hand_model(spec: LinkSpec) -> MatchModel:
    """Fixed parameters: agreement strong, partial agreement weaker, disagreement negative."""
    m, u = [], []
    for c in spec.comparisons:
        k = len(c.labels)
        mk = np.array([0.0] + [0.9] + [0.08 / max(k - 3, 1)] * (k - 3) + [0.02])
        uk = np.array([0.0] + [0.001] + [0.004 / max(k - 3, 1)] * (k - 3) + [0.995])
        if c.name in ("sex", "division"):
            uk[1], uk[-1] = 0.5, 0.5
        m.append(mk / mk.sum())
        u.append(uk / uk.sum())
    return model_from_arrays(spec, 1e-4, m, u)


@pytest.fixture(scope="module")
def spec() -> LinkSpec:
    return person_spec()


@pytest.fixture(scope="module")
def model(spec: LinkSpec) -> MatchModel:
    return hand_model(spec)


def test_same_person_is_auto_linked_with_an_explanation(spec: LinkSpec, model: MatchModel) -> None:
    why = compare(patient_record(patient("a")), patient_record(patient("b", name="張偉")), spec, model)
    levels = {f.comparison: f.level for f in why.fields}
    assert (why.decision, levels["name"], levels["id_number"], why.model_version) == (
        "auto-link",
        "simplified",
        "exact",
        model.version,
    )


def test_explanation_adds_up(spec: LinkSpec, model: MatchModel) -> None:
    why = compare(patient_record(patient("a")), patient_record(patient("b", phone="13900000000")), spec, model)
    total = why.prior_weight + sum(f.weight for f in why.fields)
    assert (round(total, 2), 0 < why.probability <= 1, why.rule.startswith("weight")) == (
        round(why.total_weight, 2),
        True,
        True,
    )


def test_different_person_is_not_linked(spec: LinkSpec, model: MatchModel) -> None:
    other = patient("b", name="李娜", ric=RIC_B, phone="13912345678", birth="1949-12-31", gender="male")
    assert compare(patient_record(patient("a")), patient_record(other), spec, model).decision == "no-link"


def test_different_valid_id_numbers_are_never_auto_linked(spec: LinkSpec, model: MatchModel) -> None:
    why = compare(patient_record(patient("a")), patient_record(patient("b", ric=RIC_B)), spec, model)
    assert (why.decision, why.rule.startswith("exclusive-pair")) == ("review", True)


def test_a_cluster_never_joins_two_valid_id_numbers(spec: LinkSpec, model: MatchModel) -> None:
    # c (no ID number) matches a and b equally well; a and b carry different valid numbers
    records = [
        patient_record(patient("a", ric=RIC_A)),
        patient_record(patient("b", ric=RIC_B)),
        patient_record(patient("c", ric=None)),
    ]
    result = link(records, spec, model, frequencies=NO_FREQUENCIES)
    clusters = [sorted(result.ids[i] for i in c) for c in result.clusters]
    valid = [{records[i]["ric_valid"] for i in c} - {None} for c in result.clusters]
    assert (max(len(v) for v in valid), len(clusters), result.count("review") >= 1) == (1, 2, True)


def test_linker_explains_each_candidate_pair(spec: LinkSpec, model: MatchModel) -> None:
    records = [patient_record(patient("a")), patient_record(patient("b", ric="110105491231002"))]
    result = link(records, spec, model)
    why = explain(result, 0, model)
    levels = {f.comparison: f.level for f in why.fields}
    assert (why.blocking_rule, levels["id_number"], why.decision, (why.left, why.right)) == (
        "block_on(ric)",
        "15-18-upgrade",
        "auto-link",
        ("Patient/a", "Patient/b"),
    )


def test_model_json_round_trip_keeps_the_version(model: MatchModel, spec: LinkSpec) -> None:
    text = model.to_json()
    again = MatchModel.from_json(text)
    again.check(spec)
    assert (again.version, again, json.loads(text)["format"]) == (model.version, model, "rhip-mpi-model/1")


def test_altered_parameters_are_refused(model: MatchModel) -> None:
    doc = json.loads(model.to_json())
    doc["prior"] = 0.5
    with pytest.raises(ValueError, match="version"):
        MatchModel.from_json(json.dumps(doc))


def test_model_for_another_spec_is_refused(model: MatchModel, spec: LinkSpec) -> None:
    other = LinkSpec(**{**spec.__dict__, "name": "other"})
    with pytest.raises(ValueError, match="spec"):
        model.check(other)


def test_thresholds_change_the_version(model: MatchModel) -> None:
    assert model.with_thresholds(auto_link=20, review=5).version != model.version


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, str]]:
    from rhip.synth import generate

    out: Path = tmp_path_factory.mktemp("region")
    generate(seed=11, residents=300, years=1, out=out, formats=("fhir-ndjson",), noise=0.3)
    with (out / "fhir" / "Patient.ndjson").open(encoding="utf-8") as fh:
        records = [patient_record(json.loads(line)) for line in fh]
    truth = {}
    for line in (out / "ground_truth.csv").read_text(encoding="utf-8").splitlines()[1:]:
        reg, person = line.split(",")[:2]
        truth[reg] = person
    return records, truth


def test_trained_model_links_a_noisy_region_without_false_merges(
    region: tuple[list[dict[str, Any]], dict[str, str]], spec: LinkSpec
) -> None:
    records, truth = region
    model, _ = train(records, spec, u_pairs=20_000)
    result = link(records, spec, model)
    persons_per_cluster = [len({truth[result.ids[i]] for i in c}) for c in result.clusters]
    by_person: dict[str, set[int]] = defaultdict(set)
    for c, members in enumerate(result.clusters):
        for i in members:
            by_person[truth[result.ids[i]]].add(c)
    split = sum(len(c) > 1 for c in by_person.values()) / len(by_person)
    assert (max(persons_per_cluster), split < 0.03) == (1, True)


def test_id_check_digit_helper_agrees_with_fixture() -> None:
    assert check_digit(RIC_B[:17]) == RIC_B[17]


def test_patient_without_identifier_or_name_stays_alone(spec: LinkSpec, model: MatchModel) -> None:
    empty = patient_record({"resourceType": "Patient", "id": "x", "birthDate": "1066-10-14"})
    records = [empty, patient_record(patient("a")), patient_record(patient("b"))]
    result = link(records, spec, model)
    assert sorted(len(c) for c in result.clusters) == [1, 2]


def test_agreeing_on_a_rare_name_weighs_more_than_on_a_common_one(spec: LinkSpec, model: MatchModel) -> None:
    population = [patient_record(patient(f"w{i}", name="王伟")) for i in range(50)]
    population.append(patient_record(patient("o", name="欧阳娜娜")))
    tf = term_frequencies(population, spec.comparisons)
    common = compare(population[0], population[1], spec, model, frequencies=tf)
    rare = compare(population[-1], patient_record(patient("p", name="欧阳娜娜")), spec, model, frequencies=tf)
    weight = {w.comparison: w for w in common.fields}["name"], {w.comparison: w for w in rare.fields}["name"]
    assert weight[0].tf_adjustment < weight[1].tf_adjustment


def test_twin_newborn_without_name_or_id_is_not_auto_linked(spec: LinkSpec, model: MatchModel) -> None:
    twin = patient_record(patient("a", name="郭颖", birth="2025-01-19", ric=None))
    newborn = patient_record(patient("n", name="王芳之女", birth="2025-01-19", ric=None))
    eager = model.with_thresholds(auto_link=0.0, review=-10.0)  # the household evidence alone would pass
    why = compare(twin, newborn, spec, eager)
    assert (why.decision, why.rule.startswith("no-personal-evidence")) == ("review", True)


def test_review_pairs_into_one_cluster_are_one_task(spec: LinkSpec, model: MatchModel) -> None:
    eager = model.with_thresholds(auto_link=0.0, review=-10.0)
    same = [patient_record(patient(x, name="郭颖", birth="2025-01-19", ric=None)) for x in ("a", "b")]
    newborn = patient_record(patient("n", name="王芳之女", birth="2025-01-19", ric=None))
    result = link([*same, newborn], spec, eager, frequencies=NO_FREQUENCIES)
    assert (result.count("review"), len(result.review_tasks())) == (2, 1)
