"""The rollup's groupings declared once in the SQL (insights_fact_groupings), used by the refresh
and by insights_rollup_expected; the refresh appends through insights_rollup_append."""

from django.db import migrations

from insights.summary_sql import install


def install_summary(apps, schema_editor):
    install(schema_editor.connection)  # does nothing on SQLite


class Migration(migrations.Migration):
    dependencies = [("insights", "0002_rates_and_summary")]

    operations = [migrations.RunPython(install_summary, migrations.RunPython.noop)]
