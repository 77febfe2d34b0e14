"""Reads of the reason taxonomy."""

from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Coalesce

from reasons.models import Competitor, Reason, ReasonCategory, ReasonKind, TaxonomyChange


def reasons_active(*, kind: str) -> QuerySet[Reason]:
    """Active reasons of one kind, in category then reason order, with their category."""
    return Reason.objects.filter(kind=kind, active=True).select_related("category")


def competitors_active() -> QuerySet[Competitor]:
    return Competitor.objects.filter(active=True)


def reasons_with_usage(*, kind: str | None = None) -> QuerySet[Reason]:
    """Reasons (active and retired) with `usage_count` and `last_used_at` of their closures, in one query.

    Usage counts the closures that name the reason as primary reason, reopened ones included:
    they are what reps actually chose.
    """
    qs = Reason.objects.select_related("category", "merged_into").annotate(
        usage_count=Count("closures"), last_used_at=Max("closures__closed_at")
    )
    if kind is not None:
        qs = qs.filter(kind=kind)
    return qs.order_by("category__order", "category__name", "order", "label", "id")


def competitors_with_usage() -> QuerySet[Competitor]:
    """Competitors with `usage_count` and `last_used_at` of the closures that name them, in one query."""
    return (
        Competitor.objects.select_related("merged_into")
        .annotate(usage_count=Count("closures"), last_used_at=Max("closures__closed_at"))
        .order_by("name")
    )


@dataclass
class CategoryGroup:
    category: ReasonCategory
    reasons: list[Reason]


def taxonomy_tree(*, kind: str) -> list[CategoryGroup]:
    """Every category (empty ones too) with its reasons of `kind` in order, with usage: two queries."""
    reasons = list(reasons_with_usage(kind=kind))
    # What figures count under each survivor: its own closures plus those of reasons merged into it
    # (merges stay within a kind, so they are all in this list).
    merged_usage: dict[int, int] = {}
    for reason in reasons:
        if reason.merged_into_id:
            merged_usage[reason.merged_into_id] = (
                merged_usage.get(reason.merged_into_id, 0) + reason.usage_count
            )
    by_category: dict[int, list[Reason]] = {}
    for reason in reasons:
        reason.merged_usage_count = merged_usage.get(reason.pk, 0)
        by_category.setdefault(reason.category_id, []).append(reason)
    return [
        CategoryGroup(category=category, reasons=by_category.get(category.pk, []))
        for category in ReasonCategory.objects.order_by("order", "name")
    ]


def reason_counts_by_kind() -> dict[str, int]:
    """How many active reasons each kind has (for the page's tabs)."""
    counts = dict.fromkeys(ReasonKind.values, 0)
    rows = Reason.objects.filter(active=True).values("kind").annotate(n=Count("id"))
    counts.update({row["kind"]: row["n"] for row in rows})
    return counts


def reason_guide() -> dict[str, list[CategoryGroup]]:
    """Active reasons by kind then category, for the reps' reason guide (one query)."""
    guide: dict[str, dict[int, CategoryGroup]] = {kind: {} for kind in ReasonKind.values}
    for reason in Reason.objects.filter(active=True).select_related("category"):
        groups = guide[reason.kind]
        if reason.category_id not in groups:
            groups[reason.category_id] = CategoryGroup(category=reason.category, reasons=[])
        groups[reason.category_id].reasons.append(reason)
    return {kind: list(groups.values()) for kind, groups in guide.items()}


def taxonomy_changes(
    *, subject: str = "", action: str = "", actor_id: int | None = None, q: str = ""
) -> QuerySet[TaxonomyChange]:
    """The taxonomy history, newest first, filtered by subject kind, action, actor and text."""
    qs = TaxonomyChange.objects.select_related("actor")
    if subject:
        qs = qs.filter(subject=subject)
    if action:
        qs = qs.filter(action=action)
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if q:
        qs = qs.filter(
            Q(subject_label__icontains=q)
            | Q(reason__code__icontains=q)
            | Q(category__code__icontains=q)
            | Q(competitor__name__icontains=q)
        )
    return qs.order_by("-at", "-id")


# --- figures rolled up to merge survivors ------------------------------------------------------


def closure_counts_by_reason(*, closures=None) -> dict[int, int]:
    """Closures per reason id, a merged reason's closures counted under its survivor.

    `closures` is a Closure queryset to count (for example already scoped to a user, a period
    or an outcome); by default every closure with a reason. Merges are one step deep, so one
    Coalesce rolls up.
    """
    if closures is None:  # every closure, through the relation deals declares (no import of deals)
        closures = Reason.closures.rel.related_model.objects.all()
    rows = (
        closures.filter(reason__isnull=False)
        .annotate(survivor=Coalesce("reason__merged_into", "reason"))
        .values("survivor")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["survivor"]: row["n"] for row in rows}


def closure_counts_by_competitor(*, closures=None) -> dict[int, int]:
    """Closures per competitor id, a merged competitor's closures counted under its survivor."""
    if closures is None:
        closures = Competitor.closures.rel.related_model.objects.all()
    rows = (
        closures.filter(competitor__isnull=False)
        .annotate(survivor=Coalesce("competitor__merged_into", "competitor"))
        .values("survivor")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["survivor"]: row["n"] for row in rows}
