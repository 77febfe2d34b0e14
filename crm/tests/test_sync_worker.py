"""For each CRM: a deal created and closed lost in the CRM after the first sync arrives here closed
lost, by webhook only or by reconciliation only, and its buyers hear from the real worker (real
Celery, Redis, SMTP): the primary contact gets the nurture e-mail and the survey, another contact
the nurture e-mail only, a contact opted out in the CRM nothing."""

import logging
import time

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse

from crm.models import CrmSyncRun, WebhookEvent
from crm.sync.run import sync_run
from crm.tests.sync_world import nurture_email_after
from crm.tests.test_sync_hubspot import HubSpotDriver
from crm.tests.test_sync_pipedrive import PipedriveDriver
from crm.tests.test_sync_salesforce import SalesforceDriver
from deals.models import Deal, DealStatus
from followups.tests.conftest import SMTP_PORT, Inbox, Workers, wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]

PRIMARY, OTHER, OPTED = "maya@oak.example", "li@oak.example", "gone@oak.example"
BUYERS = {PRIMARY: ("Maya Oak", False), OTHER: ("Li Oak", False), OPTED: ("Gil Oak", True)}
SURVEY_SUBJECT = "Two minutes on your decision?"
DRIVERS = [HubSpotDriver, PipedriveDriver, SalesforceDriver]


@pytest.fixture
def buyers_inbox():
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def worker(transactional_db, redis_clean, buyers_inbox, tmp_path, monkeypatch, fake_crm):
    monkeypatch.setenv("SURVEYS_DISPATCH_EVERY", "2")
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture(params=DRIVERS, ids=lambda d: d.kind)
def synced(request, client, people, fake_crm):
    """A CRM brought in by a first sync, and the admin's nurture rule (the first buyer e-mail on
    day 10, so a deal lost 11 days ago has it due now)."""
    driver = request.param()
    driver.setup(fake_crm)
    client.force_login(people["carol"])
    client.post(reverse("crm:sync-start", args=[driver.kind]), {"window_months": 24})
    assert sync_run(run_id=CrmSyncRun.objects.get().pk) is None
    nurture_email_after(10)
    return driver


def _buyers_hear(inbox, driver, deal: Deal) -> None:
    wait_for(
        lambda: len(inbox.to(PRIMARY)) >= 2, timeout=90, message="the primary's nurture e-mail and survey"
    )
    wait_for(lambda: inbox.to(OTHER), timeout=30, message="the other buyer's nurture e-mail")
    time.sleep(4)  # a beat tick or two more: nothing else arrives
    subjects = sorted(m["Subject"] for m in inbox.to(PRIMARY))
    assert len(subjects) == 2 and SURVEY_SUBJECT in subjects, subjects
    assert [m["Subject"] for m in inbox.to(OTHER)] == [s for s in subjects if s != SURVEY_SUBJECT]
    assert inbox.to(OPTED) == []
    deal = Deal.objects.select_related("stage", "close_reason", "owner").get(pk=deal.pk)
    assert deal.status == DealStatus.LOST and deal.close_reason.code == "price-too-high"
    assert getattr(deal.stage, driver.id_field) == driver.lost_at  # the stage it was lost at
    assert deal.owner.username == "alice" and deal.amount == 18000


def _arrived(driver, deal_id: str) -> Deal:
    return wait_for(
        lambda: Deal.objects.filter(**{driver.id_field: driver.external_id(deal_id)}).first(),
        timeout=60,
        message="the deal",
    )


def test_a_deal_created_in_the_crm_arrives_by_webhook_and_its_buyers_hear(
    client, synced, worker, buyers_inbox
):
    worker.start(beat=True)
    synced.new_lost_deal("7001", BUYERS)
    path, body, headers = synced.webhook("7001")
    content_type = getattr(synced, "content_type", "application/json")
    assert client.post(path, body, content_type=content_type, **headers).status_code == 200
    deal = _arrived(synced, "7001")
    assert WebhookEvent.objects.get().result.startswith("created from ")
    _buyers_hear(buyers_inbox, synced, deal)


def test_a_deal_created_in_the_crm_arrives_by_reconciliation_and_its_buyers_hear(
    client, synced, worker, buyers_inbox
):
    worker.start(beat=True)
    synced.new_lost_deal("7002", BUYERS)
    assert client.post(reverse("crm:reconcile", args=[synced.kind])).status_code == 302  # "Reconcile now"
    deal = _arrived(synced, "7002")
    assert not WebhookEvent.objects.exists()
    _buyers_hear(buyers_inbox, synced, deal)
