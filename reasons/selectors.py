"""Reads of the reason taxonomy."""

from django.db.models import QuerySet

from reasons.models import Competitor, Reason


def reasons_active(*, kind: str) -> QuerySet[Reason]:
    """Active reasons of one kind, in category then reason order, with their category."""
    return Reason.objects.filter(kind=kind, active=True).select_related("category")


def competitors_active() -> QuerySet[Competitor]:
    return Competitor.objects.filter(active=True)
