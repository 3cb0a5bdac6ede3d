"""Server-assigned ids are version-7 UUIDs: unique, valid FHIR ids, and ordered by creation time."""

from __future__ import annotations

import re
import time
import uuid

from rhip.store.ids import new_id

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def test_ids_are_version_7_uuids_and_valid_fhir_ids() -> None:
    value = new_id()
    parsed = uuid.UUID(value)
    assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, value)
    assert FHIR_ID.match(value)


def test_ids_start_with_the_clock_so_later_ids_sort_after_earlier_ones() -> None:
    first = new_id()
    time.sleep(0.002)
    later = [new_id() for _ in range(100)]
    assert all(first < x for x in later)
    ms = uuid.UUID(first).int >> 80
    assert abs(ms - time.time() * 1000) < 5_000


def test_ids_are_unique_within_one_millisecond() -> None:
    assert len({new_id() for _ in range(10_000)}) == 10_000
