"""Sensitive identifiers at rest: ID numbers and phones sealed with SM4 in stored JSON, blind-indexed for search.

What is sensitive (decision 0019): the ``value`` of any Identifier whose system is a person-level
identity document or card of the identifier registry (身份证号, 健康卡号, 医保卡号, passports, permits…:
``kind == "person"`` and ``master``), wherever it appears (``Patient.identifier``, a
``Reference.identifier`` in a clinical resource), and the ``value`` of any ContactPoint whose system is
``phone`` or ``sms``. Hospital patient numbers, names and addresses are not sealed.

- Stored JSON: each sensitive value becomes ``"sm4g1.<key id>.<...>"`` (SM4-GCM, :mod:`rhip.security.crypto`);
  :func:`unseal_text` turns the stored text back into the received JSON (same bytes) on every read.
  Resources in memory — write hooks, responses, the audit — only ever hold plaintext.
- Search index: the token rows of such values hold the keyed blind index (HMAC-SM3) instead of the
  value; a search computes the index of the value it looks for under every key of the ring, so exact
  search keeps working through a key rotation.

The key ring is configured once per process (:func:`configure`, from ``RHIP_FIELD_KEYS`` or the key
file beside the data); nothing is sealed or read without it. A separate, stable index key
(``RHIP_INDEX_KEY`` or ``index.key``) keys the hashes that must not change with a rotation.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from cryptography.hazmat.primitives import hashes, hmac

from rhip.fhir import json as fjson
from rhip.identity.systems import NATIONAL_SYSTEMS, RHIP_SYSTEMS, IdentifierSystems
from rhip.security.crypto import CryptoError, KeyRing, load_field_keys
from rhip.security.keyfiles import key_file

__all__ = [
    "CONTACT_SYSTEMS",
    "FieldKeysError",
    "blind",
    "blind_candidates",
    "configure",
    "configure_from",
    "configured",
    "count_sensitive",
    "derived_key",
    "index_values",
    "mask",
    "mask_query",
    "might_hold",
    "ring",
    "seal_json",
    "seal_value",
    "sealed_key_ids",
    "sensitive_system",
    "unseal_text",
    "unseal_value",
]

CONTENT_CONTEXT = "rhip.content"
TOKEN_CONTEXT = "rhip.token"
CONTACT_SYSTEMS = frozenset({"phone", "sms"})

_REGISTRY = IdentifierSystems((*NATIONAL_SYSTEMS, *RHIP_SYSTEMS))
_SEALED = re.compile(r'"(sm4g1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"')
_ring: KeyRing | None = None
_index_key: bytes | None = None


class FieldKeysError(RuntimeError):
    """Sealed data was written or read before :func:`configure` (a wiring error, never client input)."""


def configure(keys: KeyRing, index_key: bytes | None = None) -> None:
    """Install the process's field key ring and, when given, the index key (the app, the CLI and the
    test session call this)."""
    global _ring, _index_key
    _ring = keys
    if index_key is not None:
        if len(index_key) < 16:
            raise CryptoError("the index key must have at least 16 bytes")
        _index_key = index_key
    _blind_cached.cache_clear()
    _derived.cache_clear()


def configure_from(field_keys: str, data_dir: Path, index_key: str = "") -> KeyRing:
    """Install the keys of the settings: the ring (``RHIP_FIELD_KEYS``, else ``field.keys``) and the index
    key (``RHIP_INDEX_KEY`` as hex, else ``index.key``), both beside the data, never in the database."""
    keys = load_field_keys(field_keys, data_dir)
    text = index_key or key_file(data_dir, "index.key", lambda: secrets.token_hex(32))
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise CryptoError("the index key must be hex") from None
    configure(keys, secret)
    return keys


def configured() -> bool:
    return _ring is not None


def ring() -> KeyRing:
    if _ring is None:
        raise FieldKeysError("field keys are not configured (rhip.security.fields.configure)")
    return _ring


@lru_cache(maxsize=256)
def sensitive_system(system: str) -> bool:
    """True for an Identifier system whose values are personal identity numbers."""
    info = _REGISTRY.get(system)
    return info is not None and info.kind == "person" and info.master


def _is_sensitive(node: Mapping[str, Any]) -> bool:
    system = node.get("system")
    if not isinstance(system, str) or not isinstance(node.get("value"), str):
        return False
    return system in CONTACT_SYSTEMS or sensitive_system(system)


def _markers() -> tuple[bytes, ...]:
    """Few, short byte strings one of which every sensitive node's JSON contains: the common prefix of
    the sensitive national OIDs, the path segment of rhip's own systems, the two ContactPoint codes.
    Each ``in`` test costs ≈ 0.6 µs on a 1.3 kB resource, so four of them, not one per system."""
    uris = [s.uri for s in _REGISTRY if s.kind == "person" and s.master]
    oids = [u.rsplit(":", 1)[-1] for u in uris if u.startswith("urn:oid:")]
    urls = [u.split("://", 1)[-1] for u in uris if not u.startswith("urn:oid:")]
    prefixes = (os.path.commonprefix(oids), os.path.commonprefix(urls))  # noqa: RUF071 (character prefix meant)
    found = {*(p.encode() for p in prefixes), b'"phone"', b'"sms"'}
    assert all(any(m.decode() in u for m in found) for u in uris), "a sensitive system escapes the pre-test"
    return tuple(sorted(found))


_MARKERS = _markers()


def might_hold(text: bytes) -> bool:
    """Cheap pre-test on the serialised resource: most resources name no sensitive system at all."""
    return any(m in text for m in _MARKERS)


def seal_value(value: str) -> str:
    return ring().encrypt(value, context=CONTENT_CONTEXT)


def unseal_value(token: str) -> str:
    return ring().decrypt(token, context=CONTENT_CONTEXT)


def _seal(node: Any) -> Any:
    """``node`` with every sensitive value sealed; unchanged sub-trees are shared, not copied."""
    if isinstance(node, dict):
        out: dict[str, Any] | None = None
        for key, value in node.items():
            new = _seal(value)
            if new is not value:
                out = out if out is not None else dict(node)
                out[key] = new
        if _is_sensitive(node):
            out = out if out is not None else dict(node)
            out["value"] = seal_value(node["value"])
        return node if out is None else out
    if isinstance(node, list):
        items = [_seal(v) for v in node]
        return node if all(a is b for a, b in zip(items, node, strict=True)) else items
    return node


def count_sensitive(node: Any) -> int:
    """How many values of ``node`` (a plaintext resource) are sealed when stored."""
    if isinstance(node, dict):
        return int(_is_sensitive(node)) + sum(count_sensitive(v) for v in node.values())
    if isinstance(node, list):
        return sum(count_sensitive(v) for v in node)
    return 0


def sealed_key_ids(text: str) -> list[str]:
    """The key id of every sealed value in stored text (what a rotation must re-seal)."""
    return [m.group(1).split(".", 2)[1] for m in _SEALED.finditer(text)] if "sm4g1." in text else []


def seal_json(resource: dict[str, Any], text: bytes) -> bytes:
    """The text to store for ``resource`` (serialised as ``text``): sensitive values sealed."""
    if not might_hold(text):
        return text
    sealed = _seal(resource)
    return text if sealed is resource else fjson.dumps(sealed)


def _unseal_match(m: re.Match[str]) -> str:
    try:
        return orjson.dumps(unseal_value(m.group(1))).decode()
    except CryptoError:
        return m.group(0)  # a client's string that only looks sealed


def unseal_text(text: str) -> str:
    """Stored JSON → the JSON as received (every sealed value decrypted in place)."""
    if "sm4g1." not in text:
        return text
    return _SEALED.sub(_unseal_match, text)


@lru_cache(maxsize=16)
def _derived(purpose: str) -> bytes:
    if _index_key is None:
        raise FieldKeysError("the index key is not configured (rhip.security.fields.configure)")
    mac = hmac.HMAC(_index_key, hashes.SM3())
    mac.update(purpose.encode())
    return mac.finalize()


def derived_key(purpose: str) -> bytes:
    """A 32-byte secret for ``purpose``, derived (HMAC-SM3) from the index key.

    For keyed hashes that are looked up by equality and must not change when the SM4 keys rotate (the
    MPI's blocking keys: a write during a rotation must still find its candidates). Without the key,
    the hashes cannot be linked to the ID numbers and phones they were made of."""
    return _derived(purpose)


@lru_cache(maxsize=4096)
def _blind_cached(value: str, key_id: str) -> str:
    return ring().blind_index(value, context=TOKEN_CONTEXT, key_id=key_id)


def blind(value: str) -> str:
    """The index value stored for a sensitive value (the active key's blind index)."""
    return _blind_cached(value, ring().active)


def blind_candidates(value: str) -> list[str]:
    """Index values a search for ``value`` must accept: its blind index under every key of the ring."""
    keys = ring()
    return [_blind_cached(value, k) for k in keys.keys]


def mask(value: str) -> str:
    """脱敏显示 for messages and the audit trail: an ID number keeps its first 6 and last 4 characters,
    a phone its first 3 and last 4, anything shorter only its length."""
    n = len(value)
    if n >= 15:
        return value[:6] + "*" * (n - 10) + value[-4:]
    if n >= 8:
        return value[:3] + "*" * (n - 7) + value[-4:]
    return "*" * n


_SEARCH_NAMES = frozenset({"identifier", "telecom", "phone", "patient-identifier", "subscriber-id"})


def _mask_term(value: str) -> str:
    """One OR-value of a search term: ``[system|]value`` with the value masked."""
    head, bar, tail = value.rpartition("|")
    return f"{head}{bar}{mask(tail)}" if tail else value


def mask_query(text: str) -> str:
    """A search query string (``name=value&…``, optionally after ``Type?``) with the values of
    identifier / phone parameters masked (the audit trail keeps what was searched for without storing the
    numbers; hash-chained entries cannot be re-sealed when keys rotate, so they are masked rather than
    encrypted)."""
    path, question, query = text.partition("?")
    if question and "=" not in path and "&" not in path:  # ``Patient?…``: the parameters follow
        return f"{path}?{mask_query(query)}"
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        return text
    changed = False
    out = []
    for name, value in pairs:
        parts = set(re.split(r"[:.]", name))
        systems = {v.rpartition("|")[0] for v in value.split(",")}
        if parts & _SEARCH_NAMES or any(s and (s in CONTACT_SYSTEMS or sensitive_system(s)) for s in systems):
            value = ",".join(_mask_term(v) for v in value.split(","))
            changed = True
        out.append((name, value))
    return urlencode(out, safe="|:,*") if changed else text


def index_values(value: str, system: str | None) -> list[str]:
    """What an ``idx_token`` row of an Identifier/ContactPoint ``system|value`` may hold: the blind indexes
    of a sensitive value (under every key), the value itself for other systems, both when the system is
    not known (a search without one)."""
    if not value:
        return [value]
    if system is None:
        return [value, *blind_candidates(value)]
    if system in CONTACT_SYSTEMS or sensitive_system(system):
        return blind_candidates(value)
    return [value]
