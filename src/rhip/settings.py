"""One typed settings object, read once from ``RHIP_`` environment variables and command-line flags."""

from __future__ import annotations

from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Platform node configuration; every field has an ``RHIP_<NAME>`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="RHIP_", extra="ignore")

    data_dir: Path = Path("data")
    db: str = ""
    """SQLAlchemy URL; empty means the embedded SQLite file ``<data_dir>/rhip.sqlite``."""
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = ""
    """Public base URL of the FHIR API; empty means derived from each request."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_bundle_entries: int = 10_000
    default_count: int = 50
    max_count: int = 1_000
    max_include: int = 5_000
    """Upper bound on resources added by _include/_revinclude to one page."""
    default_total: Literal["none", "estimate", "accurate"] = "accurate"
    utc_offset_hours: float = 8.0
    """Offset applied to dates and times written without one (China Standard Time, decision 0004)."""
    everything_max: int = 10_000
    validation_default: Literal["reject", "warn", "off"] = "warn"
    """China-profile strictness for sources without their own setting (``rhip source set``; decision 0012)."""

    field_keys: str = Field(default="", repr=False)
    """SM4 key ring ``id:hex[,id:hex]`` sealing ID numbers, phones and TOTP secrets (decision 0019); empty:
    ``<data_dir>/field.keys``."""
    index_key: str = Field(default="", repr=False)
    """Secret of the keyed hashes that must stay stable across SM4 key rotations (the MPI's blocking keys,
    decision 0019); empty means a random key kept in ``<data_dir>/index.key``."""
    audit_durable_reads: bool = False
    """Wait for the WAL flush of every read's audit entry too (PostgreSQL; costs ~5 ms per read here).
    Writes' entries are always durable with the write (decision 0013)."""
    audit_key: str = Field(default="", repr=False)
    """HMAC-SM3 key of the audit chain; empty means a random key kept in ``<data_dir>/audit.key``."""
    audit_settle_ms: int = 200
    """PostgreSQL: a read's event, staged with the read, is chained this long after it by a background
    thread (decision 0025); 0: only when the trail is read or verified."""
    token_ttl_seconds: int = 3600
    jwt_secret: str = Field(default="", repr=False)
    """HMAC key for access tokens; empty means a random key stored in ``<data_dir>/jwt.key``."""

    def database_url(self) -> str:
        if self.db:
            return self.db
        return f"sqlite:///{(self.data_dir / 'rhip.sqlite').resolve()}"

    def tz(self) -> tzinfo:
        return timezone(timedelta(hours=self.utc_offset_hours))
