#!/usr/bin/env python
"""National cryptography on this machine: SM2 signatures (health-card QR), SM3 hashing, SM4-GCM fields.

    .venv/bin/python bench/bench_crypto.py [--n 2000]

SM2 sign/verify through ``rhip.identity.signing`` (GmSSL C library via ``gmssl-pyx``) beside Ed25519
(``cryptography``) on the same 200-byte payload; SM3 and SM4-GCM throughput through
``rhip.security.crypto`` (OpenSSL via ``cryptography``), plus one HMAC-SM3 audit-chain link. Prints JSON
(operations per second and µs per operation, median of 5 rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from rhip.identity.signing import generate_key
from rhip.security.audit import link
from rhip.security.crypto import KeyRing, sm3_hex

PAYLOAD = os.urandom(200)


def per_op(fn: Callable[[], object], n: int, rounds: int = 5) -> dict[str, float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    us = statistics.median(times) * 1e6
    return {"us_per_op": round(us, 2), "ops_per_s": round(1e6 / us)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    out: dict[str, object] = {"benchmark": "crypto", "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    for algorithm in ("SM2", "Ed25519"):
        key = generate_key(algorithm, issuer="bench")
        signature = key.sign(PAYLOAD)
        verifier = key.public_key
        assert verifier.verify(PAYLOAD, signature)
        out[f"{algorithm}_sign"] = per_op(lambda k=key: k.sign(PAYLOAD), args.n)
        out[f"{algorithm}_verify"] = per_op(lambda v=verifier, s=signature: v.verify(PAYLOAD, s), args.n)
    mib = os.urandom(1 << 20)
    t = per_op(lambda: sm3_hex(mib), 50)
    out["SM3_MB_per_s"] = round(1e6 / t["us_per_op"], 1)
    ring = KeyRing.generate()
    token = ring.encrypt("330523194504251214", context="identifier")
    out["SM4GCM_encrypt_id_number"] = per_op(lambda: ring.encrypt("330523194504251214", context="identifier"), args.n)
    out["SM4GCM_decrypt_id_number"] = per_op(lambda: ring.decrypt(token, context="identifier"), args.n)
    out["blind_index_id_number"] = per_op(lambda: ring.blind_index("330523194504251214", context="ric"), args.n)
    event = "x" * 1500
    out["audit_chain_link_1500B"] = per_op(lambda: link(b"k" * 32, "0" * 64, 1, event), args.n)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
