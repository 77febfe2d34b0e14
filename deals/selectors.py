"""Reads of deals, always scoped to what the user may see.

rep: own deals; manager: own deals and the deals of the teams they manage; admin: all.
"""

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from deals.models import Closure, Deal, DealEvent, Pipeline, Stage
from teams.models import Membership, User


def deals_visible_to(user: User) -> QuerySet[Deal]:
    """Every deal `user` may see (and act on)."""
    if user.is_revops_admin:
        return Deal.objects.all()
    managed = managed_team_ids(user)
    if not managed:
        return Deal.objects.filter(owner=user)
    # Literal ids (not a subquery) let PostgreSQL combine the owner and team indexes.
    return Deal.objects.filter(Q(owner=user) | Q(team_id__in=managed))


def managed_team_ids(user: User) -> list[int]:
    """Ids of the teams `user` manages; read once per user object (so once per request)."""
    cached = getattr(user, "_managed_team_ids", None)
    if cached is None:
        cached = list(
            Membership.objects.filter(user=user, role=Membership.Role.MANAGER)
            .order_by("team_id")
            .values_list("team_id", flat=True)
        )
        user._managed_team_ids = cached
    return cached


DEAL_PAGE_RELATED = ("account", "owner", "team", "pipeline", "stage", "close_reason")


def deal_get_for_user(*, user: User, pk: int, related: tuple[str, ...] = DEAL_PAGE_RELATED) -> Deal:
    """One deal the user may see, or 404 (the same answer whether it exists or not).

    `related`: the rows read along (a close reads just the pipeline; the rest load if drawn).
    """
    # The row by its key, then deals_visible_to's rule for that one row: the owner needs no
    # further read; a manager's team ids are read (once per request) only for another's deal.
    deal = Deal.objects.select_related(*related).filter(pk=pk).first()
    if deal is None or not deal_visible_to_user(deal, user):
        raise Http404("No deal matches the given query.")
    return deal


def deal_visible_to_user(deal: Deal, user: User) -> bool:
    """deals_visible_to's rule for one deal already read."""
    return deal.owner_id == user.pk or user.is_revops_admin or deal.team_id in managed_team_ids(user)


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
    # Drill-down from the dashboards (insights): the same rules the figures use.
    team: int | None = None
    reason: int | None = None  # the standard reason, merged reasons rolled up to their survivor
    needs_reason: bool = False  # closed (lost or won) without a standard reason, as the queue shows
    category: int | None = None  # the rolled-up reason's category
    competitor: int | None = None  # of the standing closure, merged competitors rolled up
    industry: str = ""
    size: str = ""  # a key of SIZE_BANDS
    recovery: str = ""  # "lost" (ever lost), "reopened" or "won"; closed_from/to then mean the latest close
    first_lost_reason: int | None = None  # with recovery: the reason of the deal's first loss
    first_lost_needs_reason: bool = False
    sequence: int | None = None  # with recovery: the nurture sequence of the first loss
    no_sequence: bool = False  # with recovery: the first loss got no nurture sequence
    # Drill-down from the buyer feedback figures (surveys): the standing close's answered survey
    # whose main reason rolls up to this category id, "other" (the buyer's own words) or "any".
    buyer_category: str = ""


# Account size bands for the segment filters: key -> (label, employees from, employees below).
# The industry filter's value for accounts without one (the deal list's drill-down from the dashboard).
INDUSTRY_UNKNOWN = "none"

SIZE_BANDS = {
    "under-50": ("Under 50 employees", None, 50),
    "50-249": ("50–249 employees", 50, 250),
    "250-999": ("250–999 employees", 250, 1000),
    "1000-plus": ("1,000+ employees", 1000, None),
    "unknown": ("Size unknown", None, None),
}


def size_band_q(key: str, prefix: str = "account__") -> Q:
    """The accounts of one size band (an unknown key matches nothing)."""
    if key not in SIZE_BANDS:
        return Q(pk__in=[])
    if key == "unknown":
        return Q(**{f"{prefix}employees__isnull": True})
    _label, low, below = SIZE_BANDS[key]
    q = Q(**{f"{prefix}employees__isnull": False})
    if low is not None:
        q &= Q(**{f"{prefix}employees__gte": low})
    if below is not None:
        q &= Q(**{f"{prefix}employees__lt": below})
    return q


def rolled_up_q(field_name: str, pk: int) -> Q:
    """`field_name` (a reason or competitor) is `pk` once merged rows roll up to their survivor."""
    return Q(**{f"{field_name}__merged_into": pk}) | Q(
        **{field_name: pk, f"{field_name}__merged_into__isnull": True}
    )


def _drill_filtered(qs: QuerySet[Deal], filters: DealFilters) -> QuerySet[Deal]:
    if filters.team:
        qs = qs.filter(team_id=filters.team)
    if filters.reason:
        qs = qs.filter(rolled_up_q("close_reason", filters.reason))
    if filters.needs_reason:
        qs = qs.filter(needs_reason=True)
    if filters.category:
        qs = qs.filter(
            Q(close_reason__merged_into__category=filters.category)
            | Q(close_reason__merged_into__isnull=True, close_reason__category=filters.category)
        )
    if filters.competitor:
        standing = Closure.objects.filter(deal=OuterRef("pk"), reopened_at__isnull=True)
        qs = qs.filter(Exists(standing.filter(rolled_up_q("competitor", filters.competitor))))
    if filters.industry:
        qs = qs.filter(account__industry="" if filters.industry == INDUSTRY_UNKNOWN else filters.industry)
    if filters.size:
        qs = qs.filter(size_band_q(filters.size))
    if filters.buyer_category:
        qs = qs.filter(_buyer_category_q(filters.buyer_category))
    return qs


def _buyer_category_q(value: str) -> Q:
    """Deals whose standing close has an answered survey (one per contact) in the buyer's
    category; through Closure's reverse relations only (deals does not import surveys), as a
    subquery so that a deal with several answers is listed once."""
    main = "surveys__response__main_reason"
    answered = Q(reopened_at__isnull=True, surveys__response__isnull=False)
    if value == "other":
        answered &= Q(**{f"{main}__isnull": True})
    elif value.isdigit():
        answered &= Q(**{f"{main}__merged_into__category": int(value)}) | Q(
            **{f"{main}__merged_into__isnull": True, f"{main}__category": int(value)}
        )
    elif value != "any":
        return Q(pk__in=[])
    # One filter() call: every condition speaks of the same survey.
    return Q(pk__in=Closure.objects.filter(answered).values("deal_id"))


def _recovery_filtered(qs: QuerySet[Deal], filters: DealFilters) -> QuerySet[Deal]:
    """Deals ever lost (open ones included); closed_from/to then apply to the latest close."""
    lost = Closure.objects.filter(deal=OuterRef("pk"), outcome="lost")
    first_lost = lost.order_by("closed_at", "id")
    latest = Closure.objects.filter(deal=OuterRef("pk")).order_by("-closed_at", "-id").values("closed_at")[:1]
    # A closed deal's latest close is its closed_at; a reopened deal open now counts by its last closure.
    qs = qs.filter(Exists(lost)).annotate(latest_closed_at=Subquery(latest))
    if filters.recovery == "reopened":
        qs = qs.filter(Exists(lost.filter(reopened_at__isnull=False)))
    elif filters.recovery == "won":
        qs = qs.filter(status="won")
    if filters.first_lost_reason or filters.first_lost_needs_reason:
        rolled = first_lost.annotate(rolled=Coalesce("reason__merged_into", "reason")).values("rolled")[:1]
        qs = qs.annotate(first_lost_reason=Subquery(rolled))
        if filters.first_lost_needs_reason:
            qs = qs.filter(first_lost_reason__isnull=True)
        else:
            qs = qs.filter(first_lost_reason=filters.first_lost_reason)
    if filters.sequence or filters.no_sequence:
        qs = qs.annotate(first_lost_sequence=Subquery(first_lost.values("nurture__sequence")[:1]))
        if filters.no_sequence:
            qs = qs.filter(first_lost_sequence__isnull=True)
        else:
            qs = qs.filter(first_lost_sequence=filters.sequence)
    return qs


@dataclass
class DealPage:
    deals: list[Deal]
    total: int
    next_cursor: str | None = None
    prev_cursor: str | None = None
    is_first: bool = True
    is_last: bool = True
    extra: dict = field(default_factory=dict)


# A lost deal whose reason (or the survivor it was merged into) is disqualifying: "disqualified",
# counted apart from losses (the deal list's status "disqualified"; "lost" leaves them out).
DISQUALIFIED = "disqualified"
DISQUALIFYING_Q = Q(close_reason__is_disqualifying=True) | Q(close_reason__merged_into__is_disqualifying=True)


def _filtered(user: User, filters: DealFilters) -> QuerySet[Deal]:
    qs = deals_visible_to(user)
    if filters.status == DISQUALIFIED:
        qs = qs.filter(DISQUALIFYING_Q, status="lost")
    elif filters.status == "lost":
        qs = qs.filter(status="lost").exclude(DISQUALIFYING_Q)
    elif filters.status:
        qs = qs.filter(status=filters.status)
    if filters.stage:
        qs = qs.filter(stage_id=filters.stage)
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.pipeline:
        qs = qs.filter(pipeline_id=filters.pipeline)
    qs = _drill_filtered(qs, filters)
    if filters.recovery:
        qs = _recovery_filtered(qs, filters)
    closed, latest = Q(), Q(status="open")
    if filters.closed_from:
        start = timezone.make_aware(datetime.combine(filters.closed_from, time.min))
        closed, latest = closed & Q(closed_at__gte=start), latest & Q(latest_closed_at__gte=start)
    if filters.closed_to:
        end = timezone.make_aware(datetime.combine(filters.closed_to, time.max))
        closed, latest = closed & Q(closed_at__lte=end), latest & Q(latest_closed_at__lte=end)
    if closed:
        qs = qs.filter(closed | latest if filters.recovery else closed)
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(account__name__icontains=filters.q))
    return qs


def deals_filtered(*, user: User, filters: DealFilters) -> QuerySet[Deal]:
    """The deals `user` may see that match the deal list's filters (unsorted, unpaginated)."""
    return _filtered(user, filters)


def closures_visible_to(user: User) -> QuerySet[Closure]:
    """Every closure of a deal `user` may see."""
    return Closure.objects.filter(deal__in=deals_visible_to(user))


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
        managed = managed_team_ids(user)
        owners = User.objects.filter(Q(pk=user.pk) | Q(memberships__team__in=managed)).distinct()
    return {
        "pipelines": list(Pipeline.objects.all()),
        "stages": list(Stage.objects.select_related("pipeline")),
        "owners": list(owners.order_by("first_name", "username")),
    }


def pipelines_with_stages() -> list[Pipeline]:
    """Every pipeline with its stages in order, each stage counting its open deals (`open_deals`)
    and the deals in it or closed at it (`deal_count`: a stage with any cannot be deleted).
    Three queries whatever the number of pipelines and stages. For the admins' pipeline pages."""
    from django.db.models import Count, Prefetch

    used_at_close = Closure.objects.filter(stage_at_close=OuterRef("pk")).values("stage_at_close")
    stages = Stage.objects.annotate(
        deal_count=Count("deals", distinct=True),
        open_deals=Count("deals", filter=Q(deals__status="open"), distinct=True),
        closed_at_here=Exists(used_at_close),
    ).order_by("order", "pk")
    return list(Pipeline.objects.order_by("name").prefetch_related(Prefetch("stages", queryset=stages)))


def pipeline_history(*, pipeline: Pipeline | None = None) -> QuerySet:
    """The pipeline and stage changes, newest first (of one pipeline, or all)."""
    from deals.models import PipelineChange

    changes = PipelineChange.objects.select_related("actor", "pipeline")
    return changes.filter(pipeline=pipeline) if pipeline is not None else changes


def contacts_visible_to(user: User) -> QuerySet:
    """The contacts `user` may see: those on a deal they may see (admins: every contact)."""
    from deals.models import Contact, DealContact

    if user.is_revops_admin:
        return Contact.objects.all()
    links = DealContact.objects.filter(contact=OuterRef("pk"), deal__in=deals_visible_to(user))
    return Contact.objects.filter(Exists(links))


def accounts_visible_to(user: User) -> QuerySet:
    """The companies `user` may see: those of a deal they may see (admins: every company)."""
    from deals.models import Account

    if user.is_revops_admin:
        return Account.objects.all()
    return Account.objects.filter(Exists(deals_visible_to(user).filter(account=OuterRef("pk"))))


def deal_contact_links(*, deal: Deal) -> list:
    """The deal's buyers (primary first), each with `receives_email` and, if not, `why_not`: who
    the nurture e-mails reach. Two queries. The caller has checked the user may see the deal."""
    from deals.models import DealContact
    from deals.signals import opted_out

    links = list(
        DealContact.objects.filter(deal=deal).select_related("contact").order_by("-is_primary", "contact_id")
    )
    out = opted_out([link.contact.email for link in links]) if links else set()
    for link in links:
        email = (link.contact.email or "").lower()
        if link.contact.erased_at is not None:
            link.why_not = "Erased on request"
        elif not email:
            link.why_not = "No e-mail address"
        elif email in out:
            link.why_not = "Opted out: not written to"
        else:
            link.why_not = ""
        link.receives_email = not link.why_not
    return links
