"""The starter exchange rates, and (PostgreSQL) the dashboards' summary from insights/sql/.

A later change to insights/sql/ ships with its own migration that calls `install` again
(docs/summary.md).
"""

from decimal import Decimal

from django.conf import settings
from django.db import migrations

from insights.summary_sql import install

# Units of USD per unit of each currency (a fixed reference; admins keep the table current).
IN_USD = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}


def seed_rates(apps, schema_editor):
    """The rates the demo deals need (USD, EUR, GBP), expressed in settings.ORG_CURRENCY."""
    ExchangeRate = apps.get_model("insights", "ExchangeRate")
    org = settings.ORG_CURRENCY
    if org in IN_USD:
        rates = {code: (usd / IN_USD[org]).quantize(Decimal("0.00000001")) for code, usd in IN_USD.items()}
    else:
        rates = {org: Decimal("1")}
    for code, rate in rates.items():
        ExchangeRate.objects.get_or_create(currency=code, defaults={"rate": rate})


def install_summary(apps, schema_editor):
    install(schema_editor.connection)  # does nothing on SQLite


# What the summary installs beyond its model tables, as DROP statements: triggers first.
DROPS = """
SELECT format('DROP TRIGGER %I ON %s', tgname, tgrelid::regclass) FROM pg_trigger
 WHERE NOT tgisinternal AND tgname LIKE 'insights\\_%'
UNION ALL SELECT 'DROP VIEW IF EXISTS insights_rollup_expected'
UNION ALL SELECT 'DROP TABLE IF EXISTS insights_dirtydeal'
UNION ALL SELECT 'DROP TABLE IF EXISTS insights_pendingdeal'
UNION ALL SELECT format('DROP FUNCTION %s', p.oid::regprocedure) FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.proname LIKE 'insights\\_%'
"""


def drop_summary(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(DROPS, None)
        statements = [row[0] for row in cursor.fetchall()]
    for statement in statements:
        schema_editor.execute(statement, None)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_initial"),
        # The summary's triggers sit on these apps' tables.
        ("deals", "0001_initial"),
        ("followups", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed_rates, migrations.RunPython.noop),
        migrations.RunPython(install_summary, drop_summary),
    ]
