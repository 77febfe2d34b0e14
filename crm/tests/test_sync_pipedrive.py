"""Pipedrive is the source: from an empty closedlost with only the connection configured, "bring in
deals" brings the company's pipelines, stages, organizations, deals and persons (a loopback
Pipedrive serving API v2 / v1 with cursor paging); marketing_status "unsubscribed" is honoured."""

import base64
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.models import CrmKind, CrmSyncRun
from crm.sync.run import sync_run
from crm.tests.conftest import PIPEDRIVE_PASSWORD, PIPEDRIVE_USER
from crm.tests.fake_pipedrive import Company, stamp
from crm.tests.sync_world import NOW, connect, expected_figures, period_query
from deals.models import Closure, Contact, Deal, DealContact, DealStatus, Pipeline
from followups.models import ContactOptOut, FollowUp

pytestmark = pytest.mark.django_db

OWNERS = {"18487521": "alice", "18487522": "dave"}
STAGES = {
    1: [(1, "Qualified", 10), (2, "Contact made", 20), (3, "Demo scheduled", 50), (4, "Proposal made", 70)],
    2: [(11, "Lead in", 10), (12, "Negotiations", 60)],
}
REASONS = {
    "Price too high": "price-too-high",
    "No budget": "no-budget",
    "Chose a spreadsheet": None,
    None: None,
}


def build_company(deals: int = 150) -> tuple[Company, list[dict]]:
    company = Company()
    company.pipeline(1, "Sales", STAGES[1])
    company.pipeline(2, "Partners", STAGES[2])
    for n in range(8):
        company.org(300 + n, f"Org {n}")
    for n in range(50):
        status = "unsubscribed" if n == 4 else "subscribed"
        company.person(500 + n, f"Person {n}", f"person{n}@elm.example", 300 + n % 8, marketing_status=status)
    expected, reasons = [], list(REASONS)
    for i in range(1, deals + 1):
        pipeline = 2 if i % 5 == 0 else 1
        stage = STAGES[pipeline][i % len(STAGES[pipeline])][0]
        kind = i % 6
        status, closed = "open", None
        if kind in (2, 3, 5):
            status, closed = "lost", NOW - timedelta(days=(900 + i) if kind == 5 else 2 * i)
        elif kind == 4:
            status, closed = "won", NOW - timedelta(days=i)
        owner = 18487523 if i % 50 == 0 else (18487521 if i % 2 else 18487522)
        reason = reasons[i % 4] if status == "lost" else None
        person, others = 500 + i % 50, ([500 + (i + 3) % 50] if i % 3 else [])
        company.deal(
            i,
            title=f"Deal {i}",
            pipeline=pipeline,
            stage=stage,
            owner=owner,
            value=1000 + 11 * i,
            status=status,
            created=NOW - timedelta(days=1000),
            updated=NOW - timedelta(days=1),
            closed=closed,
            lost_reason=reason,
            person=person,
            org=300 + i % 8,
            participants=others,
        )
        expected.append(
            {
                "id": str(i),
                "outcome": status,
                "stage": str(stage),
                "owner": OWNERS.get(str(owner)),
                "reason": REASONS[reason],
                "amount": Decimal(1000 + 11 * i),
                "skipped": kind == 5 or str(owner) not in OWNERS,
                "contacts": [str(person)] + [str(o) for o in others],
            }
        )
    return company, expected


class PipedriveDriver:
    """What the worker tests need of Pipedrive: a synced company, a new lost deal, its webhook."""

    kind = CrmKind.PIPEDRIVE
    id_field = "pipedrive_id"
    lost_at = "3"  # the deal's stage in Pipedrive, where it was lost

    @staticmethod
    def external_id(deal_id: str) -> str:
        return deal_id

    def setup(self, fake):
        self.data, _ = build_company(deals=12)
        self.data.serve(fake)
        return connect(
            self.kind,
            fake,
            api_token="pd-token",
            webhook_username=PIPEDRIVE_USER,
            webhook_secret=PIPEDRIVE_PASSWORD,
            account_id="12882925",
            owner_map=OWNERS,
        )

    def new_lost_deal(self, deal_id: str, buyers: dict) -> None:
        for n, (email, (name, opted)) in enumerate(buyers.items()):
            self.data.person(
                9000 + n, name, email, 300, marketing_status="unsubscribed" if opted else "subscribed"
            )
        self.data.deal(
            int(deal_id),
            title="Oak Logistics rollout",
            pipeline=1,
            stage=3,
            owner=18487521,
            value=18000,
            status="lost",
            created=NOW - timedelta(days=70),
            updated=NOW - timedelta(minutes=2),
            closed=NOW - timedelta(days=11),
            lost_reason="Price too high",
            person=9000,
            org=300,
            participants=[9001, 9002],
        )

    def webhook(self, deal_id: str) -> tuple[str, bytes, dict]:
        import json

        deal = self.data.deals[int(deal_id)]
        body = {
            "data": deal,
            "previous": None,
            "meta": {
                "action": "create",
                "entity": "deal",
                "version": "2.0",
                "company_id": "12882925",
                "user_id": "18487521",
                "id": f"5b1c8e0a-0000-4000-8000-{int(deal_id):012d}",
                "entity_id": deal_id,
                "webhook_id": "99",
                "webhook_owner_id": "18487521",
                "correlation_id": "c0ffee00-1111-4222-8333-444455556666",
                "permitted_user_ids": ["18487521"],
                "attempt": 1,
                "host": "elm.pipedrive.com",
                "timestamp": stamp(NOW),
                "change_source": "app",
                "is_bulk_edit": False,
                "type": "general",
            },
        }
        auth = base64.b64encode(f"{PIPEDRIVE_USER}:{PIPEDRIVE_PASSWORD}".encode()).decode()
        return "/webhooks/pipedrive/", json.dumps(body).encode(), {"HTTP_AUTHORIZATION": f"Basic {auth}"}


@pytest.fixture
def pipedrive(people, fake_crm):
    company, expected = build_company()
    company.serve(fake_crm)
    connection = connect(CrmKind.PIPEDRIVE, fake_crm, api_token="pd-token", owner_map=OWNERS)
    return company, expected, connection


def bring_in(client, people) -> CrmSyncRun:
    client.force_login(people["carol"])
    assert (
        client.post(reverse("crm:sync-start", args=["pipedrive"]), {"window_months": 24}).status_code == 302
    )
    return CrmSyncRun.objects.get()


def test_first_sync_brings_the_company_and_the_dashboard_agrees(client, api_as, people, pipedrive, fake_crm):
    _company, expected, _connection = pipedrive
    run = bring_in(client, people)
    assert sync_run(run_id=run.pk) is None
    run.refresh_from_db()
    kept = [e for e in expected if not e["skipped"]]
    assert (run.status, run.pages, run.created_count, run.skipped_count) == (
        "done",
        2,
        len(kept),
        len(expected) - len(kept),
    )
    assert [
        (p.name, [s.name for s in p.stages.all()]) for p in Pipeline.objects.order_by("pipedrive_id")
    ] == [("Sales", [s[1] for s in STAGES[1]]), ("Partners", [s[1] for s in STAGES[2]])]
    deals = {d.pipedrive_id: d for d in Deal.objects.select_related("stage", "owner", "account")}
    assert set(deals) == {e["id"] for e in kept}
    for e in kept:
        deal = deals[e["id"]]
        status = {"open": DealStatus.OPEN, "won": DealStatus.WON, "lost": DealStatus.LOST}[e["outcome"]]
        assert (deal.status, deal.stage.pipedrive_id, deal.owner.username, deal.amount, deal.currency) == (
            status,
            e["stage"],
            e["owner"],
            e["amount"],
            "EUR",
        ), e
        if e["outcome"] == "lost":
            assert (deal.close_reason.code if deal.close_reason else None) == e["reason"], e
        links = DealContact.objects.filter(deal=deal).order_by("-is_primary", "id")
        assert [(link.contact.pipedrive_id, link.is_primary) for link in links] == [
            (c, n == 0) for n, c in enumerate(e["contacts"])
        ]
    assert ContactOptOut.objects.filter(email="person4@elm.example").exists()
    assert Contact.objects.get(pipedrive_id="504").account.pipedrive_id == "304"
    assert not FollowUp.objects.exists()

    figures = api_as(people["carol"]).get("/api/figures/", period_query()).json()["figures"]
    want = expected_figures(
        [{"outcome": e["outcome"], "reason": e["reason"]} for e in kept if e["outcome"] != "open"]
    )
    headline = figures["headline"]
    assert (headline["won"], headline["lost"], headline["needs_reason"]) == (
        want["won"],
        want["lost"],
        want["needs_reason"],
    )
    assert Decimal(str(headline["win_rate"])) == pytest.approx(want["win_rate"])
    assert {r["reason_code"]: r["lost"] for r in figures["loss-by-reason"]["rows"]} == want["by_reason"]


def test_an_interrupted_first_sync_resumes_without_duplicates(settings, client, people, pipedrive, fake_crm):
    _company, expected, _connection = pipedrive
    run = bring_in(client, people)
    settings.CRM_SYNC_BATCH = 1  # each CRM page written on its own
    assert sync_run(run_id=run.pk, max_pages=1) == 0.0
    fake_crm.fail_reads(2)
    assert sync_run(run_id=run.pk) > 0 and sync_run(run_id=run.pk) > 0
    assert sync_run(run_id=run.pk) is None
    run.refresh_from_db()
    kept = [e for e in expected if not e["skipped"]]
    assert (run.status, run.pages, run.created_count) == ("done", 2, len(kept))
    assert Deal.objects.count() == len(kept) == Deal.objects.values("pipedrive_id").distinct().count()
    assert DealContact.objects.count() == sum(len(e["contacts"]) for e in kept)


def test_the_competitor_field_comes_with_lost_deals(client, people, pipedrive, competitor):
    """The connection names the deal's custom field (its key) holding the competitor."""
    company, _expected, connection = pipedrive
    key = "9f0c1d2e3b4a5968778695a4b3c2d1e0f9a8b7c6"
    connection.competitor_field = key
    connection.save(update_fields=["competitor_field"])
    for deal in company.deals.values():
        deal["custom_fields"][key] = {
            "type": "varchar",
            "value": competitor.aliases[0] if competitor.aliases else competitor.name,
        }
    run = bring_in(client, people)
    assert sync_run(run_id=run.pk) is None
    closures = Closure.objects.filter(outcome=DealStatus.LOST)
    assert closures.count() > 10
    assert set(closures.values_list("competitor", flat=True)) == {competitor.pk}


def test_every_read_carries_the_token_as_the_connection_says(client, people, pipedrive, fake_crm):
    """A personal API token goes in x-api-token (Pipedrive refuses it as a bearer token) in the
    first sync, reconciliation (a new deal read and made, stages, contacts) and the people import;
    an OAuth access token goes as a bearer token."""
    from crm import services
    from crm.reconcile import ReconcileFailed, crm_reconcile

    company, _expected, connection = pipedrive
    assert connection.token_kind == connection.TokenKind.API_TOKEN
    run = bring_in(client, people)
    assert sync_run(run_id=run.pk) is None
    company.deal(
        8001, title="New in Pipedrive", pipeline=1, stage=2, owner=18487521, value=500, status="open",
        created=NOW - timedelta(days=1), updated=NOW, person=501, org=301, participants=[502],
    )  # fmt: skip
    report = crm_reconcile(connection=connection)
    assert "New in Pipedrive" in [c["name"] for c in report["created"]]
    assert client.get(reverse("people:crm-import", args=["pipedrive"])).status_code == 200
    assert fake_crm.requests and all(
        r.headers.get("x-api-token") == "pd-token" and "Authorization" not in r.headers
        for r in fake_crm.requests
    )

    before = len(fake_crm.requests)
    company.oauth_tokens.add("oauth-access-1")
    connection, _ = services.connection_save(
        kind="pipedrive", token_kind=connection.TokenKind.OAUTH, api_token="oauth-access-1"
    )
    crm_reconcile(connection=connection)
    assert all(
        r.headers.get("Authorization") == "Bearer oauth-access-1" and "x-api-token" not in r.headers
        for r in fake_crm.requests[before:]
    )
    connection, _ = services.connection_save(kind="pipedrive", api_token="pd-token")  # personal, as OAuth
    with pytest.raises(ReconcileFailed, match="401"):
        crm_reconcile(connection=connection)
