"""Signing keys for documents the platform issues (the electronic health card QR): SM2 or Ed25519.

The algorithm is a property of the key object, so a node can switch without touching callers.

- **SM2** (GB/T 32918, the national algorithm the 居民健康卡 specifications use, standards.md §6.1):
  signatures over ``e = SM3(Z_A || M)`` with the default signer id ``1234567812345678`` (GB/T 35276),
  computed by the GmSSL C library through ``gmssl-pyx``; encoded as the 64-byte ``r || s``.
- **Ed25519** (RFC 8032) through ``cryptography``.

Keys serialise as PEM (PKCS#8 ``PRIVATE KEY`` / SubjectPublicKeyInfo ``PUBLIC KEY``, the SM2 form that
OpenSSL 3 reads and writes: ``id-ecPublicKey`` with curve OID 1.2.156.10197.1.301) or as hex of the raw
key (SM2 private scalar; public point ``04 || X || Y``). Private PEM is written unencrypted: protect it with
the deployment's secret storage.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal, cast

Algorithm = Literal["SM2", "Ed25519"]
ALGORITHMS: tuple[Algorithm, ...] = ("SM2", "Ed25519")
SM2_SIGNER_ID = b"1234567812345678"

# SM2 recommended curve (GB/T 32918.5-2017).
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

_OID_EC = bytes.fromhex("06072a8648ce3d0201")  # 1.2.840.10045.2.1 id-ecPublicKey
_OID_SM2 = bytes.fromhex("06082a811ccf5501822d")  # 1.2.156.10197.1.301 SM2 curve
_OID_ED25519 = bytes.fromhex("06032b6570")  # 1.3.101.112
_ISSUER = re.compile(r"[0-9A-Za-z._-]{1,32}")


# --- minimal DER ------------------------------------------------------------------------------


def _der(tag: int, value: bytes) -> bytes:
    n = len(value)
    length = (
        bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8)
    )
    return bytes([tag]) + length + value


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """(tag, value, position after) of the TLV at ``pos``; ValueError on truncated or odd input."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 3 or pos + n > len(data):
            raise ValueError("unsupported DER length")
        length, pos = int.from_bytes(data[pos : pos + n]), pos + n
    else:
        length = first
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos : pos + length], pos + length


def _items(seq: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(seq):
        tag, value, pos = _read(seq, pos)
        out.append((tag, value))
    return out


def _pem(label: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _unpem(text: str, label: str) -> bytes:
    m = re.search(rf"-----BEGIN {label}-----(.*?)-----END {label}-----", text, re.S)
    if not m:
        raise ValueError(f"no PEM block {label!r} found")
    return base64.b64decode("".join(m.group(1).split()), validate=True)


# --- SM2 arithmetic (key loading only; signing runs in GmSSL) ---------------------------------


def _sm2_on_curve(x: int, y: int) -> bool:
    return 0 <= x < _P and 0 <= y < _P and (y * y - x * x * x - _A * x - _B) % _P == 0


def _sm2_public(d: int) -> bytes:
    """Public point ``X || Y`` of the private scalar ``d`` (affine double-and-add)."""
    if not 1 <= d <= _N - 2:
        raise ValueError("SM2 private key out of range")
    result: tuple[int, int] | None = None
    point = (_GX, _GY)
    while d:
        if d & 1:
            result = point if result is None else _add(result, point)
        point = _add(point, point)
        d >>= 1
    assert result is not None
    return result[0].to_bytes(32, "big") + result[1].to_bytes(32, "big")


def _add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = p1, p2
    num, den = (3 * x1 * x1 + _A, 2 * y1) if p1 == p2 else (y2 - y1, x2 - x1)
    lam = num * pow(den, -1, _P) % _P
    x3 = (lam * lam - x1 - x2) % _P
    return x3, (lam * (x1 - x3) - y1) % _P


def _sm2_digest(public: bytes, message: bytes) -> bytes:
    """``e = SM3(Z_A || M)`` with ``Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`` (GB/T 32918.2)."""
    from gmssl_pyx import sm3_hash

    ident = SM2_SIGNER_ID
    curve = b"".join(v.to_bytes(32, "big") for v in (_A, _B, _GX, _GY))
    z = sm3_hash((len(ident) * 8).to_bytes(2, "big") + ident + curve + public)
    return cast(bytes, sm3_hash(z + message))


def _sm2_sign(private: bytes, public: bytes, message: bytes) -> bytes:
    from gmssl_pyx import sm2_sign_sm3_digest

    der = cast(bytes, sm2_sign_sm3_digest(private, _sm2_digest(public, message)))
    _tag, seq, _end = _read(der)
    (_t1, r), (_t2, s) = _items(seq)
    return int.from_bytes(r).to_bytes(32, "big") + int.from_bytes(s).to_bytes(32, "big")


def _sm2_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    from gmssl_pyx import GmsslInnerError, sm2_verify_sm3_digest

    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
    if not (1 <= r < _N and 1 <= s < _N):
        return False
    der = _der(0x30, _der_int(r) + _der_int(s))
    try:
        return bool(sm2_verify_sm3_digest(public, _sm2_digest(public, message), der))
    except GmsslInnerError:
        return False


# --- key objects ------------------------------------------------------------------------------


def _check_issuer(issuer: str) -> str:
    if not _ISSUER.fullmatch(issuer):
        raise ValueError(f"issuer must be 1-32 characters of [0-9A-Za-z._-], got {issuer!r}")
    return issuer


def _check_public(algorithm: Algorithm, public: bytes) -> bytes:
    if algorithm == "SM2":
        raw = public[1:] if len(public) == 65 and public[0] == 4 else public
        if len(raw) != 64 or not _sm2_on_curve(int.from_bytes(raw[:32]), int.from_bytes(raw[32:])):
            raise ValueError("not an SM2 public key (64-byte X || Y on the SM2 curve)")
        return raw
    if algorithm == "Ed25519":
        if len(public) != 32:
            raise ValueError("an Ed25519 public key has 32 bytes")
        return public
    raise ValueError(f"unknown signature algorithm {algorithm!r}; expected one of {ALGORITHMS}")


@dataclass(frozen=True)
class VerifyingKey:
    """A node's public key: verifies what the node signed. ``issuer`` is the node code it stands for."""

    algorithm: Algorithm
    public: bytes
    issuer: str
    kid: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "public", _check_public(self.algorithm, self.public))
        _check_issuer(self.issuer)
        if not self.kid:
            object.__setattr__(self, "kid", hashlib.sha256(self._spki()).hexdigest()[:8])

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's signature of ``message``."""
        if self.algorithm == "SM2":
            return _sm2_verify(self.public, message, signature)
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def _spki(self) -> bytes:
        if self.algorithm == "SM2":
            return _der(0x30, _der(0x30, _OID_EC + _OID_SM2) + _der(0x03, b"\x00\x04" + self.public))
        return _der(0x30, _der(0x30, _OID_ED25519) + _der(0x03, b"\x00" + self.public))

    def to_pem(self) -> str:
        """SubjectPublicKeyInfo PEM (``-----BEGIN PUBLIC KEY-----``)."""
        return _pem("PUBLIC KEY", self._spki())

    def to_hex(self) -> str:
        """Raw public key in hex: SM2 ``04 || X || Y`` (130 digits), Ed25519 32 bytes (64 digits)."""
        return ("04" if self.algorithm == "SM2" else "") + self.public.hex()

    @classmethod
    def from_pem(cls, pem: str, *, issuer: str, kid: str = "") -> VerifyingKey:
        """Load a SubjectPublicKeyInfo PEM (SM2 or Ed25519)."""
        _tag, seq, _end = _read(_unpem(pem, "PUBLIC KEY"))
        (_t, alg), (_b, bits) = _items(seq)
        if bits[:1] != b"\x00":
            raise ValueError("malformed public key bit string")
        if alg == _OID_EC + _OID_SM2:
            return cls("SM2", bits[1:], issuer, kid)
        if alg == _OID_ED25519:
            return cls("Ed25519", bits[1:], issuer, kid)
        raise ValueError("public key is neither SM2 nor Ed25519")

    @classmethod
    def from_hex(cls, text: str, *, algorithm: Algorithm, issuer: str, kid: str = "") -> VerifyingKey:
        """Load a raw public key in hex (see :meth:`to_hex`)."""
        return cls(algorithm, bytes.fromhex(text), issuer, kid)


@dataclass(frozen=True)
class SigningKey:
    """A node's private key with its public half; ``sign`` uses the key's own algorithm."""

    algorithm: Algorithm
    private: bytes = field(repr=False)
    public_key: VerifyingKey

    def __post_init__(self) -> None:
        if self.public_key.algorithm != self.algorithm:
            raise ValueError("the public key's algorithm differs from the private key's")

    @property
    def issuer(self) -> str:
        """Node code the key signs for."""
        return self.public_key.issuer

    @property
    def kid(self) -> str:
        """Key id (first 8 hex digits of SHA-256 of the public key's DER unless set)."""
        return self.public_key.kid

    def sign(self, message: bytes) -> bytes:
        """Signature of ``message``: 64 bytes for both algorithms."""
        if self.algorithm == "SM2":
            return _sm2_sign(self.private, self.public_key.public, message)
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.private).sign(message)

    @classmethod
    def from_private(cls, algorithm: Algorithm, private: bytes, *, issuer: str, kid: str = "") -> SigningKey:
        """Key pair from the raw private key (SM2 scalar or Ed25519 seed, 32 bytes each)."""
        if len(private) != 32:
            raise ValueError("a private key has 32 bytes")
        if algorithm == "SM2":
            public = _sm2_public(int.from_bytes(private))
        elif algorithm == "Ed25519":
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

            pub = Ed25519PrivateKey.from_private_bytes(private).public_key()
            public = pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
        else:
            raise ValueError(f"unknown signature algorithm {algorithm!r}; expected one of {ALGORITHMS}")
        return cls(algorithm, private, VerifyingKey(algorithm, public, issuer, kid))

    def to_pem(self) -> str:
        """Unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``)."""
        if self.algorithm == "SM2":
            point = _der(0x03, b"\x00\x04" + self.public_key.public)
            inner = _der(0x30, _der_int(1) + _der(0x04, self.private) + _der(0xA1, point))
            alg = _OID_EC + _OID_SM2
        else:
            inner, alg = _der(0x04, self.private), _OID_ED25519
        return _pem("PRIVATE KEY", _der(0x30, _der_int(0) + _der(0x30, alg) + _der(0x04, inner)))

    def to_hex(self) -> str:
        """Raw private key in hex (64 digits)."""
        return self.private.hex()

    @classmethod
    def from_pem(cls, pem: str, *, issuer: str, kid: str = "") -> SigningKey:
        """Load an unencrypted PKCS#8 PEM (SM2 as written by OpenSSL 3 or :meth:`to_pem`, or Ed25519)."""
        _tag, seq, _end = _read(_unpem(pem, "PRIVATE KEY"))
        items = _items(seq)
        if len(items) < 3:
            raise ValueError("malformed PKCS#8 private key")
        alg, octets = items[1][1], items[2][1]
        if alg == _OID_ED25519:
            _t, seed, _e = _read(octets)
            return cls.from_private("Ed25519", seed, issuer=issuer, kid=kid)
        if alg != _OID_EC + _OID_SM2:
            raise ValueError("private key is neither SM2 nor Ed25519")
        _t, ec_seq, _e = _read(octets)
        fields = _items(ec_seq)
        if len(fields) < 2 or fields[1][0] != 0x04 or len(fields[1][1]) > 32:
            raise ValueError("malformed SM2 private key")
        private = fields[1][1].rjust(32, b"\x00")
        key = cls.from_private("SM2", private, issuer=issuer, kid=kid)
        for tag, value in fields[2:]:
            if tag == 0xA1 and _read(value)[1][2:] != key.public_key.public:
                raise ValueError("the public key in the PEM does not match its private key")
        return key

    @classmethod
    def from_hex(cls, text: str, *, algorithm: Algorithm, issuer: str, kid: str = "") -> SigningKey:
        """Load a raw private key in hex (see :meth:`to_hex`)."""
        return cls.from_private(algorithm, bytes.fromhex(text), issuer=issuer, kid=kid)


def generate_key(algorithm: Algorithm = "SM2", *, issuer: str, kid: str = "") -> SigningKey:
    """A fresh key pair from the operating system's random source."""
    if algorithm == "SM2":
        private = (secrets.randbelow(_N - 2) + 1).to_bytes(32, "big")
    elif algorithm == "Ed25519":
        private = secrets.token_bytes(32)
    else:
        raise ValueError(f"unknown signature algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    return SigningKey.from_private(algorithm, private, issuer=issuer, kid=kid)
