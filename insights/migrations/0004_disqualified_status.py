"""The facts count a loss for a disqualifying reason under the status "disqualified"; a reason's
flag (or merge) change refreshes its lost deals. Reinstalls insights/sql/ (no reason is
disqualifying before this migration, so no fact changes)."""

from django.db import migrations

from insights.summary_sql import install


def install_summary(apps, schema_editor):
    install(schema_editor.connection)  # does nothing on SQLite


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0003_groupings_declared_once"),
        ("reasons", "0003_reason_is_disqualifying"),
    ]

    operations = [migrations.RunPython(install_summary, migrations.RunPython.noop)]
