from django.db import migrations

from reasons.taxonomy import fill_starter_examples


def fill(apps, schema_editor):
    fill_starter_examples(reason_model=apps.get_model("reasons", "Reason"))


class Migration(migrations.Migration):
    dependencies = [("reasons", "0005_database_rules")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
