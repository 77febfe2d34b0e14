"""Reads for the people pages (admins only: the views check)."""

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from people.models import Invitation, PersonEvent
from teams.models import Membership, Team, User

STATUSES = {
    "active": "Active",
    "invited": "Invited",
    "deactivated": "Deactivated",
    "all": "Everyone",
}


def _pending_invite() -> Exists:
    return Exists(
        Invitation.objects.filter(user=OuterRef("pk"), accepted_at__isnull=True, revoked_at__isnull=True)
    )


def people_list(*, status: str = "active", q: str = "", team: Team | None = None) -> QuerySet[User]:
    """People with their teams and whether an invite is pending, by name; integration accounts
    (no e-mail, no password, a token only) are left out."""
    people = (
        User.objects.exclude(username__startswith="integration-")
        .annotate(invite_pending=_pending_invite())
        .prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.select_related("team").order_by("team__name"))
        )
        .order_by("first_name", "last_name", "username")
    )
    if status == "active":
        people = people.filter(is_active=True, invite_pending=False)
    elif status == "invited":
        people = people.filter(is_active=True, invite_pending=True)
    elif status == "deactivated":
        people = people.filter(is_active=False)
    if q:
        people = people.filter(
            Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
            | Q(email__icontains=q)
            | Q(username__icontains=q)
        )
    if team is not None:
        people = people.filter(memberships__team=team)
    return people


def people_counts() -> dict[str, int]:
    people = User.objects.exclude(username__startswith="integration-").annotate(
        invite_pending=_pending_invite()
    )
    return people.aggregate(
        active=Count("pk", filter=Q(is_active=True, invite_pending=False)),
        invited=Count("pk", filter=Q(is_active=True, invite_pending=True)),
        deactivated=Count("pk", filter=Q(is_active=False)),
    )


def person_pending_invitation(person: User) -> Invitation | None:
    return person.invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True).first()


def person_history(*, person: User | None = None, limit: int = 100) -> list[PersonEvent]:
    events = PersonEvent.objects.select_related("actor", "person", "team")
    if person is not None:
        events = events.filter(person=person)
    return list(events[:limit])


def teams_overview() -> QuerySet[Team]:
    return Team.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.filter(user__is_active=True)
            .select_related("user")
            .order_by("user__first_name"),
        )
    ).order_by("name")


def team_history(team: Team) -> list:
    return list(team.changes.select_related("actor")[:50])
