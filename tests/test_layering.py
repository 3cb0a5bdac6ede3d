"""Architecture rule: domain packages never import the web layer (rhip.api, FastAPI, Starlette)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rhip"
WEB = ("rhip.api", "fastapi", "starlette", "uvicorn")
ALLOWED = {"app.py", "cli.py"}


def test_domain_code_does_not_import_the_web_layer() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "api" or str(rel) in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{rel}: {n}" for n in names if n.startswith(WEB)]
    assert offenders == []
