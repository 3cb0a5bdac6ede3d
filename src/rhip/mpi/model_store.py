"""Stored models: ``rhip mpi train`` writes versions to ``mpi_models``; matching uses the newest.

Until a model has been trained on the platform's own registrations, the bundled default
(``data/default_model.json``, trained without labels on a synthetic region of 5,000 residents) is
used, so a fresh platform matches from its first write. Its prior reflects that population's size;
retrain once real registrations are loaded (docs/decisions: MPI matching, thresholds).
"""

from __future__ import annotations

import threading
import time
from functools import cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.engine import Connection

from rhip.mpi.model import MatchModel
from rhip.mpi.spec import LinkSpec
from rhip.mpi.tables import mpi_models


@cache
def default_model() -> MatchModel:
    """The bundled model (checked against :func:`rhip.mpi.spec.person_spec` by its users)."""
    text = (resources.files("rhip.mpi") / "data" / "default_model.json").read_text(encoding="utf-8")
    return MatchModel.from_json(text)


def store_model(conn: Connection, model: MatchModel, trained_ms: int) -> None:
    """Save a model version (idempotent: the same parameters are the same version)."""
    exists = conn.execute(select(mpi_models.c.version).where(mpi_models.c.version == model.version)).first()
    if exists is None:
        conn.execute(mpi_models.insert().values(version=model.version, trained=trained_ms, content=model.to_json()))
    else:
        conn.execute(mpi_models.update().where(mpi_models.c.version == model.version).values(trained=trained_ms))


def newest_version(conn: Connection) -> str | None:
    """Version of the newest stored model, None when none was trained here."""
    row = conn.execute(
        select(mpi_models.c.version).order_by(mpi_models.c.trained.desc(), mpi_models.c.version).limit(1)
    ).first()
    return str(row.version) if row else None


def load_model(conn: Connection, version: str) -> MatchModel:
    content = conn.execute(select(mpi_models.c.content).where(mpi_models.c.version == version)).scalar_one()
    return MatchModel.from_json(str(content))


class ModelCache:
    """The current model, re-checked against the database at most every ``ttl`` seconds.

    A newly trained model is picked up by every process within ``ttl`` without a restart; between
    checks no query is made (the check is one indexed row).
    """

    def __init__(self, spec: LinkSpec, ttl: float = 10.0) -> None:
        self.spec = spec
        self.ttl = ttl
        self._lock = threading.Lock()
        self._model: MatchModel | None = None
        self._checked = 0.0

    def current(self, conn: Connection) -> MatchModel:
        now = time.monotonic()
        with self._lock:
            model, checked = self._model, self._checked
        if model is not None and now - checked < self.ttl:
            return model
        version = newest_version(conn)
        if version is None:
            model = default_model()
        elif model is None or model.version != version:
            model = load_model(conn, version)
        model.check(self.spec)
        with self._lock:
            self._model, self._checked = model, now
        return model

    def invalidate(self) -> None:
        """Forget the cached model (tests, and ``rhip mpi train`` in the same process)."""
        with self._lock:
            self._model, self._checked = None, 0.0
