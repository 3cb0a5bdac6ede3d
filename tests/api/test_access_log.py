"""`rhip serve --access-log`: request lines keep paths, parameter names and paging values, never the
values of search parameters (ID numbers, names)."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from rhip.api import access_log


def test_search_values_are_masked_and_paging_values_kept() -> None:
    line = access_log.masked_path(
        "/Patient?identifier=urn:oid:2.16.156.10011.1.3%7C330523194504251214&name=%E7%BD%97%E5%8B%87"
        "&_count=5&_sort=-birthdate&birthdate=ge1945-01-01"
    )
    for personal in ("330523194504251214", "194504", "%E7%BD%97", "罗勇", "1945"):
        assert personal not in line
    assert line.startswith("/Patient?identifier=***&name=***")
    for kept in ("_count=5", "_sort=-birthdate", "birthdate=***"):
        assert kept in line


def test_paging_cursors_are_masked_they_carry_sort_values() -> None:
    assert access_log.masked_path("/Patient?_sort=family&_cursor=WyLnvZciLDEyXQ") == "/Patient?_sort=family&_cursor=***"


def test_paths_without_a_query_and_empty_values_are_unchanged() -> None:
    assert access_log.masked_path("/Patient/p1/$everything") == "/Patient/p1/$everything"
    assert access_log.masked_path("/Patient?name=") == "/Patient?name="


def test_uvicorn_access_records_are_masked_after_uvicorn_configures_logging() -> None:
    access_log.install()
    access_log.install()  # idempotent
    uvicorn.Config(app=lambda *a: None, access_log=True).configure_logging()  # what `uvicorn.run` does
    logger = logging.getLogger("uvicorn.access")
    assert sum(isinstance(f, access_log.MaskQueryValues) for f in logger.filters) == 1
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    keep = Keep()
    logger.addHandler(keep)
    try:
        args: Any = ("127.0.0.1:5000", "GET", "/Patient?phone=13912345678&_count=1", "1.1", 200)
        logger.info('%s - "%s %s HTTP/%s" %d', *args)
    finally:
        logger.removeHandler(keep)
    assert seen == ['127.0.0.1:5000 - "GET /Patient?phone=***&_count=1 HTTP/1.1" 200']
