from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="ExchangeRate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "currency",
                    models.CharField(help_text="ISO 4217 code, e.g. EUR.", max_length=3, unique=True),
                ),
                ("rate", models.DecimalField(decimal_places=8, max_digits=18)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["currency"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("rate__gt", 0)), name="exchangerate_rate_positive"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("currency__regex", "^[A-Z]{3}$")),
                        name="exchangerate_currency_iso",
                    ),
                ],
            },
        ),
    ]
