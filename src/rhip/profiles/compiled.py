"""Compile the China profiles (StructureDefinition differentials) into rules, and run them.

Supported differential content, enough for constraint profiles and checked at load so nothing is
silently ignored: ``min`` (required elements, also of extension slices), ``binding`` (required or
extensible, to bundled value sets, see ``bindings``), ``constraint`` (native checks by key, see
``checks``), extension slices by ``type.profile`` (the extension's own value binding is applied where
the slice occurs), and the documentation keys. Anything else (``fixed[x]``, ``pattern[x]``, other
slicing) raises at load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, cast

from rhip.profiles import bindings, paths
from rhip.profiles.checks import CHECKS, Check, Env
from rhip.profiles.model import ProfileIssue, Severity, Step

DATA = Path(__file__).resolve().parent / "data"

_DOC_KEYS = {"id", "path", "short", "definition", "comment", "mustSupport", "sliceName", "type", "max", "slicing"}
_RULE_KEYS = {"min", "binding", "constraint"}


@dataclass(frozen=True, slots=True)
class MinRule:
    parent: tuple[Step, ...]
    child: Step
    min: int
    element: str


@dataclass(frozen=True, slots=True)
class BindingRule:
    steps: tuple[Step, ...]
    bound: bindings.BoundSet
    strength: str


@dataclass(frozen=True, slots=True)
class InvariantRule:
    steps: tuple[Step, ...]
    key: str
    severity: Severity
    fn: Check


Rule = MinRule | BindingRule | InvariantRule


@dataclass(slots=True)
class Profile:
    url: str
    type: str
    title: str
    rules: list[Rule] = field(default_factory=list)

    def validate(self, resource: dict[str, Any], today: date) -> list[ProfileIssue]:
        """Every finding of this profile on one resource (empty = conforms)."""
        out: list[ProfileIssue] = []
        root = (self.type, resource)
        env = Env(resource, today)
        for rule in self.rules:
            if isinstance(rule, MinRule):
                for expr, node in paths.select(rule.parent, root):
                    have = len(paths.children((expr, node), rule.child))
                    if have < rule.min:
                        where = f"{expr}.{rule.child.label()}"
                        what = f" (extension {rule.child.url})" if rule.child.url else ""
                        out.append(
                            self._issue(
                                "error",
                                "required",
                                where,
                                f"{rule.element}{what}: minimum cardinality is {rule.min}, found {have}",
                                f"缺少必填元素 {rule.element}{what}（至少 {rule.min} 个）",
                                "min",
                            )
                        )
            elif isinstance(rule, BindingRule):
                for expr, node in paths.select(rule.steps, root):
                    for sev, code, where, en, zh in bindings.check(node, expr, rule.bound, rule.strength):
                        out.append(self._issue(cast(Severity, sev), code, where, en, zh, "binding"))
            else:
                for expr, node in paths.select(rule.steps, root):
                    for where, en, zh in rule.fn(expr, node, env):
                        code = "invariant" if rule.severity == "error" else "business-rule"
                        out.append(self._issue(rule.severity, code, where, f"{rule.key}: {en}", zh, rule.key))
        return out

    def _issue(self, sev: Severity, code: str, expr: str, en: str, zh: str, key: str) -> ProfileIssue:
        return ProfileIssue(sev, code, expr, en, zh, self.url, key)


def _slices(elements: Iterable[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for e in elements:
        if ":" in e["id"].rsplit(".", 1)[-1]:
            urls = [p for t in e.get("type") or () for p in t.get("profile") or ()]
            if len(urls) != 1:
                raise ValueError(f"{e['id']}: an extension slice needs exactly one type.profile")
            out[e["id"]] = urls[0]
    return out


def compile_profile(sd: dict[str, Any], extensions: dict[str, dict[str, Any]]) -> Profile:
    """Rules for one constraint StructureDefinition; ``extensions`` are extension definitions by url."""
    if sd.get("derivation") != "constraint" or sd.get("kind") != "resource":
        raise ValueError(f"{sd.get('url')}: only resource constraint profiles are supported")
    elements = sd["differential"]["element"]
    slices = _slices(elements)
    profile = Profile(sd["url"], sd["type"], sd.get("title") or sd["name"])
    for e in elements:
        unknown = set(e) - _DOC_KEYS - _RULE_KEYS
        if unknown:
            raise ValueError(f"{sd['url']} {e['id']}: unsupported element keys {sorted(unknown)}")
        rtype, steps = paths.parse(e["id"], slices)
        if rtype != profile.type:
            raise ValueError(f"{sd['url']} {e['id']}: element outside {profile.type}")
        profile.rules += _element_rules(e, tuple(steps))
        if steps and steps[-1].url is not None:
            ext = extensions.get(steps[-1].url)
            if ext is not None:
                profile.rules += _extension_rules(ext, tuple(steps))
    return profile


def _element_rules(e: dict[str, Any], steps: tuple[Step, ...]) -> list[Rule]:
    rules: list[Rule] = []
    if e.get("min", 0) > 0 and steps:
        rules.append(MinRule(steps[:-1], steps[-1], int(e["min"]), e["id"]))
    binding = e.get("binding")
    if binding and binding.get("strength") in ("required", "extensible"):
        rules.append(BindingRule(steps, bindings.BoundSet.resolve(binding["valueSet"]), binding["strength"]))
    for c in e.get("constraint") or ():
        fn = CHECKS.get(c["key"])
        if fn is None:
            raise ValueError(f"{e['id']}: constraint {c['key']} has no native implementation in rhip.profiles.checks")
        rules.append(InvariantRule(steps, c["key"], c["severity"], fn))
    return rules


def _extension_rules(ext: dict[str, Any], at: tuple[Step, ...]) -> list[Rule]:
    """An extension definition's value binding, applied at the slice where the extension occurs."""
    rules: list[Rule] = []
    for e in ext["differential"]["element"]:
        if e["id"] == "Extension.value[x]" and e.get("binding", {}).get("strength") in ("required", "extensible"):
            value = Step("value", choice=True)
            b = e["binding"]
            rules.append(BindingRule((*at, value), bindings.BoundSet.resolve(b["valueSet"]), b["strength"]))
    return rules


@dataclass(slots=True)
class Profiles:
    """The compiled profiles by resource type, plus every definition as loaded (to publish)."""

    by_type: dict[str, Profile]
    definitions: list[dict[str, Any]]

    def validate(self, resource: dict[str, Any], today: date) -> list[ProfileIssue]:
        rtype = resource.get("resourceType")
        profile = self.by_type.get(rtype) if isinstance(rtype, str) else None
        return profile.validate(resource, today) if profile is not None else []


def load(data: Path = DATA) -> Profiles:
    """Read every StructureDefinition in ``data`` and compile the resource profiles."""
    defs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(data.glob("StructureDefinition-*.json"))]
    extensions = {d["url"]: d for d in defs if d.get("type") == "Extension"}
    by_type: dict[str, Profile] = {}
    for d in defs:
        if d.get("type") == "Extension":
            continue
        profile = compile_profile(d, extensions)
        if profile.type in by_type:
            raise ValueError(f"two profiles for {profile.type}: {by_type[profile.type].url}, {profile.url}")
        by_type[profile.type] = profile
    return Profiles(by_type, defs)
