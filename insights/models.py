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


class LossHistory(models.Model):
    """One row per deal ever lost: what the reopen and recovery figures need from its closures.

    Kept current by PostgreSQL triggers on deals_closure (migration 0004), so every way a closure
    is written (services, CRM sync, imports, bulk loads) keeps it right; no foreign-key constraints,
    so it never blocks the demo reset. The recovery figures read it on PostgreSQL and compute the
    same thing from the closures elsewhere (tests check that both agree).
    """

    deal = models.OneToOneField(
        "deals.Deal",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="loss_history",
    )
    first_lost_closure = models.ForeignKey(
        "deals.Closure", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # As the rep (or CRM) chose it; figures roll it up through Reason.merged_into.
    first_lost_reason = models.ForeignKey(
        "reasons.Reason", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    reopened = models.BooleanField(help_text="A lost closure of the deal was reopened.")
    last_closed_at = models.DateTimeField(help_text="The latest close of the deal, reopened or not.")

    class Meta:
        verbose_name_plural = "loss histories"

    def __str__(self) -> str:
        return f"deal {self.deal_id}: first lost for {self.first_lost_reason_id}"
