from django.apps import AppConfig


class CrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crm"
    verbose_name = "CRM integration"

    def ready(self) -> None:
        from crm import receivers  # noqa: F401  (connects the write-back to deals.signals)
