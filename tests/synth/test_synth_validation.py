"""Every generated resource is valid FHIR R4 according to rhip.fhir.validation."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

from synth_region import Region

from rhip.fhir.validation import validate_resource


def test_every_resource_validates_without_errors(region: Region) -> None:
    errors: Counter[tuple[str, str, str]] = Counter()
    n = 0
    for f in sorted((region.path / "fhir").glob("*.ndjson")):
        for line in f.read_text(encoding="utf-8").splitlines():
            resource = json.loads(line, parse_float=Decimal)
            n += 1
            for issue in validate_resource(resource):
                if issue.severity in ("error", "fatal"):
                    errors[(resource["resourceType"], issue.expression, issue.diagnostics)] += 1
    assert n == region.counts["total_resources"]
    assert not errors, errors.most_common(10)


def test_every_bundle_validates_without_errors(region: Region) -> None:
    errors: Counter[tuple[str, str]] = Counter()
    for f in sorted((region.path / "bundles").iterdir()):
        for line in f.read_text(encoding="utf-8").splitlines():
            for issue in validate_resource(json.loads(line, parse_float=Decimal)):
                if issue.severity in ("error", "fatal"):
                    errors[(issue.expression, issue.diagnostics)] += 1
    assert not errors, errors.most_common(10)
