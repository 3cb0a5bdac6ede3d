"""身份证件类别 (WS 364 CV02.01.101) and a format check per document type where a public format exists.

Codes and names are exactly those of standards.md §4.4 ([V-impl]: read from an implementation, not from
the WS 364 text; WS/T 364-2023 replaced WS 364-2011 and its table was not read). The code system URL is
the one the terminology package uses for this table (no OID is given in standards.md).

Documents without a code of their own in CV02.01.101 are recorded as 99 and recognised by *variant*:
外国人永久居留身份证 (2017: 3 letters + 12 digits; 2023: 18 digits starting with 9, MOD 11-2 check as
in GB 11643 — both from the 国家移民管理局 machine-readable rules as reproduced at
http://www.eastcoms.com/service/pro/840.html) and 港澳台居民居住证 (18 digits, address code 810000 /
820000 / 830000, validated like a 公民身份号码 [K]). See README.md for the evidence of each format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from rhip.identity.ric import PROVINCE_CODES, Problem, RicResult, _check, check_digit, normalize

CODE_SYSTEM = "http://rhip.cn/fhir/CodeSystem/id-document-type"
MAX_FREE_FORM = 32  # DE02.01.030.00 身份证件号码 is AN..18, "…32 in some" (standards.md §4.2)

Variant = Literal[
    "ric",
    "cn-passport",
    "passport",
    "hk-macao-permit",
    "taiwan-permit",
    "foreign-permanent-resident-2017",
    "foreign-permanent-resident-2023",
    "hmt-residence-permit",
    "free-form",
]


@dataclass(frozen=True)
class DocumentKind:
    """One concept of CV02.01.101 with the evidence behind its code and its number format."""

    code: str
    name_zh: str
    name_en: str
    format_en: str
    verified: str  # evidence label of standards.md: "V-impl" for the codes; formats are noted per kind


DOCUMENT_KINDS = MappingProxyType(
    {
        k.code: k
        for k in (
            DocumentKind("01", "居民身份证", "Resident identity card", "公民身份号码, GB 11643", "V-impl"),
            DocumentKind(
                "02", "居民户口簿", "Household register", "the 公民身份号码 printed on the page [K]", "V-impl"
            ),
            DocumentKind(
                "03",
                "护照",
                "Passport",
                "Chinese: E+8 digits, E+letter+7 digits, G+8 digits [K]; foreign: 5-20 letters/digits",
                "V-impl",
            ),
            DocumentKind("04", "军官证", "Military officer card", "free form (no public format)", "V-impl"),
            DocumentKind(
                "05",
                "驾驶证",
                "Driving licence",
                "the holder's 公民身份号码 for Chinese citizens [K]; otherwise free form",
                "V-impl",
            ),
            DocumentKind(
                "06",
                "港澳居民来往内地通行证",
                "Mainland travel permit for Hong Kong and Macao residents",
                "H/M + 8-digit lifetime number (+ 2-digit renewal count on older cards) [V]",
                "V-impl",
            ),
            DocumentKind(
                "07",
                "台湾居民来往内地通行证",
                "Mainland travel permit for Taiwan residents",
                "8 digits [K]",
                "V-impl",
            ),
            DocumentKind(
                "99",
                "其他法定有效证件",
                "Other legally valid document",
                "外国人永久居留身份证, 港澳台居民居住证 recognised; anything else free form",
                "V-impl",
            ),
        )
    }
)


@dataclass(frozen=True)
class DocumentResult:
    """Outcome of :func:`validate_document`. ``checked`` is False when only a free-form check applied."""

    kind_code: str
    kind: DocumentKind | None
    variant: Variant | None
    valid: bool
    normalized: str
    checked: bool
    problems: tuple[Problem, ...]
    ric: RicResult | None = None
    lifetime_number: str | None = None  # 港澳通行证: the number without the renewal count


_CN_PASSPORT = re.compile(r"E\d{8}|E[A-Z]\d{7}|G\d{8}")
_PASSPORT = re.compile(r"[A-Z0-9]{5,20}")
_HK_MACAO = re.compile(r"[HM](\d{8})(\d{2})?")
_TAIWAN = re.compile(r"\d{8}")
_FPR_2017 = re.compile(r"[A-Z]{3}\d{12}")
_FPR_2023 = re.compile(r"9\d{16}[\dX]")
_HMT_PERMIT = re.compile(r"8[123]0000\d{11}[\dX]")
_RIC_SHAPE = re.compile(r"\d{15}|\d{17}[\dX]")
_HMT_DIVISIONS = frozenset({"810000", "820000", "830000"})


def _province_ok(division: str) -> bool:
    return division[:2] in PROVINCE_CODES


def _format_problem(en: str, zh: str) -> Problem:
    return Problem("format", "error", en, zh)


def _ok(code: str, variant: Variant, text: str, *, lifetime_number: str | None = None) -> DocumentResult:
    kind = DOCUMENT_KINDS[code]
    return DocumentResult(code, kind, variant, True, text, True, (), lifetime_number=lifetime_number)


def _bad(code: str, variant: Variant | None, text: str, problem: Problem) -> DocumentResult:
    return DocumentResult(code, DOCUMENT_KINDS.get(code), variant, False, text, True, (problem,))


def _from_ric(code: str, variant: Variant, ric: RicResult) -> DocumentResult:
    return DocumentResult(code, DOCUMENT_KINDS[code], variant, ric.valid, ric.normalized, True, ric.problems, ric)


def _free_form(code: str, raw: str, note: Problem | None = None) -> DocumentResult:
    text = " ".join(raw.split())
    if not text or len(text) > MAX_FREE_FORM:
        return _bad(
            code,
            "free-form",
            text,
            _format_problem(
                f"document number must have 1 to {MAX_FREE_FORM} characters", f"证件号码应为1至{MAX_FREE_FORM}个字符"
            ),
        )
    notes = (note,) if note else ()
    return DocumentResult(code, DOCUMENT_KINDS[code], "free-form", True, text, False, notes)


def _passport(text: str) -> DocumentResult:
    if _CN_PASSPORT.fullmatch(text):
        return _ok("03", "cn-passport", text)
    if _PASSPORT.fullmatch(text):
        note = Problem(
            "unchecked",
            "warning",
            "not a Chinese passport number; foreign passport numbers are checked for shape only",
            "不是中国护照号码格式；外国护照号码仅检查字符和长度",
        )
        return DocumentResult("03", DOCUMENT_KINDS["03"], "passport", True, text, False, (note,))
    return _bad(
        "03",
        None,
        text,
        _format_problem("passport number must be 5-20 letters or digits", "护照号码应为5至20位字母或数字"),
    )


def _hk_macao(text: str) -> DocumentResult:
    m = _HK_MACAO.fullmatch(text)
    if not m:
        return _bad(
            "06",
            "hk-macao-permit",
            text,
            _format_problem(
                "permit number must be H or M followed by 8 or 10 digits", "通行证号码应为H或M加8位或10位数字"
            ),
        )
    return _ok("06", "hk-macao-permit", text, lifetime_number=text[:9])


def _fpr_2023(text: str) -> DocumentResult:
    expected = check_digit(text[:17])
    if text[17] != expected:
        problem = Problem(
            "check-digit",
            "error",
            f"check character is {text[17]}, expected {expected} (ISO 7064 MOD 11-2)",
            f"校验码错误：为{text[17]}，按ISO 7064 MOD 11-2应为{expected}",
        )
        return _bad("99", "foreign-permanent-resident-2023", text, problem)
    return _ok("99", "foreign-permanent-resident-2023", text)


def _hmt_permit(text: str) -> DocumentResult:
    ric = _check(
        text, divisions=None, today=None, province_ok=_HMT_DIVISIONS.__contains__, label="residence permit number"
    )
    return _from_ric("99", "hmt-residence-permit", ric)


def _other(text: str, raw: str, variant: Variant | None) -> DocumentResult:
    detectors: tuple[tuple[Variant, re.Pattern[str]], ...] = (
        ("foreign-permanent-resident-2023", _FPR_2023),
        ("hmt-residence-permit", _HMT_PERMIT),
        ("foreign-permanent-resident-2017", _FPR_2017),
    )
    if variant is None:
        variant = next((v for v, rx in detectors if rx.fullmatch(text)), "free-form")
    if variant == "foreign-permanent-resident-2023":
        return _fpr_2023(text) if _FPR_2023.fullmatch(text) else _shape_error(text, variant, "9 + 17 digits/X")
    if variant == "hmt-residence-permit":
        return _hmt_permit(text)
    if variant == "foreign-permanent-resident-2017":
        if _FPR_2017.fullmatch(text):
            return _ok("99", variant, text)
        return _shape_error(text, variant, "3 letters + 12 digits")
    if variant == "free-form":
        return _free_form("99", raw)
    raise ValueError(f"variant {variant!r} does not belong to document type 99")


def _shape_error(text: str, variant: Variant, shape: str) -> DocumentResult:
    return _bad("99", variant, text, _format_problem(f"number must be {shape}", f"证件号码格式应为{shape}"))


def validate_document(kind_code: str, number: str, *, variant: Variant | None = None) -> DocumentResult:
    """Check a document number against the format of its CV02.01.101 type.

    ``variant`` forces one format under type 99 (otherwise it is recognised from the number's shape).
    Types without a public format (04, free-form 99) only get a length check and ``checked=False``.
    """
    code = kind_code.strip()
    if code not in DOCUMENT_KINDS:
        problem = Problem(
            "kind",
            "error",
            f"unknown document type code {kind_code!r} (WS 364 CV02.01.101)",
            f"未知的身份证件类别代码{kind_code!r}（CV02.01.101）",
        )
        return DocumentResult(code, None, None, False, number, False, (problem,))
    text = normalize(number)
    if code in ("01", "02"):
        return _from_ric(code, "ric", _check(text, divisions=None, today=None, province_ok=_province_ok))
    if code == "03":
        return _passport(text)
    if code == "04":
        return _free_form(code, number)
    if code == "05":
        if _RIC_SHAPE.fullmatch(text):
            return _from_ric(code, "ric", _check(text, divisions=None, today=None, province_ok=_province_ok))
        note = Problem(
            "unchecked",
            "warning",
            "not a 公民身份号码; licence numbers of foreign holders are not checked",
            "不是公民身份号码；外籍持证人的驾驶证号码不作格式检查",
        )
        return _free_form(code, number, note)
    if code == "06":
        return _hk_macao(text)
    if code == "07":
        if _TAIWAN.fullmatch(text):
            return _ok(code, "taiwan-permit", text)
        return _bad(
            code,
            "taiwan-permit",
            text,
            _format_problem("permit number must be 8 digits", "台湾居民通行证号码应为8位数字"),
        )
    return _other(text, number, variant)
