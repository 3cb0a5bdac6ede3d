"""`rhip demo` prepares a loaded SQLite region with named demo users, once, and reuses it afterwards."""

from __future__ import annotations

from pathlib import Path

from rhip.cli import DEMO_USERS, build_parser, prepare_demo
from rhip.security import accounts
from rhip.store.db import make_engine


def test_demo_loads_region_and_users_then_reuses_it(tmp_path: Path) -> None:
    args = build_parser().parse_args(["demo", "--data-dir", str(tmp_path / "demo"), "--residents", "60"])
    first = prepare_demo(args)
    assert first["loaded"] > 60  # residents, registrations, organisations, care records
    assert sum(first["counts"]["resources"].values()) == first["loaded"]
    engine = make_engine(f"sqlite:///{tmp_path / 'demo' / 'rhip.sqlite'}")
    for username, password, role, _, _ in DEMO_USERS:
        assert accounts.check_user(engine, username, password).role == role
    doctor = accounts.check_user(engine, "doctor", "Doctor@2026")
    assert doctor.organization == first["hospital"]
    assert accounts.check_user(engine, "resident", "Resident@2026").patients == (first["patient"],)
    engine.dispose()
    again = build_parser().parse_args(["demo", "--data-dir", str(tmp_path / "demo"), "--residents", "60"])
    assert prepare_demo(again) == first
