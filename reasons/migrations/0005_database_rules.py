"""Taxonomy rules that need more than Django's constraints, on PostgreSQL.

- A merge stays within one kind: composite foreign keys (merged_into, kind) -> (id, kind).
- Merges are one step deep: a survivor is never merged itself, and a reason (or competitor)
  that others point to cannot be merged until they are repointed (the service flattens).
- A reason's code cannot change once a closure uses it (CRMs and the API key on it).
- TaxonomyChange is append-only: UPDATE and DELETE are refused.
SQLite (the `make run` default) relies on the services for these.
"""

from django.db import migrations

ONE_STEP = """
CREATE FUNCTION reasons_{table}_merge_one_step() RETURNS trigger AS $$
BEGIN
  IF NEW.merged_into_id IS NOT NULL THEN
    IF EXISTS (SELECT 1 FROM reasons_{table} WHERE id = NEW.merged_into_id AND merged_into_id IS NOT NULL) THEN
      RAISE EXCEPTION 'reasons_{table} % cannot be merged into % which is merged itself', NEW.id, NEW.merged_into_id
        USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM reasons_{table} WHERE merged_into_id = NEW.id) THEN
      RAISE EXCEPTION 'reasons_{table} % has rows merged into it; repoint them first', NEW.id
        USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  RETURN NEW;
END; $$ LANGUAGE plpgsql"""

FORWARD = [
    """ALTER TABLE reasons_reason ADD CONSTRAINT reason_merged_same_kind_fk
       FOREIGN KEY (merged_into_id, kind) REFERENCES reasons_reason (id, kind)""",
    ONE_STEP.format(table="reason"),
    """CREATE TRIGGER reason_merge_one_step BEFORE INSERT OR UPDATE OF merged_into_id ON reasons_reason
       FOR EACH ROW EXECUTE FUNCTION reasons_reason_merge_one_step()""",
    ONE_STEP.format(table="competitor"),
    """CREATE TRIGGER competitor_merge_one_step BEFORE INSERT OR UPDATE OF merged_into_id
       ON reasons_competitor FOR EACH ROW EXECUTE FUNCTION reasons_competitor_merge_one_step()""",
    """CREATE FUNCTION reasons_reason_code_frozen() RETURNS trigger AS $$
       BEGIN
         IF NEW.code IS DISTINCT FROM OLD.code AND (
              EXISTS (SELECT 1 FROM deals_closure WHERE reason_id = OLD.id)
              OR EXISTS (SELECT 1 FROM deals_closuresecondaryreason WHERE reason_id = OLD.id)) THEN
           RAISE EXCEPTION 'reason % is used by closures; its code % cannot change', OLD.id, OLD.code
             USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER reason_code_frozen BEFORE UPDATE OF code ON reasons_reason
       FOR EACH ROW EXECUTE FUNCTION reasons_reason_code_frozen()""",
    """CREATE FUNCTION reasons_taxonomychange_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'reasons_taxonomychange is append-only' USING ERRCODE = 'restrict_violation'; END;
       $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER taxonomychange_append_only BEFORE UPDATE OR DELETE ON reasons_taxonomychange
       FOR EACH ROW EXECUTE FUNCTION reasons_taxonomychange_append_only()""",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS taxonomychange_append_only ON reasons_taxonomychange",
    "DROP FUNCTION IF EXISTS reasons_taxonomychange_append_only()",
    "DROP TRIGGER IF EXISTS reason_code_frozen ON reasons_reason",
    "DROP FUNCTION IF EXISTS reasons_reason_code_frozen()",
    "DROP TRIGGER IF EXISTS competitor_merge_one_step ON reasons_competitor",
    "DROP FUNCTION IF EXISTS reasons_competitor_merge_one_step()",
    "DROP TRIGGER IF EXISTS reason_merge_one_step ON reasons_reason",
    "DROP FUNCTION IF EXISTS reasons_reason_merge_one_step()",
    "ALTER TABLE reasons_reason DROP CONSTRAINT IF EXISTS reason_merged_same_kind_fk",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement, None)  # no params: the % in RAISE are literal

    return run


class Migration(migrations.Migration):
    dependencies = [("reasons", "0004_taxonomy_history"), ("deals", "0003_database_rules")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
