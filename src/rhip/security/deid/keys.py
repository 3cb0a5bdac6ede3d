"""Keyed pseudonyms, per-person date offsets and the key fingerprint, all from HMAC-SM3.

Everything derived from the export key is a keyed hash of a labelled input, so the same key and input
always give the same output (exports are reproducible and can be linked by whoever holds the key),
while without the key a pseudonym reveals nothing and cannot be linked to the source id.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac

from rhip.security.crypto import sm3_hex

__all__ = ["MIN_KEY_BYTES", "Keys"]

MIN_KEY_BYTES = 16
"""128 bits, like the SM4 field keys: shorter keys could be found by exhaustive search from a pseudonym."""


class Keys:
    """Derivations from one export key (never stored in the output; only its fingerprint is)."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the export key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def mac(self, label: str, value: str) -> bytes:
        """HMAC-SM3 of ``label NUL value``: the label keeps the uses of the key unlinkable to each other."""
        h = hmac.HMAC(self._key, hashes.SM3())
        h.update(label.encode() + b"\x00" + value.encode())
        return h.finalize()

    def resource_id(self, rtype: str, id: str) -> str:
        """Pseudonymous id: 128 bits as 32 hex digits (a valid FHIR id, collisions negligible)."""
        return self.mac("id", f"{rtype}/{id}")[:16].hex()

    def person(self, person_key: str) -> str:
        """The research pseudonym of a person (shared by all their Patient records)."""
        return self.mac("person", person_key)[:16].hex()

    def offset_days(self, person_key: str, max_days: int) -> int:
        """Uniform over ``[-max_days, -1] ∪ [1, max_days]``: never 0, so no person keeps true dates."""
        if max_days < 1:
            raise ValueError("max_days must be at least 1")
        n = int.from_bytes(self.mac("shift", person_key)[:8], "big") % (2 * max_days)
        return n - max_days if n < max_days else n - max_days + 1

    def fingerprint(self) -> str:
        """Identifies the key in reports (which key made an export) without revealing it."""
        return "sm3:" + sm3_hex(b"rhip-deid-key-fingerprint\x00" + self._key)[:16]
