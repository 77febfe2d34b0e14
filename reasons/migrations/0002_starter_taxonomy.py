from django.db import migrations

from reasons.taxonomy import load_starter_taxonomy


def load(apps, schema_editor):
    load_starter_taxonomy(
        category_model=apps.get_model("reasons", "ReasonCategory"),
        reason_model=apps.get_model("reasons", "Reason"),
        competitor_model=apps.get_model("reasons", "Competitor"),
    )


class Migration(migrations.Migration):
    dependencies = [("reasons", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
