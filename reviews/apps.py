from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reviews"
    verbose_name = "Win/loss reviews"

    def ready(self) -> None:
        from outbox import kinds
        from reviews import services

        kinds.register(services.HANDOFF_SEND, label="Win/loss review e-mails", handle=services.review_send)
