"""GB/T 2260 administrative divisions (行政区划代码) with historical codes and validity years.

One concept per code; a code keeps every name period of ``divisions.tsv`` (README §3), e.g. 120110
东郊区 (−1991) then 东丽区 (1992−). The default display is the newest name. A code is *valid on a day*
when a period covers the day's year (an empty ``valid_from`` is open, before ≈1980; an empty
``valid_to`` is still in force). Without a ``date`` every recorded code is valid, abolished ones
included, because 公民身份号码 keep the code of the place and year of issue (standards.md §6.3–6.4).
Status: ``current``, ``historical`` (abolished or a former name), ``summary`` (汇总码), ``uncertain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rhip.terminology.codesystem import ZH, CodeSystem, Concept, PropValue
from rhip.terminology.text import bilingual

URL = "http://rhip.cn/fhir/CodeSystem/gb-t-2260"
"""No OID for GB/T 2260 is given in standards.md, so the rhip canonical base is used (decision 0008)."""
VERSION = "2025"
_STATUS_ZH = {"current": "现行", "historical": "已撤销或已更名", "summary": "汇总码", "uncertain": "状态未确定"}


@dataclass(frozen=True, slots=True)
class NamePeriod:
    name: str
    valid_from: int | None
    valid_to: int | None
    status: str

    def covers(self, year: int) -> bool:
        return (self.valid_from is None or self.valid_from <= year) and (self.valid_to is None or year <= self.valid_to)


def _year(text: str) -> int | None:
    return int(text) if text else None


class Divisions(CodeSystem):
    kind = "bundled"

    def __init__(self, concepts: list[Concept], periods: dict[str, list[NamePeriod]]) -> None:
        super().__init__(
            URL,
            VERSION,
            "GBT2260",
            "中华人民共和国行政区划代码 GB/T 2260（含历史代码）",
            concepts,
            properties=(
                ("parent", "code", "the prefecture or province the division belongs to"),
                ("child", "code", "divisions below"),
                ("level", "code", "province | prefecture | county"),
                ("status", "code", "current | historical | summary | uncertain"),
                ("valid_from", "dateTime", "first year in force (absent: before about 1980)"),
                ("valid_to", "dateTime", "last year in force, inclusive (absent: still in force)"),
                ("inactive", "boolean", "true when the code is no longer in force"),
            ),
        )
        self.periods = periods

    def name_period(self, concept: Concept, day: date | None) -> NamePeriod:
        """The name period covering ``day``'s year, else the newest one."""
        ps = self.periods[concept.code]
        if day is not None:
            for p in reversed(ps):
                if p.covers(day.year):
                    return p
        return ps[-1]

    def valid_at(self, concept: Concept, day: date | None) -> bool:
        if day is None:
            return True
        return any(p.covers(day.year) for p in self.periods.get(concept.code, ()))

    def display_at(self, concept: Concept, day: date | None, lang: str | None) -> str:
        return self.name_period(concept, day).name if concept.code in self.periods else concept.display

    def displays(self, concept: Concept) -> list[str]:
        return [p.name for p in self.periods.get(concept.code, ())] or [concept.display]

    def lookup_properties(self, concept: Concept, day: date | None) -> list[tuple[str, PropValue]]:
        p = self.name_period(concept, day)
        out: list[tuple[str, PropValue]] = [("parent", x) for x in concept.parents]
        out += [("child", x) for x in concept.children]
        out += [(k, v) for k, v in concept.properties if k == "level"]
        out.append(("status", p.status))
        if p.valid_from is not None:
            out.append(("valid_from", str(p.valid_from)))
        if p.valid_to is not None:
            out.append(("valid_to", str(p.valid_to)))
        out.append(("inactive", p.status in ("historical",)))
        return out

    def notes(self, concept: Concept, lang: str | None) -> list[str]:
        p = self.name_period(concept, None)
        if p.status == "current":
            return []
        span = f"{p.valid_from or ''}–{p.valid_to or ''}"
        return [
            bilingual(
                f"{concept.code} {p.name}：{_STATUS_ZH.get(p.status, p.status)}（有效期 {span}）",
                f"{concept.code} {p.name}: {p.status} (valid {span})",
                lang,
            )
        ]


def load(data: Path) -> Divisions:
    """Read ``divisions.tsv`` (README §3): one concept per code, name periods in file order."""
    periods: dict[str, list[NamePeriod]] = {}
    info: dict[str, tuple[str, str]] = {}
    for line in (data / "divisions.tsv").read_text(encoding="utf-8").split("\n")[1:]:
        if not line:
            continue
        code, name, level, parent, vf, vt, status = line.split("\t")
        periods.setdefault(code, []).append(NamePeriod(name, _year(vf), _year(vt), status))
        info[code] = (level, parent)
    concepts: list[Concept] = []
    for code, ps in periods.items():
        # newest period last: open-ended (still in force) after closed ones, then by end year
        if len(ps) > 1:
            ps.sort(key=lambda p: (p.valid_to is None, p.valid_to or 0, p.valid_from or 0))
        level, parent = info[code]
        newest = ps[-1]
        names = list(dict.fromkeys(p.name for p in reversed(ps)))
        concepts.append(
            Concept(
                code,
                newest.name,
                tuple((ZH, n) for n in names),
                (parent,) if parent else (),
                properties=(("level", level), ("status", newest.status)),
                inactive=newest.status == "historical",
            )
        )
    return Divisions(concepts, periods)
