"""The CRM integration's hand-offs to the worker, registered with the outbox."""

from crm import imports, services
from crm.models import DealSync, ImportJob, WebhookEvent
from outbox import kinds

IMPORT_LEASE = 3600  # seconds: an import of a large file runs for minutes


def _run_import(job_id: int) -> None:
    imports.import_job_run(job_id=job_id)


def _remind(deal_id: int) -> None:
    from crm.tasks import remind_needs_reason

    remind_needs_reason.run(deal_id)


def register() -> None:
    kinds.register(
        services.HANDOFF_WEBHOOK,
        label="CRM webhook events",
        handle=services.webhook_event_handoff,
        failures=lambda: WebhookEvent.objects.filter(status__in=services.REPLAYABLE[1:]).count(),
        failures_url="crm:events",
    )
    kinds.register(
        services.HANDOFF_WRITE_BACK,
        label="CRM write-backs",
        handle=services.deal_sync_handoff,
        failures=lambda: DealSync.objects.filter(state=DealSync.State.FAILED).count(),
    )
    kinds.register(services.HANDOFF_REMINDER, label="Needs-a-reason e-mails", handle=_remind)
    kinds.register(
        services.HANDOFF_IMPORT,
        label="CRM imports",
        handle=_run_import,
        failures=lambda: ImportJob.objects.filter(status=ImportJob.Status.FAILED).count(),
        failures_url="crm:imports",
        lease=IMPORT_LEASE,
    )
