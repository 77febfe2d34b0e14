"""One row per hand-off to the worker, written in the transaction of the change that causes it."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Message(models.Model):
    """Work of one kind for the worker (`items`: ids or small lists), until a worker finishes it.

    Published after commit; published again by the sweep when `due_at` passes and no worker
    holds it (`claimed_until`); deleted when the worker has handled every item. An item whose
    handler raised comes back as a message of its own (`crashes` counts the raises) and, after
    its kind's last attempt, stays here failed for good (`failed_at`) until an admin replays or
    discards it.
    """

    kind = models.CharField(max_length=40)
    items = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(help_text="When the sweep publishes it (again) if it is still here.")
    published_at = models.DateTimeField(null=True, blank=True)
    publishes = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    crashes = models.PositiveIntegerField(default=0, help_text="Times its handler raised.")
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Failed for good: waits for an admin.")
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], name="outbox_due"),
            models.Index(fields=["kind", "created_at"], name="outbox_kind_age"),
            models.Index(
                fields=["kind", "failed_at"],
                name="outbox_failed",
                condition=models.Q(failed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({len(self.items)} items)"

    @property
    def failed(self) -> bool:
        return self.failed_at is not None


class HandoffEvent(models.Model):
    """Append-only history of items that failed for good, and of what an admin did with them."""

    class Action(models.TextChoices):
        FAILED = "failed", "Failed for good"
        REPLAYED = "replayed", "Replayed"
        DISCARDED = "discarded", "Discarded"

    kind = models.CharField(max_length=40)
    message_id = models.BigIntegerField(help_text="The outbox message (gone once discarded or delivered).")
    items = models.JSONField(default=list)
    action = models.CharField(max_length=16, choices=Action.choices)
    error = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    at = models.DateTimeField(default=timezone.now)
    alerted_at = models.DateTimeField(null=True, blank=True, help_text="When the admins' e-mail named it.")

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["kind", "action", "alerted_at"], name="outbox_event_alert")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.message_id} {self.action}"


class Heartbeat(models.Model):
    """When a scheduled job last ran (the sweep's: /health/ says 503 when it stops)."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
