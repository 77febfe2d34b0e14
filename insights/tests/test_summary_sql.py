"""The summary's SQL in the database is the SQL in insights/sql/, and installing it is idempotent."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from insights import rollup, summary_sql
from insights.models import DealFact

pytestmark = pytest.mark.django_db


def view_as_parsed(query: str) -> str:
    """A view's query as PostgreSQL prints it back (it keeps no text of its own)."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY VIEW summary_file_view AS {query}")
        cursor.execute("SELECT pg_get_viewdef('summary_file_view'::regclass)")
        parsed = cursor.fetchone()[0]
        cursor.execute("DROP VIEW summary_file_view")
    return parsed


def assert_installed_equals_files():
    files, installed = summary_sql.file_definitions(), summary_sql.installed_definitions(connection)
    assert set(installed["functions"]) == set(files["functions"])
    for name, definition in files["functions"].items():
        assert installed["functions"][name] == definition, name
    assert installed["triggers"] == files["triggers"]
    assert set(installed["views"]) == set(files["views"])
    for name, query in files["views"].items():
        assert installed["views"][name] == view_as_parsed(query), name


def test_the_installed_functions_view_and_triggers_are_the_files():
    assert_installed_equals_files()
    assert len(summary_sql.file_definitions()["functions"]) == 23
    assert len(summary_sql.file_definitions()["views"]) == 2
    assert len(summary_sql.file_definitions()["triggers"]) == 13


def test_a_function_changed_in_the_database_is_told_apart_and_installing_puts_it_back():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION insights_rollup_compact() RETURNS integer LANGUAGE sql AS 'SELECT 0'"
        )
    with pytest.raises(AssertionError, match="insights_rollup_compact"):
        assert_installed_equals_files()
    out = StringIO()
    call_command("rollup", "--install", stdout=out)
    rollup.summary_install()  # twice: nothing changes
    assert_installed_equals_files()
    assert "Installed the summary's SQL" in out.getvalue()
    assert "Rows that disagree: facts 0, rollup 0, daily rollup 0." in out.getvalue()


def test_the_facts_function_returns_every_column_of_the_facts_by_name():
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM insights_facts_compute(ARRAY[]::bigint[])")
        returned = [column.name for column in cursor.description]
    assert sorted(returned) == sorted(field.column for field in DealFact._meta.concrete_fields)
