"""Per-source settings of connected feeds: how strictly China-profile findings are enforced.

A source is the OAuth client of a hospital or system interface (its ``client_id``); users and in-process
jobs are ``user:<name>`` and ``system:<purpose>``. ``reject`` answers 422 to a write with any
error-level finding, ``warn`` accepts it and keeps every finding, ``off`` skips profile checks
(structural validation always runs). Sources without a row use ``Settings.validation_default``.
Settings are cached per process for a few seconds, so a change made with ``rhip source set`` reaches
running servers without a restart.
"""

from __future__ import annotations

import threading
import time
from typing import Literal, cast, get_args

from sqlalchemy import Engine, delete, insert, select

from rhip.store.quality_tables import data_sources

Strictness = Literal["reject", "warn", "off"]
STRICTNESS: tuple[str, ...] = get_args(Strictness)
_TTL_SECONDS = 5.0


class SourceSettings:
    """Cached view of the ``data_sources`` table."""

    def __init__(self, engine: Engine, default: Strictness) -> None:
        self.engine = engine
        self.default = default
        self._lock = threading.Lock()
        self._cache: dict[str, Strictness] = {}
        self._loaded = 0.0

    def strictness(self, source: str) -> Strictness:
        now = time.monotonic()
        if now - self._loaded > _TTL_SECONDS:
            with self._lock:
                if now - self._loaded > _TTL_SECONDS:
                    self._cache = dict(list_sources(self.engine))
                    self._loaded = time.monotonic()
        return self._cache.get(source, self.default)

    def invalidate(self) -> None:
        self._loaded = 0.0


def list_sources(engine: Engine) -> list[tuple[str, Strictness]]:
    with engine.connect() as conn:
        rows = conn.execute(select(data_sources.c.source, data_sources.c.strictness)).all()
    return [(r.source, cast(Strictness, r.strictness)) for r in rows if r.strictness in STRICTNESS]


def set_source(engine: Engine, source: str, strictness: str, name: str | None = None) -> None:
    """Create or replace one source's setting."""
    if strictness not in STRICTNESS:
        raise ValueError(f"strictness must be one of {', '.join(STRICTNESS)}")
    with engine.begin() as conn:
        conn.execute(delete(data_sources).where(data_sources.c.source == source))
        conn.execute(
            insert(data_sources).values(
                source=source, strictness=strictness, name=name, updated=time.time_ns() // 1_000_000
            )
        )
