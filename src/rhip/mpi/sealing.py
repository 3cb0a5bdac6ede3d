"""Key rotation for the master person index (decision 0019): re-seal what it stores.

Records, golden values and ``ric_valid`` are re-written, and their column type seals them under the
active SM4 key. Blocking keys are keyed with the stable index key (:mod:`rhip.mpi.keys`), so they do not
change and online matching goes on during a rotation. Run by ``rhip keys reseal`` after the resources.
"""

from __future__ import annotations

from sqlalchemy import Engine, Text, bindparam, select, type_coerce, update
from sqlalchemy.engine import Connection

from rhip.mpi.tables import SealedText, mpi_persons, mpi_registrations
from rhip.security.fields import sealed_key_ids


def reseal_index(conn: Connection, batch: int = 2000) -> dict[str, int]:
    """Re-seal every registration's record and every person's golden values; counts of rows."""
    r = mpi_registrations.c
    regs, after = 0, -1
    while True:
        rows = list(conn.execute(select(r.rid, r.record).where(r.rid > after).order_by(r.rid).limit(batch)))
        if not rows:
            break
        conn.execute(
            update(mpi_registrations)
            .where(r.rid == bindparam("b_rid"))
            .values(record=bindparam("b_record", type_=SealedText)),
            [{"b_rid": row.rid, "b_record": row.record} for row in rows],
        )
        regs += len(rows)
        after = int(rows[-1].rid)
    p = mpi_persons.c
    people = [
        {"b_person": row.person, "b_golden": row.golden, "b_ric": row.ric_valid}
        for row in conn.execute(select(p.person, p.golden, p.ric_valid))
    ]
    if people:
        conn.execute(
            update(mpi_persons)
            .where(p.person == bindparam("b_person"))
            .values(golden=bindparam("b_golden", type_=SealedText), ric_valid=bindparam("b_ric", type_=SealedText)),
            people,
        )
    return {"mpi_registrations": regs, "mpi_persons": len(people)}


def index_keys_in_use(engine: Engine) -> set[str]:
    """Key ids sealing any value of the index."""
    used: set[str] = set()
    with engine.connect() as conn:
        for column in (mpi_registrations.c.record, mpi_persons.c.golden, mpi_persons.c.ric_valid):
            raw = type_coerce(column, Text)
            for (text,) in conn.execute(select(raw).where(raw.like("sm4g1.%"))):
                used.update(sealed_key_ids(f'"{text}"'))
    return used
