"""LossHistory, and the PostgreSQL triggers that keep it current from deals_closure."""

from django.db import migrations, models

REFRESH = """
CREATE OR REPLACE FUNCTION insights_loss_history_refresh() RETURNS trigger AS $$
BEGIN
    DELETE FROM insights_losshistory h USING (SELECT DISTINCT deal_id FROM changed) c
     WHERE h.deal_id = c.deal_id;
    INSERT INTO insights_losshistory (deal_id, first_lost_closure_id, first_lost_reason_id, reopened, last_closed_at)
    SELECT DISTINCT ON (l.deal_id) l.deal_id, l.id, l.reason_id,
           EXISTS (SELECT 1 FROM deals_closure r
                    WHERE r.deal_id = l.deal_id AND r.outcome = 'lost' AND r.reopened_at IS NOT NULL),
           (SELECT max(a.closed_at) FROM deals_closure a WHERE a.deal_id = l.deal_id)
      FROM deals_closure l
     WHERE l.outcome = 'lost' AND l.deal_id IN (SELECT deal_id FROM changed)
     ORDER BY l.deal_id, l.closed_at, l.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER insights_loss_history_insert AFTER INSERT ON deals_closure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_loss_history_refresh();
CREATE TRIGGER insights_loss_history_update AFTER UPDATE ON deals_closure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_loss_history_refresh();
-- Closures that exist already.
INSERT INTO insights_losshistory (deal_id, first_lost_closure_id, first_lost_reason_id, reopened, last_closed_at)
SELECT DISTINCT ON (l.deal_id) l.deal_id, l.id, l.reason_id,
       EXISTS (SELECT 1 FROM deals_closure r
                WHERE r.deal_id = l.deal_id AND r.outcome = 'lost' AND r.reopened_at IS NOT NULL),
       (SELECT max(a.closed_at) FROM deals_closure a WHERE a.deal_id = l.deal_id)
  FROM deals_closure l WHERE l.outcome = 'lost'
 ORDER BY l.deal_id, l.closed_at, l.id;
"""
DROP = """
DROP TRIGGER IF EXISTS insights_loss_history_insert ON deals_closure;
DROP TRIGGER IF EXISTS insights_loss_history_update ON deals_closure;
DROP FUNCTION IF EXISTS insights_loss_history_refresh();
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFRESH)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0003_dashboard_indexes"),
        ("deals", "0004_needs_reason"),
        ("reasons", "0005_database_rules"),
    ]

    operations = [
        migrations.CreateModel(
            name="LossHistory",
            fields=[
                (
                    "deal",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="loss_history",
                        serialize=False,
                        to="deals.deal",
                    ),
                ),
                ("reopened", models.BooleanField(help_text="A lost closure of the deal was reopened.")),
                (
                    "last_closed_at",
                    models.DateTimeField(help_text="The latest close of the deal, reopened or not."),
                ),
                (
                    "first_lost_closure",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=models.deletion.DO_NOTHING,
                        related_name="+",
                        to="deals.closure",
                    ),
                ),
                (
                    "first_lost_reason",
                    models.ForeignKey(
                        db_constraint=False,
                        null=True,
                        on_delete=models.deletion.DO_NOTHING,
                        related_name="+",
                        to="reasons.reason",
                    ),
                ),
            ],
            options={"verbose_name_plural": "loss histories"},
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
