"""Identity: ID numbers (GB 11643), organisation codes (GB 32100), ground truth and identity noise."""

from __future__ import annotations

from collections import Counter
from datetime import date

from synth_region import Region

from rhip.synth import ids
from rhip.synth.names import NameMaker

ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
DIVISION_EXT = "http://rhip.cn/fhir/StructureDefinition/address-division-code"


def _id_number(patient: dict) -> str | None:
    return next((i["value"] for i in patient.get("identifier", ()) if i["system"] == ID_SYSTEM), None)


def test_check_characters_match_published_vectors() -> None:
    assert ids.id_check_char("11010519491231002") == "X"
    assert ids.is_valid_id_number("360426199101010071")
    assert not ids.is_valid_id_number("360426199101010072")
    assert ids.from_legacy15("110105491231002") == "11010519491231002X"
    assert ids.to_legacy15("11010519491231002X") == "110105491231002"
    assert ids.is_valid_uscc("91110000600037341L")  # python-stdnum doctest; org code 60003734-1
    assert not ids.is_valid_uscc("91110000600037341M")


def test_every_register_id_number_is_valid_and_consistent(region: Region) -> None:
    register = region.register()
    numbers = [_id_number(p) for p in register]
    assert len(register) > 350
    assert len(set(numbers)) == len(numbers), "ID numbers must be unique"
    for p, number in zip(register, numbers, strict=True):
        assert number is not None
        assert ids.is_valid_id_number(number), number
        assert ids.id_birth_date(number) == date.fromisoformat(p["birthDate"])
        assert ids.id_is_male(number) == (p["gender"] == "male")
        residence, hukou = p["address"]
        hukou_code = next(e["valueCode"] for e in hukou["extension"] if e["url"] == DIVISION_EXT)
        assert number[:6] == hukou_code[:6]
        migrant = any(e["url"].endswith("floating-population") for e in p["extension"])
        residence_code = next(e["valueCode"] for e in residence["extension"] if e["url"] == DIVISION_EXT)
        assert len(residence_code) == 12
        assert (number[:6] != residence_code[:6]) == migrant


def test_register_has_migrants_twins_and_households(region: Region) -> None:
    register = region.register()
    migrants = [p for p in register if any(e["url"].endswith("floating-population") for e in p["extension"])]
    assert 0.05 < len(migrants) / len(register) < 0.35
    groups = region.by_type["Group"]
    members = [m["entity"]["reference"] for g in groups for m in g["member"]]
    assert len(members) == len(set(members)) == len(register)
    assert all(g["type"] == "person" and g["actual"] for g in groups)
    assert region.by_type["RelatedPerson"]


def test_organisations_carry_valid_uscc(region: Region) -> None:
    codes = [i["value"] for o in region.by_type["Organization"] for i in o["identifier"]]
    assert codes
    assert all(ids.is_valid_uscc(c) for c in codes)
    assert len(set(codes)) == len(codes)


def test_every_registration_maps_to_exactly_one_true_person(region: Region) -> None:
    regs = Counter(r["registration_id"] for r in region.truth)
    assert all(n == 1 for n in regs.values())
    patients = {f"Patient/{p['id']}" for p in region.by_type["Patient"]}
    assert set(regs) == patients
    persons = {r["person_id"] for r in region.truth}
    assert persons <= patients
    for r in region.truth:
        assert region.truth_by_reg[r["person_id"]]["person_id"] == r["person_id"]


def test_ground_truth_never_leaks_into_resources(region: Region) -> None:
    person_ids = {r["person_id"][8:] for r in region.truth}
    regs = [
        p
        for p in region.by_type["Patient"]
        if f"Patient/{p['id']}" not in region.truth_by_reg
        or region.truth_by_reg[f"Patient/{p['id']}"]["person_id"] != f"Patient/{p['id']}"
    ]
    for p in regs:
        text = str(p)
        assert not any(pid in text for pid in person_ids)


def test_noise_matches_what_the_registration_shows(region: Region) -> None:
    names = NameMaker()
    seen: Counter[str] = Counter()
    facility_regs = 0
    for row in region.truth:
        if row["registration_id"] == row["person_id"]:
            continue
        facility_regs += 1
        reg = region.by_ref[row["registration_id"]]
        true = region.by_ref[row["person_id"]]
        kinds = [k for k in row["noise"].split(";") if k]
        seen.update(kinds)
        reg_id, true_id = _id_number(reg), _id_number(true)
        name, true_name = reg["name"][0], true["name"][0]
        id_kinds = [k for k in kinds if k.startswith("id-")]
        if not id_kinds:
            assert reg_id == true_id
        for k in id_kinds:
            if k in ("id-mistyped", "id-transposed"):
                assert reg_id is not None
                assert reg_id != true_id
                assert len(reg_id) == 18
            elif k == "id-15":
                assert reg_id is not None
                assert len(reg_id) == 15
                assert ids.from_legacy15(reg_id) == true_id
            elif k == "id-missing":
                assert reg_id is None
            elif k == "id-guardian":
                assert reg_id != true_id
                assert ids.is_valid_id_number(reg_id or "")
        name_kinds = {"pinyin", "homophone", "traditional", "newborn-name"} & set(kinds)
        if not name_kinds:
            assert name["text"] == true_name["text"]
        if "pinyin" in kinds:
            assert name["text"].isascii()
        if "traditional" in kinds:
            assert name["text"] != true_name["text"]
            assert len(name["text"]) == len(true_name["text"])
            assert names.traditional(true_name["text"]) == name["text"]
        if "homophone" in kinds:
            assert name["family"] == true_name["family"]
            assert name["given"] != true_name["given"]
        if "birthdate-typo" in kinds:
            assert reg["birthDate"] != true["birthDate"]
        else:
            assert reg["birthDate"] == true["birthDate"]
        if "phone-changed" in kinds:
            assert reg["telecom"][0]["value"] != true["telecom"][0]["value"]
        if "address-moved" in kinds:
            assert reg["address"][0]["text"] != true["address"][0]["text"]
    noisy = sum(1 for r in region.truth if r["noise"] and "newborn-name" not in r["noise"])
    assert 0.05 < noisy / facility_regs < 0.16
    assert len(seen) >= 8, seen


def test_hard_cases_point_at_real_people(region: Region) -> None:
    for row in region.truth:
        for case in filter(None, row["hard_case"].split(";")):
            kind, other = case.split(":", 1)
            me, them = region.by_ref[row["person_id"]], region.by_ref[other]
            assert other != row["person_id"]
            assert me["birthDate"] == them["birthDate"]
            if kind == "namesake":
                assert me["name"][0]["text"] == them["name"][0]["text"]
