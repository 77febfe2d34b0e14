"""Append-only history of a CRM connection's settings: who changed which, when, before and after.

Written only by `connection_update` (the connection page) and the owner-map service
(crm.owners); UPDATE and DELETE are refused here and, on PostgreSQL, by a trigger. Secrets are
never kept: their rows say only that one was set or cleared.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from closedlost.dbrules import append_only

SECRET_FIELDS = ("webhook_secret", "api_token")


class ConnectionChange(models.Model):
    class What(models.TextChoices):
        OWNER_MAP = "owner_map", "Owner map"
        SETTINGS = "settings", "Settings"

    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16)  # the CRM (CrmKind): the connection row is one per kind
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    what = models.CharField(max_length=16, choices=What.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        app_label = "crm"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["kind", "-at", "-id"], name="connectionchange_kind_at")]
        triggers = [append_only("connectionchange_append_only")]

    def __str__(self) -> str:
        return f"{self.kind} {self.get_what_display()} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("ConnectionChange rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("ConnectionChange rows are append-only.")

    @property
    def differences(self) -> list[tuple[str, str, str]]:
        """(what, before, after) as short text: per CRM owner id for the owner map, per field else."""
        keys = list(dict.fromkeys([*self.before, *self.after]))
        label = "owner id {}" if self.what == self.What.OWNER_MAP else "{}"
        return [
            (label.format(key).replace("_", " "), _text(self.before.get(key)), _text(self.after.get(key)))
            for key in keys
        ]


def _text(value) -> str:
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} → {v}" for k, v in value.items())
    return str(value)


def owner_map_difference(before: dict, after: dict) -> tuple[dict, dict]:
    """The owner-map entries that changed: {CRM owner id: user name} before and after ("" if none)."""
    ids = [i for i in dict.fromkeys([*before, *after]) if before.get(i) != after.get(i)]
    return {i: before.get(i, "") for i in ids}, {i: after.get(i, "") for i in ids}


def connection_change_record(*, kind: str, actor, old: dict, new: dict, note: str = "") -> list:
    """Write the history rows for one save (inside the caller's transaction): one for the owner map
    and one for the other settings, each only if something in it changed."""
    rows = []
    if "owner_map" in new:
        before, after = owner_map_difference(old.get("owner_map") or {}, new["owner_map"] or {})
        if after:
            rows.append(
                ConnectionChange(kind=kind, actor=actor, what="owner_map", before=before, after=after)
            )
    before, after = {}, {}
    for name, value in new.items():
        if name == "owner_map" or old.get(name) == value:
            continue
        if name in SECRET_FIELDS:
            before[name], after[name] = "(set)" if old.get(name) else "", "(set)" if value else "(cleared)"
        else:
            before[name], after[name] = old.get(name), value
    if after:
        rows.append(ConnectionChange(kind=kind, actor=actor, what="settings", before=before, after=after))
    for row in rows:
        row.note = note[:300]
        row.save()
    return rows
