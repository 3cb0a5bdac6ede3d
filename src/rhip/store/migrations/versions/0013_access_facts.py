"""row access facts: imask bits that let row access skip empty probes, and the function using them

Revision ID: 0013
Revises: 0012

Why (decision 0023): a clinician's row access probed two or three index rows per result row — its
``_security`` labels, its references to patients and their Consent refusals — although almost every row
carries no label and names one patient. ``resources.imask`` now also records two facts of the current
version's index rows (``rhip.store.write.UNLABELLED`` = bit 24, ``SOLE_PATIENT`` = bit 25), set on every
write; this migration computes them for the rows already stored (a row without them is probed as
before, so the bits can only ever save work, never admit a row) and replaces ``rhip_visible_rows``
(migration 0012) with the version that consults them. The inline predicate (``rhip.store.access``)
consults them too, on both engines.
"""

import importlib

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

FUNCTION = r"""
CREATE OR REPLACE FUNCTION rhip_visible_rows(
    p_rids bigint[],        -- candidate rows (rid)
    p_members text[],       -- '<type>.<parameter>': the compartment parameters that make a row of that
                            --   type part of a patient's record (R4 Patient CompartmentDefinition)
    p_patients text[],      -- RowScope.patients (and every registration the MPI links to them)
    p_org text,             -- RowScope.care_organization
    p_actor text,           -- RowScope.consent_actor (Consent refusals apply when set)
    p_region_like text,     -- LIKE pattern of RowScope.region's division codes
    p_grantee text,         -- RowScope.grants_for (break-glass grants)
    p_now bigint,           -- grant expiry is compared with this (ms)
    p_hidden text[])        -- RowScope.hidden_labels
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    -- Set-wise, patients before rows: which patients the candidates belong to (one index pass), which
    -- of those patients the scope sees (each tested once, however many of its rows matched), then the
    -- own tests (labels, refused categories) of the rows of visible patients only.
    RETURN QUERY
    WITH member AS MATERIALIZED (
        SELECT m.rid, m.ref_id AS patient
        FROM idx_reference m
        WHERE m.rid = ANY(p_rids) AND m.ref_type = 'Patient' AND (m.rtype || '.' || m.code) = ANY(p_members)
        UNION ALL
        SELECT r.rid, r.id
        FROM resources r
        WHERE 'Patient.link' = ANY(p_members) AND r.rid = ANY(p_rids) AND r.rtype = 'Patient'
    ),
    visible AS MATERIALIZED (
        SELECT seen.patient
        FROM (SELECT DISTINCT member.patient FROM member) AS seen
        WHERE (p_org IS NOT NULL
               AND EXISTS (SELECT 1 FROM care_links cl WHERE cl.patient = seen.patient AND cl.organization = p_org)
               AND (p_actor IS NULL OR NOT EXISTS (
                    SELECT 1 FROM consent_rules whole
                    WHERE whole.patient = seen.patient AND whole.actor IN (p_actor, '*') AND whole.category = '*')))
           OR (cardinality(p_patients) > 0 AND (
                seen.patient = ANY(p_patients)
                OR EXISTS (
                    SELECT 1 FROM mpi_registrations own
                    JOIN mpi_registrations same ON same.person = own.person
                    WHERE own.id = ANY(p_patients) AND own.person > 0 AND same.id = seen.patient)))
           OR (p_region_like IS NOT NULL AND EXISTS (
                SELECT 1 FROM resources pat JOIN idx_string division ON division.rid = pat.rid
                WHERE pat.rtype = 'Patient' AND pat.id = seen.patient
                  AND division.code = 'division' AND division.value LIKE p_region_like ESCAPE '\'))
           OR (p_grantee IS NOT NULL AND EXISTS (
                SELECT 1 FROM access_grants g
                WHERE g.subject = p_grantee AND g.patient = seen.patient AND g.expires > p_now))
    ),
    refusing AS MATERIALIZED (
        SELECT visible.patient
        FROM visible
        WHERE p_actor IS NOT NULL AND EXISTS (
            SELECT 1 FROM consent_rules cr
            WHERE cr.patient = visible.patient AND cr.actor IN (p_actor, '*') AND cr.category <> '*'
              AND (p_grantee IS NULL OR NOT EXISTS (
                    SELECT 1 FROM access_grants g
                    WHERE g.subject = p_grantee AND g.patient = cr.patient AND g.expires > p_now)))
    )
    -- A row's own tests, each skipped where the row's imask facts (migration 0013) make it empty: no
    -- label rows (UNLABELLED), or naming no patient but the one it is a member through, who refuses
    -- no category to this actor (SOLE_PATIENT; `refusing` is asked once per visible patient).
    SELECT DISTINCT shown.rid
    FROM (SELECT DISTINCT member.rid, member.patient
          FROM member JOIN visible ON visible.patient = member.patient) AS shown
    JOIN resources res ON res.rid = shown.rid
    WHERE (cardinality(p_hidden) = 0 OR (res.imask & 16777216) <> 0 OR NOT EXISTS (
            SELECT 1 FROM idx_token label
            WHERE label.rid = shown.rid AND label.code = '_security' AND label.value = ANY(p_hidden)))
      AND (p_actor IS NULL
           OR ((res.imask & 33554432) <> 0 AND shown.patient NOT IN (SELECT refusing.patient FROM refusing))
           OR NOT EXISTS (
            SELECT 1 FROM idx_reference rx
            JOIN consent_rules cat ON cat.patient = rx.ref_id
            WHERE rx.rid = shown.rid AND rx.ref_type = 'Patient'
              AND cat.actor IN (p_actor, '*') AND cat.category <> '*'
              AND (cat.category = 'type:' || rx.rtype OR EXISTS (
                    SELECT 1 FROM idx_token rt
                    WHERE rt.rid = shown.rid AND rt.code = '_security' AND 'label:' || rt.value = cat.category))
              AND (p_grantee IS NULL OR NOT EXISTS (
                    SELECT 1 FROM access_grants g
                    WHERE g.subject = p_grantee AND g.patient = cat.patient AND g.expires > p_now))));
END
$$
"""


def upgrade() -> None:
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(f"UPDATE resources SET imask = imask & {~(UNLABELLED | SOLE_PATIENT)}")
    if op.get_bind().dialect.name == "postgresql":
        previous = importlib.import_module(f"{__package__}.0012_access_function")
        op.execute(previous.FUNCTION)
