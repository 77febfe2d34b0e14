"""HubSpot is the source: from an empty closedlost with only the connection configured, "bring in
deals" brings the portal's pipelines, stages, companies, deals and contacts (a loopback HubSpot
serving its own endpoints with paging); after it, stages follow the portal and a contact removed
from a deal in HubSpot leaves it here."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.models import CrmKind, CrmSyncRun
from crm.reconcile import crm_reconcile
from crm.sync.run import sync_run
from crm.tests.conftest import HUBSPOT_SECRET
from crm.tests.fake_hubspot import Portal
from crm.tests.sync_world import NOW, connect, expected_figures, period_query
from deals.models import Account, Contact, Deal, DealContact, DealEvent, DealStatus, Pipeline, Stage
from followups.models import ContactOptOut, FollowUp, FollowUpKind, FollowUpState
from insights.rollup import rollup_drift

pytestmark = pytest.mark.django_db

SALES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin"]
RENEWALS = ["1001", "1002"]
REASONS = {
    "Price too high": "price-too-high",
    "No budget": "no-budget",
    "went with a cheaper tool": None,
    "": None,
}
OWNERS = {"101": "alice", "102": "dave"}  # 103 is nobody here: its deals are skipped with why
OPTED_OUT = "2005"


def build_portal(deals: int = 120) -> tuple[Portal, list[dict]]:
    """A portal and, per deal, what closedlost should make of it (computed here, independently)."""
    portal = Portal()
    portal.pipeline(
        "default",
        "Sales Pipeline",
        [
            ("appointmentscheduled", "Appointment Scheduled", 0.2, False),
            ("qualifiedtobuy", "Qualified To Buy", 0.4, False),
            ("presentationscheduled", "Presentation Scheduled", 0.6, False),
            ("decisionmakerboughtin", "Decision Maker Bought-In", 0.8, False),
            ("closedwon", "Closed Won", 1.0, True),
            ("closedlost", "Closed Lost", 0.0, True),
        ],
    )
    portal.pipeline(
        "7654321",
        "Renewals",
        [
            ("1001", "Renewal due", 0.5, False),
            ("1002", "Negotiating", 0.7, False),
            ("1003", "Renewed", 1.0, True),
            ("1004", "Churned", 0.0, True),
        ],
    )
    for n in range(10):
        portal.company(
            str(900 + n), f"Company {n}", f"company{n}.example", ["Retail", "Health"][n % 2], 40 * (n + 1)
        )
    for n in range(60):
        portal.contact(
            str(2000 + n),
            f"Buyer{n}",
            "Birch",
            f"buyer{n}@birch.example",
            opted_out=str(2000 + n) == OPTED_OUT,
        )
    expected = []
    reasons = list(REASONS)
    for i in range(1, deals + 1):
        renewal = i % 4 == 0
        stages = RENEWALS if renewal else SALES
        path = stages[: 1 + i % len(stages)]
        kind = i % 6
        outcome, closed = "open", None
        if kind in (2, 3, 5):
            outcome, closed = "lost", NOW - timedelta(days=(800 + i) if kind == 5 else 3 * i)
        elif kind == 4:
            outcome, closed = "won", NOW - timedelta(days=2 * i)
        final = {
            "open": [],
            "lost": ["1004" if renewal else "closedlost"],
            "won": ["1003" if renewal else "closedwon"],
        }
        reason = reasons[i % 4] if outcome == "lost" else ""
        owner = "103" if i % 40 == 0 else ("101" if i % 2 else "102")
        company = None if i % 10 == 7 else str(900 + i % 10)
        contacts = [(str(2000 + i % 60), "Primary decision maker")]
        if i % 5:
            contacts.append((str(2000 + (i + 7) % 60), ""))
        portal.deal(
            str(1000 + i),
            name=f"Deal {i}",
            pipeline="7654321" if renewal else "default",
            stages=path + final[outcome],
            owner=owner,
            amount=str(1000 + 37 * i),
            created=NOW - timedelta(days=900 + i),
            changed=NOW - timedelta(days=1),
            closed=closed,
            reason=reason,
            company=company,
            contacts=contacts,
        )
        skipped = owner == "103" or kind == 5
        expected.append(
            {
                "id": str(1000 + i),
                "outcome": outcome,
                "stage_at": path[-1],
                "owner": OWNERS.get(owner),
                "reason": REASONS.get(reason),
                "amount": Decimal(1000 + 37 * i),
                "skipped": skipped,
                "company": company,
                "contacts": contacts,
            }
        )
    return portal, expected


@pytest.fixture
def hubspot(people, fake_crm):
    portal, expected = build_portal()
    portal.serve(fake_crm)
    connection = connect(
        CrmKind.HUBSPOT,
        fake_crm,
        api_token="hs-token",
        webhook_secret=HUBSPOT_SECRET,
        account_id="62515",
        owner_map=OWNERS,
        primary_contact_label="primary",
    )
    return portal, expected, connection


def bring_in(client, people, **data) -> CrmSyncRun:
    client.force_login(people["carol"])
    response = client.post(reverse("crm:sync-start", args=["hubspot"]), {"window_months": 24, **data})
    assert response.status_code == 302
    return CrmSyncRun.objects.get()


def figures_and_expected(api, kept: list[dict]) -> tuple[dict, dict]:
    """The API's figures over the whole window and the ones computed from the portal's kept deals,
    after asserting the headline counts and the losses by reason agree."""
    figures = api.get("/api/figures/", period_query()).json()["figures"]
    want = expected_figures([e for e in kept if e["outcome"] != "open"])
    headline = figures["headline"]
    assert (headline["won"], headline["lost"], headline["needs_reason"]) == (
        want["won"],
        want["lost"],
        want["needs_reason"],
    )
    assert {r["reason_code"]: r["lost"] for r in figures["loss-by-reason"]["rows"]} == want["by_reason"]
    return figures, want


def test_first_sync_brings_the_portal_and_the_dashboard_agrees(client, api_as, people, hubspot, fake_crm):
    portal, expected, _connection = hubspot
    run = bring_in(client, people)
    assert sync_run(run_id=run.pk) is None  # what the worker does with the outbox's message
    run.refresh_from_db()
    kept = [e for e in expected if not e["skipped"]]
    assert (run.status, run.created_count, run.skipped_count) == (
        "done",
        len(kept),
        len(expected) - len(kept),
    )
    assert run.pages == 3  # 120 deals, 50 a page (HubSpot's limit with property history)
    whys = {s["id"]: s["why"] for s in run.skipped}
    assert whys["1040"] == "owner 103 matches no user: add it to the owner map"
    assert whys["1005"].startswith("closed before")

    sales = Pipeline.objects.get(hubspot_id="default")
    assert sales.name == "Sales Pipeline"
    assert [(s.name, s.win_probability, s.outcome) for s in sales.stages.all()] == [
        ("Appointment Scheduled", 20, "open"),
        ("Qualified To Buy", 40, "open"),
        ("Presentation Scheduled", 60, "open"),
        ("Decision Maker Bought-In", 80, "open"),
        ("Closed Won", 100, "won"),
        ("Closed Lost", 0, "lost"),
    ]
    assert list(Pipeline.objects.get(hubspot_id="7654321").stages.values_list("name", flat=True)) == [
        "Renewal due",
        "Negotiating",
        "Renewed",
        "Churned",
    ]

    deals = {d.hubspot_id: d for d in Deal.objects.select_related("stage", "owner", "account")}
    assert set(deals) == {e["id"] for e in kept}
    for e in kept:
        deal = deals[e["id"]]
        status = {"open": DealStatus.OPEN, "won": DealStatus.WON, "lost": DealStatus.LOST}[e["outcome"]]
        assert (deal.status, deal.stage.hubspot_id, deal.owner.username, deal.amount) == (
            status,
            e["stage_at"],
            e["owner"],
            e["amount"],
        ), e
        if e["outcome"] == "lost":
            assert (deal.close_reason.code if deal.close_reason else None) == e["reason"], e
            assert deal.needs_reason == (e["reason"] is None)
        assert deal.account.hubspot_id == e["company"] or (
            e["company"] is None and deal.account.hubspot_id is None
        )
        links = list(DealContact.objects.filter(deal=deal).select_related("contact").order_by("-is_primary"))
        assert [(link.contact.hubspot_id, link.is_primary) for link in links] == [
            (c, n == 0) for n, (c, _label) in enumerate(e["contacts"])
        ]
    assert Account.objects.get(hubspot_id="903").domain == "company3.example"
    assert Contact.objects.get(hubspot_id="2003").email == "buyer3@birch.example"
    assert ContactOptOut.objects.filter(email=f"buyer{int(OPTED_OUT) - 2000}@birch.example").exists()
    # A first sync's closes are history: nobody is e-mailed about them.
    assert not FollowUp.objects.exists()

    figures, want = figures_and_expected(api_as(people["carol"]), kept)
    headline = figures["headline"]
    assert Decimal(str(headline["win_rate"])) == pytest.approx(want["win_rate"])
    assert headline["won_value"] == str(
        sum(e["amount"] for e in kept if e["outcome"] == "won")
    ) + ".00" or Decimal(str(headline["won_value"])) == sum(
        e["amount"] for e in kept if e["outcome"] == "won"
    )
    assert headline["open_deals"] == sum(1 for e in kept if e["outcome"] == "open")
    by_stage = {}
    for e in kept:
        if e["outcome"] == "lost":
            name = Stage.objects.get(hubspot_id=e["stage_at"]).name
            by_stage[name] = by_stage.get(name, 0) + 1
    assert {r["stage"]: r["lost"] for r in figures["losses-by-stage"]["rows"]} == by_stage

    page = client.get(reverse("crm:connection", args=["hubspot"])).content.decode()
    assert f"{len(kept)} created" in page and "Owner 103" not in page and "owner 103 matches no user" in page


def test_an_interrupted_first_sync_resumes_where_it_stopped_without_duplicates(
    settings, client, api_as, people, hubspot, fake_crm
):
    _portal, expected, _connection = hubspot
    run = bring_in(client, people)
    settings.CRM_SYNC_BATCH = 1  # each CRM page written on its own
    assert sync_run(run_id=run.pk, max_pages=1) == 0.0  # one page written, then the worker died
    # The pages put their deals' summary refresh off; each call refreshes them as it returns.
    assert Deal.objects.exists() and rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}
    fake_crm.fail_reads(3)  # HubSpot answers 500 for a while
    waits = [sync_run(run_id=run.pk) for _ in range(3)]
    assert all(w and w > 0 for w in waits)
    run.refresh_from_db()
    assert (run.status, run.pages, run.attempts) == ("waiting", 1, 3) and "500" in run.last_error
    page = client.get(reverse("crm:connection", args=["hubspot"])).content.decode()
    assert "Waiting for the CRM" in page
    before = len(fake_crm.requests)
    assert sync_run(run_id=run.pk) is None  # HubSpot is back
    run.refresh_from_db()
    kept = [e for e in expected if not e["skipped"]]
    assert (run.status, run.pages, run.created_count) == ("done", 3, len(kept))
    assert Deal.objects.count() == len(kept) == Deal.objects.values("hubspot_id").distinct().count()
    assert DealContact.objects.count() == sum(len(e["contacts"]) for e in kept)
    lists = [r.path for r in fake_crm.requests[before:] if r.path.startswith("/crm/v3/objects/deals?")]
    assert "after=1050" in lists[0]  # the first page was not read again
    # The run shown done has its figures whole: every page's deals, refreshed with its last page.
    assert rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}
    figures_and_expected(api_as(people["carol"]), kept)


def test_stages_follow_the_portal_and_a_removed_contact_leaves_the_deal(client, people, hubspot, fake_crm):
    portal, expected, connection = hubspot
    run = bring_in(client, people)
    sync_run(run_id=run.pk)
    # A deal lost just now here has its nurture e-mails ahead; then HubSpot changes.
    deal_id = next(
        e["id"] for e in expected if e["outcome"] == "open" and len(e["contacts"]) == 2 and not e["skipped"]
    )
    primary, other = (c for c, _label in next(e for e in expected if e["id"] == deal_id)["contacts"])
    portal.move(
        deal_id,
        "closedlost",
        NOW - timedelta(minutes=5),
        closed_lost_reason="Price too high",
        closedate=NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )
    crm_reconcile(connection=connection)
    deal = Deal.objects.get(hubspot_id=deal_id)
    assert deal.status == DealStatus.LOST
    emails = FollowUp.objects.filter(deal=deal, kind=FollowUpKind.CONTACT_EMAIL)
    assert {f.contact.hubspot_id for f in emails} == {primary, other} - {OPTED_OUT}

    portal.deal_contacts[deal_id] = [(primary, "Primary decision maker")]  # removed from the deal in HubSpot
    portal.move(deal_id, "closedlost", NOW - timedelta(minutes=1))
    stage = portal.stage("qualifiedtobuy")
    stage["label"] = "Qualified"  # renamed in HubSpot
    portal.pipelines[0]["stages"] = [
        s for s in portal.pipelines[0]["stages"] if s["id"] != "decisionmakerboughtin"
    ]
    report = crm_reconcile(connection=connection)

    assert report["stages"]["renamed"] == ["Sales Pipeline: Qualified To Buy → Qualified"], report["stages"]
    assert Stage.objects.get(hubspot_id="qualifiedtobuy").name == "Qualified"
    removed = Stage.objects.get(hubspot_id="decisionmakerboughtin")
    assert removed.removed_at is not None and removed.deals.exists(), report["stages"]  # kept, with its deals
    left = Contact.objects.get(hubspot_id=other)
    assert not DealContact.objects.filter(deal=deal, contact=left).exists()
    assert DealEvent.objects.filter(deal=deal, field="contact", from_value=str(left.pk)).exists()
    states = dict(emails.values_list("contact__hubspot_id", "state"))
    assert states[primary] == FollowUpState.PENDING
    if other != OPTED_OUT:
        assert states[other] == FollowUpState.CANCELLED


class HubSpotDriver:
    """What the worker tests need of HubSpot: a synced portal, a new lost deal, its webhook."""

    kind = CrmKind.HUBSPOT
    id_field = "hubspot_id"
    lost_at = "presentationscheduled"  # the stage before "closedlost" in the deal's history

    @staticmethod
    def external_id(deal_id: str) -> str:
        return deal_id

    def setup(self, fake):
        self.data, _ = build_portal(deals=12)
        self.data.serve(fake)
        return connect(
            self.kind,
            fake,
            api_token="hs-token",
            webhook_secret=HUBSPOT_SECRET,
            account_id="62515",
            owner_map=OWNERS,
        )

    def new_lost_deal(self, deal_id: str, buyers: dict) -> None:
        """Three buyers (the first the primary), a deal through two stages, lost 11 days ago."""
        labels = ["Primary buyer", "", "Influencer"]
        for n, (email, (name, opted)) in enumerate(buyers.items()):
            first, last = name.split()
            self.data.contact(str(3001 + n), first, last, email, opted_out=opted)
        self.data.company("950", "Oak Logistics", "oak.example", "Logistics", 120)
        self.data.deal(
            deal_id,
            name="Oak Logistics rollout",
            pipeline="default",
            stages=["qualifiedtobuy", "presentationscheduled", "closedlost"],
            owner="101",
            amount="18000",
            created=NOW - timedelta(days=70),
            changed=NOW - timedelta(minutes=2),
            closed=NOW - timedelta(days=11),
            reason="Price too high",
            company="950",
            contacts=[(str(3002), ""), (str(3001), labels[0]), (str(3003), labels[2])],
        )

    def webhook(self, deal_id: str) -> tuple[str, bytes, dict]:
        import json
        import time

        from crm.tests.conftest import sign_hubspot

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
                    "objectId": int(deal_id),
                    "changeFlag": "CREATED",
                    "changeSource": "CRM_UI",
                    "sourceId": "userId:4611325",
                }
            ]
        ).encode()
        headers = sign_hubspot(secret=HUBSPOT_SECRET, uri="http://testserver/webhooks/hubspot/", body=body)
        return "/webhooks/hubspot/", body, headers


def test_the_competitor_property_comes_with_a_lost_deal(client, people, hubspot, competitor):
    """The connection names the deal property holding the competitor; a deal lost to one arrives
    with it (matched by name, any case), one naming nobody we know arrives without."""
    portal, _expected, connection = hubspot
    client.force_login(people["carol"])
    connection.competitor_field = "lost_to_competitor"
    connection.save(update_fields=["competitor_field"])
    portal.deals["1002"]["properties"]["lost_to_competitor"] = competitor.name.upper()
    portal.deals["1003"]["properties"]["lost_to_competitor"] = "Someone unknown"
    run = bring_in(client, people)
    assert sync_run(run_id=run.pk) is None
    lost = Deal.objects.get(hubspot_id="1002")
    assert lost.status == DealStatus.LOST
    assert lost.closures.get().competitor == competitor
    assert Deal.objects.get(hubspot_id="1003").closures.get().competitor is None
