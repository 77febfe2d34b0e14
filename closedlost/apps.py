from django.apps import AppConfig


class ClosedlostConfig(AppConfig):
    name = "closedlost"
    verbose_name = "closedlost"

    def ready(self):
        from closedlost import checks  # noqa: F401 - registers the checks
