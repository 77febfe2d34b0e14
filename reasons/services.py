"""Every change of the reason taxonomy goes through one function here.

Each function is atomic and keyword-only, locks the rows it changes, and writes exactly one
append-only TaxonomyChange row (who, when, before, after). When a rule says no it raises
TaxonomyError with a message for the admin and the form field it concerns; nothing is written.
"""

import re
from dataclasses import dataclass, field
from typing import Literal

from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from closedlost.errors import ServiceError
from reasons.models import Competitor, Reason, ReasonCategory, ReasonKind, TaxonomyChange
from teams.models import User

CODE_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
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


@dataclass(frozen=True)
class CompetitorData:
    name: str
    aliases: list[str] = field(default_factory=list)


# --- snapshots: what a history row keeps as "before" and "after" ----------------------------


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


# --- reasons -----------------------------------------------------------------------------------


def reason_closure_count(reason: Reason) -> int:
    """How many closures name this reason (as primary or secondary reason).

    Through the relations deals declares on Reason: reasons does not import deals (deals imports
    reasons)."""
    return reason.closures.count() + Reason.secondary_closures.through.objects.filter(reason=reason).count()


def _clean_code(code: str, *, reason: Reason | None) -> str:
    code = code.strip()
    if not code:
        raise TaxonomyError("Give the reason a code (lowercase letters, digits and dashes).", field="code")
    if len(code) > CODE_MAX_LENGTH or not CODE_PATTERN.match(code):
        raise TaxonomyError(
            f"“{code}” is not a valid code: use lowercase letters, digits and single dashes, "
            f"at most {CODE_MAX_LENGTH} characters (for example “price-too-high”).",
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
        "reopen_after_days": days,
    }


def _save_or_explain(instance, **kwargs) -> None:
    """Save in a savepoint; a unique clash that slipped past the checks (a race) becomes a TaxonomyError."""
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as exc:
        raise TaxonomyError(
            "Someone else just saved a clashing change; reload the page and try again."
        ) from exc


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


# --- categories ---------------------------------------------------------------------------------


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
                "Use lowercase letters, digits and single dashes for the category code.", field="code"
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


# --- competitors --------------------------------------------------------------------------------


def _validate_competitor(*, data: CompetitorData, competitor: Competitor | None) -> dict:
    name = data.name.strip()
    if not name:
        raise TaxonomyError("Give the competitor a name.", field="name")
    if len(name) > COMPETITOR_NAME_MAX_LENGTH:
        raise TaxonomyError(f"The name is longer than {COMPETITOR_NAME_MAX_LENGTH} characters.", field="name")
    twins = Competitor.objects.filter(name__iexact=name)
    if competitor is not None:
        twins = twins.exclude(pk=competitor.pk)
    if twins.exists():
        raise TaxonomyError(f"There is already a competitor named “{name}”.", field="name")
    aliases = []
    for alias in data.aliases:
        if not isinstance(alias, str):
            raise TaxonomyError("Aliases must be text.", field="aliases")
        alias = alias.strip()
        if alias and alias.lower() != name.lower() and alias.lower() not in {a.lower() for a in aliases}:
            aliases.append(alias)
    return {"name": name, "aliases": aliases}


def competitor_create(*, actor: User | None, data: CompetitorData) -> Competitor:
    """Create an active competitor."""
    with transaction.atomic():
        competitor = Competitor(**_validate_competitor(data=data, competitor=None))
        _save_or_explain(competitor)
        _record(
            actor=actor,
            action=TaxonomyChange.Action.CREATE,
            subject=competitor,
            before=None,
            after=competitor_snapshot(competitor),
        )
    return competitor


def competitor_update(*, actor: User | None, competitor: Competitor, data: CompetitorData) -> Competitor:
    """Rename a competitor or change its aliases."""
    with transaction.atomic():
        locked = _lock_competitor(competitor)
        before = competitor_snapshot(locked)
        for name, value in _validate_competitor(data=data, competitor=locked).items():
            setattr(locked, name, value)
        after = competitor_snapshot(locked)
        if after != before:
            _save_or_explain(locked)
            _record(
                actor=actor, action=TaxonomyChange.Action.UPDATE, subject=locked, before=before, after=after
            )
    _refresh(competitor, locked)
    return competitor


def competitor_retire(*, actor: User | None, competitor: Competitor) -> Competitor:
    """Take a competitor off the reps' forms; closures that name it keep it."""
    return _set_active(
        actor=actor,
        subject=competitor,
        active=False,
        lock=_lock_competitor,
        snapshot=competitor_snapshot,
        name="name",
    )


def competitor_restore(*, actor: User | None, competitor: Competitor) -> Competitor:
    """Offer a retired competitor again (a merged one needs its merge undone)."""
    return _set_active(
        actor=actor,
        subject=competitor,
        active=True,
        lock=_lock_competitor,
        snapshot=competitor_snapshot,
        name="name",
    )


def competitor_merge(*, actor: User | None, competitor: Competitor, into: Competitor) -> Competitor:
    """Merge one competitor into another (e.g. after an acquisition); figures roll up to the survivor."""
    return _merge(
        model=Competitor,
        actor=actor,
        source=competitor,
        target=into,
        snapshot=competitor_snapshot,
        name=lambda c: c.name,
    )


def competitor_unmerge(*, actor: User | None, competitor: Competitor) -> Competitor:
    """Undo a competitor merge."""
    return _unmerge(
        model=Competitor,
        actor=actor,
        subject=competitor,
        snapshot=competitor_snapshot,
        name=lambda c: c.name,
        change_filter={"competitor": competitor},
    )


# --- import ---------------------------------------------------------------------------------------


def _category_apply_order(*, actor: User | None, wanted: list[str]) -> bool:
    """Put the categories in the order `wanted` (codes), the rest after them."""
    categories = list(ReasonCategory.objects.select_for_update().order_by("order", "name", "id"))
    rank = {code: i for i, code in enumerate(wanted)}
    ordered = sorted(categories, key=lambda c: (0, rank[c.code]) if c.code in rank else (1, c.order))
    before = [c.code for c in categories]
    if not wanted or [c.code for c in ordered] == before:
        return False
    for order, category in enumerate(ordered, start=1):
        category.order = order
    ReasonCategory.objects.bulk_update(ordered, ["order"])
    _record(
        actor=actor,
        action=TaxonomyChange.Action.REORDER,
        subject=ordered[0],
        before={"order": before},
        after={"order": [c.code for c in ordered]},
    )
    return True


def _reason_apply_order(
    *, actor: User | None, category: ReasonCategory, kind: str, wanted: list[str]
) -> bool:
    """Put the reasons of one category and kind in the order `wanted` (codes), the rest after them."""
    siblings = list(
        Reason.objects.select_for_update()
        .filter(category=category, kind=kind)
        .order_by("order", "label", "id")
    )
    rank = {code: i for i, code in enumerate(wanted)}
    ordered = sorted(siblings, key=lambda r: (0, rank[r.code]) if r.code in rank else (1, r.order))
    before = [r.code for r in siblings]
    if [r.code for r in ordered] == before:
        return False
    for order, reason in enumerate(ordered, start=1):
        reason.order = order
    Reason.objects.bulk_update(ordered, ["order"])
    _record(
        actor=actor,
        action=TaxonomyChange.Action.REORDER,
        subject=ordered[0],
        before={"order": before},
        after={"order": [r.code for r in ordered]},
    )
    return True


def taxonomy_import(*, actor: User | None, parsed) -> dict[str, int]:
    """Create or update categories, reasons and competitors from a parsed export file.

    Every row is checked first (reasons.transfer.check_taxonomy_file); then everything is
    written through the services above in one transaction, so any refusal writes nothing.
    Raises TaxonomyImportError naming the row and field. Returns counts of what changed.
    """
    from reasons.transfer import Problem, TaxonomyImportError, check_taxonomy_file

    problems = check_taxonomy_file(parsed)
    if problems:
        raise TaxonomyImportError(problems)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    row = None

    def changed_since(count_before: int) -> bool:
        return TaxonomyChange.objects.count() > count_before

    try:
        with transaction.atomic():
            for row in parsed.categories:
                v = row.values
                category = ReasonCategory.objects.filter(code=v["code"]).first()
                if category is None:
                    category_create(actor=actor, code=v["code"], name=v["name"])
                    counts["created"] += 1
                elif category.name != v["name"]:
                    category_update(actor=actor, category=category, name=v["name"])
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
            row = None
            wanted = [
                v["code"]
                for _i, v in sorted(
                    enumerate(r.values for r in parsed.categories),
                    key=lambda item: (item[1]["order"] if item[1]["order"] is not None else item[0], item[0]),
                )
            ]
            _category_apply_order(actor=actor, wanted=wanted)
            categories = {c.code: c for c in ReasonCategory.objects.all()}

            # Undo merges the file no longer has before anything else, so labels and targets are free.
            for row in parsed.reasons:
                v = row.values
                existing = Reason.objects.select_related("merged_into").filter(code=v["code"]).first()
                if existing and existing.merged_into_id and existing.merged_into.code != v["merged_into"]:
                    reason_unmerge(actor=actor, reason=existing)
            groups: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
            for position, row in enumerate(parsed.reasons):
                v = row.values
                marker = TaxonomyChange.objects.count()
                data = ReasonData(
                    category=categories[v["category"]],
                    code=v["code"],
                    label=v["label"],
                    help_text=v["help_text"],
                    example=v["example"],
                    requires_competitor=v["requires_competitor"],
                    requires_note=v["requires_note"],
                    reopen_after_days=v["reopen_after_days"],
                )
                reason = Reason.objects.filter(code=v["code"]).first()
                if reason is None:
                    reason = reason_create(actor=actor, kind=v["kind"], data=data)
                    counts["created"] += 1
                    marker = None
                else:
                    reason_update(actor=actor, reason=reason, data=data)
                if v["merged_into"] is None and reason.active != v["active"]:
                    (reason_restore if v["active"] else reason_retire)(actor=actor, reason=reason)
                if marker is not None:
                    counts["updated" if changed_since(marker) else "unchanged"] += 1
                order = v["order"] if v["order"] is not None else position
                groups.setdefault((v["category"], v["kind"]), []).append((order, position, v["code"]))
            for row in parsed.reasons:
                v = row.values
                if v["merged_into"] is None:
                    continue
                reason = Reason.objects.select_related("merged_into").get(code=v["code"])
                if reason.merged_into_id is None:
                    reason_merge(actor=actor, reason=reason, into=Reason.objects.get(code=v["merged_into"]))
                    counts["updated"] += 1
            row = None
            for (category_code, kind), entries in groups.items():
                wanted = [code for _order, _position, code in sorted(entries)]
                _reason_apply_order(actor=actor, category=categories[category_code], kind=kind, wanted=wanted)

            for row in parsed.competitors:
                v = row.values
                existing = (
                    Competitor.objects.select_related("merged_into").filter(name__iexact=v["name"]).first()
                )
                if existing and existing.merged_into_id:
                    target = (v["merged_into"] or "").lower()
                    if existing.merged_into.name.lower() != target:
                        competitor_unmerge(actor=actor, competitor=existing)
            for row in parsed.competitors:
                v = row.values
                data = CompetitorData(name=v["name"], aliases=v["aliases"])
                competitor = Competitor.objects.filter(name__iexact=v["name"]).first()
                marker = TaxonomyChange.objects.count()
                if competitor is None:
                    competitor = competitor_create(actor=actor, data=data)
                    counts["created"] += 1
                    marker = None
                else:
                    competitor_update(actor=actor, competitor=competitor, data=data)
                if v["merged_into"] is None and competitor.active != v["active"]:
                    (competitor_restore if v["active"] else competitor_retire)(
                        actor=actor, competitor=competitor
                    )
                if marker is not None:
                    counts["updated" if changed_since(marker) else "unchanged"] += 1
            for row in parsed.competitors:
                v = row.values
                if v["merged_into"] is None:
                    continue
                competitor = Competitor.objects.get(name__iexact=v["name"])
                if competitor.merged_into_id is None:
                    target = Competitor.objects.get(name__iexact=v["merged_into"])
                    competitor_merge(actor=actor, competitor=competitor, into=target)
                    counts["updated"] += 1
    except TaxonomyError as exc:
        where = row.where if row is not None else "the file"
        raise TaxonomyImportError([Problem(where, exc.field or "", exc.message)]) from exc
    return counts
