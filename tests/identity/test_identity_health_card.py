"""Resident health card numbers and the signed, expiring QR code of the electronic card."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rhip.identity import (
    QrError,
    SigningKey,
    VerifyingKey,
    generate_key,
    issue_qr,
    make_card_number,
    validate_card_number,
    verify_qr,
)
from rhip.identity.health_card import card_check_digits, is_plausible_card_number

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
SM2 = generate_key("SM2", issuer="330100")
ED = generate_key("Ed25519", issuer="330100")
CARD = make_card_number("330106", 1234)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rejected(text: str, key: VerifyingKey, code: str, now: datetime = NOW) -> QrError:
    with pytest.raises(QrError) as info:
        verify_qr(text, public_key=key, now=now)
    assert info.value.code == code, info.value
    assert info.value.message_zh
    return info.value


# --- card number ---------------------------------------------------------------------------


def test_card_number_format() -> None:
    assert CARD == "330106000000123411"
    assert card_check_digits("3301060000001234") == "11"
    assert validate_card_number(CARD)
    assert int(CARD) % 97 == 1  # ISO 7064 MOD 97-10
    assert validate_card_number("3301 0600 0000 1234 11")
    assert not validate_card_number("330106000000123412")
    assert not validate_card_number("330106000000124311")  # adjacent digits swapped
    assert not validate_card_number("33010600000012346")
    assert not validate_card_number(make_card_number("330106", 1234).replace("33", "93", 1))
    with pytest.raises(ValueError, match="division"):
        make_card_number("930106", 1)
    with pytest.raises(ValueError, match="sequence"):
        make_card_number("330106", 10**10)


@given(st.sampled_from(["110105", "330106", "440304", "650102"]), st.integers(0, 10**10 - 1), st.data())
def test_property_card_number_detects_single_digit_errors(division: str, seq: int, data: st.DataObject) -> None:
    number = make_card_number(division, seq)
    assert validate_card_number(number)
    assert len(number) == 18
    pos = data.draw(st.integers(2, 17))
    digit = data.draw(st.sampled_from("0123456789"))
    changed = number[:pos] + digit + number[pos + 1 :]
    assert validate_card_number(changed) == (changed == number)


def test_plausible_card_numbers_from_other_issuers() -> None:
    assert is_plausible_card_number("HC2024ABC")
    assert is_plausible_card_number(CARD)
    assert not is_plausible_card_number("")
    assert not is_plausible_card_number("1" * 19)
    assert not is_plausible_card_number("卡123")


# --- QR round trip -------------------------------------------------------------------------


@pytest.mark.parametrize("key", [SM2, ED], ids=["SM2", "Ed25519"])
def test_round_trip(key: SigningKey) -> None:
    text = issue_qr(CARD, "11010519491231002X", key=key, ttl_seconds=300, now=NOW)
    assert text.startswith("RHC1.")
    assert text.count(".") == 2
    assert len(text) < 320
    claims = verify_qr(text, public_key=key.public_key, now=NOW + timedelta(seconds=299))
    assert claims.card_number == CARD
    assert claims.masked_id == "1101**********002X"
    assert claims.person_ref is None
    assert (claims.issuer, claims.key_id, claims.algorithm) == ("330100", key.kid, key.algorithm)
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + timedelta(seconds=300)
    assert "11010519491231002X" not in unb64(text.split(".")[1]).decode()


def test_opaque_person_reference_and_fresh_nonces() -> None:
    a = issue_qr(CARD, "Patient/3f2a", key=SM2, ttl_seconds=60, now=NOW)
    b = issue_qr(CARD, "Patient/3f2a", key=SM2, ttl_seconds=60, now=NOW)
    ca, cb = verify_qr(a, public_key=SM2.public_key, now=NOW), verify_qr(b, public_key=SM2.public_key, now=NOW)
    assert ca.person_ref == "Patient/3f2a"
    assert ca.masked_id is None
    assert a != b
    assert ca.nonce != cb.nonce


def test_issue_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        issue_qr(CARD, "Patient/1", key=SM2, ttl_seconds=0, now=NOW)
    with pytest.raises(ValueError, match="card number"):
        issue_qr("卡号", "Patient/1", key=SM2, ttl_seconds=60, now=NOW)
    with pytest.raises(ValueError, match="person_ref"):
        issue_qr(CARD, "张三 110105", key=SM2, ttl_seconds=60, now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        issue_qr(CARD, "Patient/1", key=SM2, ttl_seconds=60, now=datetime(2026, 1, 1))


# --- rejection -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [SM2, ED], ids=["SM2", "Ed25519"])
@pytest.mark.parametrize("part", [1, 2], ids=["payload", "signature"])
def test_tampering_one_byte_is_rejected(key: SigningKey, part: int) -> None:
    text = issue_qr(CARD, "Patient/1", key=key, ttl_seconds=300, now=NOW)
    parts = text.split(".")
    raw = bytearray(unb64(parts[part]))
    for index in (0, len(raw) // 2, len(raw) - 1):
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        parts_changed = [*parts]
        parts_changed[part] = b64(bytes(flipped))
        with pytest.raises(QrError) as info:
            verify_qr(".".join(parts_changed), public_key=key.public_key, now=NOW)
        # a changed payload may no longer parse or name another key; a changed signature never verifies
        allowed = {"signature"} if part == 2 else {"signature", "format", "key"}
        assert info.value.code in allowed


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_property_any_character_change_is_rejected(data: st.DataObject) -> None:
    text = issue_qr(CARD, "11010519491231002X", key=SM2, ttl_seconds=300, now=NOW)
    pos = data.draw(st.integers(0, len(text) - 1))
    char = data.draw(st.sampled_from("ABCXYZabcxyz0189-_."))
    changed = text[:pos] + char + text[pos + 1 :]
    if changed == text:
        return
    with pytest.raises(QrError):
        verify_qr(changed, public_key=SM2.public_key, now=NOW)


def test_forged_payload_with_a_valid_structure_is_rejected() -> None:
    text = issue_qr(CARD, "Patient/1", key=SM2, ttl_seconds=60, now=NOW)
    prefix, payload, signature = text.split(".")
    claims = json.loads(unb64(payload))
    claims["exp"] += 365 * 86400
    forged = ".".join([prefix, b64(json.dumps(claims, separators=(",", ":")).encode()), signature])
    rejected(forged, SM2.public_key, "signature")


def test_expired_and_not_yet_valid() -> None:
    text = issue_qr(CARD, "Patient/1", key=SM2, ttl_seconds=60, now=NOW)
    verify_qr(text, public_key=SM2.public_key, now=NOW + timedelta(seconds=119))  # inside the 60 s leeway
    rejected(text, SM2.public_key, "expired", NOW + timedelta(seconds=120))
    verify_qr(text, public_key=SM2.public_key, now=NOW - timedelta(seconds=60))
    rejected(text, SM2.public_key, "not-yet-valid", NOW - timedelta(seconds=61))
    with pytest.raises(QrError, match="expired"):
        verify_qr(text, public_key=SM2.public_key, now=NOW + timedelta(seconds=60), leeway_seconds=0)


def test_wrong_key() -> None:
    text = issue_qr(CARD, "Patient/1", key=SM2, ttl_seconds=60, now=NOW)
    other = generate_key("SM2", issuer="330100")
    rejected(text, other.public_key, "key")  # unknown key id
    same_kid = VerifyingKey("SM2", other.public_key.public, "330100", kid=SM2.kid)
    rejected(text, same_kid, "signature")
    ed_same_kid = VerifyingKey("Ed25519", ED.public_key.public, "330100", kid=SM2.kid)
    rejected(text, ed_same_kid, "signature")
    other_issuer = VerifyingKey("SM2", SM2.public_key.public, "330200", kid=SM2.kid)
    rejected(text, other_issuer, "key")


def test_key_rotation_selects_the_key_by_id() -> None:
    new = generate_key("Ed25519", issuer="330100")
    text = issue_qr(CARD, "Patient/1", key=new, ttl_seconds=60, now=NOW)
    claims = verify_qr(text, public_key=[SM2.public_key, new.public_key], now=NOW)
    assert claims.key_id == new.kid
    assert claims.algorithm == "Ed25519"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "RHC1",
        "RHC2.e30.AAAA",
        "RHC1.e30",
        "RHC1.e30.AAAA.AAAA",
        "RHC1.e30=.AAAA",
        "RHC1.!!!!.AAAA",
        "RHC1.e30.AAAA",  # {} lacks the claims
        "RHC1." + b64(b"not json") + ".AAAA",
        "RHC1." + b64(b"[1,2]") + ".AAAA",
    ],
)
def test_bad_format(text: str) -> None:
    rejected(text, SM2.public_key, "format")


def test_bad_claim_types_and_extra_claims() -> None:
    base = {"alg": "SM2", "kid": SM2.kid, "iss": "330100", "card": CARD, "ref": "p", "iat": 1, "exp": 2, "nonce": "n"}
    for claims in (
        {**base, "iat": "1"},
        {**base, "exp": 2.5},
        {**base, "iat": True},
        {**base, "card": 1},
        {**base, "extra": 1},
        {**base, "idm": "1101**********002X"},  # both idm and ref
        {**base, "iat": 5, "exp": 2},
        {**base, "exp": 2**62},
        {**base, "iat": -1},
    ):
        text = "RHC1." + b64(json.dumps(claims).encode()) + "." + b64(bytes(64))
        rejected(text, SM2.public_key, "format")


# --- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [SM2, ED], ids=["SM2", "Ed25519"])
def test_key_serialisation_round_trips(key: SigningKey) -> None:
    pem = key.to_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert SigningKey.from_pem(pem, issuer="330100") == key
    assert SigningKey.from_hex(key.to_hex(), algorithm=key.algorithm, issuer="330100") == key
    pub = key.public_key
    assert VerifyingKey.from_pem(pub.to_pem(), issuer="330100") == pub
    assert VerifyingKey.from_hex(pub.to_hex(), algorithm=key.algorithm, issuer="330100") == pub
    assert len(key.sign(b"x")) == 64
    assert pub.verify(b"x", key.sign(b"x"))
    assert key.to_hex() not in repr(key)


def test_key_validation() -> None:
    with pytest.raises(ValueError, match="SM2 public key"):
        VerifyingKey("SM2", bytes(64), "330100")
    with pytest.raises(ValueError, match="32 bytes"):
        VerifyingKey("Ed25519", bytes(31), "330100")
    with pytest.raises(ValueError, match="unknown signature algorithm"):
        generate_key("RSA", issuer="330100")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="issuer"):
        generate_key("SM2", issuer="杭州")
    with pytest.raises(ValueError, match="out of range"):
        SigningKey.from_private("SM2", bytes(32), issuer="330100")
    der = base64.b64decode("".join(SM2.to_pem().splitlines()[1:-1]))
    other = generate_key("SM2", issuer="330100").public_key.public
    forged = base64.b64encode(der.replace(SM2.public_key.public, other)).decode()
    with pytest.raises(ValueError, match="does not match"):
        SigningKey.from_pem(f"-----BEGIN PRIVATE KEY-----\n{forged}\n-----END PRIVATE KEY-----\n", issuer="x")
    with pytest.raises(ValueError, match="algorithm differs"):
        SigningKey("SM2", SM2.private, ED.public_key)
    with pytest.raises(ValueError, match="no PEM block"):
        VerifyingKey.from_pem(SM2.to_pem(), issuer="330100")


def test_sm2_signatures_are_randomised_and_key_bound() -> None:
    assert SM2.sign(b"m") != SM2.sign(b"m")
    assert not SM2.public_key.verify(b"m", bytes(64))
    assert not SM2.public_key.verify(b"m", b"\xff" * 64)
    assert not SM2.public_key.verify(b"m", SM2.sign(b"m")[:63])
    assert not SM2.public_key.verify(b"n", SM2.sign(b"m"))


def _openssl_sm2() -> str | None:
    exe = shutil.which("openssl")
    if exe is None:
        return None
    probe = subprocess.run([exe, "genpkey", "-algorithm", "SM2"], capture_output=True, check=False)
    return exe if probe.returncode == 0 else None


def test_sm2_interoperates_with_openssl(tmp_path: Path) -> None:
    exe = _openssl_sm2()
    if exe is None:
        pytest.skip("no OpenSSL command with SM2 on this machine")
    (tmp_path / "pub.pem").write_text(SM2.public_key.to_pem())
    (tmp_path / "msg").write_bytes(b"RHC1.interop")
    sig = SM2.sign(b"RHC1.interop")
    r, s = (int.from_bytes(sig[i : i + 32]) for i in (0, 32))

    def der_int(v: int) -> bytes:
        b = v.to_bytes(v.bit_length() // 8 + 1, "big")
        return bytes([2, len(b)]) + b

    body = der_int(r) + der_int(s)
    (tmp_path / "sig").write_bytes(bytes([0x30, len(body)]) + body)
    opts = ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    run = subprocess.run(
        [exe, "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-in", "msg", "-sigfile", "sig", *opts],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    generated = subprocess.run([exe, "genpkey", "-algorithm", "SM2"], capture_output=True, text=True, check=True)
    key = SigningKey.from_pem(generated.stdout, issuer="330100")
    exported = subprocess.run(
        [exe, "pkey", "-pubout"], input=generated.stdout, capture_output=True, text=True, check=True
    )
    assert VerifyingKey.from_pem(exported.stdout, issuer="330100") == key.public_key
