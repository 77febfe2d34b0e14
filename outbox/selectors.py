"""What operators read about the outbox: per kind, what waits, since when, and what failed."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Func, IntegerField, Min, Q, Sum
from django.utils import timezone

from outbox import kinds
from outbox.models import Heartbeat, Message


class ItemCount(Func):
    """How many items a message carries (PostgreSQL's jsonb, SQLite's json)."""

    function = "jsonb_array_length"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="json_array_length", **extra)


@dataclass(frozen=True)
class Backlog:
    kind: str
    label: str
    waiting: int  # items not finished yet
    unpublished: int  # messages the broker never took
    oldest_seconds: float | None
    failures: int | None  # failed for good in the kind's own rows (reported by its handler)
    failures_url: str
    crashed: int = 0  # failed for good in the outbox (its handler raised on every attempt)
    last_errors: tuple[str, ...] = ()

    @property
    def failed(self) -> int:
        return (self.failures or 0) + self.crashed

    @property
    def oldest_text(self) -> str:
        return age_text(self.oldest_seconds)


def age_text(seconds: float | None) -> str:
    """An age as people read it: 40s, 12m, 3.5h; — for none."""
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def outbox_backlog(*, now: datetime | None = None) -> list[Backlog]:
    """One line per registered kind (and any unknown kind still in the table), oldest first."""
    now = now or timezone.now()
    waiting = Q(failed_at__isnull=True)
    rows = {
        row["kind"]: row
        for row in Message.objects.values("kind")
        .annotate(
            waiting=Sum(ItemCount("items"), filter=waiting),
            unpublished=Count("pk", filter=waiting & Q(published_at__isnull=True)),
            oldest=Min("created_at", filter=waiting),
            crashed=Count("pk", filter=~waiting),
        )
        .order_by()
    }
    errors = _last_errors(kinds=[name for name, row in rows.items() if row["crashed"]])
    lines = []
    for name in [*kinds.KINDS, *sorted(set(rows) - set(kinds.KINDS))]:
        kind = kinds.KINDS.get(name)
        row = rows.get(name, {})
        oldest = row.get("oldest")
        lines.append(
            Backlog(
                kind=name,
                label=kind.label if kind else name,
                waiting=row.get("waiting") or 0,
                unpublished=row.get("unpublished") or 0,
                oldest_seconds=(now - oldest).total_seconds() if oldest else None,
                failures=kind.failures() if kind and kind.failures else None,
                failures_url=kind.failures_url if kind else "",
                crashed=row.get("crashed") or 0,
                last_errors=errors.get(name, ()),
            )
        )
    return lines


def _last_errors(*, kinds: list[str], per_kind: int = 3) -> dict[str, tuple[str, ...]]:
    """The latest distinct errors of each kind's items that failed for good."""
    errors: dict[str, tuple[str, ...]] = {}
    for kind in kinds:
        latest = (
            Message.objects.filter(kind=kind, failed_at__isnull=False)
            .order_by("-failed_at", "-pk")
            .values_list("last_error", flat=True)[:50]
        )
        errors[kind] = tuple(dict.fromkeys(latest))[:per_kind]
    return errors


def failed_messages(*, kind: str | None = None, limit: int = 100) -> list[Message]:
    """Items that failed for good, newest first (those of `kind`)."""
    failed = Message.objects.filter(failed_at__isnull=False)
    if kind:
        failed = failed.filter(kind=kind)
    return list(failed.order_by("-failed_at", "-pk")[:limit])


def handoff_history(*, limit: int = 50) -> list:
    """What happened to items that failed for good (failed, replayed, discarded), newest first."""
    from outbox.models import HandoffEvent

    return list(HandoffEvent.objects.select_related("actor")[:limit])


def sweep_last_run() -> datetime | None:
    return Heartbeat.objects.filter(name="outbox.sweep").values_list("at", flat=True).first()


def outbox_oldest_seconds(*, now: datetime | None = None) -> float | None:
    """The age of the oldest hand-off still waiting (None: nothing waits)."""
    oldest = Message.objects.filter(failed_at__isnull=True).aggregate(oldest=Min("created_at"))["oldest"]
    return ((now or timezone.now()) - oldest).total_seconds() if oldest else None


def outbox_health() -> dict:
    """For /health/: what waits (items, the oldest one's age) and what failed for good, in all
    and per kind (crashed in the outbox, or reported by the kind's handler)."""
    lines = outbox_backlog()
    oldest = [line.oldest_seconds for line in lines if line.oldest_seconds is not None]
    return {
        "outbox_backlog_seconds": round(max(oldest), 1) if oldest else 0,
        "outbox_waiting": sum(line.waiting for line in lines),
        "outbox_failed": sum(line.failed for line in lines),
        "outbox_failed_by_kind": {line.kind: line.failed for line in lines if line.failed},
    }
