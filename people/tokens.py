"""Invite links: a signed, expiring token naming the invitation and its current key."""

from django.conf import settings
from django.core import signing

from people.errors import InviteLinkError
from people.models import Invitation

SALT = "people.invite"


def invite_token(invitation: Invitation) -> str:
    return signing.TimestampSigner(salt=SALT).sign(f"{invitation.pk}.{invitation.key}")


def invitation_from_token(token: str) -> Invitation:
    """The pending invitation the link names, or InviteLinkError saying why the link does not work
    (the same "invalid" answer for a forged link and an unknown invitation)."""
    max_age = settings.PEOPLE_INVITE_MAX_AGE_DAYS * 86400
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise InviteLinkError("This invite link has expired.", reason="expired") from None
    except signing.BadSignature:
        raise InviteLinkError("This invite link does not work.", reason="invalid") from None
    pk, _, key = value.partition(".")
    invitation = Invitation.objects.select_related("user").filter(pk=int(pk) if pk.isdigit() else 0).first()
    if invitation is None:
        raise InviteLinkError("This invite link does not work.", reason="invalid")
    if invitation.accepted_at is not None:
        raise InviteLinkError("This invite link was already used.", reason="used")
    if invitation.revoked_at is not None or invitation.key != key or not invitation.user.is_active:
        raise InviteLinkError("This invite link no longer works.", reason="invalid")
    if invitation.expired:
        raise InviteLinkError("This invite link has expired.", reason="expired")
    return invitation
