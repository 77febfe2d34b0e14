"""Reads of reviews: a user sees their own reviews only (another's is not found)."""

from django.db.models import QuerySet
from django.db.models.fields.json import KT

from reviews.models import Review
from teams.models import User


def reviews_of(user: User) -> QuerySet[Review]:
    return Review.objects.filter(user=user)


def review_list_rows(user: User) -> QuerySet[Review]:
    """The list page's rows: without the snapshot but its headline and findings count (one query)."""
    return (
        reviews_of(user)
        .defer("snapshot")
        .annotate(
            scope=KT("snapshot__scope"),
            win_rate=KT("snapshot__headline__0__text"),
            win_rate_change=KT("snapshot__headline__0__change_text"),
            findings_total=KT("snapshot__findings_total"),
            backlog=KT("snapshot__backlog__count"),
        )
    )
