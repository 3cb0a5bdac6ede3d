"""Registry of identifier systems (FHIR ``Identifier.system``) and the 统一社会信用代码 check.

National systems use the OIDs of standards.md §3.5 as ``urn:oid:…``: 1.2 健康档案编号, 1.3 身份证号,
1.4 员工工号, 1.5 医疗卫生机构, 1.11 门(急)诊号, 1.12 住院号, 1.19 健康卡号 … Their evidence is
[V-impl]: read from vendors' CDA headers, not from the official 可维护对象OID分配表 (standards.md §3.5,
§9 item 6), so every one is marked ``verified=False``. Systems that no standard names live under the
project's canonical base ``http://rhip.cn/fhir/sid/…`` (docs/decisions/0008), as the synthetic data
does (``rhip.synth.systems``). Each hospital's patient numbers form one identity domain per
organisation, registered with :meth:`IdentifierSystems.register_mrn`.

统一社会信用代码 (GB 32100-2015): 18 characters over ``0-9A-Y`` without I O Z S V; characters 9–17
are the GB 11714 组织机构代码 with its own check; character 18 is a check with weights ``3^i mod 31``,
``(31 - S mod 31) mod 31`` (standards.md §6.3 names python-stdnum ``cn.uscc``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rhip.canonical import CANONICAL
from rhip.identity import documents, ric
from rhip.identity.health_card import is_plausible_card_number

MRN_PREFIX = f"{CANONICAL}/sid/mrn/"  # rhip's own per-organisation patient-number systems (rhip.synth)

Kind = Literal["person", "encounter", "organization", "practitioner", "document", "order", "location"]
Validator = Callable[[str], bool]

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_CODE = re.compile(r"[0-9A-Z]{8}[0-9X]")


def _org_code_check(body8: str) -> str:
    """GB 11714 check character of an 8-character 组织机构代码 body (0-9 = 0-9, A-Z = 10-35)."""
    c9 = 11 - sum(int(c, 36) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def org_code_check(code: str) -> bool:
    """True for a valid 9-character 组织机构代码 (GB 11714), with or without the hyphen before the check."""
    text = ric.normalize(code)
    return bool(_ORG_CODE.fullmatch(text)) and text[8] == _org_code_check(text[:8])


def uscc_check(code: str, *, org_code: bool = True) -> bool:
    """True for a valid 18-character 统一社会信用代码 (GB 32100-2015 check character).

    With ``org_code`` (default) the embedded GB 11714 组织机构代码 (characters 9–17) must be valid too.
    """
    text = ric.normalize(code)
    if len(text) != 18 or any(c not in _USCC_VALUE for c in text):
        return False
    total = sum(_USCC_VALUE[c] * w for c, w in zip(text[:17], _USCC_WEIGHTS, strict=True))
    if text[17] != _USCC_ALPHABET[(31 - total % 31) % 31]:
        return False
    return not org_code or org_code_check(text[8:17])


def _is_org_identifier(value: str) -> bool:
    return uscc_check(value) or org_code_check(value)


def _is_ric(value: str) -> bool:
    return ric.validate(value).valid


def _an(max_len: int) -> Validator:
    """AN..n of WS 363: 1..n printable ASCII characters without blanks."""
    rx = re.compile(rf"[\x21-\x7e]{{1,{max_len}}}")
    return lambda value: bool(rx.fullmatch(value))


def _n17(value: str) -> bool:
    return len(value) == 17 and value.isascii() and value.isdigit()


def _document(code: str, variant: documents.Variant | None = None) -> Validator:
    return lambda value: documents.validate_document(code, value, variant=variant).valid


@dataclass(frozen=True)
class SystemInfo:
    """One identifier system: what it identifies and how to check a value."""

    uri: str
    name_zh: str
    name_en: str
    kind: Kind
    master: bool  # a person-level master identifier (one value per person, valid across organisations)
    validator: Validator | None = None
    source: str = ""
    verified: bool = False
    org_id: str | None = None  # for per-organisation systems (MRN): the organisation's identifier

    @property
    def oid(self) -> str | None:
        """The OID when the system is ``urn:oid:…``."""
        return self.uri[8:] if self.uri.startswith("urn:oid:") else None

    def check(self, value: str) -> bool | None:
        """Result of the system's validator for ``value``; None when the system has no validator."""
        return None if self.validator is None else self.validator(value)


def _oid(n: str) -> str:
    return f"urn:oid:2.16.156.10011.1.{n}"


_S35 = "standards.md §3.5 [V-impl]"
NATIONAL_SYSTEMS: tuple[SystemInfo, ...] = (
    SystemInfo(_oid("3"), "居民身份证号", "Resident ID number (GB 11643)", "person", True, _is_ric, _S35),
    SystemInfo(_oid("2"), "城乡居民健康档案编号", "Health record number", "person", True, _n17, f"{_S35}; N17 §4.2"),
    SystemInfo(
        _oid("19"), "居民健康卡号", "Resident health card number", "person", True, is_plausible_card_number, _S35
    ),
    SystemInfo(_oid("11"), "门(急)诊号", "Outpatient number", "person", False, _an(18), f"{_S35}; AN..18 §4.2"),
    SystemInfo(_oid("12"), "住院号", "Inpatient number", "person", False, _an(18), f"{_S35}; AN..18 §4.2"),
    SystemInfo(
        _oid("5"), "医疗卫生机构代码", "Healthcare organisation code", "organization", False, _is_org_identifier, _S35
    ),
    SystemInfo(_oid("4"), "医务人员工号", "Staff number", "practitioner", False, None, _S35),
    SystemInfo(_oid("7"), "作者/建档者标识", "Author identifier", "practitioner", False, None, _S35),
    SystemInfo(_oid("1"), "文档流水号", "Document serial number", "document", False, None, _S35),
    SystemInfo(_oid("22"), "病床号", "Bed number", "location", False, None, _S35),
    SystemInfo(
        _oid("24"), "电子申请单编号", "Electronic order number", "order", False, _an(20), f"{_S35}; AN..20 §4.2"
    ),
)

_RHIP = "rhip-defined (docs/decisions/0008)"


def _rhip(path: str, zh: str, en: str, kind: Kind, master: bool, validator: Validator | None) -> SystemInfo:
    return SystemInfo(f"{CANONICAL}/sid/{path}", zh, en, kind, master, validator, _RHIP)


def _is_fpr(value: str) -> bool:
    result = documents.validate_document("99", value)
    return result.valid and result.variant in ("foreign-permanent-resident-2017", "foreign-permanent-resident-2023")


RHIP_SYSTEMS: tuple[SystemInfo, ...] = (
    _rhip("medical-insurance-card", "医保卡号", "Medical insurance card number", "person", True, None),
    _rhip("id-document/02", "居民户口簿", "Household register (ID number)", "person", True, _document("02")),
    _rhip("id-document/03", "护照号码", "Passport number", "person", True, _document("03")),
    _rhip("id-document/04", "军官证号", "Military officer card number", "person", True, _document("04")),
    _rhip("id-document/05", "驾驶证号", "Driving licence number", "person", True, _document("05")),
    _rhip("id-document/06", "港澳居民来往内地通行证号", "HK/Macao travel permit", "person", True, _document("06")),
    _rhip("id-document/07", "台湾居民来往内地通行证号", "Taiwan travel permit", "person", True, _document("07")),
    _rhip("id-document/99", "其他法定有效证件号", "Other legal document number", "person", False, _document("99")),
    _rhip(
        "foreign-permanent-resident", "外国人永久居留身份证号", "Foreign permanent resident ID", "person", True, _is_fpr
    ),
    _rhip(
        "hmt-residence-permit",
        "港澳台居民居住证号",
        "HK/Macao/Taiwan residence permit",
        "person",
        True,
        _document("99", "hmt-residence-permit"),
    ),
    _rhip("physician-licence", "医师执业证书编码", "Physician practising certificate", "practitioner", False, None),
    _rhip("nurse-licence", "护士执业证书编号", "Nurse practising certificate", "practitioner", False, None),
    _rhip("village-doctor-licence", "乡村医生执业证书编号", "Village doctor certificate", "practitioner", False, None),
)


def _canonical_uri(uri: str) -> str:
    text = uri.strip()
    if text[:8].lower() == "urn:oid:":
        return "urn:oid:" + text[8:]
    if text[:1].isdigit() and all(part.isdigit() for part in text.split(".")):
        return "urn:oid:" + text  # a bare OID, as CDA ``id/@root`` carries it
    return text


class IdentifierSystems:
    """Lookup of identifier systems by URI, with per-organisation MRN systems added at run time."""

    def __init__(self, systems: Iterable[SystemInfo] = (*NATIONAL_SYSTEMS, *RHIP_SYSTEMS)) -> None:
        self._by_uri: dict[str, SystemInfo] = {}
        for info in systems:
            self.register(info)

    def register(self, info: SystemInfo) -> SystemInfo:
        """Add a system; registering the same URI twice with different details is an error."""
        uri = _canonical_uri(info.uri)
        known = self._by_uri.get(uri)
        if known is not None and known != info:
            raise ValueError(f"identifier system {uri} is already registered as {known.name_en!r}")
        self._by_uri[uri] = info
        return info

    def register_mrn(self, org_id: str, system_uri: str, name: str, *, name_en: str | None = None) -> SystemInfo:
        """Register a hospital's patient-number system (就诊卡号/病案号), one identity domain per organisation."""
        info = SystemInfo(
            _canonical_uri(system_uri),
            name,
            name_en or f"Medical record number of {org_id}",
            "person",
            False,
            None,
            "registered per organisation",
            True,
            org_id,
        )
        return self.register(info)

    def get(self, uri: str) -> SystemInfo | None:
        """The system with this URI (``urn:oid:`` prefix optional for OIDs)."""
        return self._by_uri.get(_canonical_uri(uri))

    def mrn_systems(self, org_id: str) -> tuple[SystemInfo, ...]:
        """Patient-number systems registered for one organisation."""
        return tuple(s for s in self._by_uri.values() if s.org_id == org_id)

    def master_systems(self) -> tuple[SystemInfo, ...]:
        """Systems whose values identify a person across organisations (candidates for MPI blocking)."""
        return tuple(s for s in self._by_uri.values() if s.master)

    def classify(self, identifier: Mapping[str, Any]) -> SystemInfo | None:
        """The system of a FHIR Identifier, or None when its ``system`` is absent or unknown.

        rhip's own ``http://rhip.cn/fhir/sid/mrn/<org>`` systems are recognised without registration.
        """
        system = identifier.get("system")
        if not isinstance(system, str) or not system.strip():
            return None
        uri = _canonical_uri(system)
        info = self._by_uri.get(uri)
        if info is None and uri.startswith(MRN_PREFIX) and len(uri) > len(MRN_PREFIX):
            org = uri[len(MRN_PREFIX) :]
            info = SystemInfo(
                uri, f"就诊卡号/病案号（{org}）", f"Medical record number of {org}", "person", False, org_id=org
            )
        return info

    def __iter__(self) -> Iterator[SystemInfo]:
        return iter(self._by_uri.values())

    def __len__(self) -> int:
        return len(self._by_uri)

    def __contains__(self, uri: object) -> bool:
        return isinstance(uri, str) and _canonical_uri(uri) in self._by_uri
