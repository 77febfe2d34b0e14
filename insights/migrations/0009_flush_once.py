"""insights_facts_flush returns at once after the first firing of a transaction's commit (until
more deals are marked): a commit touching N deals no longer scans the flushed rows N times."""

from django.db import migrations

from insights.summary_sql import install


def install_files(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0008_summary_sql_files"),
    ]

    operations = [migrations.RunPython(install_files, migrations.RunPython.noop)]
