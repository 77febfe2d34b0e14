"""What operators read about the outbox: per kind, what waits, since when, and what failed."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Func, IntegerField, Min, Q, Sum
from django.utils import timezone

from outbox import kinds
from outbox.models import Message


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
    failures: int | None
    failures_url: str

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
    rows = {
        row["kind"]: row
        for row in Message.objects.values("kind")
        .annotate(
            waiting=Sum(ItemCount("items")),
            unpublished=Count("pk", filter=Q(published_at__isnull=True)),
            oldest=Min("created_at"),
        )
        .order_by()
    }
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
            )
        )
    return lines


def outbox_oldest_seconds(*, now: datetime | None = None) -> float | None:
    """The age of the oldest hand-off still waiting (None: nothing waits)."""
    oldest = Message.objects.aggregate(oldest=Min("created_at"))["oldest"]
    return ((now or timezone.now()) - oldest).total_seconds() if oldest else None
