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

SIGNATURE = "rhip_visible_rows(bigint[], text[], text[], text[], text, text, text, text, bigint, text[])"

FUNCTION = r"""
CREATE OR REPLACE FUNCTION rhip_visible_rows(
    p_rids bigint[],        -- candidate rows (rid), of patient-compartment types
    p_types text[],         -- with p_codes: the compartment parameters that make a row of p_types[i]
    p_codes text[],         --   part of a patient's record (R4 Patient CompartmentDefinition)
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
    RETURN QUERY
    SELECT c.rid
    FROM unnest(p_rids) AS c(rid)
    JOIN resources r ON r.rid = c.rid
    WHERE EXISTS (
        SELECT 1
        FROM (
            SELECT m.ref_id AS patient
            FROM idx_reference m
            JOIN unnest(p_types, p_codes) AS cp(rtype, code) ON cp.rtype = m.rtype AND cp.code = m.code
            WHERE m.rid = c.rid AND m.ref_type = 'Patient'
            UNION ALL
            SELECT r.id WHERE r.rtype = 'Patient' AND 'Patient' = ANY(p_types)
        ) AS member
        WHERE (cardinality(p_patients) > 0 AND (
                member.patient = ANY(p_patients)
                OR EXISTS (
                    SELECT 1 FROM mpi_registrations own
                    JOIN mpi_registrations same ON same.person = own.person
                    WHERE own.id = ANY(p_patients) AND own.person > 0 AND same.id = member.patient)))
           OR (p_org IS NOT NULL
               AND EXISTS (SELECT 1 FROM care_links cl WHERE cl.patient = member.patient AND cl.organization = p_org)
               AND (p_actor IS NULL OR NOT EXISTS (
                    SELECT 1 FROM consent_rules whole
                    WHERE whole.patient = member.patient AND whole.actor IN (p_actor, '*') AND whole.category = '*')))
           OR (p_region_like IS NOT NULL AND EXISTS (
                SELECT 1 FROM resources pat JOIN idx_string division ON division.rid = pat.rid
                WHERE pat.rtype = 'Patient' AND pat.id = member.patient
                  AND division.code = 'division' AND division.value LIKE p_region_like ESCAPE '\'))
           OR (p_grantee IS NOT NULL AND EXISTS (
                SELECT 1 FROM access_grants g
                WHERE g.subject = p_grantee AND g.patient = member.patient AND g.expires > p_now))
    )
    AND (cardinality(p_hidden) = 0 OR NOT EXISTS (
        SELECT 1 FROM idx_token label
        WHERE label.rid = c.rid AND label.code = '_security' AND label.value = ANY(p_hidden)))
    AND (p_actor IS NULL OR NOT EXISTS (
        SELECT 1 FROM idx_reference rx JOIN consent_rules cat ON cat.patient = rx.ref_id
        WHERE rx.rid = c.rid AND rx.ref_type = 'Patient'
          AND cat.actor IN (p_actor, '*') AND cat.category <> '*'
          AND (cat.category = 'type:' || r.rtype OR EXISTS (
                SELECT 1 FROM idx_token rt
                WHERE rt.rid = c.rid AND rt.code = '_security' AND 'label:' || rt.value = cat.category))
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
