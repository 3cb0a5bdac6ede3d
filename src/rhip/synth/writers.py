"""Output sinks: FHIR NDJSON per type, per-facility transaction Bundles, ground truth, manifest.

Every resource is serialised once with orjson; the bundle sink reuses those bytes. Files are
written as generation proceeds (household by household), so memory does not grow with N.
"""

from __future__ import annotations

import csv
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

from rhip.synth.context import Ctx

MANAGED = ("fhir", "bundles", "hl7v2", "cda", "ground_truth.csv", "manifest.json")
TRUTH_HEADER = ("registration_id", "person_id", "facility_id", "mrn", "noise", "hard_case")


def prepare(out: Path) -> None:
    """Create ``out``; clear a previous synth output there, refuse to overwrite anything else."""
    out.mkdir(parents=True, exist_ok=True)
    present = [name for name in MANAGED if (out / name).exists()]
    if present and not (out / "manifest.json").exists():
        raise FileExistsError(f"{out} already holds {', '.join(present)} that rhip synth did not write")
    for name in present:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


class NdjsonSink:
    """``fhir/<Type>.ndjson``, one resource per line (FHIR bulk-data style)."""

    def __init__(self, out: Path) -> None:
        self.dir = out / "fhir"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, IO[bytes]] = {}

    def write(self, rtype: str, data: bytes) -> None:
        """Append one serialised resource."""
        f = self.files.get(rtype)
        if f is None:
            f = self.files[rtype] = open(self.dir / f"{rtype}.ndjson", "wb", buffering=1 << 20)  # noqa: SIM115
        f.write(data)
        f.write(b"\n")

    def close(self) -> dict[str, int]:
        """Close files; returns the number of files."""
        for f in self.files.values():
            f.close()
        return {"files": len(self.files)}


class BundleSink:
    """``bundles/_region.json`` (shared resources) and ``bundles/<Organization id>.ndjson``.

    Each line of a facility file is one ``transaction`` Bundle holding one person's registration
    at that facility and everything recorded against it (PUT ``Type/id``, so ids are kept).
    The population register (register Patients, RelatedPersons, households) goes to the file of
    the county 卫生健康局 that keeps it. Load ``_region.json`` first.
    """

    def __init__(self, out: Path, max_open: int = 64) -> None:
        self.dir = out / "bundles"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.open: OrderedDict[str, IO[bytes]] = OrderedDict()
        self.seen: set[str] = set()
        self.max_open = max_open
        self.bundles = 0

    def static(self, items: list[tuple[str, str, bytes]]) -> None:
        """Write the region-wide transaction (Locations, Organizations, staff)."""
        with open(self.dir / "_region.json", "wb") as f:
            f.write(_bundle(items))
        self.bundles += 1

    def _file(self, org_id: str) -> IO[bytes]:
        f = self.open.get(org_id)
        if f is None:
            if len(self.open) >= self.max_open:
                self.open.popitem(last=False)[1].close()
            mode = "ab" if org_id in self.seen else "wb"
            self.seen.add(org_id)
            f = self.open[org_id] = open(self.dir / f"{org_id}.ndjson", mode, buffering=1 << 16)  # noqa: SIM115
        else:
            self.open.move_to_end(org_id)
        return f

    def household(self, groups: dict[tuple[str, str], list[tuple[str, str, bytes]]]) -> None:
        """One Bundle per (facility, registration) group of the household."""
        for (org_id, _), items in groups.items():
            f = self._file(org_id)
            f.write(_bundle(items))
            f.write(b"\n")
            self.bundles += 1

    def close(self) -> dict[str, int]:
        """Close files; returns bundle and file counts."""
        for f in self.open.values():
            f.close()
        return {"bundles": self.bundles, "files": len(self.seen) + 1}


def _bundle(items: list[tuple[str, str, bytes]]) -> bytes:
    parts = [
        b'{"resource":' + data + b',"request":{"method":"PUT","url":"' + f"{rtype}/{rid}".encode() + b'"}}'
        for rtype, rid, data in items
    ]
    return b'{"resourceType":"Bundle","type":"transaction","entry":[' + b",".join(parts) + b"]}"


class TruthSink:
    """``ground_truth.csv``: every registration → true person, with noise kinds and hard cases."""

    def __init__(self, out: Path) -> None:
        self.f = open(out / "ground_truth.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
        self.w = csv.writer(self.f, lineterminator="\n")
        self.w.writerow(TRUTH_HEADER)
        self.rows = 0
        self.noisy = 0

    def write(self, rows: list[tuple[str, ...]]) -> None:
        """Append rows."""
        self.w.writerows(rows)
        self.rows += len(rows)
        self.noisy += sum(1 for r in rows if r[4])

    def close(self) -> dict[str, int]:
        """Close; returns row counts."""
        self.f.close()
        return {"registrations": self.rows, "noisy_registrations": self.noisy}


def owner_groups(
    ctx: Ctx, serialised: list[tuple[str, str, bytes]], resources: list[dict[str, Any]]
) -> dict[tuple[str, str], list[tuple[str, str, bytes]]]:
    """Group a household's resources by (owning facility, registration) for the bundle sink."""
    reg_fac = {row[0][8:]: row[2][13:] for row in ctx.truth}  # Patient/<id> → Organization/<id>
    bureau = ctx.hh.village.township.county.bureau.id
    groups: dict[tuple[str, str], list[tuple[str, str, bytes]]] = {}
    for item, res in zip(serialised, resources, strict=True):
        rtype = item[0]
        if rtype in ("Group", "RelatedPerson"):
            key = (bureau, "")
        elif rtype == "Patient":
            org = reg_fac[res["id"]]
            key = (org, "" if org == bureau else res["id"])
        else:
            subject = res.get("subject") or res.get("patient")
            pid = subject["reference"][8:] if subject else ""
            key = (reg_fac.get(pid, bureau), pid)
        groups.setdefault(key, []).append(item)
    return groups
