"""rhip synth: a seeded, reproducible generator of a whole synthetic Chinese county region.

``generate()`` writes FHIR R4 NDJSON (and optionally per-facility transaction Bundles, HL7 v2.5
ER7 messages and WS/T 500 CDA documents) plus ``ground_truth.csv`` mapping every patient
registration to its true person. See ``README.md`` in this package.
"""

from rhip.synth.cli import add_arguments, run
from rhip.synth.engine import FORMATS, generate

__all__ = ["FORMATS", "add_arguments", "generate", "run"]
