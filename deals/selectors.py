"""Reads of deals, always scoped to what the user may see.

rep: own deals; manager: own deals and the deals of the teams they manage; admin: all.
"""

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from deals.models import Closure, Deal, DealEvent, Pipeline, Stage
from teams.models import Membership, User


def deals_visible_to(user: User) -> QuerySet[Deal]:
    """Every deal `user` may see (and act on)."""
    if user.is_revops_admin:
        return Deal.objects.all()
    managed_teams = Membership.objects.filter(user=user, role=Membership.Role.MANAGER).values("team_id")
    return Deal.objects.filter(Q(owner=user) | Q(team__in=managed_teams))


def deal_get_for_user(*, user: User, pk: int) -> Deal:
    """One deal the user may see, or 404 (the same answer whether it exists or not)."""
    qs = deals_visible_to(user).select_related(
        "account", "owner", "team", "pipeline", "stage", "close_reason"
    )
    return get_object_or_404(qs, pk=pk)


def deal_history(*, deal: Deal) -> tuple[list[Closure], list[DealEvent]]:
    """A deal's closures (newest first, with reasons) and its event history."""
    closures = list(
        deal.closures.select_related(
            "reason__category", "competitor", "actor", "reopened_by", "stage_at_close"
        ).prefetch_related("secondary_reasons")
    )
    events = list(deal.events.select_related("actor"))
    return closures, events


# --- the deal list: filters, search, sort and keyset pagination ---------------------------

SORTS = {
    # key: (field, descending, label)
    "newest": ("created_at", True, "Newest first"),
    "oldest": ("created_at", False, "Oldest first"),
    "amount_desc": ("amount", True, "Largest amount"),
    "amount_asc": ("amount", False, "Smallest amount"),
    "name": ("name", False, "Name A–Z"),
}
DEFAULT_SORT = "newest"


@dataclass
class DealFilters:
    status: str = ""
    stage: int | None = None
    owner: int | None = None
    pipeline: int | None = None
    closed_from: date | None = None
    closed_to: date | None = None
    q: str = ""
    sort: str = DEFAULT_SORT


@dataclass
class DealPage:
    deals: list[Deal]
    total: int
    next_cursor: str | None = None
    prev_cursor: str | None = None
    is_first: bool = True
    is_last: bool = True
    extra: dict = field(default_factory=dict)


def _filtered(user: User, filters: DealFilters) -> QuerySet[Deal]:
    qs = deals_visible_to(user)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.stage:
        qs = qs.filter(stage_id=filters.stage)
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.pipeline:
        qs = qs.filter(pipeline_id=filters.pipeline)
    if filters.closed_from:
        qs = qs.filter(closed_at__gte=timezone.make_aware(datetime.combine(filters.closed_from, time.min)))
    if filters.closed_to:
        qs = qs.filter(closed_at__lte=timezone.make_aware(datetime.combine(filters.closed_to, time.max)))
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(account__name__icontains=filters.q))
    return qs


def _encode_cursor(direction: str, value, pk: int) -> str:
    raw = json.dumps([direction, str(value) if not isinstance(value, str) else value, pk])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort_field: str):
    """Returns (direction, value, pk) or None for a cursor that does not parse."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        direction, value, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if direction not in {"after", "before", "last"} or not isinstance(pk, int):
            return None
        if sort_field == "created_at":
            value = datetime.fromisoformat(value)
        elif sort_field == "amount":
            value = Decimal(value)
        return direction, value, pk
    except (ValueError, TypeError, binascii.Error, InvalidOperation, UnicodeDecodeError):
        return None


def deal_list(*, user: User, filters: DealFilters, cursor: str = "", page_size: int = 25) -> DealPage:
    """One page of the deals `user` may see, filtered and sorted, paginated by keyset.

    The cursor holds the sort value and id of the edge row, so every page costs the same
    index range scan, whether it is the first or the last.
    """
    sort_field, descending, _label = SORTS.get(filters.sort, SORTS[DEFAULT_SORT])
    base = _filtered(user, filters)
    total = base.count()
    qs = base.select_related("account", "owner", "stage", "pipeline", "close_reason")

    direction, value, pk = "first", None, None
    if cursor == "last":
        direction = "last"
    elif cursor:
        decoded = _decode_cursor(cursor, sort_field)
        if decoded:
            direction, value, pk = decoded

    # "Forward" is the display order; "before" and "last" read backwards and flip.
    backwards = direction in {"before", "last"}
    reverse_scan = descending != backwards
    order = [f"-{sort_field}", "-id"] if reverse_scan else [sort_field, "id"]
    if direction in {"after", "before"}:
        op = "lt" if reverse_scan else "gt"
        qs = qs.filter(Q(**{f"{sort_field}__{op}": value}) | Q(**{sort_field: value, f"id__{op}": pk}))
    rows = list(qs.order_by(*order)[: page_size + 1])
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()

    page = DealPage(deals=rows, total=total)
    if direction == "first":
        page.is_first, page.is_last = True, not has_more
    elif direction == "after":
        page.is_first, page.is_last = False, not has_more
    elif direction == "before":
        page.is_first, page.is_last = not has_more, False
    else:  # last
        page.is_first, page.is_last = not has_more, True
    if rows and not page.is_last:
        page.next_cursor = _encode_cursor("after", getattr(rows[-1], sort_field), rows[-1].pk)
    if rows and not page.is_first:
        page.prev_cursor = _encode_cursor("before", getattr(rows[0], sort_field), rows[0].pk)
    return page


def deal_list_filter_options(*, user: User) -> dict:
    """The choices of the deal list's filters, limited to people the user may see."""
    if user.is_revops_admin:
        owners = User.objects.filter(memberships__isnull=False).distinct()
    else:
        managed_teams = Membership.objects.filter(user=user, role=Membership.Role.MANAGER).values("team_id")
        owners = User.objects.filter(Q(pk=user.pk) | Q(memberships__team__in=managed_teams)).distinct()
    return {
        "pipelines": list(Pipeline.objects.all()),
        "stages": list(Stage.objects.select_related("pipeline")),
        "owners": list(owners.order_by("first_name", "username")),
    }
