"""Salesforce sends no outbound message when a Contact or a contact role is deleted, so
reconciliation asks: the Contacts deleted since its last run (sObject Get Deleted) are erased as
an admin's erasure would (a merged one is not: the person lives on in the master record), and
the opportunities whose contact roles changed (queryAll on OpportunityContactRole) have their
contacts read again, so a buyer taken off an opportunity receives nothing further about it.
Everything arrives from the loopback Salesforce: its first sync, its outbound messages, its API."""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import CrmConnection, CrmKind
from crm.reconcile import crm_reconcile
from crm.sync.run import sync_run
from crm.tests.conftest import process_stored, wait_for
from crm.tests.fake_salesforce import sf_id, sf_time
from crm.tests.sync_world import NOW, nurture_email_after
from crm.tests.test_sync_salesforce import SalesforceDriver, bring_in
from crm.tests.test_sync_worker import (  # noqa: F401 - the worker's fixtures, shared
    BUYERS,
    OTHER,
    PRIMARY,
    SURVEY_SUBJECT,
    buyers_inbox,
    worker,
)
from deals.models import Contact, ContactErasure, Deal, DealContact, DealEvent
from followups.models import FollowUp, FollowUpKind, FollowUpState
from followups.tests.test_erasure import EMAIL, NAME, TRACES, _every_text_column_holding


def _synced(client, people, fake_crm) -> tuple[SalesforceDriver, CrmConnection]:
    driver = SalesforceDriver()
    connection = driver.setup(fake_crm)
    assert sync_run(run_id=bring_in(client, people).pk) is None
    nurture_email_after(10)  # a deal lost 11 days ago has its first buyer e-mail due now
    return driver, connection


def _lost_by_outbound_message(client, driver: SalesforceDriver, number: str, buyers: dict) -> None:
    driver.new_lost_deal(number, buyers)
    path, body, _headers = driver.webhook(number)
    assert client.post(path, body, content_type="text/xml").status_code == 200


def _emails(contact: Contact):
    return FollowUp.objects.filter(contact=contact, kind=FollowUpKind.CONTACT_EMAIL)


@pytest.mark.django_db
def test_a_contact_deleted_in_salesforce_is_erased_everywhere_and_a_merged_one_is_not(
    client, people, fake_crm
):
    driver, connection = _synced(client, people, fake_crm)
    merged_name, master = "Sam Reed", sf_id("003", 1)
    buyers = {EMAIL: (NAME, False), OTHER: ("Li Oak", False), "sam@reed.example": (merged_name, False)}
    _lost_by_outbound_message(client, driver, "7003", buyers)
    process_stored()
    deal = Deal.objects.get(salesforce_id=driver.external_id("7003"))
    noor, sam = (Contact.objects.get(salesforce_id=sf_id("003", n)) for n in (900, 902))
    assert noor.name == NAME and _emails(noor).filter(state=FollowUpState.PENDING).exists()

    # A minute ago in Salesforce: Noor was deleted, Sam merged into another contact (the merge
    # deletes the losing record too).
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    driver.data.delete("Contact", noor.salesforce_id, a_minute_ago)
    driver.data.delete("Contact", sam.salesforce_id, a_minute_ago, master=master)
    report = crm_reconcile(connection=connection)

    noor.refresh_from_db()
    assert noor.erased_at is not None and (noor.name, noor.email) == ("", "")
    assert report["erased"] == [f"contact {noor.pk} erased"]
    assert ContactErasure.objects.get(contact=noor).source == ContactErasure.Source.CRM
    assert set(_emails(noor).values_list("state", "cancelled_reason")) == {("cancelled", "contact erased")}
    for needle in TRACES:
        assert _every_text_column_holding(needle) == [], needle
    sam.refresh_from_db()
    assert sam.erased_at is None and sam.name == merged_name  # merged, not gone
    on_deal = set(DealContact.objects.filter(deal=deal).values_list("contact__salesforce_id", flat=True))
    assert on_deal == {sf_id("003", 901), master}  # the roles as Salesforce has them now
    assert not _emails(sam).filter(state=FollowUpState.PENDING).exists()


@pytest.mark.django_db(transaction=True)
def test_a_contact_taken_off_an_opportunity_receives_nothing_further(
    client,
    people,
    fake_crm,
    worker,  # noqa: F811 - the fixture imported above
    buyers_inbox,  # noqa: F811
):
    driver, connection = _synced(client, people, fake_crm)
    crm_reconcile(connection=connection)  # an earlier run: the next one reads what changed since
    worker.start()  # without beat: nothing is sent yet
    driver.new_lost_deal("7004", BUYERS)
    opportunity = next(o for o in driver.data.objects["Opportunity"] if o["Id"] == driver.external_id("7004"))
    opportunity["LastModifiedDate"] = sf_time(NOW - timedelta(days=2))  # older than that run
    path, body, _headers = driver.webhook("7004")
    assert client.post(path, body, content_type="text/xml").status_code == 200
    deal = wait_for(
        lambda: Deal.objects.filter(salesforce_id=driver.external_id("7004"), status="lost").first(),
        timeout=60,
        message="the deal, lost",
    )
    other = Contact.objects.get(email=OTHER)
    wait_for(
        lambda: _emails(other).filter(deal=deal, state=FollowUpState.PENDING).exists(), message="e-mails"
    )

    # In Salesforce, Li's contact role is deleted: the Opportunity itself does not change.
    role = next(
        r
        for r in driver.data.objects["OpportunityContactRole"]
        if r["OpportunityId"] == deal.salesforce_id and r["ContactId"] == other.salesforce_id
    )
    driver.data.delete("OpportunityContactRole", role["Id"], timezone.now() - timedelta(seconds=30))
    assert (
        client.post(reverse("crm:reconcile", args=[CrmKind.SALESFORCE])).status_code == 302
    )  # "Reconcile now"
    report = wait_for(
        lambda: CrmConnection.objects.get(kind=CrmKind.SALESFORCE).reconcile_report.get("contacts"),
        timeout=60,
        message="the reconciliation",
    )
    assert [row["deal"] for row in report] == [deal.pk]
    assert not DealContact.objects.filter(deal=deal, contact=other).exists()
    assert DealEvent.objects.filter(deal=deal, field="contact", from_value=str(other.pk)).exists()  # history
    assert set(_emails(other).filter(deal=deal).values_list("state", "cancelled_reason")) == {
        ("cancelled", "contact removed from the deal")
    }

    worker.start(beat=True)  # now the due e-mails go out
    wait_for(lambda: len(buyers_inbox.to(PRIMARY)) >= 2, timeout=90, message="the primary's e-mails")
    time.sleep(4)  # a beat tick or two more: nothing else arrives
    assert SURVEY_SUBJECT in {m["Subject"] for m in buyers_inbox.to(PRIMARY)}
    assert buyers_inbox.to(OTHER) == []
