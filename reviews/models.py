"""The win/loss review: each manager's and admin's digest of a week or month, kept as sent.

A `Review` is one user's review of one period, with a snapshot of what it said (so a past review
reads the same later, whatever changed since); at most one per user and period (a unique
constraint), so a beat that runs twice or a worker that dies never makes a second one.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q


class Cadence(models.TextChoices):
    WEEKLY = "weekly", "Weekly (Monday to Sunday)"
    MONTHLY = "monthly", "Monthly (calendar month)"
    OFF = "off", "Off"


class ReviewPreference(models.Model):
    """How often a manager or admin wants their review; no row: the default of their role
    (reviews.services.DEFAULT_CADENCE)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="review_preference"
    )
    cadence = models.CharField(max_length=8, choices=Cadence.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(cadence__in=[c.value for c in Cadence]), name="reviewpreference_cadence_known"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.cadence}"


class Review(models.Model):
    """One user's review of one period (both days inclusive) against its comparison period."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    cadence = models.CharField(max_length=8, choices=Cadence.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    compare_start = models.DateField()
    compare_end = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    snapshot = models.JSONField(encoder=DjangoJSONEncoder)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_end", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "period_start", "period_end"], name="review_once_per_user_period"
            ),
            models.CheckConstraint(
                condition=Q(cadence__in=["weekly", "monthly"]), name="review_cadence_weekly_or_monthly"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="review_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(compare_end__lt=F("period_start")), name="review_compare_before"
            ),
        ]
        indexes = [models.Index(fields=["user", "-period_end"], name="review_user_period")]

    def __str__(self) -> str:
        return f"Review for {self.user_id}, {self.period_start} to {self.period_end}"
