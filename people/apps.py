from django.apps import AppConfig


class PeopleConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "people"
    verbose_name = "People admin"

    def ready(self) -> None:
        from outbox import kinds
        from people import mail

        kinds.register(
            mail.HANDOFF_KIND, label="Invites and password e-mails", handle=mail.people_mail_handoff
        )
