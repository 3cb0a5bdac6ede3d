"""``ValueSet/$expand`` over HTTP (filter, paging, stored and versioned value sets), SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

ICD10 = "http://hl7.org/fhir/sid/icd-10"
DIV = "http://rhip.cn/fhir/CodeSystem/gb-t-2260"
ALL_ICD = f"{ICD10}?fhir_vs"
VS = "http://region.example.cn/fhir/ValueSet/chronic"


def expand(api: Any, **params: Any) -> dict[str, Any]:
    r = api.get("/ValueSet/$expand", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["resourceType"] == "ValueSet"
    return body


def codes(vs: dict[str, Any]) -> list[str]:
    return [c["code"] for c in vs["expansion"].get("contains", [])]


def test_filter_in_chinese_with_consistent_paging(api: Any) -> None:
    first = expand(api, url=ALL_ICD, filter="糖尿病", count=10)
    total = first["expansion"]["total"]
    assert total >= 40
    assert first["expansion"]["offset"] == 0
    assert len(codes(first)) == 10
    assert all("糖尿病" in c["display"] for c in first["expansion"]["contains"])
    pages: list[str] = []
    for offset in range(0, total, 10):
        page = expand(api, url=ALL_ICD, filter="糖尿病", count=10, offset=offset)
        assert page["expansion"]["total"] == total
        assert page["expansion"]["offset"] == offset
        pages += codes(page)
    assert len(pages) == total == len(set(pages))
    assert {"E11", "E11.9", "E10-E14"} <= set(pages)
    assert codes(expand(api, url=ALL_ICD, filter="糖尿病", count=10, offset=total)) == []
    assert pages == codes(expand(api, url=ALL_ICD, filter="糖尿病", count=1000))


def test_filter_on_code_and_english_and_ranking(api: Any) -> None:
    by_code = expand(api, url=ALL_ICD, filter="e11.9", count=5)
    assert codes(by_code)[0] == "E11.9"
    english = expand(api, url=ALL_ICD, filter="essential hypertension", displayLanguage="en", count=5)
    assert codes(english)[0] == "I10"
    assert "O10.0" in codes(english)
    assert english["expansion"]["contains"][0]["display"] == "Essential (primary) hypertension"
    # full-width and half-width parentheses are the same to the filter
    assert "I10" in codes(expand(api, url=ALL_ICD, filter="特发性(原发性)", count=5))


def test_unpaged_large_expansion_is_refused_and_count_is_capped(api: Any) -> None:
    r = api.get("/ValueSet/$expand", params={"url": ALL_ICD})
    assert r.status_code == 400
    assert r.json()["issue"][0]["code"] == "too-costly"
    page = expand(api, url=ALL_ICD, count=5000)
    assert page["expansion"]["total"] == 12542
    assert len(codes(page)) == 1000
    nui = expand(api, url=ALL_ICD, count=3, excludeNotForUI="true")
    assert nui["expansion"]["total"] == 12542 - 22 - 274
    assert codes(nui)[0] == "A00"


def test_divisions_active_only_and_date(api: Any) -> None:
    beijing = expand(api, url=f"{DIV}?fhir_vs=isa/110000", count=200)
    assert "110103" in codes(beijing)
    active = expand(api, url=f"{DIV}?fhir_vs=isa/110000", count=200, activeOnly="true")
    assert "110103" not in codes(active)
    assert "110101" in codes(active)
    assert expand(api, url=f"{DIV}?fhir_vs=isa/110000", filter="", count=5)["expansion"]["total"] > 5  # empty filter
    in_2005 = expand(api, url=f"{DIV}?fhir_vs=isa/120000", count=200, date="1990")
    names = {c["code"]: c["display"] for c in in_2005["expansion"]["contains"]}
    assert names["120110"] == "东郊区"


def stored_value_set(version: str, include: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet",
        "id": f"chronic-{version}",
        "url": VS,
        "version": version,
        "status": "active",
        **extra,
        "compose": {"include": include},
    }


def test_expansion_of_a_stored_value_set(api: Any) -> None:
    include = [
        {"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "I10"}]},
        {"system": ICD10, "concept": [{"code": "E11.9", "display": "2型糖尿病"}, {"code": "E11.900x001"}]},
        {"system": "http://hospital.example.cn/CodeSystem/local", "concept": [{"code": "L1", "display": "本院自定义"}]},
    ]
    assert api.put("/ValueSet/chronic-1", json=stored_value_set("1", include)).status_code == 201
    vs = expand(api, url=VS)
    assert vs["id"] == "chronic-1"
    assert codes(vs) == ["I10", "E11.9", "E11.900x001", "L1"]
    displays = {c["code"]: c.get("display") for c in vs["expansion"]["contains"]}
    assert displays["E11.9"] == "2型糖尿病"  # the value set's own display wins
    assert displays["L1"] == "本院自定义"
    assert codes(expand(api, url=VS, filter="糖尿病")) == ["E11.9", "E11.900x001"]
    by_id = api.get("/ValueSet/chronic-1/$expand").json()
    assert codes(by_id) == codes(vs)


def test_versions_newest_by_default_and_effective_dates(api: Any) -> None:
    ext = "http://hl7.org/fhir/StructureDefinition/resource-effectivePeriod"
    v1 = stored_value_set(
        "1",
        [{"system": ICD10, "concept": [{"code": "I10"}]}],
        extension=[{"url": ext, "valuePeriod": {"start": "2020-01-01", "end": "2023-12-31"}}],
    )
    v2 = stored_value_set(
        "2",
        [{"system": ICD10, "concept": [{"code": "I10"}, {"code": "I15"}]}],
        extension=[{"url": ext, "valuePeriod": {"start": "2024-01-01"}}],
    )
    v10 = stored_value_set(
        "10",
        [{"system": ICD10, "concept": [{"code": "I10"}, {"code": "I15"}, {"code": "I11"}]}],
        extension=[{"url": ext, "valuePeriod": {"start": "2030-01-01"}}],
    )
    for vs in (v10, v1, v2):
        assert api.put(f"/ValueSet/{vs['id']}", json=vs).status_code == 201
    assert codes(expand(api, url=VS)) == ["I10", "I15", "I11"]  # "10" is newer than "2"
    assert codes(expand(api, url=VS, valueSetVersion="1")) == ["I10"]
    assert codes(expand(api, url=f"{VS}|2")) == ["I10", "I15"]
    assert codes(expand(api, url=VS, date="2022-06-01")) == ["I10"]
    assert codes(expand(api, url=VS, date="2025-06-01")) == ["I10", "I15"]
    r = api.get("/ValueSet/$expand", params={"url": VS, "date": "2019-01-01"})
    assert r.status_code == 404
    assert "2019-01-01" in r.json()["issue"][0]["diagnostics"]


def test_nested_value_sets_and_excludes(api: Any) -> None:
    inner = stored_value_set(
        "1", [{"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "E11"}]}]
    )
    assert api.put("/ValueSet/chronic-1", json=inner).status_code == 201
    outer = {
        "resourceType": "ValueSet",
        "id": "outer",
        "url": "http://region.example.cn/fhir/ValueSet/outer",
        "status": "active",
        "compose": {
            "include": [{"valueSet": [VS]}],
            "exclude": [{"system": ICD10, "concept": [{"code": "E11.9"}]}],
        },
    }
    assert api.put("/ValueSet/outer", json=outer).status_code == 201
    got = codes(expand(api, url=outer["url"]))
    assert "E11" in got
    assert "E11.0" in got
    assert "E11.9" not in got
    kind = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "valueSet",
                "resource": {
                    "resourceType": "ValueSet",
                    "status": "active",
                    "compose": {
                        "include": [{"system": ICD10, "filter": [{"property": "kind", "op": "=", "value": "chapter"}]}]
                    },
                },
            },
            {"name": "count", "valueInteger": 100},
        ],
    }
    r = api.post("/ValueSet/$expand", json=kind)
    assert r.status_code == 200, r.text
    assert r.json()["expansion"]["total"] == 22


def test_expand_errors(api: Any) -> None:
    r = api.get("/ValueSet/$expand", params={"url": "http://nowhere.example/vs"})
    assert r.status_code == 404
    assert "http://nowhere.example/vs" in r.json()["issue"][0]["diagnostics"]
    for bad in ({"count": "-1"}, {"offset": "x"}, {"count": "1", "activeOnly": "yes"}):
        r = api.get("/ValueSet/$expand", params={"url": ALL_ICD, **bad})
        assert r.status_code == 400, bad
    r = api.get("/ValueSet/$expand")
    assert r.status_code == 400
    cyclic = {
        "resourceType": "ValueSet",
        "id": "loop",
        "url": "http://region.example.cn/fhir/ValueSet/loop",
        "status": "active",
        "compose": {"include": [{"valueSet": ["http://region.example.cn/fhir/ValueSet/loop"]}]},
    }
    assert api.put("/ValueSet/loop", json=cyclic).status_code == 201
    r = api.get("/ValueSet/$expand", params={"url": cyclic["url"]})
    assert r.status_code == 400
    unsupported = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "valueSet",
                "resource": {
                    "resourceType": "ValueSet",
                    "status": "active",
                    "compose": {
                        "include": [{"system": ICD10, "filter": [{"property": "kind", "op": "is-a", "value": "x"}]}]
                    },
                },
            }
        ],
    }
    r = api.post("/ValueSet/$expand", json=unsupported)
    assert r.status_code == 400
    assert r.json()["issue"][0]["code"] == "not-supported"
