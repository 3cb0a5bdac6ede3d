"""De-identified export for research (医学资源信息服务); decision 0014-deidentified-export.

``export(repo, out_dir, key=...)`` writes one NDJSON file per resource type plus ``report.json``:
ids and references pseudonymised with HMAC-SM3, direct identifiers and free text removed, dates shifted
per person, Patient quasi-identifiers generalised to k-anonymity.
"""

from __future__ import annotations

from rhip.security.deid.export import CONTEXT_TYPES, DEFAULT_QUASI, DEFAULT_SHIFT_DAYS, ExportReport, export
from rhip.security.deid.hierarchy import DIMENSIONS
from rhip.security.deid.keys import Keys

__all__ = ["CONTEXT_TYPES", "DEFAULT_QUASI", "DEFAULT_SHIFT_DAYS", "DIMENSIONS", "ExportReport", "Keys", "export"]
