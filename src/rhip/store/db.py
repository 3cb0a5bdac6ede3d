"""Engine creation and schema migration (Alembic, run automatically at start-up)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

from rhip.store import dialect


def make_engine(url: str) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL (plain ``postgresql://`` means psycopg 3)."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **dialect.engine_options(url))
    dialect.configure(engine)
    return engine


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("rhip.store") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (creates everything on an empty database)."""
    command.upgrade(alembic_config(engine), "head")
