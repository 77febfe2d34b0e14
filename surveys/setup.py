"""The admins' survey set-up: every change of the survey settings through here, with a history row."""

from django.core.exceptions import PermissionDenied
from django.db import transaction

from surveys.models import SurveySettings, SurveySettingsChange
from teams.models import User

FIELDS = ("intro", "email_subject", "email_body", "loss_days", "no_decision_days")


def survey_settings_update(*, actor: User, **values) -> SurveySettings:
    """Change the survey's texts and timing. The e-mail's subject and body name only the buyer's
    placeholders (ValidationError listing them); each change is a SurveySettingsChange row."""
    if not actor.is_revops_admin:
        raise PermissionDenied("Only admins change the survey settings.")
    with transaction.atomic():
        SurveySettings.load()
        config = SurveySettings.objects.select_for_update().get(pk=1)
        before = {name: getattr(config, name) for name in FIELDS}
        for name, value in values.items():
            if name not in FIELDS:
                raise TypeError(f"unknown survey setting {name}")
            setattr(config, name, value)
        config.full_clean()
        config.save()
        after = {name: getattr(config, name) for name in FIELDS}
        if after != before:
            SurveySettingsChange.objects.create(actor=actor, before=before, after=after)
    return config
