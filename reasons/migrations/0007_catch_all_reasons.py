from django.db import migrations, models
from django.db.models import Q


def mark(apps, schema_editor):
    # The starter's "Other" reasons, and whatever sat in the "other" category: the share counted
    # those until now, so the figure keeps its meaning.
    Reason = apps.get_model("reasons", "Reason")
    codes = ["other-loss", "other-win", "other-no-decision"]
    Reason.objects.filter(Q(code__in=codes) | Q(category__code="other")).update(is_catch_all=True)


class Migration(migrations.Migration):
    dependencies = [("reasons", "0006_starter_examples")]

    operations = [
        migrations.AddField(
            model_name="reason",
            name="is_catch_all",
            field=models.BooleanField(
                default=False,
                help_text="A catch-all such as “Other”: counted in the taxonomy-health “Other” share.",
                verbose_name="catch-all",
            ),
        ),
        migrations.RunPython(mark, migrations.RunPython.noop),
    ]
