"""The bundled code systems in memory (no database): loading, ICD-10 extension rule, divisions, text rules."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from rhip.terminology import bundled as bundled_mod
from rhip.terminology.bundled import Bundled, bundled, implicit
from rhip.terminology.codesystem import from_resource, same_display
from rhip.terminology.dates import Period, effective_period, first_day, last_day
from rhip.terminology.icd10 import derive_who_parent
from rhip.terminology.text import filter_terms, fold, version_key

ICD10 = "http://hl7.org/fhir/sid/icd-10"
DIV = "http://rhip.cn/fhir/CodeSystem/gb-t-2260"
DATA = Path(bundled_mod.__file__).resolve().parent / "data"


def test_nothing_is_loaded_at_import_and_loading_is_fast() -> None:
    code = (
        "import time, rhip.app, rhip.fhir.operations.registry as r, rhip.terminology.bundled as b\n"
        "r.operations()\n"
        "assert b._loaded is None, 'bundled data loaded at import'\n"
        "t = time.perf_counter(); b.bundled(); print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    elapsed = float(out.stdout.strip())
    assert elapsed < 1.5, f"loading the bundled data took {elapsed:.2f} s"  # target 0.5 s; slack for busy CI


def test_loaded_once_per_process() -> None:
    assert bundled() is bundled()


def test_every_system_and_the_icd10_oid_alias() -> None:
    b = bundled()
    assert b.get(ICD10) is b.get("urn:oid:2.16.156.10011.2.3.3.11")
    icd = b.get(ICD10)
    assert icd is not None
    assert icd.version == "2019-zh"
    assert len(icd.order) == 12542
    assert b.get(ICD10, "2016") is None
    assert b.get(DIV) is not None
    assert b.get("urn:oid:2.16.156.10011.2.3.3.4") is not None  # GB/T 2261.1 sex
    assert len(b.systems) == 2 + 11


def test_notifiable_list_is_effective_dated() -> None:
    b = bundled()
    url = "http://rhip.cn/fhir/CodeSystem/notifiable-infectious-disease"
    assert b.get(url, day=date(2024, 1, 1)) is not None
    assert b.get(url, day=date(2025, 9, 1)) is None
    assert b.get(url, day=date(2023, 9, 19)) is None


@pytest.mark.parametrize(
    ("code", "parent"),
    [
        ("E11.900x001", "E11.9"),
        ("E11.900", "E11.9"),
        ("I10.x00", "I10"),
        ("I10.x00x002", "I10"),
        ("K35.900", "K35"),
        ("E11.9", None),
        ("E11.900x01", None),
        ("e11.900", None),
        ("Q99.999", "Q99.9"),
        ("U99.900", None),  # WHO 2019 has no U99: unknown category
    ],
)
def test_derive_who_parent_follows_the_readme_rule(code: str, parent: str | None) -> None:
    icd = bundled().get(ICD10)
    assert icd is not None
    assert derive_who_parent(code, icd.concepts) == parent


def test_every_bundled_extension_row_agrees_with_the_rule() -> None:
    icd = bundled().get(ICD10)
    assert icd is not None
    lines = (DATA / "icd10_cn_extensions.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(lines) == 16
    for line in lines:
        code, _form, who_parent, title, *_ = line.split("\t")
        concept = icd.find(code)
        assert concept is not None
        assert concept.display == title
        assert ("parent", who_parent) in icd.lookup_properties(concept, None)


def test_icd10_hierarchy_and_extension_ancestry() -> None:
    icd = bundled().get(ICD10)
    assert icd is not None
    assert icd.ancestors("E11.9") == ["E11", "E10-E14", "IV"]
    assert icd.ancestors("E11.900x001") == ["E11.900", "E11.9", "E11", "E10-E14", "IV"]
    assert icd.subsumes("E11", "E11.900x001") == "subsumes"
    assert icd.subsumes("E11.900", "E11.900x001") == "subsumes"
    assert icd.subsumes("E11.9", "E11") == "subsumed-by"
    assert icd.subsumes("E11", "E10") == "not-subsumed"
    assert icd.subsumes("I10", "I10") == "equivalent"
    assert "I10" in icd.descendants("I10-I15")
    chapter = icd.find("IX")
    assert chapter is not None
    assert chapter.abstract


def test_division_name_periods() -> None:
    div = bundled().get(DIV)
    assert div is not None
    c = div.find("120110")
    assert c is not None
    assert c.display == "东丽区"
    assert div.display_at(c, date(1990, 6, 1), None) == "东郊区"
    old = div.find("110103")
    assert old is not None
    assert old.inactive
    assert div.valid_at(old, date(2009, 1, 1))
    assert not div.valid_at(old, date(2011, 1, 1))
    assert div.subsumes("110000", "110103") == "subsumes"
    beijing = div.find("110000")
    assert beijing is not None
    assert "110101" in beijing.children


def test_text_rules() -> None:
    assert fold(" 特发性(原发性)高血压 ") == fold("特发性（原发性）高血压")
    assert same_display("essential (PRIMARY) hypertension", ["Essential (primary) hypertension"])
    assert filter_terms("Type 2  DIABETES") == ("type", "2", "diabetes")
    assert version_key("10") > version_key("9") > version_key(None)
    assert version_key("2024-01") > version_key("2023")
    assert implicit(f"{ICD10}?fhir_vs") == (ICD10, None)
    assert implicit(f"{ICD10}?fhir_vs=isa/I10") == (ICD10, "I10")
    assert implicit(ICD10) is None


def test_dates_and_effective_periods() -> None:
    assert first_day("2015") == date(2015, 1, 1)
    assert last_day("2024-02") == date(2024, 2, 29)
    assert first_day("2024-13-01") is None
    ext = "http://hl7.org/fhir/StructureDefinition/"
    assert effective_period(
        {
            "resourceType": "ValueSet",
            "extension": [
                {"url": f"{ext}resource-effectivePeriod", "valuePeriod": {"start": "2024", "end": "2024-06"}}
            ],
        }
    ) == Period(date(2024, 1, 1), date(2024, 6, 30))
    assert effective_period(
        {
            "resourceType": "CodeSystem",
            "extension": [
                {"url": f"{ext}valueset-effectiveDate", "valueDate": "2020-01-01"},
                {"url": f"{ext}codesystem-expirationDate", "valueDate": "2021-01-01"},
            ],
        }
    ) == Period(date(2020, 1, 1), date(2020, 12, 31))
    assert effective_period({"resourceType": "ConceptMap", "date": "2022-05-01"}) == Period(date(2022, 5, 1), None)
    assert effective_period({"resourceType": "ConceptMap"}) == Period()


def test_stored_code_system_nesting_and_properties() -> None:
    cs = from_resource(
        {
            "resourceType": "CodeSystem",
            "url": "http://h.example.cn/cs/dx",
            "status": "active",
            "content": "complete",
            "concept": [
                {
                    "code": "XB",
                    "display": "心血管病",
                    "concept": [
                        {"code": "GXY", "display": "高血压", "designation": [{"language": "en", "value": "HTN"}]}
                    ],
                },
                {"code": "OLD", "display": "旧码", "property": [{"code": "inactive", "valueBoolean": True}]},
            ],
        }
    )
    assert cs.subsumes("XB", "GXY") == "subsumes"
    gxy = cs.find("GXY")
    assert gxy is not None
    assert gxy.display_in("en") == "HTN"
    assert gxy.display_in("zh") == "高血压"
    old = cs.find("OLD")
    assert old is not None
    assert old.inactive


def test_a_fresh_load_is_independent_of_the_singleton() -> None:
    t = time.perf_counter()
    b = Bundled()
    assert time.perf_counter() - t < 3
    assert b.get(ICD10) is not bundled().get(ICD10)
