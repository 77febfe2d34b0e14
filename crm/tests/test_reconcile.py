"""Reconciliation against a loopback fake CRM that serves each CRM's read API with paging:
what no webhook announced is applied, what still differs is reported."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.urls import reverse

from crm.models import CrmConnection, CrmKind
from crm.reconcile import ReconcileFailed, crm_reconcile
from deals import services as deal_services
from deals.factories import DealFactory, PipelineFactory, StageFactory
from deals.models import DealStatus

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHANGED = "2026-11-27T10:00:00.000Z"


def _hubspot_pages(fake):
    def search(path, body):
        assert path == "/crm/v3/objects/deals/search"
        assert body["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"
        first = [
            {"id": "101", "properties": {"dealstage": "closedwon", "hs_lastmodifieddate": CHANGED,
                                         "closed_won_reason": "Best product fit"}},
            {"id": "102", "properties": {"dealstage": "closedlost", "hs_lastmodifieddate": CHANGED,
                                         "closed_lost_reason": "Price too high"}},
        ]  # fmt: skip
        second = [  # 999 is not linked to any deal here
            {"id": "999", "properties": {"dealstage": "closedlost", "hs_lastmodifieddate": CHANGED}},
            {"id": "104", "properties": {"dealstage": "closedwon", "hs_lastmodifieddate": CHANGED,
                                         "closed_won_reason": "the champion liked us"}},
        ]  # fmt: skip
        if body.get("after") == "2":
            return 200, {"results": second}
        return 200, {"results": first, "paging": {"next": {"after": "2"}}}

    fake.serve("POST", "/crm/v3/objects/deals/search", search)


def _pipedrive_pages(fake):
    def deals(path, body):
        if urlsplit(path).path != "/api/v2/deals":  # one deal read back: not in this fake's data
            return 404, {"success": False, "error": "Deal not found"}
        query = parse_qs(urlsplit(path).query)
        assert "updated_since" in query
        if query.get("cursor") == ["c2"]:
            return 200, {"data": [{"id": 202, "status": "open", "update_time": "2026-11-27T11:00:00Z"}],
                         "additional_data": {"next_cursor": None}}  # fmt: skip
        lost = {"id": 201, "status": "lost", "lost_reason": "No budget", "update_time": CHANGED}
        return 200, {"data": [lost], "additional_data": {"next_cursor": "c2"}}

    fake.serve("GET", "/api/v2/deals", deals)


def _salesforce_pages(fake):
    fake.serve("GET", "/services/data/v60.0/query?", lambda path, body: (200, {
        "records": [{"Id": "0065e0000000301", "StageName": "Closed Won", "LastModifiedDate": CHANGED}],
        "done": False, "nextRecordsUrl": "/services/data/v60.0/query/01gNEXT-2000"}))  # fmt: skip
    fake.serve("GET", "/services/data/v60.0/query/01gNEXT", lambda path, body: (200, {
        "records": [{"Id": "0065e0000000302", "StageName": "Closed Lost", "LastModifiedDate": CHANGED}],
        "done": True}))  # fmt: skip


def test_reconciliation_applies_what_no_webhook_announced_and_reports_drift(world, fake_crm):
    world.pipeline.win_reason_required = False
    world.pipeline.save()
    won, lost = world.deal(hubspot_id="101"), world.deal(hubspot_id="102")
    strict = PipelineFactory(name="Enterprise", win_reason_required=True)  # wins need a mapped reason
    demo = StageFactory(pipeline=strict, name="Demo", order=1)
    stuck = DealFactory(
        owner=world.alice,
        team=world.east,
        account=world.account,
        pipeline=strict,
        stage=demo,
        hubspot_id="104",
    )
    pd_lost, pd_closed_here = world.deal(pipedrive_id="201"), world.deal(pipedrive_id="202")
    deal_services.deal_mark_lost(deal=pd_closed_here, reason=world.reasons["no-budget"], actor=world.alice)
    sf_won, sf_lost = world.deal(salesforce_id="0065e0000000301"), world.deal(salesforce_id="0065e0000000302")
    _hubspot_pages(fake_crm)
    _pipedrive_pages(fake_crm)
    _salesforce_pages(fake_crm)

    reports = {
        kind: crm_reconcile(connection=CrmConnection.objects.get(kind=kind), now=NOW)
        for kind in CrmKind.values
    }

    def status(deal):
        deal.refresh_from_db()
        return deal.status, deal.close_reason.code if deal.close_reason else None, deal.needs_reason

    assert status(won) == (DealStatus.WON, "win-best-fit", False)
    assert status(lost) == (DealStatus.LOST, "price-too-high", False)
    assert status(stuck) == (DealStatus.WON, None, True)  # won; its unmapped win reason waits for the rep
    assert status(pd_lost) == (DealStatus.LOST, "no-budget", False)
    assert status(pd_closed_here)[0] == DealStatus.LOST  # closed here after the CRM's last change
    assert status(sf_won)[0] == DealStatus.WON
    assert status(sf_lost) == (DealStatus.LOST, None, True)  # closed; its reason is for the rep to give

    hubspot = reports[CrmKind.HUBSPOT]
    assert (hubspot["read"], hubspot["unknown"], len(hubspot["applied"])) == (4, 1, 3)
    assert hubspot["drift"] == []
    assert "closed won: needs a reason" in [row["result"] for row in hubspot["applied"]]
    pipedrive = reports[CrmKind.PIPEDRIVE]
    assert pipedrive["read"] == 2 and [row["deal"] for row in pipedrive["drift"]] == [pd_closed_here.pk]
    assert "closed here after this CRM change" in pipedrive["drift"][0]["why"]
    assert reports[CrmKind.SALESFORCE]["read"] == 2 and not reports[CrmKind.SALESFORCE]["drift"]

    # The next run asks only for what changed since this one (with a small overlap).
    CrmConnection.objects.filter(kind=CrmKind.PIPEDRIVE).update(active=True)
    crm_reconcile(connection=CrmConnection.objects.get(kind=CrmKind.PIPEDRIVE), now=NOW + timedelta(hours=1))
    asked = [r.path for r in fake_crm.requests if r.path.startswith("/api/v2/deals")][-2]
    assert parse_qs(urlsplit(asked).query)["updated_since"] == ["2026-11-28T11:55:00Z"]


def _closed_here_since(world, hubspot_id: str):
    """A deal closed here after the CRM's last change (won there): it stays as it is, and differs."""
    deal = world.deal(hubspot_id=hubspot_id)
    deal_services.deal_mark_lost(deal=deal, reason=world.reasons["price-too-high"], actor=world.alice)
    return deal


def test_the_overview_shows_the_drift_and_the_command_prints_it(client, world, fake_crm, capsys):
    stuck = _closed_here_since(world, "104")
    _hubspot_pages(fake_crm)
    _pipedrive_pages(fake_crm)
    _salesforce_pages(fake_crm)
    call_command("crm_reconcile", "hubspot")
    out = capsys.readouterr().out
    assert "HubSpot: read 4 changed deals" in out and f"deal {stuck.pk} “{stuck.name}”" in out
    client.force_login(world.carol)
    page = client.get(reverse("crm:integrations")).content.decode()
    assert "1 still different" in page and stuck.name in page and "Reconcile HubSpot now" in page


def test_a_crm_that_cannot_be_read_records_nothing(world, fake_crm):
    fake_crm.serve("POST", "/crm/v3/objects/deals/search", lambda path, body: (503, {"message": "down"}))
    hubspot = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    with pytest.raises(ReconcileFailed, match="503"):
        crm_reconcile(connection=hubspot, now=NOW)
    hubspot.refresh_from_db()
    assert hubspot.reconciled_at is None and hubspot.reconcile_report == {}
    with pytest.raises(Exception, match="could not be reconciled"):
        call_command("crm_reconcile", "hubspot")


def test_reconcile_now_is_queued_in_the_outbox_even_with_the_broker_away(
    client, world, fake_crm, django_capture_on_commit_callbacks
):
    """The button writes its hand-off to the outbox: with no broker the page still answers at
    once, the row waits, and the worker's side of that row runs the reconciliation."""
    from outbox.models import Message
    from outbox.services import message_deliver
    from outbox.tests.conftest import broker_at
    from tests.ports import free_port

    stuck = _closed_here_since(world, "104")
    _hubspot_pages(fake_crm)
    client.force_login(world.carol)
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"), django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("crm:reconcile", args=[CrmKind.HUBSPOT]), follow=True)
    assert response.status_code == 200
    assert "Reconciliation of HubSpot queued" in response.content.decode()
    [message] = Message.objects.filter(kind="crm.reconcile")
    assert (message.kind, message.items, message.published_at) == ("crm.reconcile", ["hubspot"], None)
    assert "not published" in message.last_error

    message_deliver(message_id=message.pk)  # what the worker runs once the broker is back
    assert not Message.objects.filter(kind="crm.reconcile").exists()
    hubspot = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    assert hubspot.reconcile_report["read"] == 4
    assert [row["deal"] for row in hubspot.reconcile_report["drift"]] == [stuck.pk]
