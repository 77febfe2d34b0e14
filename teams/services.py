"""Changes to users' API access: personal tokens and integration accounts."""

import re
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from knox.models import AuthToken

from closedlost.errors import ServiceError
from teams.models import ApiTokenOrigin, Membership, Team, User

INTEGRATION_PREFIX = "integration-"
INTEGRATION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
MAX_TOKEN_DAYS = 3650


class IntegrationError(Exception):
    pass


class IssuedToken(NamedTuple):
    """A token just made: `key` is shown this once (only its hash is kept), `prefix` names it later."""

    key: str
    prefix: str
    expires_at: datetime


class TokenError(ServiceError):
    pass


def _token_lifetime(days: int | None) -> timedelta:
    days = settings.API_TOKEN_TTL_DAYS if days is None else days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise TokenError(f"A token lives between 1 and {MAX_TOKEN_DAYS} days.", field="days")
    return timedelta(days=days)


def api_tokens_delete_expired(*, now: datetime | None = None) -> int:
    """Delete every user's tokens that expired more than API_TOKEN_EXPIRED_KEEP_DAYS ago (beat,
    daily). Until then an expired token still answers 401 saying when it expired."""
    now = now or timezone.now()
    keep = timedelta(days=settings.API_TOKEN_EXPIRED_KEEP_DAYS)
    _total, by_model = AuthToken.objects.filter(expiry__lte=now - keep).delete()
    return by_model.get(AuthToken._meta.label, 0)  # the tokens, not their use and origin rows


def api_tokens_revoke(*, tokens) -> int:
    """Revoke tokens (a queryset or list of AuthToken): they stop working at once."""
    pks = [token.pk for token in tokens]
    _total, by_model = AuthToken.objects.filter(pk__in=pks).delete()
    return by_model.get(AuthToken._meta.label, 0)  # the tokens, not their use and origin rows


def api_tokens_from_password(*, keep_user_ids: frozenset[int]):
    """Live tokens made with a password (or of unknown origin) of anyone but `keep_user_ids`."""
    made_with_password = Q(origin__created_via=ApiTokenOrigin.Via.PASSWORD) | Q(origin__isnull=True)
    return AuthToken.objects.filter(made_with_password, expiry__gt=timezone.now()).exclude(
        user_id__in=keep_user_ids
    )


def _issue(*, user: User, lifetime: timedelta, created_via: str) -> IssuedToken:
    AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
    keep = max(settings.API_TOKENS_PER_USER - 1, 0)
    oldest = AuthToken.objects.filter(user=user).order_by("-created").values_list("pk", flat=True)[keep:]
    AuthToken.objects.filter(pk__in=list(oldest)).delete()
    record, key = AuthToken.objects.create(user=user, expiry=lifetime)
    ApiTokenOrigin.objects.create(token=record, created_via=created_via)
    return IssuedToken(key=key, prefix=record.token_key, expires_at=record.expiry)


@transaction.atomic
def api_token_issue(*, user: User, created_via: str, days: int | None = None) -> IssuedToken:
    """A new API token for the user, expiring after `days` (API_TOKEN_TTL_DAYS by default);
    `created_via` (an `ApiTokenOrigin.Via`) says how they proved who they are.

    The user's other tokens keep working, but expired ones are removed and, beyond
    API_TOKENS_PER_USER live ones, the oldest are revoked.
    """
    lifetime = _token_lifetime(days)
    User.objects.select_for_update().filter(pk=user.pk).first()  # one change of their tokens at a time
    return _issue(user=user, lifetime=lifetime, created_via=created_via)


@transaction.atomic
def api_token_rotate(
    *, user: User, created_via: str, prefix: str | None = None, days: int | None = None
) -> IssuedToken:
    """Revoke the user's tokens (only the one named by `prefix`, if given) and issue a new one:
    the revoked ones stop working at once. `created_via` is how the caller proved who they are
    (rotating with a password token or session makes a password token)."""
    lifetime = _token_lifetime(days)
    User.objects.select_for_update().filter(pk=user.pk).first()
    tokens = AuthToken.objects.filter(user=user)
    if prefix is not None:
        tokens = tokens.filter(token_key=prefix, expiry__gt=timezone.now())
        if not tokens.exists():
            raise TokenError("You have no live token that starts with this.", field="prefix")
    tokens.delete()
    return _issue(user=user, lifetime=lifetime, created_via=created_via)


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
