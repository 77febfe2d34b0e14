from django.apps import AppConfig


class OutboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "outbox"
    verbose_name = "Outbox (hand-offs to the worker)"

    def ready(self) -> None:
        from outbox import failures

        failures.register()
