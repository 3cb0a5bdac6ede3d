"""The HTTP access log (``rhip serve --access-log``) without personal data in its query strings.

A request line is operations data (who called what, status, timing), kept outside the database and its
protections: a query string like ``Patient?identifier=…|110105…&name=张三`` would put ID numbers and names
into plain log files. The log keeps the path and every parameter *name*; values survive only for the
paging and shaping parameters, which describe the request, not a person (``_count``, ``_sort``, …; not
``_cursor``, which carries the last row's sort values, a name or a birth date under ``_sort=name``).
Who read whose data is the audit trail's job (``rhip.security.audit``), not this log's.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

KEPT = frozenset(
    {
        "_count",
        "_sort",
        "_summary",
        "_total",
        "_elements",
        "_format",
        "_pretty",
        "_include",
        "_revinclude",
        "_type",
        "_contained",
        "_containedType",
    }
)
"""Parameters whose values are logged as sent."""
HIDDEN = "***"


def masked_path(path_with_query: str) -> str:
    """``path?query`` with every value but those of ``KEPT`` parameters replaced by ``***``."""
    path, sep, query = path_with_query.partition("?")
    if not sep:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    shown = [(name, value if name in KEPT or not value else HIDDEN) for name, value in pairs]
    return f"{path}?{urlencode(shown, safe='*:,')}"


class MaskQueryValues(logging.Filter):
    """Rewrites uvicorn's access records (args: client, method, path with query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], masked_path(args[2]), args[3], args[4])
        return True


def install(logger_name: str = "uvicorn.access") -> None:
    """Mask query values in every record of ``logger_name`` (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, MaskQueryValues) for f in logger.filters):
        logger.addFilter(MaskQueryValues())
