"""Importing a taxonomy file: every row checked first (reasons.transfer.check_taxonomy_file), then
everything written through the taxonomy services in one transaction, so any refusal writes nothing."""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max

from reasons.changes import CompetitorData, ReasonData, TaxonomyError, _record
from reasons.competitors import (
    competitor_create,
    competitor_merge,
    competitor_restore,
    competitor_retire,
    competitor_unmerge,
    competitor_update,
)
from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange
from reasons.services import (
    category_create,
    category_update,
    reason_create,
    reason_merge,
    reason_restore,
    reason_retire,
    reason_unmerge,
    reason_update,
)
from reasons.transfer import Problem, Row, TaxonomyFile, TaxonomyImportError, check_taxonomy_file
from teams.models import User


@dataclass
class _Import:
    """One import under way: who, what it changed so far, and the row being written (for errors)."""

    actor: User | None
    counts: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})
    row: Row | None = None

    def rows(self, rows: list[Row]):
        """Each row in turn, remembered as the one a refusal points at."""
        for row in rows:
            self.row = row
            yield row
        self.row = None


def _last_change() -> int:
    """The newest history row's id (one index lookup): a service changed something iff it moved."""
    return TaxonomyChange.objects.aggregate(last=Max("id"))["last"] or 0


def taxonomy_import(*, actor: User | None, parsed: TaxonomyFile) -> dict[str, int]:
    """Create or update categories, reasons and competitors from a parsed export file.

    Raises TaxonomyImportError naming the row and field. Returns counts of what changed.
    """
    problems = check_taxonomy_file(parsed)
    if problems:
        raise TaxonomyImportError(problems)
    run = _Import(actor)
    try:
        with transaction.atomic():
            categories = _import_categories(run, parsed)
            _import_reasons(run, parsed, categories)
            _import_competitors(run, parsed)
    except TaxonomyError as exc:
        where = run.row.where if run.row is not None else "the file"
        raise TaxonomyImportError([Problem(where, exc.field or "", exc.message)]) from exc
    return run.counts


def _file_order(values: list[dict]) -> list[tuple[int, int]]:
    """(order, position) of each row: the file's `order`, else its position in the file."""
    return [(v["order"] if v["order"] is not None else i, i) for i, v in enumerate(values)]


# --- categories ----------------------------------------------------------------------------------


def _import_categories(run: _Import, parsed: TaxonomyFile) -> dict[str, ReasonCategory]:
    for row in run.rows(parsed.categories):
        v = row.values
        category = ReasonCategory.objects.filter(code=v["code"]).first()
        if category is None:
            category_create(actor=run.actor, code=v["code"], name=v["name"])
            run.counts["created"] += 1
        elif category.name != v["name"]:
            category_update(actor=run.actor, category=category, name=v["name"])
            run.counts["updated"] += 1
        else:
            run.counts["unchanged"] += 1
    values = [row.values for row in parsed.categories]
    ranked = sorted(zip(_file_order(values), values, strict=True), key=lambda item: item[0])
    _category_apply_order(actor=run.actor, wanted=[v["code"] for _rank, v in ranked])
    return {c.code: c for c in ReasonCategory.objects.all()}


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


# --- reasons -------------------------------------------------------------------------------------


def _import_reasons(run: _Import, parsed: TaxonomyFile, categories: dict[str, ReasonCategory]) -> None:
    # Undo merges the file no longer has before anything else, so labels and targets are free.
    for row in run.rows(parsed.reasons):
        v = row.values
        existing = Reason.objects.select_related("merged_into").filter(code=v["code"]).first()
        if existing and existing.merged_into_id and existing.merged_into.code != v["merged_into"]:
            reason_unmerge(actor=run.actor, reason=existing)
    groups: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for position, row in enumerate(run.rows(parsed.reasons)):
        v = row.values
        _import_reason(run, v, categories[v["category"]])
        order = v["order"] if v["order"] is not None else position
        groups.setdefault((v["category"], v["kind"]), []).append((order, position, v["code"]))
    for row in run.rows(parsed.reasons):
        v = row.values
        if v["merged_into"] is None:
            continue
        reason = Reason.objects.get(code=v["code"])
        if reason.merged_into_id is None:
            reason_merge(actor=run.actor, reason=reason, into=Reason.objects.get(code=v["merged_into"]))
            run.counts["updated"] += 1
    for (category_code, kind), entries in groups.items():
        wanted = [code for _order, _position, code in sorted(entries)]
        _reason_apply_order(actor=run.actor, category=categories[category_code], kind=kind, wanted=wanted)


def _import_reason(run: _Import, v: dict, category: ReasonCategory) -> None:
    """Create the reason or bring it to the file's values (and its active flag, unless merged)."""
    reason = Reason.objects.filter(code=v["code"]).first()
    catch_all = v["is_catch_all"]
    if catch_all is None:  # a file from before the flag existed leaves it as it is here
        catch_all = bool(reason and reason.is_catch_all)
    disqualifying = v.get("is_disqualifying")
    if disqualifying is None:  # likewise for the disqualifying flag
        disqualifying = bool(reason and reason.is_disqualifying)
    data = ReasonData(
        category=category,
        code=v["code"],
        label=v["label"],
        help_text=v["help_text"],
        example=v["example"],
        requires_competitor=v["requires_competitor"],
        requires_note=v["requires_note"],
        is_catch_all=catch_all,
        is_disqualifying=disqualifying,
        reopen_after_days=v["reopen_after_days"],
    )
    if reason is None:
        reason = reason_create(actor=run.actor, kind=v["kind"], data=data)
        run.counts["created"] += 1
        marker = None
    else:
        marker = _last_change()
        reason_update(actor=run.actor, reason=reason, data=data)
    if v["merged_into"] is None and reason.active != v["active"]:
        (reason_restore if v["active"] else reason_retire)(actor=run.actor, reason=reason)
    if marker is not None:
        run.counts["updated" if _last_change() != marker else "unchanged"] += 1


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


# --- competitors ---------------------------------------------------------------------------------


def _import_competitors(run: _Import, parsed: TaxonomyFile) -> None:
    for row in run.rows(parsed.competitors):
        v = row.values
        existing = Competitor.objects.select_related("merged_into").filter(name__iexact=v["name"]).first()
        target = (v["merged_into"] or "").lower()
        if existing and existing.merged_into_id and existing.merged_into.name.lower() != target:
            competitor_unmerge(actor=run.actor, competitor=existing)
    for row in run.rows(parsed.competitors):
        _import_competitor(run, row.values)
    for row in run.rows(parsed.competitors):
        v = row.values
        if v["merged_into"] is None:
            continue
        competitor = Competitor.objects.get(name__iexact=v["name"])
        if competitor.merged_into_id is None:
            target = Competitor.objects.get(name__iexact=v["merged_into"])
            competitor_merge(actor=run.actor, competitor=competitor, into=target)
            run.counts["updated"] += 1


def _import_competitor(run: _Import, v: dict) -> None:
    """Create the competitor or bring it to the file's values (and its active flag, unless merged)."""
    data = CompetitorData(name=v["name"], aliases=v["aliases"])
    competitor = Competitor.objects.filter(name__iexact=v["name"]).first()
    if competitor is None:
        competitor = competitor_create(actor=run.actor, data=data)
        run.counts["created"] += 1
        marker = None
    else:
        marker = _last_change()
        competitor_update(actor=run.actor, competitor=competitor, data=data)
    if v["merged_into"] is None and competitor.active != v["active"]:
        (competitor_restore if v["active"] else competitor_retire)(actor=run.actor, competitor=competitor)
    if marker is not None:
        run.counts["updated" if _last_change() != marker else "unchanged"] += 1
