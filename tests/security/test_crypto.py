"""SM3/SM4 primitives: standard test vectors, round trips, tampering, rotation, blind indexes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from rhip.security.crypto import CryptoError, KeyRing, sm3_hex


def test_sm3_standard_vector() -> None:
    # GB/T 32905-2016 Appendix A example 1.
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm4_standard_vector() -> None:
    # GB/T 32907-2016 Appendix A example 1 (single block, key = plaintext).
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (enc.update(key) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


@given(st.text(max_size=200))
def test_round_trip(text: str) -> None:
    ring = KeyRing.generate()
    token = ring.encrypt(text, context="Patient.identifier")
    assert token.startswith("sm4g1.k1.")
    assert ring.decrypt(token, context="Patient.identifier") == text


def test_tampering_wrong_context_and_unknown_key_are_rejected() -> None:
    ring = KeyRing.generate()
    token = ring.encrypt("330521197005149523", context="id")
    head, payload = token.rsplit(".", 1)
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(CryptoError):
        ring.decrypt(f"{head}.{flipped}", context="id")
    with pytest.raises(CryptoError):
        ring.decrypt(token, context="phone")
    with pytest.raises(CryptoError):
        KeyRing.generate("k9").decrypt(token, context="id")
    with pytest.raises(CryptoError):
        ring.decrypt("not-a-token")


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old = KeyRing.generate("k1")
    token = old.encrypt("13800138000")
    new = KeyRing.from_text(f"k2:{'ab' * 16},{old.to_text()}")
    assert new.active == "k2"
    assert new.decrypt(token) == "13800138000"
    assert new.encrypt("x").startswith("sm4g1.k2.")
    with pytest.raises(CryptoError):
        KeyRing.from_text("k1:abcd")


def test_blind_index_is_exact_keyed_and_field_separated() -> None:
    ring = KeyRing.generate()
    a = ring.blind_index("11010519491231002x", context="id-number")
    assert a == ring.blind_index(" 11010519491231002X ", context="id-number")
    assert a != ring.blind_index("11010519491231002X", context="phone")
    assert a != KeyRing.generate().blind_index("11010519491231002X", context="id-number")
    assert ring.matches("11010519491231002X", a, context="id-number")
    assert not ring.matches("110105194912310038", a, context="id-number")
    assert len(ring.blind_indexes("x", context="c")) == 1
