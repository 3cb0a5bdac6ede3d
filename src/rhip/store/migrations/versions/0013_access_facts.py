"""row access facts: imask bits that let row access skip empty probes

Revision ID: 0013
Revises: 0012

Why (decision 0023): a clinician's row access probed two or three index rows per result row — its
``_security`` labels, its references to patients and their Consent refusals — although almost every row
carries no label and names one patient. ``resources.imask`` now also records two facts of the current
version's index rows (``rhip.store.write.UNLABELLED`` = bit 24, ``SOLE_PATIENT`` = bit 25), set on every
write; this migration computes them for the rows already stored (a row without them is probed as
before, so the bits can only ever save work, never admit a row). The inline predicate
(``rhip.store.access``) consults them on both engines; ``rhip_visible_rows`` (migration 0012) does
not: a version that did (joining ``resources`` for the bits) measured slower on small searches
(decision 0023).
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UNLABELLED, SOLE_PATIENT = 1 << 24, 1 << 25

BACKFILL = f"""
UPDATE resources SET imask = imask
    | CASE WHEN EXISTS (SELECT 1 FROM idx_token t WHERE t.rid = resources.rid AND t.code = '_security')
           THEN 0 ELSE {UNLABELLED} END
    | CASE WHEN (SELECT count(DISTINCT x.ref_id) FROM idx_reference x
                 WHERE x.rid = resources.rid AND x.ref_type = 'Patient'
                   AND (resources.rtype <> 'Patient' OR x.ref_id <> resources.id))
                + CASE WHEN resources.rtype = 'Patient' THEN 1 ELSE 0 END <= 1
           THEN {SOLE_PATIENT} ELSE 0 END
WHERE NOT deleted
"""

def upgrade() -> None:
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(f"UPDATE resources SET imask = imask & {~(UNLABELLED | SOLE_PATIENT)}")
