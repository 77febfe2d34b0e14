"""The starter nurture sequences, and the default sequence of each starter reason."""

from django.db import migrations

from followups.starter import load_starter_sequences


def load(apps, schema_editor):
    load_starter_sequences(
        sequence_model=apps.get_model("followups", "NurtureSequence"),
        step_model=apps.get_model("followups", "NurtureStep"),
        default_model=apps.get_model("followups", "ReasonSequenceDefault"),
        reason_model=apps.get_model("reasons", "Reason"),
    )


class Migration(migrations.Migration):
    dependencies = [("followups", "0001_initial"), ("reasons", "0002_starter_taxonomy")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
