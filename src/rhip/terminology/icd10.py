"""ICD-10 (WHO 2019, Chinese titles) and the code forms of the Chinese national editions.

The national editions extend WHO codes after the dot: 医保版 2.0 ``E11.900`` (six characters) and
国家临床版 2.0 ``E11.900x001`` (eleven). ``derive_who_parent`` implements the rule of
``data/README.md`` §2: the WHO parent is ``C.d`` when that subcategory exists, else the category ``C``.
Such codes are a grammar, not a list (only 16 illustrative rows are bundled): they validate and look up
with their WHO parent as ``parent`` but are not enumerated by an "all codes" expansion. Their hierarchy
is code → six-character form (for eleven-character codes) → WHO parent → WHO ancestors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rhip.terminology.codesystem import EN, ZH, CodeSystem, Concept, PropValue
from rhip.terminology.text import bilingual, search_key

URL = "http://hl7.org/fhir/sid/icd-10"
OID = "urn:oid:2.16.156.10011.2.3.3.11"
"""The CDA code-system OID used for ICD-10 in China (standards.md §3.5): an alias of ``URL``."""
VERSION = "2019-zh"
EXTENSION_CODE = re.compile(r"^([A-Z]\d{2})\.([0-9x])\d{2}(x\d{3})?$")
_FORM_ZH = {"insurance-2.0": "医保版2.0", "clinical-2.0": "国家临床版2.0"}


@dataclass(frozen=True, slots=True)
class Extension:
    code: str
    form: str
    who_parent: str
    title_zh: str | None
    listed: bool
    verified: bool


def derive_who_parent(code: str, known: set[str] | dict[str, Concept]) -> str | None:
    """The WHO parent of a national-edition code (README §2), or None if it is not one."""
    m = EXTENSION_CODE.match(code.strip())
    if not m:
        return None
    cat, d = m.group(1), m.group(2)
    if d.isdigit() and f"{cat}.{d}" in known:
        return f"{cat}.{d}"
    if cat in known:
        return cat
    return None


class Icd10(CodeSystem):
    kind = "bundled"

    def __init__(self, concepts: list[Concept], listed: dict[str, Extension]) -> None:
        super().__init__(
            URL,
            VERSION,
            "ICD10",
            "疾病和有关健康问题的国际统计分类 ICD-10（WHO 2019 版，中文标题）",
            concepts,
            properties=(
                ("parent", "code", "WHO parent (chapter, block, category or subcategory)"),
                ("child", "code", "WHO children"),
                ("kind", "code", "chapter | block | category | subcategory | national-extension"),
                ("edition", "code", "national edition of an extension code: insurance-2.0 | clinical-2.0"),
                ("insurance-code", "code", "the six-character 医保版 code an eleven-character code refines"),
            ),
        )
        self.listed = listed
        self._ext: dict[str, Concept | None] = {}

    def extension(self, code: str) -> Extension | None:
        """The national-edition reading of a code (listed in the bundled file or derived by the rule)."""
        if code in self.listed:
            return self.listed[code]
        parent = derive_who_parent(code, self.concepts)
        if parent is None:
            return None
        form = "clinical-2.0" if len(code) == 11 else "insurance-2.0"
        return Extension(code, form, parent, None, False, False)

    def find(self, code: str) -> Concept | None:
        hit = self.concepts.get(code)
        if hit is not None or "." not in code:
            return hit
        if code in self._ext:
            return self._ext[code]
        ext = self.extension(code)
        concept = None
        if ext is not None:
            who = self.concepts[ext.who_parent]
            display = ext.title_zh or who.display
            parents = (code[:7],) if ext.form == "clinical-2.0" else (ext.who_parent,)
            props: list[tuple[str, PropValue]] = [("kind", "national-extension"), ("edition", ext.form)]
            if ext.form == "clinical-2.0":
                props.append(("insurance-code", code[:7]))
            props.append(("verified", ext.verified))
            concept = Concept(
                code,
                display,
                ((ZH, display), *((t, v) for t, v in who.designations if t == EN)),
                parents,
                properties=tuple(props),
            )
            concept.key = search_key([code, *dict.fromkeys(v for _, v in concept.designations)])
        if len(self._ext) < 100_000:
            self._ext[code] = concept
        return concept

    def ancestors(self, code: str) -> list[str]:
        ext = self.extension(code) if code not in self.concepts else None
        if ext is None:
            return super().ancestors(code)
        chain = [code[:7]] if ext.form == "clinical-2.0" else []
        return [*chain, ext.who_parent, *super().ancestors(ext.who_parent)]

    def lookup_properties(self, concept: Concept, day: date | None) -> list[tuple[str, PropValue]]:
        ext = self.extension(concept.code) if concept.code not in self.concepts else None
        if ext is None:
            return super().lookup_properties(concept, day)
        return [("parent", ext.who_parent), *concept.properties]

    def displays(self, concept: Concept) -> list[str]:
        ext = self.extension(concept.code) if concept.code not in self.concepts else None
        if ext is None:
            return super().displays(concept)
        who = self.concepts[ext.who_parent]
        return [concept.display, *(v for _, v in who.designations)]

    def notes(self, concept: Concept, lang: str | None) -> list[str]:
        ext = self.extension(concept.code) if concept.code not in self.concepts else None
        if ext is None:
            return []
        who = self.concepts[ext.who_parent]
        listed_zh = "（在内置示例列表中，未核对官方版本）" if ext.listed else "（按编码规则识别，不在内置列表中）"
        listed_en = (
            " (in the bundled illustrative list, not verified against the official edition)"
            if ext.listed
            else " (recognised by the code rule; not in the bundled list)"
        )
        return [
            bilingual(
                f"{concept.code} 是{_FORM_ZH[ext.form]}扩展编码，"
                f"WHO 上级编码 {ext.who_parent}（{who.display_in('zh')}）{listed_zh}",
                f"{concept.code} is a national {ext.form} extension code; WHO parent {ext.who_parent} "
                f"({who.display_in('en')})" + listed_en,
                lang,
            )
        ]


def load(data: Path) -> Icd10:
    """Read ``icd10.tsv`` and ``icd10_cn_extensions.tsv`` (README §1–§2) into the ICD-10 code system."""
    concepts: list[Concept] = []
    lines = (data / "icd10.tsv").read_text(encoding="utf-8").split("\n")
    for line in lines[1:]:
        if not line:
            continue
        code, kind, parent, en, zh = line.split("\t")
        desig = ((ZH, zh), (EN, en)) if zh else ((EN, en),)
        concepts.append(
            Concept(
                code,
                zh or en,
                desig,
                (parent,) if parent else (),
                properties=(("kind", kind),),
                abstract=kind in ("chapter", "block"),
            )
        )
    listed: dict[str, Extension] = {}
    known = {c.code for c in concepts}
    for line in (data / "icd10_cn_extensions.tsv").read_text(encoding="utf-8").split("\n")[1:]:
        if not line:
            continue
        code, form, who_parent, title_zh, verified, _note = line.split("\t")
        if derive_who_parent(code, known) != who_parent:  # the file and the rule must agree
            continue
        listed[code] = Extension(code, form, who_parent, title_zh or None, True, verified == "yes")
    return Icd10(concepts, listed)
