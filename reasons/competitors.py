"""The competitor services (re-exported by reasons.services): atomic, keyword-only, one history row each."""

from django.db import transaction

from reasons.changes import (
    COMPETITOR_NAME_MAX_LENGTH,
    CompetitorData,
    TaxonomyError,
    _lock_competitor,
    _merge,
    _record,
    _refresh,
    _save_or_explain,
    _set_active,
    _unmerge,
    competitor_snapshot,
)
from reasons.models import Competitor, TaxonomyChange
from teams.models import User


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
