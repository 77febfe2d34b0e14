"""After the first sync, a Salesforce Opportunity closed lost carries the competitor the
connection's competitor field names, by outbound message only and by reconciliation only (the
loopback fake Salesforce's own records; no row made by the test), as the first sync reads it."""

from datetime import timedelta

import pytest

from crm.models import CrmConnection, CrmKind, WebhookEvent
from crm.reconcile import crm_reconcile
from crm.sync.run import sync_run
from crm.tests.conftest import process_stored
from crm.tests.fake_salesforce import sf_time
from crm.tests.sync_world import NOW
from crm.tests.test_sync_changes import _figure_counts, _lost_to
from crm.tests.test_sync_salesforce import SalesforceDriver, bring_in
from deals.models import Deal, DealStatus

pytestmark = pytest.mark.django_db

FIELD = "Competitor__c"


@pytest.fixture
def org(client, people, fake_crm):
    driver = SalesforceDriver()
    connection = driver.setup(fake_crm)
    CrmConnection.objects.filter(pk=connection.pk).update(competitor_field=FIELD)
    assert sync_run(run_id=bring_in(client, people).pk) is None
    open_ids = [
        o["Id"] for o in driver.data.objects["Opportunity"] if not o["IsClosed"]
        and Deal.objects.filter(salesforce_id=o["Id"], status=DealStatus.OPEN).exists()
    ]  # fmt: skip
    return driver, open_ids


def _lose(driver, opportunity_id: str, competitor: str, minutes: int) -> None:
    record = next(o for o in driver.data.objects["Opportunity"] if o["Id"] == opportunity_id)
    at = sf_time(NOW + timedelta(minutes=minutes))
    record.update(StageName="Closed Lost", IsClosed=True, IsWon=False, Loss_Reason__c="Price too high",
                  LastModifiedDate=at, **{FIELD: competitor})  # fmt: skip


def test_salesforce_competitor_by_outbound_message_only(client, api_as, people, org, competitor):
    driver, open_ids = org
    _lose(driver, open_ids[0], competitor.name.upper(), 1)
    url, body, _ = driver.webhook(str(int(open_ids[0][-9:-3])))
    assert client.post(url, body, content_type="text/xml").status_code == 200
    process_stored()
    assert not WebhookEvent.objects.filter(status__in=["failed", "dead"]).exists()
    deal = Deal.objects.get(salesforce_id=open_ids[0])
    assert deal.status == DealStatus.LOST and deal.closures.get().competitor == competitor
    assert _lost_to(competitor) == 1
    _figure_counts(api_as, people, competitor, 1)


def test_salesforce_competitor_by_reconciliation_only(client, api_as, people, org, competitor):
    driver, open_ids = org
    for minutes, opportunity_id in enumerate(open_ids[:2], start=1):
        _lose(driver, opportunity_id, competitor.name, minutes)
    crm_reconcile(connection=CrmConnection.objects.get(kind=CrmKind.SALESFORCE))
    assert not WebhookEvent.objects.exists()
    for opportunity_id in open_ids[:2]:
        deal = Deal.objects.get(salesforce_id=opportunity_id)
        assert deal.status == DealStatus.LOST and deal.closures.get().competitor == competitor
    _figure_counts(api_as, people, competitor, 2)
