"""What a user's API access looks like, read only."""

from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken

from teams.models import User


def api_tokens_live(*, user: User) -> QuerySet[AuthToken]:
    """The user's tokens that still work, newest first (each only as its prefix and dates)."""
    return AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")
