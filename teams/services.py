"""Changes to users' API access: personal tokens and integration accounts."""

import re

from django.db import transaction
from rest_framework.authtoken.models import Token

from teams.models import Membership, Team, User

INTEGRATION_PREFIX = "integration-"
INTEGRATION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")


class IntegrationError(Exception):
    pass


def api_token_get_or_create(*, user: User) -> Token:
    """The user's API token, created on first use."""
    token, _created = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def api_token_rotate(*, user: User) -> Token:
    """Replace the user's token: the old one stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def integration_account_create(*, name: str, teams: list[Team], all_teams: bool = False) -> User:
    """A service account for one integration (a CRM, a BI tool), seeing what a manager of `teams` sees.

    With `all_teams` it is an admin account and sees everything. It has no password, so it
    cannot sign in to the pages; it works only with its token. Running it again adds teams
    (an existing account needs none).
    """
    if not INTEGRATION_NAME.match(name):
        raise IntegrationError(
            "The name must be lower-case letters, digits, '-' or '_' (at most 60), e.g. 'hubspot'."
        )
    username = f"{INTEGRATION_PREFIX}{name}"
    if not teams and not all_teams and not User.objects.filter(username=username).exists():
        raise IntegrationError("Name at least one team (--team), or --all-teams.")
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"first_name": f"Integration: {name}", "role": User.Role.MANAGER},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if all_teams and user.role != User.Role.ADMIN:
        user.role = User.Role.ADMIN
        user.save(update_fields=["role"])
    for team in teams:
        Membership.objects.update_or_create(team=team, user=user, defaults={"role": Membership.Role.MANAGER})
    return user
