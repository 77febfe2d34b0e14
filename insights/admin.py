from django.contrib import admin

from closedlost.admin import ReadOnlyAdmin
from insights.models import ExchangeRate


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ReadOnlyAdmin):
    """Read-only: rates change on /insights/rates/ (insights services, with history)."""

    list_display = ["currency", "rate", "updated_at"]
