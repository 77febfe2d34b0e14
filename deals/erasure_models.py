"""The record an erasure leaves: who erased which contact row, when, from where, and how many
rows of each kind were emptied. It holds no name, address or other personal data."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from closedlost.dbrules import append_only


class ContactErasure(models.Model):
    class Source(models.TextChoices):
        ADMIN = "admin", "An admin"
        CRM = "crm", "The CRM deleted the contact"

    # The emptied row (kept: surveys and follow-ups point at it).
    contact = models.ForeignKey("deals.Contact", on_delete=models.PROTECT, related_name="erasures")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.ADMIN)
    at = models.DateTimeField(default=timezone.now)
    # {"contact rows": 1, "pending e-mails cancelled": 2, ...}: counts only.
    removed = models.JSONField(default=dict)

    class Meta:
        app_label = "deals"
        ordering = ["-at", "-id"]
        triggers = [append_only("contacterasure_append_only")]

    def __str__(self) -> str:
        return f"Contact {self.contact_id} erased at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("ContactErasure rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("ContactErasure rows are append-only.")
