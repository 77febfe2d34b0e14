"""Every change of the reason taxonomy goes through one function here.

Each function is atomic and keyword-only, locks the rows it changes, and writes exactly one
append-only TaxonomyChange row (who, when, before, after). When a rule says no it raises
TaxonomyError with a message for the admin and the form field it concerns; nothing is written.

Reasons and categories are here; competitors in reasons.competitors, the file import in
reasons.importing, what they share in reasons.changes; all are importable from here.
"""

from django.db import transaction
from django.db.models import Max, Q

from reasons.changes import (
    CATEGORY_NAME_MAX_LENGTH,
    CODE_MAX_LENGTH,
    CODE_PATTERN,
    COMPETITOR_NAME_MAX_LENGTH,
    LABEL_MAX_LENGTH,
    REOPEN_AFTER_DAYS_MAX,
    CompetitorData,
    Direction,
    ReasonData,
    TaxonomyError,
    _lock_reason,
    _merge,
    _move_one_place,
    _record,
    _refresh,
    _save_or_explain,
    _set_active,
    _unmerge,
    category_snapshot,
    competitor_snapshot,
    reason_snapshot,
)
from reasons.competitors import (
    competitor_create,
    competitor_merge,
    competitor_restore,
    competitor_retire,
    competitor_unmerge,
    competitor_update,
)
from reasons.models import Reason, ReasonCategory, ReasonKind, TaxonomyChange
from teams.models import User


def reason_closure_count(reason: Reason) -> int:
    """How many closures name this reason (as primary or secondary reason).

    Through the relations deals declares on Reason: reasons does not import deals (deals imports
    reasons)."""
    return reason.closures.count() + Reason.secondary_closures.through.objects.filter(reason=reason).count()


def _clean_code(code: str, *, reason: Reason | None) -> str:
    code = code.strip()
    if not code:
        raise TaxonomyError(
            "Give the reason a code (lowercase letters, digits, dashes and underscores).", field="code"
        )
    if len(code) > CODE_MAX_LENGTH or not CODE_PATTERN.match(code):
        raise TaxonomyError(
            f"“{code}” is not a valid code: use lowercase letters and digits joined by single dashes or "
            f"underscores, at most {CODE_MAX_LENGTH} characters (for example “price-too-high” or "
            f"“price_too_high”).",
            field="code",
        )
    others = Reason.objects.exclude(pk=reason.pk) if reason else Reason.objects.all()
    holder = others.filter(code=code).first()
    if holder is not None:
        raise TaxonomyError(f"The code “{code}” is already used by “{holder.label}”.", field="code")
    # Codes are unique forever: one that another reason ever had is never handed out again.
    history = TaxonomyChange.objects.filter(subject=TaxonomyChange.Subject.REASON).filter(
        Q(before__code=code) | Q(after__code=code)
    )
    if reason is not None:
        history = history.exclude(reason=reason)
    earlier = history.first()
    if earlier is not None:
        raise TaxonomyError(
            f"The code “{code}” belonged to “{earlier.subject_label}” before; codes are never reused.",
            field="code",
        )
    return code


def _validate_reason(*, kind: str, data: ReasonData, reason: Reason | None) -> dict:
    """The cleaned values of `data`, or TaxonomyError naming the field."""
    if kind not in ReasonKind.values:
        raise TaxonomyError(
            f"“{kind}” is not a kind of reason; use one of {', '.join(ReasonKind.values)}.", field="kind"
        )
    if data.category is None:
        raise TaxonomyError("Choose the reason's category.", field="category")
    if data.is_disqualifying and kind != ReasonKind.LOSS:
        raise TaxonomyError(
            "Only a loss reason can be disqualifying: a won or no-decision deal is not disqualified.",
            field="is_disqualifying",
        )
    label = data.label.strip()
    if not label:
        raise TaxonomyError("Give the reason a label reps will recognise.", field="label")
    if len(label) > LABEL_MAX_LENGTH:
        raise TaxonomyError(f"The label is longer than {LABEL_MAX_LENGTH} characters.", field="label")
    twins = Reason.objects.filter(kind=kind, label__iexact=label)
    if reason is not None:
        twins = twins.exclude(pk=reason.pk)
    if twins.exists():
        raise TaxonomyError(
            f"There is already a {ReasonKind(kind).label.lower()} reason labelled “{label}”.", field="label"
        )
    days = data.reopen_after_days
    if days is not None and not (0 <= days <= REOPEN_AFTER_DAYS_MAX):
        raise TaxonomyError(
            f"Reopen after must be between 0 and {REOPEN_AFTER_DAYS_MAX} days.", field="reopen_after_days"
        )
    code = data.code.strip()
    if reason is None or code != reason.code:
        if reason is not None and reason_closure_count(reason):
            raise TaxonomyError(
                f"Closures already use “{reason.label}”, so its code “{reason.code}” is frozen "
                "(CRMs and the API key on it).",
                field="code",
            )
        code = _clean_code(code, reason=reason)
    return {
        "category": data.category,
        "code": code,
        "label": label,
        "help_text": data.help_text.strip(),
        "example": data.example.strip(),
        "requires_competitor": bool(data.requires_competitor),
        "requires_note": bool(data.requires_note),
        "is_catch_all": bool(data.is_catch_all),
        "is_disqualifying": bool(data.is_disqualifying),
        "reopen_after_days": days,
    }


def reason_create(*, actor: User | None, kind: str, data: ReasonData) -> Reason:
    """Create an active reason of `kind`, last in its category."""
    with transaction.atomic():
        values = _validate_reason(kind=kind, data=data, reason=None)
        last = Reason.objects.filter(category=values["category"], kind=kind).aggregate(Max("order"))
        reason = Reason(kind=kind, order=(last["order__max"] or 0) + 1, **values)
        _save_or_explain(reason)
        _record(
            actor=actor,
            action=TaxonomyChange.Action.CREATE,
            subject=reason,
            before=None,
            after=reason_snapshot(reason),
        )
    return reason


def reason_update(*, actor: User | None, reason: Reason, data: ReasonData) -> Reason:
    """Edit a reason's label, code (until a closure uses it), category, help, example and rules."""
    with transaction.atomic():
        locked = _lock_reason(reason)
        before = reason_snapshot(locked)
        values = _validate_reason(kind=locked.kind, data=data, reason=locked)
        if values["category"].pk != locked.category_id:
            last = Reason.objects.filter(category=values["category"], kind=locked.kind).aggregate(
                Max("order")
            )
            locked.order = (last["order__max"] or 0) + 1
        for name, value in values.items():
            setattr(locked, name, value)
        after = reason_snapshot(locked)
        if after != before:
            _save_or_explain(locked)
            _record(
                actor=actor, action=TaxonomyChange.Action.UPDATE, subject=locked, before=before, after=after
            )
    _refresh(reason, locked)
    return reason


def reason_reorder(*, actor: User | None, reason: Reason, direction: Direction) -> Reason:
    """Move a reason one place up or down among the reasons of its kind in its category."""
    if direction not in ("up", "down"):
        raise TaxonomyError("Move a reason “up” or “down”.", field="direction")
    with transaction.atomic():
        siblings = list(
            Reason.objects.select_for_update()
            .filter(category_id=reason.category_id, kind=reason.kind)
            .order_by("order", "label", "id")
        )
        reason.order = _move_one_place(
            actor=actor, rows=siblings, subject=reason, direction=direction, where=" in its category"
        )
    return reason


def reason_retire(*, actor: User | None, reason: Reason) -> Reason:
    """Take a reason off the reps' forms; closures that use it keep it and figures still count it."""
    return _set_active(
        actor=actor, subject=reason, active=False, lock=_lock_reason, snapshot=reason_snapshot, name="label"
    )


def reason_restore(*, actor: User | None, reason: Reason) -> Reason:
    """Offer a retired reason on the reps' forms again (a merged one needs its merge undone)."""
    return _set_active(
        actor=actor, subject=reason, active=True, lock=_lock_reason, snapshot=reason_snapshot, name="label"
    )


def reason_merge(*, actor: User | None, reason: Reason, into: Reason) -> Reason:
    """Merge `reason` into `into`: it retires and points to the survivor; closures keep what the rep chose.

    Refused across kinds, into itself, into a retired or merged reason, and when it would make a cycle.
    """
    return _merge(
        model=Reason,
        actor=actor,
        source=reason,
        target=into,
        snapshot=reason_snapshot,
        name=lambda r: r.label,
        kind_of=lambda r: ReasonKind(r.kind).label.lower(),
    )


def reason_unmerge(*, actor: User | None, reason: Reason) -> Reason:
    """Undo a merge: the reason gets back its own figures (and its active state from before the merge)."""
    return _unmerge(
        model=Reason,
        actor=actor,
        subject=reason,
        snapshot=reason_snapshot,
        name=lambda r: r.label,
        change_filter={"reason": reason},
    )


def _clean_category_name(name: str, *, category: ReasonCategory | None) -> str:
    name = name.strip()
    if not name:
        raise TaxonomyError("Give the category a name.", field="name")
    if len(name) > CATEGORY_NAME_MAX_LENGTH:
        raise TaxonomyError(f"The name is longer than {CATEGORY_NAME_MAX_LENGTH} characters.", field="name")
    twins = ReasonCategory.objects.filter(name__iexact=name)
    if category is not None:
        twins = twins.exclude(pk=category.pk)
    if twins.exists():
        raise TaxonomyError(f"There is already a category named “{name}”.", field="name")
    return name


def category_create(*, actor: User | None, code: str, name: str) -> ReasonCategory:
    """Create a category, last in order."""
    with transaction.atomic():
        code = code.strip()
        if not code or len(code) > 50 or not CODE_PATTERN.match(code):
            raise TaxonomyError(
                "Use lowercase letters and digits joined by single dashes or underscores for the "
                "category code.",
                field="code",
            )
        if ReasonCategory.objects.filter(code=code).exists():
            raise TaxonomyError(f"The category code “{code}” is already used.", field="code")
        name = _clean_category_name(name, category=None)
        last = ReasonCategory.objects.aggregate(Max("order"))["order__max"] or 0
        category = ReasonCategory(code=code, name=name, order=last + 1)
        _save_or_explain(category)
        _record(
            actor=actor,
            action=TaxonomyChange.Action.CREATE,
            subject=category,
            before=None,
            after=category_snapshot(category),
        )
    return category


def category_update(*, actor: User | None, category: ReasonCategory, name: str) -> ReasonCategory:
    """Rename a category (its code stays)."""
    with transaction.atomic():
        locked = ReasonCategory.objects.select_for_update().get(pk=category.pk)
        before = category_snapshot(locked)
        locked.name = _clean_category_name(name, category=locked)
        if locked.name != before["name"]:
            _save_or_explain(locked)
            _record(
                actor=actor,
                action=TaxonomyChange.Action.UPDATE,
                subject=locked,
                before=before,
                after=category_snapshot(locked),
            )
    category.name = locked.name
    return category


def category_reorder(*, actor: User | None, category: ReasonCategory, direction: Direction) -> ReasonCategory:
    """Move a category one place up or down."""
    if direction not in ("up", "down"):
        raise TaxonomyError("Move a category “up” or “down”.", field="direction")
    with transaction.atomic():
        categories = list(ReasonCategory.objects.select_for_update().order_by("order", "name", "id"))
        category.order = _move_one_place(
            actor=actor, rows=categories, subject=category, direction=direction, where=""
        )
    return category


__all__ = [  # the public services and what callers pass them, wherever they live (and taxonomy_import)
    "CATEGORY_NAME_MAX_LENGTH",
    "CODE_MAX_LENGTH",
    "CODE_PATTERN",
    "COMPETITOR_NAME_MAX_LENGTH",
    "LABEL_MAX_LENGTH",
    "REOPEN_AFTER_DAYS_MAX",
    "CompetitorData",
    "ReasonData",
    "TaxonomyError",
    "category_create",
    "category_reorder",
    "category_snapshot",
    "category_update",
    "competitor_create",
    "competitor_merge",
    "competitor_restore",
    "competitor_retire",
    "competitor_snapshot",
    "competitor_unmerge",
    "competitor_update",
    "reason_closure_count",
    "reason_create",
    "reason_merge",
    "reason_reorder",
    "reason_restore",
    "reason_retire",
    "reason_snapshot",
    "reason_unmerge",
    "reason_update",
]


def __getattr__(name: str):
    # The file import uses the services above (and reasons.transfer, which imports this module),
    # so it is loaded on first use rather than at import time.
    if name == "taxonomy_import":
        from reasons.importing import taxonomy_import

        return taxonomy_import
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
