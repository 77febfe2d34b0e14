"""The starter taxonomy: categories, reasons (with their examples and catch-alls), competitors."""

from django.db import migrations
from django.db.models import Q

from reasons.taxonomy import CATCH_ALL_CODES, load_starter_taxonomy


def load(apps, schema_editor):
    Reason = apps.get_model("reasons", "Reason")
    load_starter_taxonomy(
        category_model=apps.get_model("reasons", "ReasonCategory"),
        reason_model=Reason,
        competitor_model=apps.get_model("reasons", "Competitor"),
    )
    # The starter's "Other" reasons, and whatever sits in its "other" category.
    Reason.objects.filter(Q(code__in=CATCH_ALL_CODES) | Q(category__code="other")).update(is_catch_all=True)


class Migration(migrations.Migration):
    dependencies = [("reasons", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
