"""The summary's refresh can be put off to the end of a long writer (insights_pendingdeal)."""

from django.db import migrations

from insights.summary_sql import install


def install_summary(apps, schema_editor):
    install(schema_editor.connection)  # does nothing on SQLite


class Migration(migrations.Migration):
    dependencies = [("insights", "0007_merge_20261205_1618")]

    operations = [migrations.RunPython(install_summary, migrations.RunPython.noop)]
