"""The people's e-mails (invites, password resets) through the outbox.

`people_mail_enqueue` writes the PeopleMail row and its outbox message in the caller's
transaction; the worker's `people_mail_handoff` locks the row, sends, and marks it sent, so a
message delivered twice sends once. A reset link's token is made when the e-mail is sent (never
stored): it works for PASSWORD_RESET_TIMEOUT seconds and stops working once the password changes.
"""

import smtplib
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from outbox.services import handoff_enqueue
from people.models import Invitation, PeopleMail
from people.tokens import invite_token
from teams.models import User

HANDOFF_KIND = "people.mail"
MAX_ATTEMPTS = 5


def people_mail_enqueue(*, kind: str, user: User, invitation: Invitation | None = None) -> PeopleMail:
    """Record an e-mail to `user` and hand it to the worker once the caller's transaction commits."""
    mail = PeopleMail.objects.create(
        kind=kind, user=user, invitation=invitation, invitation_key=invitation.key if invitation else ""
    )
    handoff_enqueue(kind=HANDOFF_KIND, items=[mail.pk])
    return mail


def _link(path: str) -> str:
    return urljoin(settings.SITE_URL.rstrip("/") + "/", path.lstrip("/"))


def invite_url(invitation: Invitation) -> str:
    return _link(reverse("people:join", kwargs={"token": invite_token(invitation)}))


def password_reset_url(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return _link(reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token}))


def _message(template: str, subject: str, to: str, context: dict) -> EmailMultiAlternatives:
    context = {**context, "subject": subject, "site_url": settings.SITE_URL}
    text = render_to_string(f"people/email/{template}.txt", context)
    html = render_to_string(f"people/email/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    message.attach_alternative(html, "text/html")
    return message


def invite_message(invitation: Invitation) -> EmailMultiAlternatives:
    user = invitation.user
    inviter = invitation.invited_by.display_name if invitation.invited_by else "Your admin"
    team = user.teams.order_by("name").first()
    return _message(
        "invite",
        f"{inviter} invited you to closedlost",
        invitation.email,
        {
            "person": user, "inviter": inviter, "team": team, "url": invite_url(invitation),
            "expires_at": invitation.expires_at, "username": user.get_username(),
        },
    )  # fmt: skip


def password_reset_message(user: User) -> EmailMultiAlternatives:
    hours = max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)
    return _message(
        "password_reset",
        "Reset your closedlost password",
        user.email,
        {"person": user, "url": password_reset_url(user), "hours": hours, "username": user.get_username()},
    )


def _build(mail: PeopleMail) -> EmailMultiAlternatives | None:
    """The e-mail to send, or None when it no longer should go (a revoked or resent invite, a
    deactivated person)."""
    user = mail.user
    if mail.kind == PeopleMail.Kind.INVITE:
        invitation = mail.invitation
        if not invitation.pending or invitation.key != mail.invitation_key or not user.is_active:
            return None
        return invite_message(invitation)
    if not user.is_active or not user.has_usable_password() or not user.email:
        return None
    return password_reset_message(user)


def people_mail_handoff(item: int) -> float | None:
    """The worker's side: send the e-mail once (None: finished; seconds: try again then)."""
    with transaction.atomic():
        mail = (
            PeopleMail.objects.select_for_update(of=("self",))
            .select_related("user", "invitation__invited_by", "invitation__user")
            .filter(pk=item)
            .first()
        )
        if mail is None or mail.sent_at is not None or mail.attempts >= MAX_ATTEMPTS:
            return None
        message = _build(mail)
        if message is None:
            mail.last_error = "not sent: no longer wanted"
            mail.attempts = MAX_ATTEMPTS
            mail.save(update_fields=["last_error", "attempts"])
            return None
        mail.attempts += 1
        try:
            message.send()
        except (smtplib.SMTPException, OSError) as error:
            mail.last_error = str(error)[:500]
            mail.save(update_fields=["attempts", "last_error"])
            return None if mail.attempts >= MAX_ATTEMPTS else min(5 * 2 ** (mail.attempts - 1), 300)
        mail.sent_at, mail.last_error = timezone.now(), ""
        mail.save(update_fields=["attempts", "sent_at", "last_error"])
        if mail.invitation_id:
            Invitation.objects.filter(pk=mail.invitation_id, key=mail.invitation_key).update(
                sent_at=mail.sent_at
            )
    return None
