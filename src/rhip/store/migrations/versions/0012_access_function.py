"""row access function (PostgreSQL): the visible subset of candidate rows, with plans kept per session

Revision ID: 0012
Revises: 0011

Why a function (decision 0016, revised in session 5): searches are planned afresh on every execution
(``plan_cache_mode = force_custom_plan``: generic plans ignored the selectivity of search values), and
the row-access predicate inline in a search statement cost more to plan (and to set up its dozen
sub-plans) than the search itself took to run: ≈ 0.3–0.45 ms per clinician search at 1 M resources.
Here the same rules are one statement whose plan PL/pgSQL keeps for the session (``force_generic_plan``
for this function only: its shape never depends on the values). A search passes the rows that matched
its own criteria; the function returns those the scope may read.

The rules are those of ``rhip.store.access`` (``_patient_visible``, ``_row_tests``), parameter for
parameter; an empty or NULL scope value switches its rule off, as an absent field of ``RowScope`` does.
SQLite keeps the inline predicate (no plans to save there). Both are tested by the same access tests.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SIGNATURE = "rhip_visible_rows(bigint[], text[], text[], text, text, text, text, bigint, text[])"

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
    )
    SELECT shown.rid
    FROM (SELECT DISTINCT member.rid FROM member JOIN visible ON visible.patient = member.patient) AS shown
    WHERE (cardinality(p_hidden) = 0 OR NOT EXISTS (
            SELECT 1 FROM idx_token label
            WHERE label.rid = shown.rid AND label.code = '_security' AND label.value = ANY(p_hidden)))
      AND (p_actor IS NULL OR NOT EXISTS (
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
