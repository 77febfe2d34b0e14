"""What every change of the reason taxonomy shares: the refusal, the data an admin gives, the
history row (before and after), the row locks, and the steps retire, restore, merge and reorder
have in common for reasons and competitors. The services themselves are in reasons.services.
"""

import re
from dataclasses import dataclass, field
from typing import Literal

from django.db import IntegrityError, transaction

from closedlost.errors import ServiceError
from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange
from teams.models import User

# CRM internal values use underscores as often as dashes (price_too_high): both are kept as given.
CODE_PATTERN = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
CODE_MAX_LENGTH = 60
LABEL_MAX_LENGTH = 120
CATEGORY_NAME_MAX_LENGTH = 100
COMPETITOR_NAME_MAX_LENGTH = 120
REOPEN_AFTER_DAYS_MAX = 3650

Direction = Literal["up", "down"]


class TaxonomyError(ServiceError):
    """A rule refused the change. `field` names the form field it concerns, if any; naming none,
    it is about the taxonomy's state (a merge into itself, a reason in use)."""

    fieldless_is_conflict = True


@dataclass(frozen=True)
class ReasonData:
    """What an admin may set on a reason (kind is chosen once, at creation)."""

    category: ReasonCategory
    code: str
    label: str
    help_text: str = ""
    example: str = ""
    requires_competitor: bool = False
    requires_note: bool = False
    reopen_after_days: int | None = None
    is_catch_all: bool = False
    is_disqualifying: bool = False


@dataclass(frozen=True)
class CompetitorData:
    name: str
    aliases: list[str] = field(default_factory=list)


def reason_snapshot(reason: Reason) -> dict:
    return {
        "code": reason.code,
        "kind": reason.kind,
        "category": reason.category.code,
        "label": reason.label,
        "help_text": reason.help_text,
        "example": reason.example,
        "order": reason.order,
        "active": reason.active,
        "requires_competitor": reason.requires_competitor,
        "requires_note": reason.requires_note,
        "is_catch_all": reason.is_catch_all,
        "is_disqualifying": reason.is_disqualifying,
        "reopen_after_days": reason.reopen_after_days,
        "merged_into": reason.merged_into.code if reason.merged_into_id else None,
    }


def competitor_snapshot(competitor: Competitor) -> dict:
    return {
        "name": competitor.name,
        "aliases": list(competitor.aliases),
        "active": competitor.active,
        "merged_into": competitor.merged_into.name if competitor.merged_into_id else None,
    }


def category_snapshot(category: ReasonCategory) -> dict:
    return {"code": category.code, "name": category.name, "order": category.order}


def _record(
    *, actor: User | None, action: str, subject: ReasonCategory | Reason | Competitor, before, after
) -> TaxonomyChange:
    if isinstance(subject, Reason):
        kwargs = {"subject": TaxonomyChange.Subject.REASON, "reason": subject, "subject_label": subject.label}
    elif isinstance(subject, Competitor):
        kwargs = {
            "subject": TaxonomyChange.Subject.COMPETITOR,
            "competitor": subject,
            "subject_label": subject.name,
        }
    else:
        kwargs = {
            "subject": TaxonomyChange.Subject.CATEGORY,
            "category": subject,
            "subject_label": subject.name,
        }
    return TaxonomyChange.objects.create(actor=actor, action=action, before=before, after=after, **kwargs)


def _lock(model, pks: list[int], *related: str) -> dict:
    """Lock rows (in id order, so two callers cannot deadlock), then read them with their relations.

    The relations are read after the lock is held: a locking SELECT that waited re-reads only the
    locked row, so a join in the same statement could show a relation from before the wait.
    """
    list(model.objects.select_for_update().filter(pk__in=pks).order_by("pk").values_list("pk", flat=True))
    return {row.pk: row for row in model.objects.select_related(*related).filter(pk__in=pks)}


def _lock_reason(reason: Reason) -> Reason:
    return _lock(Reason, [reason.pk], "category", "merged_into")[reason.pk]


def _lock_competitor(competitor: Competitor) -> Competitor:
    return _lock(Competitor, [competitor.pk], "merged_into")[competitor.pk]


def _refresh(target, source) -> None:
    """Copy the saved state back onto the caller's instance."""
    for f in source._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))
    target._state.fields_cache = dict(source._state.fields_cache)


def _save_or_explain(instance, **kwargs) -> None:
    """Save in a savepoint; a unique clash that slipped past the checks (a race) becomes a TaxonomyError."""
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as exc:
        raise TaxonomyError(
            "Someone else just saved a clashing change; reload the page and try again."
        ) from exc


def _move_one_place(*, actor: User | None, rows: list, subject, direction: Direction, where: str) -> int:
    """Swap `subject` with its neighbour in `rows` (locked, in order), renumber, record; the new order."""
    position = next(i for i, row in enumerate(rows) if row.pk == subject.pk)
    other = position - 1 if direction == "up" else position + 1
    if not 0 <= other < len(rows):
        edge = "first" if direction == "up" else "last"
        raise TaxonomyError(f"“{subject}” is already {edge}{where}.", field="direction")
    before = [row.code for row in rows]
    rows[position], rows[other] = rows[other], rows[position]
    for order, row in enumerate(rows, start=1):
        row.order = order
    type(subject).objects.bulk_update(rows, ["order"])
    _record(
        actor=actor,
        action=TaxonomyChange.Action.REORDER,
        subject=rows[other],
        before={"order": before},
        after={"order": [row.code for row in rows]},
    )
    return rows[other].order


def _set_active(*, actor: User | None, subject, active: bool, lock, snapshot, name: str):
    """Retire (active=False) or restore (active=True) a reason or competitor, with its history row."""
    with transaction.atomic():
        locked = lock(subject)
        label = getattr(locked, name)
        if locked.active == active:
            raise TaxonomyError(f"“{label}” is already {'active' if active else 'retired'}.")
        if active and locked.merged_into_id:
            survivor = getattr(locked.merged_into, name)
            raise TaxonomyError(f"“{label}” is merged into “{survivor}”; undo the merge to restore it.")
        before = snapshot(locked)
        locked.active = active
        locked.save(update_fields=["active"])
        _record(
            actor=actor,
            action=TaxonomyChange.Action.RESTORE if active else TaxonomyChange.Action.RETIRE,
            subject=locked,
            before=before,
            after=snapshot(locked),
        )
    _refresh(subject, locked)
    return subject


def _check_merge(*, source, target, name: str, kind_of=None) -> None:
    if source.pk == target.pk:
        raise TaxonomyError(f"“{name(source)}” cannot be merged into itself.", field="into")
    if kind_of is not None and kind_of(source) != kind_of(target):
        raise TaxonomyError(
            f"“{name(source)}” is a {kind_of(source)} reason and “{name(target)}” a "
            f"{kind_of(target)} reason; merge only reasons of the same kind.",
            field="into",
        )
    if source.merged_into_id is not None:
        raise TaxonomyError(
            f"“{name(source)}” is already merged into “{name(source.merged_into)}”; undo that merge first.",
            field="into",
        )
    if target.merged_into_id == source.pk:
        raise TaxonomyError(
            f"“{name(target)}” is merged into “{name(source)}”, so merging “{name(source)}” into it would "
            "make a cycle; undo that merge first.",
            field="into",
        )
    if target.merged_into_id is not None:
        raise TaxonomyError(
            f"“{name(target)}” has itself been merged into “{name(target.merged_into)}”; "
            f"merge into “{name(target.merged_into)}” instead.",
            field="into",
        )
    if not target.active:
        raise TaxonomyError(
            f"“{name(target)}” is retired; merge into an active one (or restore it first).", field="into"
        )


def _merge(*, model, actor, source, target, snapshot, name, kind_of=None):
    """Retire `source` and point it (and whatever was merged into it) at `target`."""
    with transaction.atomic():
        # Lock both so two opposite merges cannot both pass the cycle check.
        related = ("category", "merged_into") if model is Reason else ("merged_into",)
        locked = _lock(model, [source.pk, target.pk], *related)
        src, dst = locked[source.pk], locked[target.pk]
        _check_merge(source=src, target=dst, name=name, kind_of=kind_of)
        before = snapshot(src)
        # Flatten: what was merged into the source now points at the survivor, one step deep.
        regained = list(model.objects.select_for_update().filter(merged_into=src).order_by("pk"))
        before["merged_here"] = [{"id": row.pk, "name": name(row)} for row in regained]
        model.objects.filter(pk__in=[row.pk for row in regained]).update(merged_into=dst)
        src.active, src.merged_into = False, dst
        src.save(update_fields=["active", "merged_into"])
        after = snapshot(src)
        after["merged_here"] = []
        _record(actor=actor, action=TaxonomyChange.Action.MERGE, subject=src, before=before, after=after)
    _refresh(source, src)
    return source


def _unmerge(*, model, actor, subject, snapshot, name, change_filter):
    """Undo the latest merge of `subject`: it returns as it was, with what had been merged into it."""
    with transaction.atomic():
        related = ("category", "merged_into") if model is Reason else ("merged_into",)
        locked = _lock(model, [subject.pk], *related)[subject.pk]
        if locked.merged_into_id is None:
            raise TaxonomyError(f"“{name(locked)}” is not merged into anything.")
        survivor = locked.merged_into
        merge = (
            TaxonomyChange.objects.filter(action=TaxonomyChange.Action.MERGE, **change_filter)
            .order_by("-at", "-id")
            .first()
        )
        was = merge.before if merge and merge.before else {}
        before = snapshot(locked)
        locked.merged_into, locked.active = None, was.get("active", True)
        locked.save(update_fields=["active", "merged_into"])
        # Those flattened into the survivor by this merge come back, unless moved since.
        ids = [row["id"] for row in was.get("merged_here", [])]
        model.objects.filter(pk__in=ids, merged_into=survivor).update(merged_into=locked)
        after = snapshot(locked)
        _record(actor=actor, action=TaxonomyChange.Action.UNMERGE, subject=locked, before=before, after=after)
    _refresh(subject, locked)
    return subject
