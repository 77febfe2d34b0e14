"""Every change of a follow-up goes through one function here.

Closing a deal lost / no decision schedules follow-ups in the close's own transaction
(followups.receivers listens to deals.signals); the dispatcher claims due rows for Celery; the worker task
delivers one row, safe to run twice.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from deals.models import DealStatus
from followups import emails
from followups.buyer_templates import NotSendable
from followups.errors import FollowUpError  # noqa: F401  (re-exported)
from followups.models import (
    DUE_STATES,
    OPEN_Q,
    ContactOptOut,
    DigestSent,
    FollowUp,
    FollowUpKind,
    FollowUpState,
)
from followups.scheduling import (  # noqa: F401  (re-exported: the follow-up services' one import path)
    BACKDATE_GRACE,
    REMINDER_HOUR,
    at_reminder_hour,
    followups_cancel_for_deal,
    followups_schedule_for_closure,
    opted_out_emails,
)
from teams.models import User

log = logging.getLogger(__name__)

OPT_OUT_SALT = "followups.opt-out"
MAX_BACKOFF_SECONDS = 300  # never park a retry in the broker for longer than this


# --- scheduling and cancelling: followups.scheduling (re-exported here) ------------------


# --- opt-out ---------------------------------------------------------------------------


def opt_out_token(email: str) -> str:
    """A signed, non-expiring token naming one address (the link in every contact email)."""
    return signing.dumps(email.lower(), salt=OPT_OUT_SALT, compress=True)


def opt_out_email_from_token(token: str) -> str | None:
    try:
        value = signing.loads(token, salt=OPT_OUT_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) and "@" in value else None


def contact_opt_out(*, email: str, now: datetime | None = None) -> int:
    """Stop every nurture email to `email`, now and later. Returns how many were cancelled."""
    email = email.lower()
    now = now or timezone.now()
    with transaction.atomic():
        ContactOptOut.objects.get_or_create(email=email, defaults={"opted_out_at": now})
        return FollowUp.objects.filter(
            kind=FollowUpKind.CONTACT_EMAIL,
            contact__email__iexact=email,
            state__in=[*DUE_STATES, FollowUpState.QUEUED, FollowUpState.FAILED],
        ).update(state=FollowUpState.CANCELLED, cancelled_reason="contact opted out", completed_at=now)


def contacts_opt_out(*, emails, now: datetime | None = None) -> int:
    """contact_opt_out for many addresses at once (a CRM sync's opted-out buyers): one read, one
    insert and one update for the lot. Returns how many e-mails were cancelled."""
    wanted = {email.strip().lower() for email in emails if email and email.strip()}
    if not wanted:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        known = set(ContactOptOut.objects.filter(email__in=wanted).values_list("email", flat=True))
        ContactOptOut.objects.bulk_create(
            [ContactOptOut(email=email, opted_out_at=now) for email in sorted(wanted - known)],
            ignore_conflicts=True,
        )
        return (
            FollowUp.objects.alias(address=Lower("contact__email"))
            .filter(
                kind=FollowUpKind.CONTACT_EMAIL,
                address__in=wanted,
                state__in=[*DUE_STATES, FollowUpState.QUEUED, FollowUpState.FAILED],
            )
            .update(state=FollowUpState.CANCELLED, cancelled_reason="contact opted out", completed_at=now)
        )


# --- dispatch: claim due rows and hand each to the worker --------------------------------


HANDOFF_KIND = "followups.delivery"


def _enqueue(ids: list[int]) -> None:
    """Publish one worker task per row at once, without an outbox row (tests, tools)."""
    from closedlost.celery import app
    from outbox.tasks import run

    with app.producer_or_acquire() as producer:
        for pk in ids:
            run.apply_async((HANDOFF_KIND, [pk]), producer=producer)


def _hand_out(ids: list[int]) -> None:
    """Inside the claim's transaction: the rows go to the outbox, several per message (a small
    batch still spreads over four messages so that worker processes share it)."""
    from outbox.services import handoff_enqueue

    per_message = max(1, min(settings.FOLLOWUPS_PER_MESSAGE, -(-len(ids) // 4)))
    handoff_enqueue(kind=HANDOFF_KIND, items=ids, chunk=per_message)


def followup_handoff(followup_id: int) -> float | None:
    """The outbox's handler: deliver one row; seconds before trying again, or None when finished."""
    return followup_deliver(followup_id=followup_id).retry_in


def followup_handoff_failed(followup_id: int, error: str) -> None:
    """The outbox gave up on a row whose delivery raised every time: it is failed here too, so
    that the dispatcher's backstop does not hand it out again."""
    FollowUp.objects.filter(pk=followup_id, state=FollowUpState.QUEUED).update(
        state=FollowUpState.FAILED, last_error=f"crashed: {error}"[:2000]
    )


def followup_handoff_replay(followup_id: int) -> None:
    """An admin replays a crashed row from the outbox: queued again with fresh attempts."""
    FollowUp.objects.filter(pk=followup_id, state=FollowUpState.FAILED).update(
        state=FollowUpState.QUEUED, claimed_at=timezone.now(), attempts=0, last_error=""
    )


def followups_failed_count() -> int:
    return FollowUp.objects.filter(state=FollowUpState.FAILED).count()


ClaimKey = tuple[datetime, int]


def _claim(
    *, now: datetime, limit: int, enqueue, after: ClaimKey | None
) -> tuple[list[int], ClaimKey | None]:
    lease = timedelta(seconds=settings.FOLLOWUPS_CLAIM_LEASE)
    due = FollowUp.objects.select_for_update(skip_locked=True).filter(state__in=DUE_STATES, due_at__lte=now)
    if after is not None:
        # Keyset: a batch starts where the last one ended instead of stepping over the rows
        # it just claimed (their dead index entries make a queue table slow otherwise). A row
        # comparison, so that PostgreSQL starts the index scan there.
        due = due.extra(where=["(due_at, id) > (%s, %s)"], params=list(after))  # noqa: S610
    with transaction.atomic():
        rows = list(due.order_by("due_at", "pk").values_list("due_at", "pk")[:limit])
        ids = [pk for _due_at, pk in rows]
        if len(ids) < limit:
            # A backstop behind the outbox: a row queued long ago and never finished goes out again.
            ids += list(
                FollowUp.objects.select_for_update(skip_locked=True)
                .filter(state=FollowUpState.QUEUED, claimed_at__lt=now - lease)
                .order_by("claimed_at")
                .values_list("pk", flat=True)[: limit - len(ids)]
            )
        if ids:
            FollowUp.objects.filter(pk__in=ids).update(state=FollowUpState.QUEUED, claimed_at=now)
            if enqueue is None:
                _hand_out(ids)  # the outbox row commits with the claim
            else:
                transaction.on_commit(lambda: enqueue(ids), robust=True)
    return ids, (rows[-1] if rows else after)


def followups_claim(*, now: datetime | None = None, limit: int = 500, enqueue=None) -> list[int]:
    """Claim up to `limit` due follow-ups (and any handed out but never finished), mark them
    queued and hand them to the worker through the outbox, in the same transaction.

    Concurrent claims never take the same row: locked rows are skipped, not waited for.
    `enqueue(ids)`, if given, is called after commit instead of the outbox (tests, benchmarks).
    """
    ids, _last = _claim(now=now or timezone.now(), limit=limit, enqueue=enqueue, after=None)
    return ids


def followups_dispatch(*, now: datetime | None = None, batch_size: int = 500, enqueue=None) -> int:
    """The beat task's work: claim and hand out batches until nothing is due. Returns the count.

    A row skipped because another transaction held it is left for the next tick.
    """
    now = now or timezone.now()
    total, after = 0, None
    while True:
        ids, after = _claim(now=now, limit=batch_size, enqueue=enqueue, after=after)
        total += len(ids)
        if len(ids) < batch_size:
            return total


# --- delivery (the worker task) ----------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    outcome: str  # sent, skipped, cancelled, retry, failed
    retry_in: int | None = None


def _backoff(attempts: int) -> int:
    return min(settings.FOLLOWUPS_RETRY_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def followup_deliver(*, followup_id: int, now: datetime | None = None) -> Delivery:
    """Send one claimed follow-up's email and mark it sent; safe to run twice.

    The row stays locked while the email goes out, so a redelivered or re-dispatched
    message waits and then finds it `sent`. An SMTP failure is recorded on the row and
    retried with backoff; after FOLLOWUPS_MAX_ATTEMPTS the row is `failed`.
    """
    with transaction.atomic():
        followup = (
            FollowUp.objects.select_for_update(of=("self",))
            .select_related("deal__account", "deal__owner", "closure", "assignee", "contact", "step")
            .filter(pk=followup_id)
            .first()
        )
        if followup is None or followup.state != FollowUpState.QUEUED:
            return Delivery("skipped")
        now = now or timezone.now()
        stale = followup.closure.reopened_at is not None or followup.deal.status not in (
            DealStatus.LOST,
            DealStatus.NO_DECISION,
        )
        opted_out = followup.kind == FollowUpKind.CONTACT_EMAIL and bool(
            opted_out_emails([followup.contact.email])
        )
        if stale or opted_out:
            followup.state = FollowUpState.CANCELLED
            followup.cancelled_reason = "contact opted out" if opted_out else "deal no longer closed"
            followup.completed_at = now
            followup.save(update_fields=["state", "cancelled_reason", "completed_at"])
            return Delivery("cancelled")
        followup.attempts += 1
        try:
            message = emails.followup_message(followup)
        except NotSendable as exc:
            # Not as it would render (no address, an empty survey link, a template reaching
            # past its placeholders): reported on the row, never sent, not retried.
            followup.state, followup.last_error = FollowUpState.FAILED, f"Not sent: {exc}"[:2000]
            followup.save(update_fields=["attempts", "last_error", "state"])
            log.warning("follow-up %s not sent: %s", followup.pk, exc)
            return Delivery("failed")
        try:
            if message is not None:
                message.send()
        except (smtplib.SMTPException, OSError) as exc:
            followup.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if followup.attempts >= settings.FOLLOWUPS_MAX_ATTEMPTS:
                followup.state = FollowUpState.FAILED
                result = Delivery("failed")
            else:
                followup.claimed_at = now  # still ours: the lease starts again
                result = Delivery("retry", retry_in=_backoff(followup.attempts))
            followup.save(update_fields=["attempts", "last_error", "state", "claimed_at"])
            log.warning("follow-up %s: attempt %s failed: %s", followup.pk, followup.attempts, exc)
            return result
        followup.state = FollowUpState.SENT
        followup.sent_at = now
        followup.last_error = ""
        followup.save(update_fields=["attempts", "last_error", "state", "sent_at"])
        return Delivery("sent")


# --- what reps do with their follow-ups --------------------------------------------------

SNOOZABLE = [*DUE_STATES, FollowUpState.SENT, FollowUpState.FAILED]


def _change(followup: FollowUp, *, allowed: list[str], what: str, **values) -> FollowUp:
    query = FollowUp.objects.filter(pk=followup.pk, state__in=allowed)
    if FollowUpState.SENT in allowed:
        query = query.exclude(kind=FollowUpKind.CONTACT_EMAIL, state=FollowUpState.SENT)
    if query.update(**values) != 1:
        followup.refresh_from_db(fields=["state"])
        if followup.state == FollowUpState.QUEUED:
            raise FollowUpError(f"This follow-up is being sent right now; {what} it in a minute.")
        raise FollowUpError(
            f"This follow-up is {followup.get_state_display().lower()}; it cannot be {what}d."
        )
    followup.refresh_from_db()
    return followup


def followup_complete(*, followup: FollowUp, actor: User, now: datetime | None = None) -> FollowUp:
    """Mark an owner's task or reminder done."""
    if followup.kind == FollowUpKind.CONTACT_EMAIL:
        raise FollowUpError("A nurture email is sent, not done; skip it if it should not go out.")
    return _change(
        followup,
        allowed=SNOOZABLE,
        what="complete",
        state=FollowUpState.DONE,
        completed_at=now or timezone.now(),
    )


def followup_skip(*, followup: FollowUp, actor: User, now: datetime | None = None) -> FollowUp:
    """Cancel one follow-up that has not gone out (e.g. a nurture email the rep does not want)."""
    return _change(
        followup,
        allowed=[*DUE_STATES, FollowUpState.FAILED],
        what="skip",
        state=FollowUpState.CANCELLED,
        cancelled_reason=f"skipped by {actor.username}",
        completed_at=now or timezone.now(),
    )


def followup_snooze(
    *, followup: FollowUp, actor: User, days: int | None = None, until: datetime | None = None
) -> FollowUp:
    """Put a follow-up off by `days` (from now) or to `until`; it comes back then."""
    now = timezone.now()
    if until is None:
        if days not in (1, 7):
            raise FollowUpError("Snooze for 1 day or 1 week.", field="days")
        until = now + timedelta(days=days)
    if until <= now:
        raise FollowUpError("Choose a time in the future.", field="due_on")
    return _change(
        followup, allowed=SNOOZABLE, what="snooze", state=FollowUpState.SNOOZED, due_at=until, attempts=0
    )


def followup_reschedule(*, followup: FollowUp, actor: User, due_on: date) -> FollowUp:
    """Move a follow-up to another day (at the reminder hour)."""
    due_at = at_reminder_hour(due_on)
    if due_on < timezone.localdate():
        raise FollowUpError("Choose today or a later day.", field="due_on")
    return _change(
        followup,
        allowed=SNOOZABLE,
        what="reschedule",
        state=FollowUpState.PENDING,
        due_at=max(due_at, timezone.now()),
        attempts=0,
    )


# --- the daily digest ---------------------------------------------------------------------


def followup_digests_send(*, now: datetime | None = None) -> int:
    """E-mail each rep the follow-ups overdue or due today, once a day. Returns how many went out.

    Safe to run twice: a digest already recorded for the rep and day is not sent again; one
    that fails to send is not recorded, so the next run tries again.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    end_of_day = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))
    rows = (
        FollowUp.objects.filter(OPEN_Q, due_at__lt=end_of_day)
        .exclude(kind=FollowUpKind.CONTACT_EMAIL)
        .select_related("deal__account", "assignee")
        .order_by("assignee_id", "due_at", "pk")
    )
    by_user: dict[int, list[FollowUp]] = {}
    for row in rows:
        by_user.setdefault(row.assignee_id, []).append(row)
    sent, failure = 0, None
    for items in by_user.values():
        user = items[0].assignee
        if not user.email or not user.is_active:
            continue
        try:
            with transaction.atomic():
                _digest, created = DigestSent.objects.get_or_create(
                    user=user, day=today, defaults={"sent_at": now}
                )
                if not created:
                    continue
                emails.digest_message(user=user, followups=items, now=now).send()  # failure: not recorded
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("digest for %s not sent: %s", user.username, exc)
            failure = failure or exc
            continue
        sent += 1
    if failure is not None:
        raise failure  # after the others went out: the task retries the ones that failed
    return sent
