"""One row per hand-off to the worker, written in the transaction of the change that causes it."""

from django.db import models
from django.utils import timezone


class Message(models.Model):
    """Work of one kind for the worker (`items`: ids or small lists), until a worker finishes it.

    Published after commit; published again by the sweep when `due_at` passes and no worker
    holds it (`claimed_until`); deleted when the worker has handled every item.
    """

    kind = models.CharField(max_length=40)
    items = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(help_text="When the sweep publishes it (again) if it is still here.")
    published_at = models.DateTimeField(null=True, blank=True)
    publishes = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], name="outbox_due"),
            models.Index(fields=["kind", "created_at"], name="outbox_kind_age"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({len(self.items)} items)"
