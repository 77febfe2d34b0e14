"""Dates relative to the day the suite runs: a revisit date must lie between the close's day and
two years ahead, so a date written into a test would stop being valid one day."""

from datetime import timedelta

from django.utils import timezone


def days_ahead(days: int = 180) -> str:
    """The ISO date `days` after today (the site's time zone), as a form or the API takes it."""
    return (timezone.localdate() + timedelta(days=days)).isoformat()
