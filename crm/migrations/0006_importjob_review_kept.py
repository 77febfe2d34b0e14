from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_merge_0003_sync_runs_0004_import_warnings"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="review",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="importjob",
            name="undecodable",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
