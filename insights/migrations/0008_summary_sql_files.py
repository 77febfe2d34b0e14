"""The summary's functions, view and triggers from insights/sql/ (until now in 0004 and 0007).

insights_facts_compute now returns its columns by name (it returned the table's row type), so it
is dropped first: CREATE OR REPLACE cannot change what a function returns.
"""

from django.db import migrations

from insights.summary_sql import install


def install_files(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP FUNCTION IF EXISTS insights_facts_compute(bigint[])")
    install(schema_editor.connection)


def drop_new_functions(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for function in NEW_FUNCTIONS:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}")


# Functions 0007 did not have (going back to 0007 drops the rest).
NEW_FUNCTIONS = [
    "insights_facts_apply(bigint[])",
    "insights_facts_rebuild_slice(bigint, bigint)",
    "insights_rollup_repair()",
]


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0007_fact_triggers"),
    ]

    operations = [migrations.RunPython(install_files, drop_new_functions)]
