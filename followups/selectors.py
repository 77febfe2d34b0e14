"""Reads of follow-ups, scoped like deals: reps their own deals', managers their teams', admins all."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from deals.selectors import deals_visible_to
from followups.models import OPEN_Q, FollowUp, NurtureSequence
from teams.models import Membership, Team, User

UPCOMING_LIMIT = 50
TEAM_OVERDUE_LIMIT = 100


def followups_visible_to(user: User) -> QuerySet[FollowUp]:
    """Every follow-up `user` may see and act on: those of the deals they may see."""
    if user.is_revops_admin:
        return FollowUp.objects.all()
    return FollowUp.objects.filter(deal__in=deals_visible_to(user))


def followup_get_for_user(*, user: User, pk: int) -> FollowUp:
    """One follow-up the user may act on, or 404 (the same answer whether it exists or not)."""
    qs = followups_visible_to(user).select_related("deal__account", "contact", "step", "assignee")
    return get_object_or_404(qs, pk=pk)


def nurture_sequences_offered() -> QuerySet[NurtureSequence]:
    return NurtureSequence.objects.filter(active=True)


def _day_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
    return start, start + timedelta(days=1)


@dataclass
class MyFollowUps:
    overdue: list[FollowUp]
    today: list[FollowUp]
    upcoming: list[FollowUp]
    upcoming_total: int


def my_followups(*, user: User, now: datetime | None = None) -> MyFollowUps:
    """The user's open follow-ups: overdue, due today, and the next few upcoming (3 queries)."""
    now = now or timezone.now()
    start, end = _day_bounds(now)
    base = (
        followups_visible_to(user)
        .filter(OPEN_Q, assignee=user)
        .select_related("deal__account", "contact", "sequence", "closure__reason")
        .order_by("due_at", "pk")
    )
    current = list(base.filter(due_at__lt=end))
    upcoming = list(base.filter(due_at__gte=end)[:UPCOMING_LIMIT])
    upcoming_total = len(upcoming) if len(upcoming) < UPCOMING_LIMIT else base.filter(due_at__gte=end).count()
    return MyFollowUps(
        overdue=[f for f in current if f.due_at < start],
        today=[f for f in current if f.due_at >= start],
        upcoming=upcoming,
        upcoming_total=upcoming_total,
    )


@dataclass
class TeamRow:
    team: str
    assignee: str
    overdue: int
    today: int
    upcoming: int
    failed: int


def teams_managed_by(user: User) -> QuerySet[Team]:
    if user.is_revops_admin:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user, memberships__role=Membership.Role.MANAGER)


def team_followups(*, user: User, now: datetime | None = None) -> tuple[list[TeamRow], list[FollowUp]]:
    """Per team member: open follow-ups overdue, due today, upcoming and failed; and the
    overdue ones themselves (oldest first). Only the teams `user` manages (2 queries)."""
    now = now or timezone.now()
    start, end = _day_bounds(now)
    teams = teams_managed_by(user).values("pk")
    scoped = followups_visible_to(user).filter(OPEN_Q, deal__team__in=teams)
    counts = (
        scoped.values("deal__team__name", "assignee__username", "assignee__first_name", "assignee__last_name")
        .annotate(
            overdue=Count("pk", filter=Q(due_at__lt=start)),
            today=Count("pk", filter=Q(due_at__gte=start, due_at__lt=end)),
            upcoming=Count("pk", filter=Q(due_at__gte=end)),
            failed=Count("pk", filter=Q(state="failed")),
        )
        .order_by("deal__team__name", "-overdue", "assignee__username")
    )
    rows = [
        TeamRow(
            team=row["deal__team__name"],
            assignee=" ".join(filter(None, [row["assignee__first_name"], row["assignee__last_name"]]))
            or row["assignee__username"],
            overdue=row["overdue"],
            today=row["today"],
            upcoming=row["upcoming"],
            failed=row["failed"],
        )
        for row in counts
    ]
    overdue = list(
        scoped.filter(due_at__lt=start)
        .select_related("deal__account", "deal__team", "assignee", "contact")
        .order_by("due_at", "pk")[:TEAM_OVERDUE_LIMIT]
    )
    return rows, overdue


DEAL_PANEL_LIMIT = 20


def deal_followups(*, deal) -> list[FollowUp]:
    """A deal's follow-ups, latest closure first then by due date (one query). The caller has
    already checked that the user may see the deal."""
    return list(
        FollowUp.objects.filter(deal=deal)
        .select_related("contact", "sequence")
        .order_by("-closure_id", "due_at", "pk")[:DEAL_PANEL_LIMIT]
    )
