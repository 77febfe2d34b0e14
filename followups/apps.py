from django.apps import AppConfig


class FollowupsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "followups"
    verbose_name = "Follow-ups"

    def ready(self) -> None:
        from followups import receivers, services
        from outbox import kinds

        receivers.register_close_choice()  # the receivers connect on import (deals.signals)
        from deals.signals import opt_out_lookup_register
        from followups.scheduling import opted_out_emails

        opt_out_lookup_register(opted_out_emails)

        from followups import test_send

        kinds.register(
            test_send.HANDOFF_KIND,
            label="Test sends of nurture steps",
            handle=test_send.nurture_test_send_handoff,
        )
        kinds.register(
            services.HANDOFF_KIND,
            label="Follow-up e-mails",
            handle=services.followup_handoff,
            failures=services.followups_failed_count,
            failures_url="followups:team",
            on_failed=services.followup_handoff_failed,
            on_replay=services.followup_handoff_replay,
        )
