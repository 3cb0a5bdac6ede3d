"""audit append function (PostgreSQL): the optimistic chain append as one server-side call

Revision ID: 0011
Revises: 0010

Why a function: the append sits on every request's path, and as one statement of four CTEs it was
planned anew on each execution (``plan_cache_mode = force_custom_plan`` for searches, decision 0013):
≈ 0.45 ms of planning for ≈ 0.2 ms of work. PL/pgSQL keeps its statements' plans for the session;
``force_generic_plan`` (set for the function only) lets it use them from the first call. The chain
rules stay in Python (``rhip.store.audit_log``): this only writes what it is given, if the head is
still what the caller linked to. SQLite has no server round trips to save and keeps its statements.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION rhip_audit_append(
    p_chain smallint, p_old_seq bigint, p_old_hash text,
    p_seq bigint, p_ts bigint, p_kind text, p_action text, p_outcome text, p_agent text,
    p_content text, p_prev text, p_hash text, p_patients text[], p_relaxed boolean,
    OUT appended boolean, OUT head_seq bigint, OUT head_hash text)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    -- The newest committed head, locked until the transaction ends (READ COMMITTED: after waiting
    -- for a concurrent appender, its version).
    SELECT h.seq, h.hash INTO head_seq, head_hash FROM audit_head h WHERE h.chain = p_chain FOR UPDATE;
    appended := FOUND AND head_seq = p_old_seq AND head_hash = p_old_hash;
    IF p_relaxed THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    IF appended THEN
        INSERT INTO audit_events (seq, ts, kind, action, outcome, agent, content, prev, hash)
        VALUES (p_seq, p_ts, p_kind, p_action, p_outcome, p_agent, p_content, p_prev, p_hash);
        INSERT INTO audit_patients (seq, patient) SELECT p_seq, unnest(p_patients);
        UPDATE audit_head SET seq = p_seq, hash = p_hash WHERE chain = p_chain;
        head_seq := p_seq;
        head_hash := p_hash;
    END IF;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS rhip_audit_append(smallint, bigint, text, bigint, bigint, text, text, text, "
            "text, text, text, text, text[], boolean)"
        )
