"""Identifier arithmetic: GB 11643 ID numbers, GB 11714 / GB 32100 organisation codes, resource ids.

- 公民身份号码 (GB 11643-1999, standards.md §6.3): 6-digit GB/T 2260 address code, YYYYMMDD,
  3-digit sequence (odd = male, even = female) and an ISO 7064 MOD 11-2 check character
  (weights 2^(18-i) mod 11, "10X98765432"). First-generation numbers have 15 digits (YYMMDD, no check).
- 组织机构代码 (GB 11714): 8 body characters + check (weights 3 7 9 10 5 8 4 2, 11 - S mod 11, 10 → X).
- 统一社会信用代码 (GB 32100): 17 characters + check over the 31-character alphabet without I O Z S V
  (weights 3^i mod 31, check = (31 - S mod 31) mod 31), as in python-stdnum's ``cn.uscc``.
- Resource ids are opaque keyed hashes, so ids never reveal the household or the true person.
"""

from __future__ import annotations

import hashlib
from datetime import date

from rhip.identity import check_digit, upgrade15

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def id_check_char(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of an ID number (GB 11643)."""
    return check_digit(body17)


def make_id_number(division: str, birth: date, seq: int) -> str:
    """18-character ID number; ``seq`` (0..999) must already carry the sex parity."""
    body = f"{division}{birth.year:04d}{birth.month:02d}{birth.day:02d}{seq:03d}"
    return body + id_check_char(body)


def is_valid_id_number(number: str) -> bool:
    """Format, birth date and check character of an 18-character ID number."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return number[17] == id_check_char(number[:17])


def id_birth_date(number: str) -> date:
    """Birth date encoded in an 18-character ID number."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def id_is_male(number: str) -> bool:
    """Sex encoded in an ID number (odd 17th digit = male)."""
    return int(number[16]) % 2 == 1


def to_legacy15(number: str) -> str:
    """First-generation 15-digit form (YYMMDD, no check) of a 19xx-born person's number."""
    return number[:6] + number[8:17]


def from_legacy15(number: str) -> str:
    """18-character number from a 15-digit one (insert "19", append the check)."""
    return upgrade15(number)


def org_code_check(body8: str) -> str:
    """GB 11714 check character of an 8-character organisation-code body."""
    total = sum(int(c, 36) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=False))  # 0-9, A=10 … Z=35
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def uscc_check(first17: str) -> str:
    """GB 32100 check character of the first 17 characters of a USCC."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=False))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(prefix2: str, division: str, org_body8: str) -> str:
    """统一社会信用代码: 登记管理部门+机构类别, 区划码, 组织机构代码 (with its check), check."""
    first17 = prefix2 + division + org_body8 + org_code_check(org_body8)
    return first17 + uscc_check(first17)


def is_valid_uscc(code: str) -> bool:
    """Length, alphabet, embedded organisation-code check and GB 32100 check of a USCC."""
    if len(code) != 18 or any(c not in _USCC_VALUE for c in code):
        return False
    return code[16] == org_code_check(code[8:16]) and code[17] == uscc_check(code[:17])


class IdMaker:
    """Opaque, seed-keyed resource ids: the same (seed, scope, n) always gives the same id."""

    __slots__ = ("_key",)

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(f"rhip-synth:{seed}".encode(), digest_size=16).digest()

    def make(self, scope: str) -> str:
        """A 20-hex-digit id for the unique string ``scope``."""
        return hashlib.blake2b(scope.encode(), digest_size=10, key=self._key).hexdigest()


class UniqueBits:
    """Fixed-size bitmap that keeps generated numbers unique with memory independent of N.

    A set bit means "maybe used": a false positive only makes the caller draw another number,
    so uniqueness is exact while memory stays at ``2**bits / 8`` bytes.
    """

    __slots__ = ("_bits", "_mask")

    def __init__(self, bits: int = 26) -> None:
        self._bits = bytearray(1 << (bits - 3))
        self._mask = (1 << bits) - 1

    def claim(self, key: int) -> bool:
        """Mark ``key`` used; False if it (or a colliding key) was already claimed."""
        h = ((key * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 20
        h = (h ^ (h >> 29)) & self._mask
        byte, bit = h >> 3, 1 << (h & 7)
        if self._bits[byte] & bit:
            return False
        self._bits[byte] |= bit
        return True
