"""The figures' organisation settings: read by every dashboard, changed by an admin through
`insights_settings_update` (each change kept in InsightsSettingsChange). The environment's
WIN_RATE_INCLUDES_DISQUALIFIED is the default until an admin chooses."""

from django.conf import settings
from django.db import transaction

from closedlost.errors import ServiceError
from insights.models import InsightsSettings, InsightsSettingsChange


class InsightsSettingsError(ServiceError):
    pass


def win_rate_includes_disqualified() -> bool:
    """Whether win rates count disqualified losses (one query)."""
    chosen = InsightsSettings.objects.filter(pk=1).values_list("win_rate_includes_disqualified", flat=True)
    value = next(iter(chosen), None)
    return settings.WIN_RATE_INCLUDES_DISQUALIFIED if value is None else value


def insights_settings_update(*, actor, win_rate_includes_disqualified: bool | None) -> InsightsSettings:
    """Set the disqualified rule (None: back to the environment's default); admins only."""
    if not actor.is_revops_admin:
        raise InsightsSettingsError("Only an admin may change the figure settings.")
    if win_rate_includes_disqualified not in (True, False, None):
        raise InsightsSettingsError(
            "Choose include, exclude or default.", field="win_rate_includes_disqualified"
        )
    with transaction.atomic():
        row, _ = InsightsSettings.objects.select_for_update().get_or_create(pk=1)
        before = {"win_rate_includes_disqualified": row.win_rate_includes_disqualified}
        after = {"win_rate_includes_disqualified": win_rate_includes_disqualified}
        if before != after:
            row.win_rate_includes_disqualified = win_rate_includes_disqualified
            row.save(update_fields=["win_rate_includes_disqualified"])
            InsightsSettingsChange.objects.create(actor=actor, before=before, after=after)
    return row
