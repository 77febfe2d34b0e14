"""Our own `manage.py check --deploy` checks: production refuses settings that lose mail."""

from django.conf import settings
from django.core.checks import Error, Tags, register

NOWHERE = ("console.EmailBackend", "locmem.EmailBackend", "dummy.EmailBackend", "filebased.EmailBackend")


@register(Tags.security, deploy=True)
def email_is_configured(app_configs, **kwargs):
    """Contacts' e-mails must reach a mail server, not a log or a file."""
    backend = settings.EMAIL_BACKEND
    if backend.endswith(NOWHERE):
        return [
            Error(
                f"EMAIL_BACKEND is {backend}: no e-mail would reach anyone.",
                hint="Leave EMAIL_BACKEND to its production default (SMTP) and set EMAIL_HOST, "
                "EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS.",
                id="closedlost.E001",
            )
        ]
    if backend.endswith("smtp.EmailBackend") and not getattr(settings, "EMAIL_HOST_GIVEN", True):
        return [
            Error(
                "EMAIL_HOST is not set: production would send every e-mail to localhost.",
                hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS).",
                id="closedlost.E002",
            )
        ]
    return []
