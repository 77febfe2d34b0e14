"""Making and renaming teams (admins, on the people pages): each change a TeamChange row.

A team's name is its own, whatever the case ("East" and "east" are one team: a unique index on
lower(name) holds it in the database too); the refusal names the field and the team that has it.
Teams are never deleted here: deals and history name them.
"""

from django.db import IntegrityError, transaction

from people.errors import PeopleError
from people.models import TeamChange
from teams.models import Team, User

NAME_MAX = Team._meta.get_field("name").max_length


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise PeopleError("Give the team a name.", field="name")
    if len(name) > NAME_MAX:
        raise PeopleError(f"A team's name has at most {NAME_MAX} characters.", field="name")
    return name


def _check_actor(actor: User | None) -> None:
    if actor is not None and not actor.is_revops_admin:
        raise PeopleError("Only admins (RevOps) make and rename teams.")


def _taken(name: str, *, other_than: Team | None = None) -> None:
    clash = Team.objects.filter(name__iexact=name)
    if other_than is not None:
        clash = clash.exclude(pk=other_than.pk)
    existing = clash.first()
    if existing is not None:
        raise PeopleError(f"There is already a team named {existing.name}.", field="name")


def team_create(*, name: str, actor: User | None) -> Team:
    _check_actor(actor)
    name = _clean_name(name)
    try:
        with transaction.atomic():
            _taken(name)
            team = Team.objects.create(name=name)
            TeamChange.objects.create(team=team, actor=actor, action=TeamChange.Action.CREATED, after=name)
    except IntegrityError:  # the same name made at the same moment by someone else
        raise PeopleError(f"There is already a team named {name}.", field="name") from None
    return team


def team_rename(*, team: Team, name: str, actor: User | None) -> Team:
    _check_actor(actor)
    name = _clean_name(name)
    try:
        with transaction.atomic():
            locked = Team.objects.select_for_update().get(pk=team.pk)
            if locked.name == name:
                return locked
            _taken(name, other_than=locked)
            before, locked.name = locked.name, name
            locked.save(update_fields=["name"])
            TeamChange.objects.create(
                team=locked, actor=actor, action=TeamChange.Action.RENAMED, before=before, after=name
            )
    except IntegrityError:
        raise PeopleError(f"There is already a team named {name}.", field="name") from None
    return locked
