"""Replace 0003's covering indexes (nearly as large as the table) with plain (team, closed_at) and
(owner, closed_at) ones: the dashboard's scope is a team or an owner plus a period, and the heap
rows of one period sit together because deals are written as they are created.
"""

from django.db import migrations

OLD = ["insights_deal_closed", "insights_deal_team_closed", "insights_deal_owner_closed"]
NEW = {
    "insights_deal_team_period": "deals_deal (team_id, closed_at) WHERE closed_at IS NOT NULL",
    "insights_deal_owner_period": "deals_deal (owner_id, closed_at) WHERE closed_at IS NOT NULL",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in OLD:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    for name, definition in NEW.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in NEW:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("insights", "0004_losshistory")]

    operations = [migrations.RunPython(forwards, backwards)]
