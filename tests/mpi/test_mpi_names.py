"""Names: surname readings, polyphones, homophones, traditional/simplified, romanised names, placeholders."""

from __future__ import annotations

import pytest

from rhip.mpi.names import NameKey, name_key, to_simplified


def key_of(text: str | None, family: str | None = None, given: str | None = None) -> NameKey:
    key = name_key(text, family, given)
    assert key is not None
    return key


@pytest.mark.parametrize(
    ("name", "surname"),
    [("曾伟", "zeng"), ("单丽", "shan"), ("解放", "xie"), ("仇明", "qiu"), ("欧阳修", "ouyang"), ("张伟", "zhang")],
)
def test_surnames_are_read_as_surnames(name: str, surname: str) -> None:
    assert key_of(name).family_py == surname


def test_zeng_wei_romanised_matches_the_characters() -> None:
    chars, latin = key_of("曾伟"), key_of("Zeng Wei")
    assert chars.pinyin == latin.pinyin == "zengwei"


def test_homophones_share_the_pinyin() -> None:
    a, b = key_of("张伟"), key_of("张玮")
    assert (a.chars != b.chars, a.pinyin == b.pinyin) == (True, True)


def test_polyphonic_given_name_keeps_every_reading() -> None:
    key = key_of("张乐")
    assert {"zhangle", "zhangyue"} <= key.alternatives


def test_traditional_name_is_simplified() -> None:
    key = key_of("張偉")
    assert (key.written, key.chars) == ("張偉", "张伟")


def test_opencc_converts_traditional_text() -> None:
    assert to_simplified("陳國強") == "陈国强"


def test_family_and_given_fields_are_used_without_text() -> None:
    key = key_of(None, family="欧阳", given="娜娜")
    assert (key.family_chars, key.pinyin) == ("欧阳", "ouyangnana")


@pytest.mark.parametrize("placeholder", ["王芳之女", "李娟之子", "婴"])
def test_newborn_placeholders_are_no_name(placeholder: str) -> None:
    assert name_key(placeholder) is None


def test_given_name_first_romanisation_is_an_alternative() -> None:
    key = key_of("Wei Zhang")
    assert "zhangwei" in key.alternatives
