"""A deal created and closed lost in the CRM after the first sync arrives here closed lost, by
webhook only or by reconciliation only, and its buyers hear from the real worker (real Celery,
Redis, SMTP): the primary contact gets the nurture e-mail and the survey, another contact the
nurture e-mail only, a contact opted out in the CRM nothing."""

import json
import logging
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse

from crm.models import CrmKind, CrmSyncRun, WebhookEvent
from crm.sync.run import sync_run
from crm.tests.conftest import HUBSPOT_SECRET, sign_hubspot
from crm.tests.sync_world import NOW, connect, nurture_email_after
from crm.tests.test_sync_hubspot import OWNERS, build_portal
from deals.models import Deal, DealStatus
from followups.tests.conftest import SMTP_PORT, Inbox, Workers, wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]

PRIMARY, OTHER, OPTED = "maya@oak.example", "li@oak.example", "gone@oak.example"


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


@pytest.fixture
def synced_hubspot(client, people, fake_crm):
    """A portal brought in by a first sync, and the admin's nurture rule (first buyer e-mail on
    day 10, so a deal lost 11 days ago has it due now)."""
    portal, _expected = build_portal(deals=12)
    portal.serve(fake_crm)
    connection = connect(
        CrmKind.HUBSPOT,
        fake_crm,
        api_token="hs-token",
        webhook_secret=HUBSPOT_SECRET,
        account_id="62515",
        owner_map=OWNERS,
    )
    client.force_login(people["carol"])
    client.post(reverse("crm:sync-start", args=["hubspot"]), {"window_months": 24})
    assert sync_run(run_id=CrmSyncRun.objects.get().pk) is None
    nurture_email_after(10)
    return portal, connection


def _new_lost_deal(portal, deal_id: str) -> None:
    """In HubSpot: three buyers, a deal that went through two stages and was lost 11 days ago."""
    portal.contact("3001", "Maya", "Oak", PRIMARY)
    portal.contact("3002", "Li", "Oak", OTHER)
    portal.contact("3003", "Gil", "Oak", OPTED, opted_out=True)
    portal.company("950", "Oak Logistics", "oak.example", "Logistics", 120)
    closed = NOW - timedelta(days=11)
    portal.deal(
        deal_id,
        name="Oak Logistics rollout",
        pipeline="default",
        stages=["qualifiedtobuy", "presentationscheduled", "closedlost"],
        owner="101",
        amount="18000",
        created=NOW - timedelta(days=70),
        changed=NOW - timedelta(minutes=2),
        closed=closed,
        reason="Price too high",
        company="950",
        contacts=[("3002", ""), ("3001", "Primary buyer"), ("3003", "Influencer")],
    )


def _buyers_hear(inbox, deal: Deal) -> None:
    wait_for(
        lambda: len(inbox.to(PRIMARY)) >= 2, timeout=90, message="the primary's nurture e-mail and survey"
    )
    wait_for(lambda: inbox.to(OTHER), timeout=30, message="the other buyer's nurture e-mail")
    time.sleep(4)  # a beat tick or two more: nothing else arrives
    subjects = sorted(m["Subject"] for m in inbox.to(PRIMARY))
    assert len(subjects) == 2 and "Two minutes on your decision?" in subjects, subjects
    assert [m["Subject"] for m in inbox.to(OTHER)] == [
        s for s in subjects if s != "Two minutes on your decision?"
    ]
    assert inbox.to(OPTED) == []
    assert deal.status == DealStatus.LOST and deal.close_reason.code == "price-too-high"
    assert deal.stage.hubspot_id == "presentationscheduled"  # the stage it was lost at


def test_a_deal_created_in_hubspot_arrives_by_webhook_and_its_buyers_hear(
    client, synced_hubspot, worker, buyers_inbox, fake_crm
):
    portal, _connection = synced_hubspot
    worker.start(beat=True)
    _new_lost_deal(portal, "7001")
    body = json.dumps(
        [
            {
                "eventId": 4001,
                "subscriptionId": 2418900,
                "portalId": 62515,
                "appId": 1160452,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": "deal.creation",
                "attemptNumber": 0,
                "objectId": 7001,
                "changeFlag": "CREATED",
                "changeSource": "CRM_UI",
                "sourceId": "userId:4611325",
            }
        ]
    ).encode()
    uri = "http://testserver/webhooks/hubspot/"
    response = client.post(
        "/webhooks/hubspot/",
        body,
        content_type="application/json",
        **sign_hubspot(secret=HUBSPOT_SECRET, uri=uri, body=body),
    )
    assert response.status_code == 200
    deal = wait_for(lambda: Deal.objects.filter(hubspot_id="7001").first(), timeout=60, message="the deal")
    assert WebhookEvent.objects.get().result.startswith("created from HubSpot: closed lost")
    _buyers_hear(buyers_inbox, Deal.objects.select_related("stage", "close_reason").get(pk=deal.pk))


def test_a_deal_created_in_hubspot_arrives_by_reconciliation_and_its_buyers_hear(
    client, synced_hubspot, worker, buyers_inbox, fake_crm
):
    portal, _connection = synced_hubspot
    worker.start(beat=True)
    _new_lost_deal(portal, "7002")
    assert client.post(reverse("crm:reconcile", args=["hubspot"])).status_code == 302  # "Reconcile now"
    deal = wait_for(lambda: Deal.objects.filter(hubspot_id="7002").first(), timeout=60, message="the deal")
    assert not WebhookEvent.objects.exists()
    _buyers_hear(buyers_inbox, Deal.objects.select_related("stage", "close_reason").get(pk=deal.pk))
