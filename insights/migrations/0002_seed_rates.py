"""Seed the rates the demo deals need (USD, EUR, GBP), expressed in settings.ORG_CURRENCY."""

from decimal import Decimal

from django.conf import settings
from django.db import migrations

# Units of USD per unit of each currency (a fixed reference; admins keep the table current).
IN_USD = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}


def seed(apps, schema_editor):
    ExchangeRate = apps.get_model("insights", "ExchangeRate")
    org = settings.ORG_CURRENCY
    if org in IN_USD:
        rates = {code: (usd / IN_USD[org]).quantize(Decimal("0.00000001")) for code, usd in IN_USD.items()}
    else:
        rates = {org: Decimal("1")}
    for code, rate in rates.items():
        ExchangeRate.objects.get_or_create(currency=code, defaults={"rate": rate})


class Migration(migrations.Migration):
    dependencies = [("insights", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
