"""Re-sealing stored sensitive values under the active field key (key rotation, decision 0019).

Rotation: put a new key first in the ring (``rhip keys rotate`` does it for the key file), run this
(``rhip keys reseal``; idempotent, resumable by re-running), then retire the old key (``rhip keys
retire``, which refuses while anything still uses it). It also seals values stored before sealing
existed. Each batch is one transaction: content of every version (history included) is rewritten with
fresh SM4-GCM ciphertexts, and the token index rows of current versions are rebuilt, so their blind
indexes use the active key. The audit trail is not touched: it is hash-chained, and masks the
numbers instead of sealing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Text, and_, delete, select, tuple_, type_coerce, update
from sqlalchemy.engine import Connection

from rhip.fhir import json as fjson
from rhip.security.fields import count_sensitive, might_hold, ring, seal_json, sealed_key_ids, unseal_text
from rhip.settings import Settings
from rhip.store import dialect
from rhip.store.index import index_rows
from rhip.store.schema import idx_token, resource_versions, resources


@dataclass
class ResealReport:
    scanned: int = 0
    resealed: int = 0
    reindexed: int = 0
    extra: dict[str, int] | None = None


def needs_reseal(raw: str, body: Any, active: str) -> bool:
    """Stored text holds a value sealed under another key, or a sensitive value not sealed at all."""
    kids = sealed_key_ids(raw)
    if any(k != active for k in kids):
        return True
    return count_sensitive(body) > len(kids)


def _batch(conn: Connection, after: tuple[int, int], size: int) -> list[Any]:
    v = resource_versions.c
    raw = type_coerce(v.content, Text).label("raw")
    stmt = (
        select(v.rid, v.version, v.rtype, raw, resources.c.version.label("current"))
        .join(resources, resources.c.rid == v.rid)
        .where(tuple_(v.rid, v.version) > tuple_(*after), v.content.is_not(None))
        .order_by(v.rid, v.version)
        .limit(size)
    )
    return list(conn.execute(stmt))


def reseal(
    engine: Engine,
    settings: Settings,
    *,
    batch: int = 2000,
    also: Callable[[Connection], dict[str, int]] | None = None,
) -> ResealReport:
    """Re-seal every version and re-index current ones that need it; ``also`` re-seals other stores
    (the master person index) in the last transaction and reports its counts."""
    report = ResealReport()
    active = ring().active
    tz, base = settings.tz(), settings.base_url.rstrip("/") or None
    after = (0, 0)
    while True:
        with engine.connect().execution_options(rhip_write=True) as conn:
            conn.begin()
            rows = _batch(conn, after, batch)
            for row in rows:
                report.scanned += 1
                raw = str(row.raw)
                if "sm4g1." not in raw and not might_hold(raw.encode()):
                    continue
                plain = unseal_text(raw)
                body = fjson.loads(plain)
                if not needs_reseal(raw, body, active):
                    continue
                stored = seal_json(body, fjson.dumps(body)).decode()
                conn.execute(
                    update(resource_versions)
                    .where(and_(resource_versions.c.rid == row.rid, resource_versions.c.version == row.version))
                    .values(content=type_coerce(stored, Text))
                )
                report.resealed += 1
                if row.version == row.current:
                    _reindex_tokens(conn, row.rid, row.rtype, body, base, tz)
                    report.reindexed += 1
            if not rows and also is not None:
                report.extra = also(conn)
            conn.commit()
        if not rows:
            return report
        after = (int(rows[-1].rid), int(rows[-1].version))


def _reindex_tokens(conn: Connection, rid: int, rtype: str, body: dict[str, Any], base: str | None, tz: Any) -> None:
    conn.execute(delete(idx_token).where(idx_token.c.rid == rid))
    rows = index_rows(body, base_url=base, tz=tz)["token"]
    dialect.write_rows(
        conn,
        "idx_token",
        tuple(c.name for c in idx_token.columns),
        [(rid, rtype, *r) for r in rows],
    )


def keys_in_use(engine: Engine) -> set[str]:
    """Key ids any stored content or token index row still uses (retiring one of them would lose data)."""
    used: set[str] = set()
    v = resource_versions.c
    raw = type_coerce(v.content, Text)
    with engine.connect() as conn:
        for (text,) in conn.execute(select(raw).where(raw.like("%sm4g1.%"))):
            used.update(sealed_key_ids(str(text)))
        t = idx_token.c
        for kid in ring().keys:
            pattern = f"{kid}.%"
            hit = conn.execute(select(t.rid).where(t.value.like(pattern), t.system.is_not(None)).limit(1)).first()
            if hit is not None:
                used.add(kid)
    return used
