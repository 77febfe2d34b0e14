"""What the dashboards need besides deals: the stored exchange rates."""

from django.db import models
from django.db.models import Q


class ExchangeRate(models.Model):
    """How many units of the organisation currency (settings.ORG_CURRENCY) one unit of `currency` is."""

    currency = models.CharField(max_length=3, unique=True, help_text="ISO 4217 code, e.g. EUR.")
    rate = models.DecimalField(max_digits=18, decimal_places=8)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchangerate_rate_positive"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="exchangerate_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate}"
