"""The worker registers only today's task names: the names from before the outbox are gone
(README, "Upgrading": drain the old messages with the previous release first)."""

from closedlost.celery import app

LEGACY = {
    "crm.tasks.process_webhook_event",
    "crm.tasks.process_webhook_events",
    "crm.tasks.push_deal_to_crm",
    "crm.tasks.run_import",
    "crm.tasks.reconcile_one",
    "crm.tasks.remind_needs_reason",
    "followups.send",
}
OURS = {
    "outbox.deliver",
    "outbox.run",
    "outbox.sweep",
    "followups.dispatch_due",
    "followups.send_digests",
    "surveys.dispatch_due",
    "surveys.send",
    "insights.compact_rollup",
    "insights.check_rollup",
    "crm.tasks.reconcile_all",
    "teams.delete_expired_tokens",
    "alerts.check",
    "reviews.create_due",
}


def test_only_current_task_names_are_registered():
    app.loader.import_default_modules()  # what a worker imports at start (autodiscover)
    registered = {name for name in app.tasks if not name.startswith("celery.")}
    assert registered & LEGACY == set()
    assert registered == OURS


def test_every_beat_entry_names_a_registered_task():
    from django.conf import settings

    app.loader.import_default_modules()
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(app.tasks)
