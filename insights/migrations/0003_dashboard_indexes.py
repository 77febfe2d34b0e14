"""Indexes the dashboard's aggregates read (PostgreSQL only; SQLite demo data is small).

Every figure reads the deals closed in a period, for one team, one owner or everyone: these
indexes cover that range with the columns the figures group and sum, so PostgreSQL can answer
from the index alone. The closure index serves "first lost for" and "reopened" in recovery.
"""

from django.db import migrations

COVERED = "status, owner_id, team_id, pipeline_id, stage_id, account_id, close_reason_id, amount, currency, created_at"
INDEXES = {
    "insights_deal_closed": f"deals_deal (closed_at) INCLUDE ({COVERED}) WHERE closed_at IS NOT NULL",
    "insights_deal_team_closed": f"deals_deal (team_id, closed_at) INCLUDE ({COVERED}) WHERE closed_at IS NOT NULL",
    "insights_deal_owner_closed": f"deals_deal (owner_id, closed_at) INCLUDE ({COVERED}) WHERE closed_at IS NOT NULL",
    "insights_closure_lost_deal": (
        "deals_closure (deal_id, closed_at, id) INCLUDE (reason_id, reopened_at) WHERE outcome = 'lost'"
    ),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("insights", "0002_seed_rates"), ("deals", "0004_needs_reason")]

    operations = [migrations.RunPython(create, drop)]
