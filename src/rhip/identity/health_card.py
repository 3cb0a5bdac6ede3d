"""居民健康卡 / 电子健康卡: the card number rhip issues and the signed, expiring QR code of the e-card.

Card number. standards.md gives only the data element (DE01.00.021.00 健康卡号, AN..18) and the OID
2.16.156.10011.1.19 (§3.5, §4.2, §6.1 [V-impl]); the national 电子健康卡 ID scheme is not public (§9 item
11). rhip therefore defines its own (decision in README.md): ``DDDDDD`` GB/T 2260 code of the issuing
division + ``NNNNNNNNNN`` 10-digit sequence + ``CC`` ISO 7064 MOD 97-10 check digits = 18 digits. Cards
issued elsewhere are only checked for AN..18 (:func:`is_plausible_card_number`).

QR text (rhip decision, README.md): ``RHC1.<payload>.<signature>``, both base64url without padding. The
payload is compact JSON ``{"alg","kid","iss","card","idm"|"ref","iat","exp","nonce"}``; the signature
covers the ASCII bytes ``RHC1.<payload>`` and is made with the node's :class:`~rhip.identity.signing.SigningKey`
(SM2 by default). Anyone holding the node's public key verifies offline.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rhip.identity import ric
from rhip.identity.signing import SigningKey, VerifyingKey

PREFIX = "RHC1"
DEFAULT_LEEWAY_SECONDS = 60  # tolerated clock difference between issuer and verifier
MAX_TTL_SECONDS = 7 * 24 * 3600
_CARD = re.compile(r"\d{18}")
_AN18 = re.compile(r"[0-9A-Za-z]{1,18}")
_REF = re.compile(r"[\x21-\x7e]{1,64}")
_B64 = re.compile(r"[A-Za-z0-9_-]+")
_KEYS = {"alg", "kid", "iss", "card", "iat", "exp", "nonce"}


# --- card number --------------------------------------------------------------------------------


def card_check_digits(body16: str) -> str:
    """ISO 7064 MOD 97-10 check digits (two) of the 16-digit body: ``98 - (body * 100 mod 97)``."""
    if len(body16) != 16 or not (body16.isascii() and body16.isdigit()):
        raise ValueError(f"expected 16 ASCII digits, got {body16!r}")
    return f"{98 - int(body16) * 100 % 97:02d}"


def make_card_number(division: str, sequence: int) -> str:
    """Card number for the ``sequence``-th card issued in a GB/T 2260 division (6 digits)."""
    if len(division) != 6 or not division.isdigit() or division[:2] not in ric.PROVINCE_CODES:
        raise ValueError(f"division must be a 6-digit GB/T 2260 code, got {division!r}")
    if not 0 <= sequence < 10**10:
        raise ValueError("sequence must be in 0 .. 9 999 999 999")
    body = f"{division}{sequence:010d}"
    return body + card_check_digits(body)


def validate_card_number(number: str) -> bool:
    """True for a card number in rhip's format (18 digits, province prefix, MOD 97-10 check)."""
    text = ric.normalize(number)
    return bool(_CARD.fullmatch(text)) and text[:2] in ric.PROVINCE_CODES and int(text) % 97 == 1


def is_plausible_card_number(number: str) -> bool:
    """True for any 健康卡号 shape the data element allows (AN..18), whoever issued the card."""
    return bool(_AN18.fullmatch(number))


# --- QR code ------------------------------------------------------------------------------------


class QrError(ValueError):
    """A QR text that must be rejected; ``code`` is one of format, signature, key, expired, not-yet-valid."""

    def __init__(self, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh


@dataclass(frozen=True)
class QrClaims:
    """What a verified QR code says."""

    card_number: str
    masked_id: str | None  # the ID number, masked (3305**********9523), when person_ref was an ID number
    person_ref: str | None  # otherwise the opaque reference given at issue (e.g. an MPI person id)
    issuer: str
    key_id: str
    algorithm: str
    issued_at: datetime
    expires_at: datetime
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    """Strict base64url: the canonical encoding only, so no two texts carry the same bytes."""
    bad = QrError("format", f"{what} is not base64url", f"二维码{what}不是base64url编码")
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise bad
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise bad from None
    if _b64(data) != text:
        raise bad
    return data


def _seconds(moment: datetime | None) -> int:
    if moment is None:
        moment = datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(moment.timestamp())


def issue_qr(
    card_number: str,
    person_ref: str,
    *,
    key: SigningKey,
    ttl_seconds: int,
    now: datetime | None = None,
) -> str:
    """Signed QR text for an electronic health card, valid for ``ttl_seconds`` from ``now``.

    When ``person_ref`` is a valid 公民身份号码 only its masked form goes into the payload (a hash of an
    ID number would be reversible by enumerating birth dates); any other reference (1-64 visible ASCII
    characters, e.g. a pseudonymous MPI id) is carried as given.
    """
    if not is_plausible_card_number(card_number):
        raise ValueError(f"card number must be 1-18 letters or digits, got {card_number!r}")
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be in 1 .. {MAX_TTL_SECONDS}")
    iat = _seconds(now)
    payload: dict[str, Any] = {"alg": key.algorithm, "kid": key.kid, "iss": key.issuer, "card": card_number}
    checked = ric.validate(person_ref)
    if checked.valid:
        payload["idm"] = ric.mask(checked.normalized)
    elif _REF.fullmatch(person_ref):
        payload["ref"] = person_ref
    else:
        raise ValueError("person_ref must be an ID number or 1-64 visible ASCII characters")
    payload |= {"iat": iat, "exp": iat + ttl_seconds, "nonce": _b64(secrets.token_bytes(12))}
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    signed = f"{PREFIX}.{body}"
    return f"{signed}.{_b64(key.sign(signed.encode('ascii')))}"


def _parse(text: str) -> tuple[str, dict[str, Any], bytes]:
    parts = text.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise QrError("format", f"not an {PREFIX} health card QR code", "不是电子健康卡二维码（格式错误）")
    payload_bytes = _unb64(parts[1], "payload")
    signature = _unb64(parts[2], "signature")
    try:
        payload = json.loads(payload_bytes)
    except (UnicodeDecodeError, ValueError):
        raise QrError("format", "payload is not JSON", "二维码内容不是JSON") from None
    if not isinstance(payload, dict) or not payload.keys() >= _KEYS or len(payload.keys() & {"idm", "ref"}) != 1:
        raise QrError("format", "payload lacks required claims", "二维码内容缺少必需字段")
    if set(payload) - _KEYS - {"idm", "ref"}:
        raise QrError("format", "payload has unknown claims", "二维码内容含有未知字段")
    strings = ("alg", "kid", "iss", "card", "nonce", "idm", "ref")
    if any(k in payload and not isinstance(payload[k], str) for k in strings) or any(
        type(payload[k]) is not int for k in ("iat", "exp")
    ):
        raise QrError("format", "payload claims have wrong types", "二维码字段类型错误")
    if not 0 <= payload["iat"] <= payload["exp"] < 2**40:
        raise QrError("format", "payload times are out of range", "二维码时间字段超出范围")
    return f"{parts[0]}.{parts[1]}", payload, signature


def verify_qr(
    text: str,
    *,
    public_key: VerifyingKey | Iterable[VerifyingKey],
    now: datetime | None = None,
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
) -> QrClaims:
    """Verify a QR text offline with the issuing node's public key (or any of several, chosen by key id).

    Raises :class:`QrError` with ``code`` format, key (no key with that id, or claims that do not match
    the key), signature, expired or not-yet-valid.
    """
    signed, payload, signature = _parse(text)
    keys = [public_key] if isinstance(public_key, VerifyingKey) else list(public_key)
    key = next((k for k in keys if k.kid == payload["kid"]), None)
    if key is None:
        raise QrError("key", f"no public key with id {payload['kid']!r}", f"没有编号为{payload['kid']}的公钥")
    if not key.verify(signed.encode("ascii"), signature):
        raise QrError("signature", "signature does not verify", "签名验证失败，二维码可能被篡改")
    if payload["alg"] != key.algorithm or payload["iss"] != key.issuer:
        raise QrError("key", "algorithm or issuer does not match the key", "签名算法或签发机构与公钥不符")
    moment = _seconds(now)
    if payload["iat"] > moment + leeway_seconds:
        raise QrError("not-yet-valid", "QR code is not valid yet", "二维码尚未生效")
    if payload["exp"] <= moment - leeway_seconds:
        raise QrError("expired", "QR code has expired", "二维码已过期，请刷新")
    return QrClaims(
        card_number=payload["card"],
        masked_id=payload.get("idm"),
        person_ref=payload.get("ref"),
        issuer=payload["iss"],
        key_id=payload["kid"],
        algorithm=payload["alg"],
        issued_at=datetime.fromtimestamp(payload["iat"], UTC),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        nonce=payload["nonce"],
    )
