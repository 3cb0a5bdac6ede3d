"""What a profile check reports, and the compiled rules it runs.

A China profile (StructureDefinition in ``data/``) compiles into a flat list of rules over element
paths; validation is one pass over the rules per resource, so it stays cheap on the ingest path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class ProfileIssue:
    """One finding, shaped like an OperationOutcome.issue, with the profile and rule that raised it.

    ``key`` is the constraint key (``cn-pat-1``) or a rule kind (``min``, ``binding``), so data-quality
    reports can count findings per rule.
    """

    severity: Severity
    code: str
    expression: str
    diagnostics: str
    text_zh: str
    profile: str
    key: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an element path: a JSON property, maybe a choice (``value[x]``) or an extension slice."""

    name: str
    choice: bool = False
    url: str | None = None
    """For ``extension:<slice>`` steps: only extensions with this url."""

    def label(self) -> str:
        return f"{self.name}[x]" if self.choice else self.name
