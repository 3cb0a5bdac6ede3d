"""GB/T 2260 county codes from address names, for registrations that carry text but no division code.

Hospitals often keep only 省/市/县 names (``Address.state``/``city``/``district``). The bundled GB/T 2260
table of :mod:`rhip.terminology` (read-only) turns them into the 6-digit county code so that the
division comparison works on every registration. Current names are preferred over historical ones.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, list[str]], dict[str, str]]:
    by_name: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    rows: list[tuple[str, str, str, str, str]] = []
    text = resources.files("rhip.terminology").joinpath("data/divisions.tsv").read_text(encoding="utf-8")
    for line in text.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 7:
            continue
        code, name, level, parent, status = cols[0], cols[1], cols[2], cols[3], cols[6]
        rows.append((code, name, level, parent, status))
    # current rows last so that they win over historical rows of the same name
    rows.sort(key=lambda r: r[4] == "current")
    for code, name, level, _parent, _status in rows:
        names[code] = name
        if level == "county":
            by_name.setdefault(name, []).append(code)
    return by_name, names


def county_code(district: str | None, city: str | None = None, state: str | None = None) -> str | None:
    """6-digit code of a county-level division named ``district`` (in ``city``, ``state``), or None.

    A name that is ambiguous without its city or province (many 城关/郊区, 朝阳区 …) gives None
    rather than a guess.
    """
    if not district:
        return None
    by_name, names = _index()
    candidates = by_name.get(district, [])
    if len(candidates) == 1:
        return candidates[0]
    for code in reversed(candidates):  # current codes were appended last
        parent_name = names.get(code[:4] + "00")
        province_name = names.get(code[:2] + "0000")
        if (city and city in (parent_name, province_name)) or (not city and state and province_name == state):
            return code
    return None
