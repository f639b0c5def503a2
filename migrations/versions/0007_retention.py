"""retention: the database refuses to delete or rewrite dispensing, ledger and escalation records

SPEC §8: no dispensing, ledger, escalation or audit record is ever deleted or edited in place; a
correction is a new entry referring to the one it corrects. The audit tables are guarded since
0006; this revision guards the rest, on PostgreSQL (SQLite has no such guard, as in 0006: the
application never changes these rows, and the tests prove it on PostgreSQL).

Append-only (INSERT only: UPDATE, DELETE and TRUNCATE refused):
  - dispensings           the DEA dispensing record of each fill;
  - inventory_movements   the ledger (a correction is a new movement naming `corrects_id`);
  - release_overrides     a prescriber's authorization to ship a held package;
  - check_ins             every answer and act in a dose session, as received;
  - escalation_events     an escalation's timeline (trigger, pages, acknowledgement, resolution).
  The application only ever inserts these rows.

Facts kept (DELETE and TRUNCATE refused; UPDATE allowed only for the lifecycle the application
fills in later). One generic function, `retention_keep_facts(fixed, set_once)`, takes two
comma-separated column lists as trigger arguments:
  - fixed: never changes once written;
  - set once: NULL may become a value (the moment it happens); a value never changes or goes back
    to NULL. Columns named in neither list are bookkeeping the application may move freely.

  shipments
    fixed      what was mailed, to whom, by whom and when: dispensing_id, patient_id, carrier,
               tracking_number, shipped_at, shipped_by_id, release_override_id.
    set once   delivered_at, received_at, received_count, received_via (the patient's count),
               receipt_overdue_at (escalated once), lost_reported_at, lost_escalation_id,
               dea_notice_on, form_106_filed_on, form_106_number (the DEA filings).
    (Every shipment column is in one list or the other.)

  escalations
    fixed      what happened: reason, patient_id, session_id, dose_number, opened_at.
    set once   the resolution: resolved_at, resolved_by_id, outcome, resolution_note.
    free       paging bookkeeping: paging_plan, paging_started_at, steps_paged, steps_forced,
               next_page_at, open_key (the "one open per session and reason" key, cleared on
               resolution).
    and `escalations_lifecycle()` for what a column list cannot say:
      - a resolved escalation is final: nothing of it changes (a new trigger opens a new one);
      - severity never falls (a repeat trigger may raise it: urgent > high > moderate > low);
      - trigger_count never falls;
      - the acknowledgement is never cleared, and acknowledged_at never moves earlier. It may
        move later: when a more severe trigger re-opens an acknowledged escalation, paging starts
        again and the next acknowledgement is written over the first (the first stays in
        escalation_events and in the audit log).

Messages are with the refused operation and table (and column), raised as insufficient_privilege,
as 0006 does; a superuser can still switch triggers off (session_replication_role), which the
audit chain's verification would not miss for audit rows, and which nobody can do by accident.

Revision ID: 0007
Revises: 0006
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("dispensings", "inventory_movements", "release_overrides", "check_ins", "escalation_events")

# table -> (fixed columns, set-once columns)
FACTS = {
    "shipments": (
        ("id", "dispensing_id", "patient_id", "carrier", "tracking_number", "shipped_at", "shipped_by_id",
         "release_override_id"),
        ("delivered_at", "received_at", "received_count", "received_via", "receipt_overdue_at", "lost_reported_at",
         "lost_escalation_id", "dea_notice_on", "form_106_filed_on", "form_106_number"),
    ),
    "escalations": (
        ("id", "reason", "patient_id", "session_id", "dose_number", "opened_at"),
        ("resolved_at", "resolved_by_id", "outcome", "resolution_note"),
    ),
}

REFUSE_CHANGE = """
CREATE FUNCTION retention_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'retained records are never deleted or edited in place: % on % refused '
                    '(a correction is a new entry)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$"""

# Compares columns through to_jsonb(row), so one function serves every table and column type; a
# column name that is not in the row (a typo, a later rename) is an error, never a silent pass.
KEEP_FACTS = """
CREATE FUNCTION retention_keep_facts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := to_jsonb(OLD);
    new_row jsonb := to_jsonb(NEW);
    col text;
BEGIN
    FOREACH col IN ARRAY string_to_array(TG_ARGV[0], ',') || string_to_array(TG_ARGV[1], ',') LOOP
        IF NOT old_row ? col THEN
            RAISE EXCEPTION 'retention_keep_facts on %: no column %', TG_TABLE_NAME, col;
        END IF;
    END LOOP;
    FOREACH col IN ARRAY string_to_array(TG_ARGV[0], ',') LOOP
        IF old_row -> col IS DISTINCT FROM new_row -> col THEN
            RAISE EXCEPTION 'retained records keep their facts: %.% cannot change', TG_TABLE_NAME, col
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
    FOREACH col IN ARRAY string_to_array(TG_ARGV[1], ',') LOOP
        IF old_row -> col <> 'null'::jsonb AND old_row -> col IS DISTINCT FROM new_row -> col THEN
            RAISE EXCEPTION 'retained records keep their facts: %.% is set once and cannot change',
                            TG_TABLE_NAME, col
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$"""

ESCALATIONS_LIFECYCLE = """
CREATE FUNCTION escalations_lifecycle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    severities text[] := ARRAY['low', 'moderate', 'high', 'urgent'];
    problem text;
BEGIN
    IF OLD.state = 'resolved' AND to_jsonb(NEW) <> to_jsonb(OLD) THEN
        problem := 'a resolved escalation is final';
    ELSIF array_position(severities, NEW.severity::text) < array_position(severities, OLD.severity::text) THEN
        problem := 'severity never falls';
    ELSIF NEW.trigger_count < OLD.trigger_count THEN
        problem := 'trigger_count never falls';
    ELSIF OLD.acknowledged_at IS NOT NULL
          AND (NEW.acknowledged_at IS NULL OR NEW.acknowledged_at < OLD.acknowledged_at) THEN
        problem := 'acknowledged_at is never cleared or moved earlier';
    ELSIF OLD.acknowledged_by_id IS NOT NULL AND NEW.acknowledged_by_id IS NULL THEN
        problem := 'acknowledged_by_id is never cleared';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'retained records keep their facts: escalation %: %', OLD.id, problem
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REFUSE_CHANGE)
    op.execute(KEEP_FACTS)
    op.execute(ESCALATIONS_LIFECYCLE)
    for table in APPEND_ONLY_TABLES:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION retention_refuse_change()")
    for table, (fixed, set_once) in FACTS.items():
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION retention_refuse_change()")
        op.execute(f"CREATE TRIGGER {table}_keep_facts BEFORE UPDATE ON {table} FOR EACH ROW "
                   f"EXECUTE FUNCTION retention_keep_facts('{','.join(fixed)}', '{','.join(set_once)}')")
    op.execute("CREATE TRIGGER escalations_lifecycle BEFORE UPDATE ON escalations "
               "FOR EACH ROW EXECUTE FUNCTION escalations_lifecycle()")
    for table in APPEND_ONLY_TABLES + tuple(FACTS):
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION retention_refuse_change()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY_TABLES + tuple(FACTS):
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    op.execute("DROP TRIGGER escalations_lifecycle ON escalations")
    for table in FACTS:
        op.execute(f"DROP TRIGGER {table}_keep_facts ON {table}")
        op.execute(f"DROP TRIGGER {table}_no_delete ON {table}")
    for table in APPEND_ONLY_TABLES:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION escalations_lifecycle()")
    op.execute("DROP FUNCTION retention_keep_facts()")
    op.execute("DROP FUNCTION retention_refuse_change()")
