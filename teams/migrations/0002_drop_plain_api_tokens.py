"""API tokens move to django-rest-knox, which keeps only a hash of each. The old table held the
keys in plain text (so did every backup of it): they are dropped rather than carried over, and
their holders get new ones (POST /api/token/, create_integration_token)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("teams", "0001_initial")]

    operations = [migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop)]
