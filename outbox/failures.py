"""Items that failed for good: what an admin does with them (replay, discard; one by one or all
of a kind, each with a history row), and the admins' e-mail when new ones appear."""

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from outbox import kinds
from outbox.models import HandoffEvent, Message
from outbox.services import ALERT_KIND, messages_publish, republish_after

log = logging.getLogger(__name__)


class NothingToDo(Exception):
    """None of the messages named is failed for good (any more): another admin was first."""


def _failed(*, kind: str | None, ids: list[int] | None):
    failed = Message.objects.select_for_update().filter(failed_at__isnull=False)
    if kind is not None:
        failed = failed.filter(kind=kind)
    if ids is not None:
        failed = failed.filter(pk__in=ids)
    return list(failed.order_by("pk"))


def failed_replay(*, actor, kind: str | None = None, ids: list[int] | None = None) -> int:
    """Send items that failed for good round again with fresh attempts (all of `kind`, or the
    messages `ids`), each with a history row; published once committed. Returns the count."""
    with transaction.atomic():
        messages = _failed(kind=kind, ids=ids)
        if not messages:
            raise NothingToDo("Nothing failed for good to replay: it was replayed or discarded meanwhile.")
        now = timezone.now()
        for message in messages:
            handler = kinds.KINDS.get(message.kind)
            if handler is not None and handler.on_replay is not None:
                for item in message.items:
                    handler.on_replay(item)
        pks = [m.pk for m in messages]
        Message.objects.filter(pk__in=pks).update(
            failed_at=None, crashes=0, attempts=0, claimed_until=None, due_at=now + republish_after()
        )
        _history(messages, action=HandoffEvent.Action.REPLAYED, actor=actor, at=now)
        transaction.on_commit(partial(messages_publish, pks))
    return len(messages)


def failed_discard(*, actor, kind: str | None = None, ids: list[int] | None = None) -> int:
    """Give up items that failed for good: they leave the outbox, and the history row keeps the
    items and their last error. Returns the count."""
    with transaction.atomic():
        messages = _failed(kind=kind, ids=ids)
        if not messages:
            raise NothingToDo("Nothing failed for good to discard: it was replayed or discarded meanwhile.")
        _history(messages, action=HandoffEvent.Action.DISCARDED, actor=actor, at=timezone.now())
        Message.objects.filter(pk__in=[m.pk for m in messages]).delete()
    return len(messages)


def _history(messages: list[Message], *, action: str, actor, at) -> None:
    HandoffEvent.objects.bulk_create(
        [
            HandoffEvent(
                kind=m.kind,
                message_id=m.pk,
                items=m.items,
                action=action,
                error=m.last_error,
                actor=actor,
                at=at,
            )
            for m in messages
        ]
    )


# --- the admins' e-mail -------------------------------------------------------------------


def admin_addresses() -> list[str]:
    """Active admins (RevOps) and superusers with an address, and settings.ADMINS."""
    from teams.models import User

    admins = Q(role=User.Role.ADMIN) | Q(is_superuser=True)
    users = User.objects.filter(admins, is_active=True).exclude(email="")
    addresses = [*users.order_by("pk").values_list("email", flat=True), *(a for _n, a in settings.ADMINS)]
    return list(dict.fromkeys(a.lower() for a in addresses))


def failures_alert(kind: str) -> float | None:
    """The outbox's handler for `outbox.alert` items (a kind's name): one e-mail to the admins
    naming that kind's items that failed for good and no e-mail named yet, at most one per kind
    every OUTBOX_ALERT_EVERY seconds (a newer failure waits for the next one)."""
    every = timedelta(seconds=settings.OUTBOX_ALERT_EVERY)
    with transaction.atomic():
        # Locked: two alerts of one kind at once send one e-mail between them.
        new = list(
            HandoffEvent.objects.select_for_update()
            .filter(kind=kind, action=HandoffEvent.Action.FAILED, alerted_at__isnull=True)
            .order_by("at", "pk")
        )
        if not new:
            return None
        now = timezone.now()
        last = HandoffEvent.objects.filter(kind=kind, action=HandoffEvent.Action.FAILED).aggregate(
            last=Max("alerted_at")
        )["last"]
        if last is not None and now - last < every:
            return (last + every - now).total_seconds()
        addresses = admin_addresses()
        if addresses:
            _alert_message(kind=kind, events=new, to=addresses).send()
        else:
            log.error("outbox: %s item(s) of %s failed for good and no admin has an address", len(new), kind)
        HandoffEvent.objects.filter(pk__in=[e.pk for e in new]).update(alerted_at=now)
    return None


def _alert_message(*, kind: str, events: list[HandoffEvent], to: list[str]) -> EmailMultiAlternatives:
    registered = kinds.KINDS.get(kind)
    label = registered.label if registered else kind
    count = len(events)
    context = {
        "label": label,
        "kind": kind,
        "events": events[:20],
        "more": max(0, count - 20),
        "count": count,
        "link": settings.SITE_URL.rstrip("/") + reverse("outbox:failures") + f"#kind-{kind}",
        "hours": settings.OUTBOX_ALERT_EVERY / 3600,
    }
    subject = f"{label}: {count} hand-off{'s' if count != 1 else ''} failed for good"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("outbox/email/failed.txt", context),
        to=to,
        connection=get_connection(timeout=30),
    )
    message.attach_alternative(render_to_string("outbox/email/failed.html", context), "text/html")
    return message


def register() -> None:
    kinds.register(ALERT_KIND, label="Failure e-mails to admins", handle=failures_alert)
