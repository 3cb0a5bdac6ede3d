"""Key files kept beside the data, outside the database (docs/security.md): created once, mode 0600."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def key_file(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    """The text of ``<data_dir>/<name>``, written with ``make()`` (owner-only) on first use."""
    path = data_dir / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()
