"""The outbox: every hand-off to the worker, written once.

`handoff_enqueue` writes the intent in the caller's transaction and publishes it after commit;
a broker that does not answer is logged and never reaches the caller. The beat task
`outbox.sweep` publishes again whatever is still here after OUTBOX_REPUBLISH_AFTER seconds and
no worker holds (OUTBOX_CLAIM_LEASE). The worker task `outbox.deliver` runs each item through
its kind's handler and deletes the message when every item is finished.

A hot path whose own rows already say what is left to do (stored webhook events) skips the
row: `handoff_publish_soon` publishes its items after commit (`outbox.run`), and the sweep
hands over what its kind's `left_over` finds unfinished, as outbox rows.
"""

import logging
import math
import os
import queue
import random
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django import db
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from outbox import kinds
from outbox.models import HandoffEvent, Heartbeat, Message

log = logging.getLogger(__name__)


# A publish sends at most this many tasks (each naming several messages): a backlog costs a
# few round trips to the broker, and still spreads over every worker process.
PUBLISH_TASKS = 64
# The background publisher's bursts are small and frequent: a few tasks each (a task costs the
# publishing process more than the broker's round trip).
PUBLISH_TASKS_SOON = 4
# ... and a task carries at least this many items: publishing one costs the web process more
# than running a few dozen items costs the worker.
ITEMS_PER_TASK_SOON = 50


def republish_after() -> timedelta:
    return timedelta(seconds=settings.OUTBOX_REPUBLISH_AFTER)


def handoff_enqueue(*, kind: str, items: Iterable, chunk: int = 0) -> list[int]:
    """Record work for the worker in the current transaction; publish it once committed.

    `chunk` > 0 splits the items over messages of at most that many (one task each), so that
    several worker processes share a large batch. Returns the message ids.
    """
    items = list(items)
    if not items:
        return []
    kinds.get(kind)  # an unknown kind fails here, in the caller's transaction, not in the worker
    size = chunk or len(items)
    due_at = timezone.now() + republish_after()
    messages = Message.objects.bulk_create(
        [Message(kind=kind, items=items[i : i + size], due_at=due_at) for i in range(0, len(items), size)]
    )
    ids = [m.pk for m in messages]
    transaction.on_commit(partial(messages_publish, ids))
    return ids


def handoff_publish_soon(*, kind: str, items: list) -> None:
    """Hand items whose intent is their own committed rows (a kind with `left_over`) to the
    worker from this process's background publisher, without an outbox row: a hot path then
    writes only its own rows. A publish that fails leaves the items in outbox rows for the
    sweep; a process that dies before publishing leaves them to the kind's `left_over`."""
    if items:
        _publisher.submit(kind, list(items))


class _Publisher:
    """Publishes from a background thread of this process, whatever waits in one go: a hot
    path's answer does not wait for the broker, and a burst costs one round trip to it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pid = None
        self.queue: queue.SimpleQueue = queue.SimpleQueue()

    def submit(self, kind: str, items: list) -> None:
        if self.pid != os.getpid():  # first use in this (forked) process: start its thread
            with self.lock:
                if self.pid != os.getpid():
                    self.queue = queue.SimpleQueue()
                    threading.Thread(target=self._run, name="outbox-publisher", daemon=True).start()
                    self.pid = os.getpid()
        self.queue.put((kind, items))

    def _run(self) -> None:
        while True:
            burst = [self.queue.get()]
            time.sleep(getattr(settings, "OUTBOX_PUBLISH_WINDOW", 0.05))  # let a burst gather
            while True:
                try:
                    burst.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            waiting: dict[str, list] = {}
            for kind, items in burst:
                waiting.setdefault(kind, []).extend(items)
            if not items_publish(waiting):
                db.connection.close()  # the items are in outbox rows; this thread keeps no connection


_publisher = _Publisher()


def items_publish(waiting: dict[str, list], *, tasks: int = PUBLISH_TASKS_SOON) -> bool:
    """Publish `outbox.run` tasks for committed items, per kind; never raises. If the broker
    does not take them, they go into outbox rows (unpublished, with the error) for the sweep."""
    from closedlost.celery import app
    from outbox.tasks import run

    try:
        with app.producer_or_acquire() as producer:
            _connect_once(producer)
            for kind, items in waiting.items():
                size = max(-(-len(items) // tasks), ITEMS_PER_TASK_SOON)
                for start in range(0, len(items), size):
                    run.apply_async((kind, items[start : start + size]), producer=producer, retry=False)
        return True
    except Exception as exc:  # noqa: BLE001 - any broker failure: the items wait in the outbox
        count = sum(len(items) for items in waiting.values())
        log.warning("outbox: %s item(s) not published; the sweep tries again: %r", count, exc)
        try:
            due_at = timezone.now() + republish_after()
            error = f"not published: {exc!r}"[:500]
            kept = [Message(kind=k, items=v, due_at=due_at, last_error=error) for k, v in waiting.items()]
            Message.objects.bulk_create(kept)
        except Exception:  # noqa: BLE001 - the rows are committed: the kind's left_over finds them
            log.exception("outbox: could not keep %s unpublished hand-off(s)", len(waiting))
        return False


def _connect_once(producer) -> None:
    """One quick try to connect: a broker that is away costs the caller milliseconds, not
    kombu's retry loop (the sweep is the retry)."""
    producer.connection.ensure_connection(
        max_retries=1,
        interval_start=0,
        interval_step=0.1,
        timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
    )


def messages_publish(ids: list[int], *, countdown: float | None = None, tasks: int = PUBLISH_TASKS) -> bool:
    """Hand messages to the broker over one connection, in at most `tasks` tasks. Never raises:
    a failure is logged and recorded, and the sweep publishes them again."""
    from closedlost.celery import app
    from outbox.tasks import deliver

    if not ids:
        return True
    try:
        with app.producer_or_acquire() as producer:
            _connect_once(producer)
            size = -(-len(ids) // tasks)
            for start in range(0, len(ids), size):
                group = ids[start : start + size]
                deliver.apply_async((group,), producer=producer, retry=False, countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the rows stay for the sweep
        log.warning("outbox: %s message(s) not published; the sweep tries again: %r", len(ids), exc)
        _record(ids, last_error=f"not published: {exc!r}"[:500])
        return False
    _record(ids, published_at=timezone.now(), publishes=F("publishes") + 1, last_error="")
    return True


def _record(ids: list[int], **values) -> None:
    try:
        Message.objects.filter(pk__in=ids).update(**values)
    except Exception:  # the caller's work is committed; bookkeeping must not undo its answer
        log.exception("outbox: could not record the publishing of %s message(s)", len(ids))


def _free(now: datetime) -> Q:
    """Messages a worker may take: not held by one, and not failed for good."""
    return (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)) & Q(failed_at__isnull=True)


def messages_sweep(*, now: datetime | None = None, batch: int = 1000, kind: str | None = None) -> int:
    """Publish again every message left unpublished or unfinished, then hand over the items
    of kinds whose rows are their own intent (beat, every OUTBOX_SWEEP_EVERY seconds; or
    an operator: `kind` and `now` publish what waits at once)."""
    now = now or timezone.now()
    total = 0
    while True:
        waiting = Message.objects.select_for_update(skip_locked=True).filter(_free(now), due_at__lte=now)
        if kind:
            waiting = waiting.filter(kind=kind)
        with transaction.atomic():
            ids = list(waiting.order_by("due_at").values_list("pk", flat=True)[:batch])
            Message.objects.filter(pk__in=ids).update(due_at=timezone.now() + republish_after())
        messages_publish(ids)
        total += len(ids)
        if len(ids) < batch:
            return total + left_over_handover(now=now, batch=batch, kind=kind)


SWEEP = "outbox.sweep"


def sweep_heartbeat(*, now: datetime | None = None) -> None:
    """The beat's sweep ran (/health/ reads it)."""
    Heartbeat.objects.update_or_create(name=SWEEP, defaults={"at": now or timezone.now()})


def left_over_handover(*, now: datetime, batch: int = 1000, kind: str | None = None) -> int:
    """Items of a kind with `left_over` (handed over by handoff_publish_soon, without an outbox
    row) that no worker finished since before OUTBOX_REPUBLISH_AFTER go into outbox rows."""
    total = 0
    for each in kinds.KINDS.values():
        if each.left_over is None or kind not in (None, each.name):
            continue
        lease = timedelta(seconds=each.lease or settings.OUTBOX_CLAIM_LEASE)
        with transaction.atomic():
            items = each.left_over(now=now, older_than=now - republish_after(), lease=lease, limit=batch)
            handoff_enqueue(kind=each.name, items=items, chunk=100)
        total += len(items)
    return total


def message_deliver(*, message_id: int) -> str:
    """The worker's side: claim the message, run each item once through its kind, then delete
    it; items to try again go into new messages. A message another worker holds is left alone."""
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return "finished already"
    kind = kinds.get(message.kind)
    lease = timedelta(seconds=kind.lease or settings.OUTBOX_CLAIM_LEASE)
    now = timezone.now()
    claimed = Message.objects.filter(_free(now), pk=message_id).update(
        claimed_until=now + lease, attempts=F("attempts") + 1
    )
    if not claimed:
        return "held by another worker"

    def renew():  # still working: keep the claim
        Message.objects.filter(pk=message_id).update(claimed_until=timezone.now() + lease)

    again = _run_items(kind, message.items, renew=renew, every=lease.total_seconds() / 3)
    return _finish(
        kind=message.kind, items=message.items, again=again, message_id=message_id, crashes=message.crashes
    )


def items_run(*, kind: str, items: list) -> str:
    """The worker's side of handoff_publish_soon: each item once through its kind (the kind's
    handler claims its own rows, so a copy of the task is harmless); what must wait comes back
    as its own outbox row."""
    return _finish(kind=kind, items=items, again=_run_items(kinds.get(kind), items))


NEVER = math.inf  # the handler said trying again cannot help (kinds.FailedForGood)
# Not the item's fault: the database went away for a moment. Tried again, not counted.
TRANSIENT = (db.OperationalError, db.InterfaceError)


def crash_text(exc: BaseException) -> str:
    """What an operator reads of a crash: the exception's type and message, not its traceback
    (whose frames hold secrets such as connection settings)."""
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}".removeprefix("builtins.")[:1000]


def crash_backoff(crashes: int) -> float:
    """Seconds before trying an item again after its `crashes`-th crash: doubling from
    OUTBOX_RETRY_BACKOFF up to OUTBOX_RETRY_BACKOFF_MAX, with jitter in its upper half (so
    that items which crashed together spread out, and each wait is at least the one before)."""
    ceiling = min(settings.OUTBOX_RETRY_BACKOFF_MAX, settings.OUTBOX_RETRY_BACKOFF * 2 ** (crashes - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


def max_attempts(kind: kinds.Kind) -> int:
    return kind.attempts or settings.OUTBOX_MAX_ATTEMPTS


def _run_items(kind: kinds.Kind, items: list, *, renew=None, every: float = 0) -> list[tuple]:
    """Run each item through its kind's handler; (item, seconds, crash) for those to try again
    (`crash`: the error when the handler raised, else "")."""
    again: list[tuple[object, float, str]] = []
    renewed = time.monotonic()
    for item in items:
        crash = ""
        try:
            retry_in = kind.handle(item)
        except TRANSIENT:
            log.warning("outbox: %s item %s: the database is away; tried again later", kind.name, item)
            retry_in = float(settings.OUTBOX_REPUBLISH_AFTER)
        except kinds.FailedForGood as exc:
            log.warning("outbox: %s item %s cannot succeed: %s", kind.name, item, exc)
            crash, retry_in = crash_text(exc), NEVER
        except Exception as exc:  # noqa: BLE001 - one item's crash does not lose the others
            log.exception("outbox: %s item %s failed", kind.name, item)
            crash, retry_in = crash_text(exc), 0.0
        if retry_in is not None:
            again.append((item, retry_in, crash))
        if renew is not None and time.monotonic() - renewed > every:
            renew()
            renewed = time.monotonic()
    return again


def _finish(*, kind: str, items: list, again: list, message_id: int | None = None, crashes: int = 0) -> str:
    """Items to try again become their own rows, and the message (if any) goes, together.
    `crashes`: how often the item of this (one-item) message crashed before."""
    failed = 0
    with transaction.atomic():
        for item, retry_in, crash in again:
            if not crash:
                _retry_later(kind=kind, item=item, retry_in=retry_in, crashes=crashes)
            elif retry_in == NEVER or crashes + 1 >= max_attempts(kinds.get(kind)):
                item_fail(kind=kind, item=item, crashes=crashes + 1, error=crash)
                failed += 1
            else:
                wait = crash_backoff(crashes + 1)
                _retry_later(kind=kind, item=item, retry_in=wait, crashes=crashes + 1, error=crash)
        if message_id is not None:
            Message.objects.filter(pk=message_id).delete()
    ended = f", {failed} failed for good" if failed else ""
    return f"{len(items) - len(again)} finished, {len(again) - failed} to try again{ended}"


def _retry_later(*, kind: str, item, retry_in: float, crashes: int = 0, error: str = "") -> None:
    """A short wait rides in the broker (with the row as a backstop); a long one is the sweep's."""
    now = timezone.now()
    short = retry_in <= settings.OUTBOX_REPUBLISH_AFTER
    due_at = now + timedelta(seconds=retry_in) + (republish_after() if short else timedelta(0))
    later = Message.objects.create(kind=kind, items=[item], due_at=due_at, crashes=crashes, last_error=error)
    if short:
        transaction.on_commit(partial(messages_publish, [later.pk], countdown=retry_in))


ALERT_KIND = "outbox.alert"


def item_fail(*, kind: str, item, crashes: int, error: str) -> Message:
    """The item's last attempt crashed: it stays in the outbox failed for good (never published
    again) with its error and a history row, and the admins hear of it (outbox.alert)."""
    now = timezone.now()
    message = Message.objects.create(
        kind=kind, items=[item], due_at=now, crashes=crashes, failed_at=now, last_error=error
    )
    HandoffEvent.objects.create(
        kind=kind, message_id=message.pk, items=[item], action=HandoffEvent.Action.FAILED, error=error, at=now
    )
    handler = kinds.KINDS.get(kind)
    if handler is not None and handler.on_failed is not None:
        handler.on_failed(item, error)
    if kind != ALERT_KIND:  # an alert that cannot be sent is shown, not alerted about
        handoff_enqueue(kind=ALERT_KIND, items=[kind])
    log.error("outbox: %s item %s failed for good after %s attempts: %s", kind, item, crashes, error)
    return message


def handoffs_publish_now(*, kind: str | None = None) -> int:
    """An operator publishes what waits (of one kind) at once; messages a worker holds stay."""
    now = timezone.now()
    waiting = Message.objects.filter(_free(now))  # failed for good: replayed one by one, not here
    if kind:
        waiting = waiting.filter(kind=kind)
    waiting.update(due_at=now)
    return messages_sweep(now=now, kind=kind)
