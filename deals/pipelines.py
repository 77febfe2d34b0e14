"""Every change an admin makes to pipelines and stages goes through one function here.

Each function is atomic and keyword-only, locks the pipeline it changes (so two admins adding or
reordering stages of one pipeline take turns), and writes one append-only PipelineChange row
(who, when, before, after). A refusal is a PipelineError naming the form field; nothing is written.

A stage that deals are in, or were closed at, is never deleted: it is retired (kept for its deals,
closures and figures; no deal moves into it any more).
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from closedlost.errors import ServiceError
from deals.models import Closure, Deal, Pipeline, PipelineChange, Stage, StageOutcome
from teams.models import User

NAME_MAX_LENGTH = 100
REORDER_OFFSET = 1_000_000  # orders are renumbered through this range: (pipeline, order) is unique


class PipelineError(ServiceError):
    """A rule refused the change; naming no field, it is about the pipeline's state."""

    fieldless_is_conflict = True


@dataclass(frozen=True)
class StageData:
    """What an admin sets on a stage."""

    name: str
    win_probability: int
    outcome: str = StageOutcome.OPEN


def pipeline_snapshot(pipeline: Pipeline) -> dict:
    return {"name": pipeline.name, "win_reason_required": pipeline.win_reason_required}


def stage_snapshot(stage: Stage) -> dict:
    return {
        "name": stage.name,
        "order": stage.order,
        "win_probability": stage.win_probability,
        "outcome": stage.outcome,
        "active": stage.active,
    }


def _record(*, actor: User | None, action: str, pipeline: Pipeline, stage: Stage | None, before, after):
    PipelineChange.objects.create(
        actor=actor,
        action=action,
        pipeline=pipeline,
        stage=stage,
        subject_label=(stage or pipeline).name,
        before=before,
        after=after,
    )


def _lock_pipeline(pipeline_id: int) -> Pipeline:
    return Pipeline.objects.select_for_update().get(pk=pipeline_id)


def _clean_pipeline_name(name: str, *, pipeline: Pipeline | None) -> str:
    name = (name or "").strip()
    if not name:
        raise PipelineError("Give the pipeline a name.", field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise PipelineError(f"The name is longer than {NAME_MAX_LENGTH} characters.", field="name")
    twins = Pipeline.objects.filter(name__iexact=name)
    if pipeline is not None:
        twins = twins.exclude(pk=pipeline.pk)
    if twins.exists():
        raise PipelineError(f"There is already a pipeline named “{name}”.", field="name")
    return name


def _clean_stage(*, pipeline: Pipeline, data: StageData, stage: Stage | None) -> dict:
    name = (data.name or "").strip()
    if not name:
        raise PipelineError("Give the stage a name.", field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise PipelineError(f"The name is longer than {NAME_MAX_LENGTH} characters.", field="name")
    twins = Stage.objects.filter(pipeline=pipeline, name__iexact=name, removed_at__isnull=True)
    if stage is not None:
        twins = twins.exclude(pk=stage.pk)
    if twins.exists():
        raise PipelineError(f"“{pipeline.name}” already has a stage named “{name}”.", field="name")
    probability = data.win_probability
    if probability is None or not 0 <= probability <= 100:
        raise PipelineError("The win probability is a percentage from 0 to 100.", field="win_probability")
    outcome = data.outcome or StageOutcome.OPEN
    if outcome not in StageOutcome.values:
        raise PipelineError(f"Choose one of {', '.join(StageOutcome.values)}.", field="outcome")
    # A CRM's closed stages carry these too (HubSpot's closedlost 0.0, closedwon 1.0).
    certain = {StageOutcome.LOST: 0, StageOutcome.WON: 100}.get(outcome)
    if certain is not None and probability != certain:
        raise PipelineError(
            f"A stage that {StageOutcome(outcome).label.lower()} has a win probability of {certain} %.",
            field="win_probability",
        )
    if stage is not None and outcome != StageOutcome.OPEN and stage.outcome == StageOutcome.OPEN:
        open_here = Deal.objects.filter(stage=stage, status="open").count()
        if open_here:
            raise PipelineError(
                f"{open_here} open deal(s) are in “{stage.name}”; a stage that closes deals holds no "
                "open deal. Move or close them first.",
                field="outcome",
            )
    return {"name": name, "win_probability": probability, "outcome": outcome}


def _save(instance, **kwargs) -> None:
    """A unique clash that slipped past the checks (a race on names) becomes a PipelineError."""
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as exc:
        raise PipelineError(
            "Someone else just saved a clashing change; reload the page and try again."
        ) from exc


def pipeline_create(*, actor: User | None, name: str, win_reason_required: bool = True) -> Pipeline:
    """Create a pipeline (without stages: add them next)."""
    with transaction.atomic():
        pipeline = Pipeline(
            name=_clean_pipeline_name(name, pipeline=None), win_reason_required=bool(win_reason_required)
        )
        _save(pipeline)
        _record(
            actor=actor,
            action=PipelineChange.Action.CREATE,
            pipeline=pipeline,
            stage=None,
            before=None,
            after=pipeline_snapshot(pipeline),
        )
    return pipeline


def pipeline_update(
    *, actor: User | None, pipeline: Pipeline, name: str, win_reason_required: bool
) -> Pipeline:
    """Rename a pipeline and set whether a won deal needs a win reason. Unchanged: nothing written."""
    with transaction.atomic():
        locked = _lock_pipeline(pipeline.pk)
        before = pipeline_snapshot(locked)
        locked.name = _clean_pipeline_name(name, pipeline=locked)
        locked.win_reason_required = bool(win_reason_required)
        after = pipeline_snapshot(locked)
        if after != before:
            _save(locked, update_fields=["name", "win_reason_required"])
            _record(
                actor=actor,
                action=PipelineChange.Action.UPDATE,
                pipeline=locked,
                stage=None,
                before=before,
                after=after,
            )
    pipeline.name, pipeline.win_reason_required = locked.name, locked.win_reason_required
    return pipeline


def stage_create(*, actor: User | None, pipeline: Pipeline, data: StageData) -> Stage:
    """Add a stage at the end of the pipeline (lost stages are ordered like any other)."""
    with transaction.atomic():
        locked = _lock_pipeline(pipeline.pk)
        values = _clean_stage(pipeline=locked, data=data, stage=None)
        last = Stage.objects.filter(pipeline=locked).aggregate(last=Max("order"))["last"] or 0
        stage = Stage(pipeline=locked, order=last + 1, **values)
        _save(stage)
        _record(
            actor=actor,
            action=PipelineChange.Action.CREATE,
            pipeline=locked,
            stage=stage,
            before=None,
            after=stage_snapshot(stage),
        )
    return stage


def _lock_stage(stage: Stage) -> tuple[Pipeline, Stage]:
    pipeline = _lock_pipeline(stage.pipeline_id)
    return pipeline, Stage.objects.get(pk=stage.pk)


def _refresh(target: Stage, source: Stage) -> Stage:
    for field in Stage._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def stage_update(*, actor: User | None, stage: Stage, data: StageData) -> Stage:
    """Rename a stage, set its win probability and whether it means lost. Deals keep it."""
    with transaction.atomic():
        pipeline, locked = _lock_stage(stage)
        before = stage_snapshot(locked)
        for name, value in _clean_stage(pipeline=pipeline, data=data, stage=locked).items():
            setattr(locked, name, value)
        after = stage_snapshot(locked)
        if after != before:
            _save(locked, update_fields=["name", "win_probability", "outcome"])
            _record(
                actor=actor,
                action=PipelineChange.Action.UPDATE,
                pipeline=pipeline,
                stage=locked,
                before=before,
                after=after,
            )
    return _refresh(stage, locked)


def _renumber(rows: list[Stage]) -> None:
    """Number `rows` 1..n in list order. Two steps through a high range: PostgreSQL checks the
    (pipeline, order) key row by row, so no two stages may share an order even in between."""
    for order, row in enumerate(rows, start=1):
        row.order = REORDER_OFFSET + order
    Stage.objects.bulk_update(rows, ["order"])
    for row in rows:
        row.order -= REORDER_OFFSET
    Stage.objects.bulk_update(rows, ["order"])


def stage_move(*, actor: User | None, stage: Stage, direction: str) -> Stage:
    """Swap the stage with its neighbour ("up" or "down"); the pipeline's stages are renumbered 1..n."""
    if direction not in ("up", "down"):
        raise PipelineError("Move a stage “up” or “down”.", field="direction")
    with transaction.atomic():
        pipeline, locked = _lock_stage(stage)
        rows = list(Stage.objects.filter(pipeline=pipeline).order_by("order", "pk"))
        position = next(i for i, row in enumerate(rows) if row.pk == locked.pk)
        other = position - 1 if direction == "up" else position + 1
        if not 0 <= other < len(rows):
            edge = "first" if direction == "up" else "last"
            raise PipelineError(f"“{locked.name}” is already {edge} in “{pipeline.name}”.", field="direction")
        before = [row.name for row in rows]
        rows[position], rows[other] = rows[other], rows[position]
        _renumber(rows)
        moved = rows[other]
        _record(
            actor=actor,
            action=PipelineChange.Action.REORDER,
            pipeline=pipeline,
            stage=moved,
            before={"order": before},
            after={"order": [row.name for row in rows]},
        )
    return _refresh(stage, moved)


def _set_active(*, actor: User | None, stage: Stage, active: bool) -> Stage:
    with transaction.atomic():
        pipeline, locked = _lock_stage(stage)
        if locked.active == active:
            raise PipelineError(f"“{locked.name}” is already {'active' if active else 'retired'}.")
        open_stages = Stage.objects.filter(
            pipeline=pipeline, removed_at__isnull=True, outcome=StageOutcome.OPEN
        ).exclude(pk=locked.pk)
        if not active and locked.outcome == StageOutcome.OPEN and not open_stages.exists():
            raise PipelineError(
                f"“{locked.name}” is the last open stage of “{pipeline.name}”; "
                "add another before retiring it."
            )
        if (
            active
            and Stage.objects.filter(
                pipeline=pipeline, name__iexact=locked.name, removed_at__isnull=True
            ).exists()
        ):
            raise PipelineError(
                f"“{pipeline.name}” has another stage named “{locked.name}”; rename one first."
            )
        before = stage_snapshot(locked)
        locked.removed_at = None if active else timezone.now()
        _save(locked, update_fields=["removed_at"])
        _record(
            actor=actor,
            action=PipelineChange.Action.RESTORE if active else PipelineChange.Action.RETIRE,
            pipeline=pipeline,
            stage=locked,
            before=before,
            after=stage_snapshot(locked),
        )
    return _refresh(stage, locked)


def stage_retire(*, actor: User | None, stage: Stage) -> Stage:
    """Retire a stage: its deals and closures keep it, no deal moves into it any more."""
    return _set_active(actor=actor, stage=stage, active=False)


def stage_restore(*, actor: User | None, stage: Stage) -> Stage:
    """Offer a retired stage again."""
    return _set_active(actor=actor, stage=stage, active=True)


def stage_delete(*, actor: User | None, stage: Stage) -> None:
    """Delete a stage no deal is in or was ever closed at; otherwise refuse (retire it instead).

    A deal moving into the stage meanwhile holds a key lock on it: the delete waits, then the
    foreign key refuses it, and that too becomes the refusal."""
    with transaction.atomic():
        pipeline, locked = _lock_stage(stage)
        used = (
            Deal.objects.filter(stage=locked).exists()
            or Closure.objects.filter(stage_at_close=locked).exists()
        )
        if used:
            raise PipelineError(
                f"Deals are in “{locked.name}” or were closed at it, so it cannot be deleted; retire it "
                "instead (its deals and figures keep it)."
            )
        before = stage_snapshot(locked)
        _record(
            actor=actor,
            action=PipelineChange.Action.DELETE,
            pipeline=pipeline,
            stage=locked,
            before=before,
            after=None,
        )
        try:
            with transaction.atomic():
                Stage.objects.filter(pk=locked.pk).delete()
        except IntegrityError as exc:  # a deal took the stage between the check and the delete
            raise PipelineError(f"A deal just moved into “{locked.name}”; retire it instead.") from exc
        _renumber(list(Stage.objects.filter(pipeline=pipeline).order_by("order", "pk")))
