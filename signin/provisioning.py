"""What the identity provider's SCIM calls change here, through the people services.

Deactivation (`active: false`, or DELETE) is the people pages' offboarding (`user_deactivate`):
sessions and API tokens end at once and open deals and pending follow-ups go to a successor,
chosen here because the provider names none: a manager of every team concerned, else an admin.
A person is never deleted (closures keep naming them).
"""

from django.db import transaction

from people.errors import PeopleError
from people.offboarding import deals_to_hand_over, followups_to_hand_over, user_deactivate, user_reactivate
from people.services import membership_add, membership_remove
from people.team_services import team_create, team_rename
from signin import config as signin_config
from signin.models import ScimAccount, ScimGroup, SigninChange
from teams.models import Membership, Team, User


class ScimError(PeopleError):
    pass


def successor_for(user: User) -> User | None:
    """Who takes a leaver's work: a manager of every team of their deals to hand over, else an
    active admin (never an integration account), else nobody."""
    team_ids = set(deals_to_hand_over(user).values_list("team_id", flat=True))
    if not team_ids and not followups_to_hand_over(user).exists():
        return None
    others = (
        User.objects.filter(is_active=True).exclude(pk=user.pk).exclude(username__startswith="integration-")
    )
    managers = others.filter(role=User.Role.MANAGER)
    for team_id in team_ids:
        managers = managers.filter(
            pk__in=Membership.objects.filter(team_id=team_id, role=Membership.Role.MANAGER).values("user_id")
        )
    manager = managers.order_by("pk").first() if team_ids else None
    return manager or others.filter(role=User.Role.ADMIN).order_by("pk").first()


@transaction.atomic
def scim_user_save(*, user: User, external_id: str | None, active: bool) -> User:
    """Create or update the person from the provider's record; an `active` change (de)activates
    them through the people services."""
    creating = user.pk is None
    if not user.username:
        raise ScimError("userName is required.", field="userName")
    clash = User.objects.filter(username__iexact=user.username).exclude(pk=user.pk).exists()
    if clash or (user.email and User.objects.filter(email__iexact=user.email).exclude(pk=user.pk).exists()):
        raise ScimError(
            f"Someone here already has the userName or e-mail of {user.username}.", field="userName"
        )
    if creating:
        user.role = signin_config.current().default_role
        user.is_active = True
        user.set_unusable_password()  # they sign in through single sign-on
        user.save()
        SigninChange.objects.create(
            action="scim_user_created", detail={"user": user.pk, "username": user.username}
        )
    else:
        was_active = User.objects.filter(pk=user.pk).values_list("is_active", flat=True).get()
        user.is_active = was_active  # the change of state goes through the services below
        user.save(update_fields=["username", "email", "first_name", "last_name"])
    if external_id is not None:
        ScimAccount.objects.update_or_create(user=user, defaults={"external_id": external_id[:255]})
    if not active and user.is_active:
        user_deactivate(user=user, successor=successor_for(user), actor=None)
        SigninChange.objects.create(action="scim_deactivated", detail={"user": user.pk})
        user.is_active = False
    elif active and not user.is_active:
        user_reactivate(user=user, actor=None)
        user.is_active = True
    return user


@transaction.atomic
def scim_team_save(*, team: Team, external_id: str | None, member_ids: list[str] | None) -> Team:
    """Create or rename a team from a SCIM group; `member_ids` (when given) become its members."""
    if not team.name:
        raise ScimError("displayName is required.", field="displayName")
    if Team.objects.filter(name__iexact=team.name).exclude(pk=team.pk).exists():
        raise ScimError(f"A team named {team.name} already exists.", field="displayName")
    # Through the team services, as on the people pages: each change a TeamChange row (no actor:
    # the identity provider).
    if team.pk is None:
        team.pk = team_create(name=team.name, actor=None).pk
        team._state.adding = False
    else:
        team_rename(team=team, name=team.name, actor=None)
    if external_id is not None:
        ScimGroup.objects.update_or_create(team=team, defaults={"external_id": external_id[:255]})
    if member_ids is not None:
        team_members_set(team=team, users=users_by_scim_ids(member_ids))
    return team


def users_by_scim_ids(ids: list[str]) -> list[User]:
    wanted = {int(i) for i in ids if str(i).isdigit()}
    users = list(User.objects.filter(pk__in=wanted))
    if len(wanted) != len(users) or len(wanted) != len(set(map(str, ids))):
        raise ScimError("A member names no person here.", field="members")
    return users


@transaction.atomic
def team_members_add(*, team: Team, users: list[User]) -> None:
    for user in users:
        membership_add(user=user, team=team, actor=None)


@transaction.atomic
def team_members_remove(*, team: Team, users: list[User]) -> None:
    for user in users:
        membership_remove(user=user, team=team, actor=None)


@transaction.atomic
def team_members_set(*, team: Team, users: list[User]) -> None:
    current = set(Membership.objects.filter(team=team).values_list("user_id", flat=True))
    wanted = {user.pk for user in users}
    team_members_remove(team=team, users=list(User.objects.filter(pk__in=current - wanted)))
    team_members_add(team=team, users=[user for user in users if user.pk not in current])


@transaction.atomic
def scim_team_unlink(*, team: Team) -> None:
    """A group deleted in the provider: the team loses its members and its link, but stays, with
    its deals and history."""
    team_members_set(team=team, users=[])
    ScimGroup.objects.filter(team=team).delete()
