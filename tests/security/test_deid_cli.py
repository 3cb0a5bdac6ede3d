"""`rhip deid export` wires the de-identified export to the command line (key from a file, never printed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from rhip.cli import main
from rhip.security.context import RequestContext
from rhip.store.repository import Repository


def test_cli_exports_with_a_key_file(engine: Engine, repo: Repository, tmp_path: Path, capsys: Any) -> None:
    with repo.unit(RequestContext.system("test")) as unit:
        for n in range(3):
            unit.create({"resourceType": "Patient", "name": [{"text": f"张{n}"}], "gender": "female"})
    url = engine.url.render_as_string(hide_password=False)
    key = tmp_path / "deid.key"
    key.write_text("00112233445566778899aabbccddeeff")
    out = tmp_path / "export"
    assert main(["deid", "export", "--db", url, "--out", str(out), "--key-file", str(key), "--k", "1"]) == 0
    printed = capsys.readouterr().out
    report = json.loads(printed)
    assert report["counts"]["Patient"] == 3
    assert "00112233445566778899aabbccddeeff" not in printed
    assert "张" not in (out / "Patient.ndjson").read_text(encoding="utf-8")
    short = tmp_path / "short.key"
    short.write_text("abcd")
    assert main(["deid", "export", "--db", url, "--out", str(tmp_path / "x"), "--key-file", str(short)]) == 1
