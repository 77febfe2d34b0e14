"""The win/loss review: who wants one how often, which are due, making them, sending them.

Once per user and period: `reviews_create_due` (the beat task, safe to run twice or at once in
two processes) inserts the `Review` row and its outbox hand-off in one transaction; the unique
constraint on (user, period) turns a second insert into nothing. The worker sends the e-mail
(`review_send`, the outbox kind's handler) under a row lock and marks it sent, so a redelivered
hand-off sends nothing more.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from closedlost.errors import ServiceError
from insights.comparison import Comparison, comparison_dates
from outbox.services import handoff_enqueue
from reviews.models import Cadence, Review, ReviewPreference
from reviews.snapshot import absolute, review_snapshot
from teams.models import User

log = logging.getLogger(__name__)

HANDOFF_SEND = "reviews.send"
# Without a chosen cadence: managers get the weekly review; admins (the whole organisation's
# figures) choose theirs on the page.
DEFAULT_CADENCE = {User.Role.MANAGER: Cadence.WEEKLY, User.Role.ADMIN: Cadence.OFF}


class ReviewError(ServiceError):
    """A refused change of the review preference; `field` names the form field."""


def may_have_reviews(user: User) -> bool:
    return user.is_revops_admin or user.role == User.Role.MANAGER


def cadence_of(user: User) -> str:
    """The user's chosen cadence, or their role's default."""
    try:
        return user.review_preference.cadence
    except ReviewPreference.DoesNotExist:
        role = User.Role.ADMIN if user.is_revops_admin else user.role
        return DEFAULT_CADENCE.get(role, Cadence.OFF)


def review_cadence_set(*, user: User, cadence: str) -> ReviewPreference:
    if not may_have_reviews(user):
        raise ReviewError("Only managers and admins receive the win/loss review.", field="cadence")
    if cadence not in Cadence.values:
        raise ReviewError("Choose weekly, monthly or off.", field="cadence")
    preference, _ = ReviewPreference.objects.update_or_create(user=user, defaults={"cadence": cadence})
    return preference


def period_ended(cadence: str, today: date) -> tuple[date, date]:
    """The latest whole period before `today`: last Monday–Sunday week, or last calendar month."""
    if cadence == Cadence.WEEKLY:
        end = today - timedelta(days=today.weekday() + 1)
        return end - timedelta(days=6), end
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def comparison_of(cadence: str, start: date, end: date) -> Comparison:
    """A week against the week before; a month against the calendar month before."""
    if cadence == Cadence.WEEKLY:
        return Comparison("previous", *comparison_dates("previous", start, end))
    before_end = start - timedelta(days=1)
    return Comparison("custom", before_end.replace(day=1), before_end)


def reviewers() -> list[User]:
    """Active managers and admins, with their preference (one query)."""
    people = User.objects.filter(is_active=True).filter(
        Q(role__in=[User.Role.MANAGER, User.Role.ADMIN]) | Q(is_superuser=True)
    )
    return list(people.select_related("review_preference").order_by("pk"))


def reviews_due(*, today: date | None = None) -> list[tuple[User, str, date, date]]:
    """(user, cadence, first day, last day) of each review whose period has ended and which was not
    made yet (two queries)."""
    today = today or timezone.localdate()
    wanted = []
    for user in reviewers():
        cadence = cadence_of(user)
        if cadence != Cadence.OFF:
            wanted.append((user, cadence, *period_ended(cadence, today)))
    if not wanted:
        return []
    made = set(
        Review.objects.filter(
            user__in=[user for user, *_ in wanted], period_end__in={end for *_, end in wanted}
        ).values_list("user_id", "period_start", "period_end")
    )
    return [(user, c, start, end) for user, c, start, end in wanted if (user.pk, start, end) not in made]


def review_create(*, user: User, cadence: str, start: date, end: date) -> Review | None:
    """Make the user's review of the period and hand its e-mail to the worker; None when it
    already exists (made by another run meanwhile)."""
    comparison = comparison_of(cadence, start, end)
    snapshot = review_snapshot(user=user, start=start, end=end, comparison=comparison)
    try:
        with transaction.atomic():
            review = Review.objects.create(
                user=user,
                cadence=cadence,
                period_start=start,
                period_end=end,
                compare_start=comparison.date_from,
                compare_end=comparison.date_to,
                snapshot=snapshot,
            )
            handoff_enqueue(kind=HANDOFF_SEND, items=[review.pk])
    except IntegrityError:
        if Review.objects.filter(user=user, period_start=start, period_end=end).exists():
            return None
        raise
    return review


def reviews_create_due(*, today: date | None = None) -> int:
    """The beat task: make every review due. Returns how many were made."""
    made = 0
    for user, cadence, start, end in reviews_due(today=today):
        if review_create(user=user, cadence=cadence, start=start, end=end) is not None:
            made += 1
    return made


def subject_of(review: Review) -> str:
    kind = "Weekly" if review.cadence == Cadence.WEEKLY else "Monthly"
    found = review.snapshot["findings_total"]
    changes = f"{found} significant change{'s' if found != 1 else ''}" if found else "no significant change"
    return f"{kind} win/loss review, {review.period_start:%-d %b} – {review.period_end:%-d %b %Y}: {changes}"


def review_context(review: Review) -> dict:
    return {
        "review": review,
        "s": review.snapshot,
        "subject": subject_of(review),
        "review_url": absolute(review_url(review)),
        "settings_url": absolute(reverse("reviews:settings")),
    }


def review_url(review: Review) -> str:
    return reverse("reviews:detail", args=[review.pk])


def review_message(review: Review) -> EmailMultiAlternatives:
    context = review_context(review)
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string("reviews/email/review.txt", context),
        to=[review.user.email],
        connection=get_connection(timeout=30),  # a hung mail server must not hold the worker
    )
    message.attach_alternative(render_to_string("reviews/email/review.html", context), "text/html")
    return message


def review_send(review_id: int) -> None:
    """The outbox handler: send the review's e-mail once. The row lock makes a second copy of the
    hand-off wait, then find it sent; a failed send raises (the outbox tries again)."""
    with transaction.atomic():
        review = Review.objects.select_for_update().select_related("user").filter(pk=review_id).first()
        if review is None or review.sent_at is not None:
            return None
        if not review.user.email or not review.user.is_active:
            log.info("review %s not e-mailed: no address or inactive user", review_id)
            return None
        review_message(review).send()
        review.sent_at = timezone.now()
        review.save(update_fields=["sent_at"])
    return None
