"""Server-assigned resource ids: time-ordered UUIDs (RFC 9562 version 7).

A random (version 4) id lands on a random leaf of every btree keyed by it (``ux_resources_type_id``,
the reference index), so on a large database each new resource dirties pages nobody else touches and
PostgreSQL writes a full-page image of each to the WAL after every checkpoint. A version-7 id starts
with the millisecond clock, so new ids (and references to them) share the rightmost leaves, while 74
random bits keep ids unguessable. Measured at 1 M resources: decision 0015.
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A new resource id: 48-bit Unix milliseconds, version 7, variant 10, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits; 74 used
    value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | ((rand >> 62) & 0xFFF) << 64 | 0b10 << 62 | rand & (1 << 62) - 1
    return str(uuid.UUID(int=value))
