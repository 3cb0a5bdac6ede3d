"""Same seed → same bytes; different seed → different data; CLI options."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rhip.synth import add_arguments, generate, run

FORMATS = ("fhir-ndjson", "bundles", "hl7v2", "cda")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = generate(seed=7, residents=200, years=2, out=tmp_path / "a", formats=FORMATS)
    b = generate(seed=7, residents=200, years=2, out=tmp_path / "b", formats=FORMATS)
    assert a == b
    ta, tb = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert ta.keys() == tb.keys()
    assert len(ta) > 20
    assert all(ta[k] == tb[k] for k in ta)
    c = generate(seed=8, residents=200, years=2, out=tmp_path / "c")
    assert (tmp_path / "c" / "fhir" / "Patient.ndjson").read_bytes() != ta["fhir/Patient.ndjson"]
    assert c["persons"] >= 200


def test_rerun_into_the_same_directory_replaces_the_output(tmp_path: Path) -> None:
    out = tmp_path / "r"
    generate(seed=1, residents=60, years=1, out=out, formats=FORMATS)
    first = _tree(out)
    generate(seed=1, residents=60, years=1, out=out, formats=("fhir-ndjson",))
    assert not (out / "hl7v2").exists()
    assert _tree(out)["fhir/Patient.ndjson"] == first["fhir/Patient.ndjson"]


def test_refuses_to_overwrite_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "fhir").mkdir()
    with pytest.raises(FileExistsError):
        generate(seed=1, residents=10, years=1, out=tmp_path)


def test_cli_arguments_and_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "x")])
    assert (args.seed, args.residents, args.years, args.formats) == (42, 10000, 3, None)
    args = parser.parse_args(
        [
            "--out",
            str(tmp_path / "x"),
            "--residents",
            "40",
            "--years",
            "1",
            "--format",
            "fhir-ndjson,hl7v2",
            "--format",
            "cda",
        ]
    )
    assert run(args) == 0
    assert '"hl7v2"' in capsys.readouterr().out
    assert (tmp_path / "x" / "cda").is_dir()
    assert (tmp_path / "x" / "ground_truth.csv").is_file()
    bad = parser.parse_args(["--out", str(tmp_path / "y"), "--format", "xml"])
    assert run(bad) == 2
    assert "unknown format" in capsys.readouterr().err
