"""A contact taken off a deal in the CRM after the deal arrived receives nothing further about it
(real worker, Redis and SMTP server): HubSpot's association change (the contact's side) and a
Pipedrive deal whose person changed; the other contact still gets the nurture e-mail; the removal
stays in the deal's history."""

import copy
import time

import pytest
from django.urls import reverse

from crm.models import CrmSyncRun, WebhookEvent
from crm.sync.run import sync_run
from crm.tests.conftest import process_stored
from crm.tests.crm_events import hubspot_association_removed, pipedrive_event, post_hubspot, post_pipedrive
from crm.tests.sync_world import nurture_email_after
from crm.tests.test_sync_hubspot import HubSpotDriver
from crm.tests.test_sync_pipedrive import PipedriveDriver
from crm.tests.test_sync_worker import BUYERS, OPTED, OTHER, PRIMARY, buyers_inbox, worker  # noqa: F401
from deals.models import Contact, Deal, DealContact, DealEvent, DealStatus
from followups.models import FollowUp, FollowUpKind, FollowUpState
from followups.tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=[HubSpotDriver, PipedriveDriver], ids=lambda d: d.kind)
def synced(request, client, people, fake_crm):
    driver = request.param()
    driver.setup(fake_crm)
    client.force_login(people["carol"])
    client.post(reverse("crm:sync-start", args=[driver.kind]), {"window_months": 24})
    assert sync_run(run_id=CrmSyncRun.objects.get().pk) is None
    nurture_email_after(10)
    return driver


def _take_primary_off(client, driver, deal_id: str) -> None:
    """The CRM takes Maya (the deal's primary buyer) off the deal and tells us as it does."""
    if driver.kind == "hubspot":
        contacts = driver.data.deal_contacts[deal_id]
        driver.data.deal_contacts[deal_id] = [c for c in contacts if c[0] != "3001"]
        post_hubspot(client, [hubspot_association_removed(deal_id, "3001", from_contact=True)])
    else:  # Pipedrive: the deal's person becomes Li; Maya is no participant any more
        deal = driver.data.deals[int(deal_id)]
        previous = {"person_id": copy.deepcopy(deal["person_id"])}
        deal["person_id"] = 9001
        driver.data.participants[int(deal_id)] = [9001, 9002]
        post_pipedrive(client, pipedrive_event("change", "deal", deal_id, deal, previous))


def test_a_contact_taken_off_the_deal_in_the_crm_receives_nothing_further(
    client,
    synced,
    worker,  # noqa: F811 - the worker tests' fixtures
    buyers_inbox,  # noqa: F811
):
    synced.new_lost_deal("7003", BUYERS)
    path, body, headers = synced.webhook("7003")
    assert client.post(path, body, content_type="application/json", **headers).status_code == 200
    process_stored()
    deal = Deal.objects.get(**{synced.id_field: "7003"})
    assert deal.status == DealStatus.LOST
    maya, li = Contact.objects.get(email=PRIMARY), Contact.objects.get(email=OTHER)
    emails = FollowUp.objects.filter(deal=deal, kind=FollowUpKind.CONTACT_EMAIL)
    assert {f.contact.email for f in emails} == {PRIMARY, OTHER}

    _take_primary_off(client, synced, "7003")
    process_stored()
    assert not WebhookEvent.objects.filter(status__in=["failed", "dead"]).exists()
    assert not DealContact.objects.filter(deal=deal, contact=maya).exists()
    assert DealContact.objects.filter(deal=deal, contact=li).exists()
    assert DealEvent.objects.filter(
        deal=deal, field="contact", from_value=str(maya.pk), actor_kind="crm"
    ).exists()
    assert set(emails.filter(contact=maya).values_list("state", "cancelled_reason")) == {
        (FollowUpState.CANCELLED, "contact removed from the deal")
    }

    worker.start(beat=True)
    wait_for(lambda: buyers_inbox.to(OTHER), timeout=90, message="Li's nurture e-mail")
    time.sleep(6)  # a beat tick or two more (follow-ups and surveys): nothing reaches Maya
    assert buyers_inbox.to(PRIMARY) == [] and buyers_inbox.to(OPTED) == []
    assert FollowUpState.SENT in set(emails.filter(contact=li).values_list("state", flat=True))
