"""Append-only history of the pipeline and stage pages: who changed what, when, before, after.

Written only by deals.pipelines; UPDATE and DELETE are refused here and, on PostgreSQL, by a
trigger. A deleted stage (one no deal ever used) keeps its history rows: they hold its name.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from closedlost.dbrules import append_only


def _as_text(value) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " → ".join(str(item) for item in value)
    return str(value)


class PipelineChange(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Edited"
        REORDER = "reorder", "Reordered"
        RETIRE = "retire", "Retired"
        RESTORE = "restore", "Restored"
        DELETE = "delete", "Deleted"

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    pipeline = models.ForeignKey("deals.Pipeline", on_delete=models.PROTECT, related_name="changes")
    # No database key: a stage no deal ever used may be deleted, and its history stays.
    stage = models.ForeignKey(
        "deals.Stage",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    subject_label = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        app_label = "deals"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["-at", "-id"], name="pipelinechange_at_id")]
        triggers = [append_only("pipelinechange_append_only")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.subject_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("PipelineChange rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("PipelineChange rows are append-only.")

    @property
    def subject(self) -> str:
        return "Stage" if self.stage_id else "Pipeline"

    @property
    def differences(self) -> list[tuple[str, str, str]]:
        """(field, before, after) for each value that differs, as short text for the history page."""
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before, *after]))
        return [
            (key.replace("_", " "), _as_text(before.get(key)), _as_text(after.get(key)))
            for key in keys
            if before.get(key) != after.get(key)
        ]
