"""Rules that need more than Django's constraints, on PostgreSQL.

- Composite foreign keys make the stored reason kind the reason's real kind, so the check
  constraints "lost needs a loss reason" cannot be fooled by a wrong kind column.
- A deal's stage belongs to the deal's pipeline.
- DealEvent is append-only: UPDATE and DELETE are refused by a trigger.
SQLite (the `make run` default) relies on the services for these.
"""

from django.db import migrations

FORWARD = [
    """ALTER TABLE deals_deal ADD CONSTRAINT deal_close_reason_kind_fk
       FOREIGN KEY (close_reason_id, close_reason_kind) REFERENCES reasons_reason (id, kind)""",
    """ALTER TABLE deals_closure ADD CONSTRAINT closure_reason_kind_fk
       FOREIGN KEY (reason_id, reason_kind) REFERENCES reasons_reason (id, kind)""",
    """ALTER TABLE deals_deal ADD CONSTRAINT deal_stage_in_pipeline_fk
       FOREIGN KEY (stage_id, pipeline_id) REFERENCES deals_stage (id, pipeline_id)""",
    """CREATE FUNCTION deals_dealevent_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'deals_dealevent is append-only' USING ERRCODE = 'restrict_violation'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER dealevent_append_only BEFORE UPDATE OR DELETE ON deals_dealevent
       FOR EACH ROW EXECUTE FUNCTION deals_dealevent_append_only()""",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS dealevent_append_only ON deals_dealevent",
    "DROP FUNCTION IF EXISTS deals_dealevent_append_only()",
    "ALTER TABLE deals_deal DROP CONSTRAINT IF EXISTS deal_stage_in_pipeline_fk",
    "ALTER TABLE deals_closure DROP CONSTRAINT IF EXISTS closure_reason_kind_fk",
    "ALTER TABLE deals_deal DROP CONSTRAINT IF EXISTS deal_close_reason_kind_fk",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("deals", "0002_initial"), ("reasons", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
