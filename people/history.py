"""The one writer of PersonEvent rows (used by the people services only)."""

from people.models import PersonEvent
from teams.models import Team, User


def person_event(
    *,
    person: User,
    actor: User | None,
    action: str,
    team: Team | None = None,
    before: str = "",
    after: str = "",
    note: str = "",
) -> PersonEvent:
    return PersonEvent.objects.create(
        person=person, actor=actor, action=action, team=team, before=before[:200], after=after[:200],
        note=note[:500],
    )  # fmt: skip
