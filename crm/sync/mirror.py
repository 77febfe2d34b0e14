"""Pipelines and stages mirrored from a CRM: added and renamed ones follow; one removed in the
CRM is marked removed here and keeps its deals, closes and figures."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from crm.models import CrmConnection
from crm.sync.shapes import LOST, WON, CrmPipeline
from deals.models import Pipeline, Stage


def _pipeline_for(
    connection: CrmConnection, crm: CrmPipeline, field: str, now: datetime
) -> tuple[Pipeline, str]:
    pipeline = Pipeline.objects.select_for_update().filter(**{field: crm.external_id}).first()
    if pipeline is None:  # a pipeline of the same name made here (or by an import) is linked
        pipeline = (
            Pipeline.objects.select_for_update().filter(name=crm.name, **{f"{field}__isnull": True}).first()
        )
        if pipeline is not None:
            setattr(pipeline, field, crm.external_id)
    name = crm.name[:100]
    if Pipeline.objects.filter(name=name).exclude(pk=getattr(pipeline, "pk", None)).exists():
        name = f"{crm.name[:80]} ({connection})"
    if pipeline is None:
        return Pipeline.objects.create(
            name=name, win_reason_required=False, **{field: crm.external_id}
        ), "added"
    changed = "renamed" if pipeline.name != name else ""
    pipeline.name, pipeline.removed_at = name, None
    pipeline.save()
    return pipeline, changed


def _stages(pipeline: Pipeline, crm: CrmPipeline, field: str, now: datetime, report: dict) -> None:
    current = list(Stage.objects.select_for_update().filter(pipeline=pipeline))
    by_id = {getattr(s, field): s for s in current if getattr(s, field)}
    by_name = {s.name.casefold(): s for s in current if not getattr(s, field) and s.removed_at is None}
    wanted = {}
    for crm_stage in crm.stages:
        stage = by_id.get(crm_stage.external_id) or by_name.pop(crm_stage.name.casefold(), None)
        wanted[crm_stage.external_id] = (stage, crm_stage)
    kept = {s.pk for s, _ in wanted.values() if s is not None}
    # Removed in the CRM: marked, never deleted. Then names are freed before they are given out,
    # so two stages may swap names.
    for stage in current:
        if stage.pk not in kept and stage.removed_at is None and getattr(stage, field):
            stage.removed_at = now
            stage.save(update_fields=["removed_at"])
            report["removed"].append(f"{pipeline.name}: {stage.name}")
    renaming = [s for s, c in wanted.values() if s is not None and s.name != c.name[:100]]
    for stage in renaming:
        Stage.objects.filter(pk=stage.pk).update(name=f"{stage.name[:80]} ~{stage.pk}")
    for order, (stage, crm_stage) in enumerate(sorted(wanted.values(), key=lambda p: p[1].order)):
        values = {"name": crm_stage.name[:100], "order": order + 1, "win_probability": crm_stage.probability,
                  "outcome": crm_stage.outcome, "removed_at": None, field: crm_stage.external_id}  # fmt: skip
        if stage is None:
            Stage.objects.create(pipeline=pipeline, **values)
            report["added"].append(f"{pipeline.name}: {crm_stage.name}")
            continue
        if stage.name != values["name"]:
            report["renamed"].append(f"{pipeline.name}: {stage.name} → {values['name']}")
        if any(getattr(stage, k) != v for k, v in values.items()) or stage in renaming:
            Stage.objects.filter(pk=stage.pk).update(**values)


def pipelines_mirror(
    *, connection: CrmConnection, pipelines: list[CrmPipeline], now: datetime | None = None
) -> dict:
    """Bring our pipelines and stages to the CRM's. Returns what was added, renamed and removed.

    The connection's lost / won stage values learn the CRM's closed stages (so webhooks about a
    custom pipeline's closed stage close the deal)."""
    now, field = now or timezone.now(), connection.external_id_field
    report = {"added": [], "renamed": [], "removed": []}
    with transaction.atomic():
        seen = []
        for crm in pipelines:
            pipeline, change = _pipeline_for(connection, crm, field, now)
            if change:
                report[change].append(pipeline.name)
            seen.append(pipeline.pk)
            _stages(pipeline, crm, field, now, report)
        for gone in Pipeline.objects.filter(**{f"{field}__isnull": False}, removed_at__isnull=True).exclude(
            pk__in=seen
        ):
            gone.removed_at = now
            gone.save(update_fields=["removed_at"])
            report["removed"].append(gone.name)
        lost = {s.external_id for p in pipelines for s in p.stages if s.outcome == LOST}
        won = {s.external_id for p in pipelines for s in p.stages if s.outcome == WON}
        lost_now = sorted(set(connection.lost_stages or []) | lost)
        won_now = sorted(set(connection.won_stages or []) | won)
        if lost_now != sorted(connection.lost_stages or []) or won_now != sorted(connection.won_stages or []):
            connection.lost_stages, connection.won_stages = lost_now, won_now
            CrmConnection.objects.filter(pk=connection.pk).update(lost_stages=lost_now, won_stages=won_now)
    return report
