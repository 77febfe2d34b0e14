"""The CRM integration's hand-offs to the worker, registered with the outbox."""

from datetime import timedelta

from django.utils import timezone

from crm import imports, owner_sync, receiving, reconcile, services
from crm.models import CrmSyncRun, DealOwnerSync, DealSync, ImportJob, WebhookEvent
from crm.sync import run as sync
from outbox import kinds

IMPORT_LEASE = 3600  # seconds: an import of a large file runs for minutes


def _run_import(job_id: int) -> None:
    # The outbox gives this job out again only after IMPORT_LEASE: one still "running" since
    # before then lost its worker. Running a file again changes nothing already imported.
    stale = timezone.now() - timedelta(seconds=IMPORT_LEASE)
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING, started_at__lt=stale).update(
        status=ImportJob.Status.QUEUED
    )
    imports.import_job_run(job_id=job_id)


def _remind(deal_id: int) -> None:
    from crm.tasks import remind_needs_reason

    remind_needs_reason(deal_id)


def register() -> None:
    kinds.register(
        services.HANDOFF_WEBHOOK,
        label="CRM webhook events",
        handle=services.webhook_event_handoff,
        failures=lambda: WebhookEvent.objects.filter(status__in=services.REPLAYABLE[1:]).count(),
        failures_url="crm:events",
        left_over=receiving.events_left_over,
    )
    kinds.register(
        services.HANDOFF_WRITE_BACK,
        label="CRM write-backs",
        handle=services.deal_sync_handoff,
        failures=lambda: DealSync.objects.filter(state=DealSync.State.FAILED).count(),
    )
    kinds.register(
        owner_sync.HANDOFF_OWNER_WRITE_BACK,
        label="CRM owner write-backs",
        handle=owner_sync.deal_owner_sync_handoff,
        failures=lambda: DealOwnerSync.objects.filter(state=DealOwnerSync.State.FAILED).count(),
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
    # A first sync reads a whole CRM: it may hold its message for long; a killed one resumes.
    kinds.register(
        sync.HANDOFF_SYNC,
        label="CRM first syncs",
        handle=sync.sync_handoff,
        failures=lambda: CrmSyncRun.objects.filter(status=CrmSyncRun.Status.FAILED).count(),
        failures_url="crm:integrations",
        lease=IMPORT_LEASE,
    )
    # A run reads every deal the CRM changed since the last one: minutes on a first run.
    kinds.register(
        reconcile.HANDOFF_RECONCILE,
        label="CRM reconciliations",
        handle=reconcile.reconcile_handoff,
        lease=IMPORT_LEASE,
    )
