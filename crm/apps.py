from django.apps import AppConfig


class CrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crm"
    verbose_name = "CRM integration"

    def ready(self) -> None:
        from crm import handoffs, receivers  # noqa: F401  (receivers: the write-back listens to deals.signals)

        handoffs.register()
