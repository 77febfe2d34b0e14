"""The summary's functions, view and triggers from insights/sql/ (until now in 0004 and 0007).

insights_facts_compute now returns its columns by name (it returned the table's row type), so it
is dropped first: CREATE OR REPLACE cannot change what a function returns.
"""

from importlib import import_module

from django.db import migrations

from insights.summary_sql import install


def install_files(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP FUNCTION IF EXISTS insights_facts_compute(bigint[])")
    install(schema_editor.connection)


def back_to_0007(apps, schema_editor):
    """0007's functions again (its view, table and triggers are the same)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for function in NEW_FUNCTIONS:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}")
    schema_editor.execute("DROP FUNCTION IF EXISTS insights_facts_compute(bigint[])")
    schema_editor.execute(import_module("insights.migrations.0007_fact_triggers").FUNCTIONS)


# Functions 0007 did not have: dropped going back to it.
NEW_FUNCTIONS = [
    "insights_facts_apply(bigint[])",
    "insights_facts_rebuild_slice(bigint, bigint)",
    "insights_rollup_repair()",
]


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0007_fact_triggers"),
    ]

    operations = [migrations.RunPython(install_files, back_to_0007)]
