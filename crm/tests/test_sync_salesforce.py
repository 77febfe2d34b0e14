"""Salesforce is the source: from an empty closedlost with only the connection configured, "bring
in deals" brings the org's opportunity stages, Accounts, Opportunities (keyset pages of SOQL),
their contact roles and Contacts (HasOptedOutOfEmail honoured), from a loopback Salesforce."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.models import CrmKind, CrmSyncRun
from crm.sync.run import sync_run
from crm.tests.conftest import SALESFORCE_TOKEN
from crm.tests.fake_salesforce import Org, sf_id, sf_time
from crm.tests.sync_world import NOW, connect, expected_figures, period_query
from deals.models import Closure, Contact, Deal, DealContact, DealStatus, Pipeline
from followups.models import ContactOptOut, FollowUp

pytestmark = pytest.mark.django_db

ALICE, DAVE, NOBODY = sf_id("005", 1), sf_id("005", 2), sf_id("005", 3)
OWNERS = {ALICE: "alice", DAVE: "dave"}
OPEN_STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote"]
REASONS = {"Price too high": "price-too-high", "No budget": "no-budget", "Lost interest": None, None: None}


def build_org(deals: int = 450) -> tuple[Org, list[dict]]:
    org = Org()
    for order, (label, probability) in enumerate(zip(OPEN_STAGES, [10, 20, 40, 75], strict=True), start=1):
        org.stage(label, order, probability)
    org.stage("Closed Won", 5, 100, closed=True, won=True)
    org.stage("Closed Lost", 6, 0, closed=True)
    for n in range(12):
        org.add(
            "Account",
            Id=sf_id("001", n),
            Name=f"Account {n}",
            Website=f"https://www.acct{n}.example",
            Industry=["Banking", "Retail", "Energy"][n % 3],
            NumberOfEmployees=100 + n,
        )
    for n in range(80):
        org.add(
            "Contact",
            Id=sf_id("003", n),
            FirstName=f"Pat{n}",
            LastName="Ash",
            Email=f"pat{n}@ash.example",
            Title="Director",
            HasOptedOutOfEmail=n == 6,
            AccountId=sf_id("001", n % 12),
        )
    expected, reasons = [], list(REASONS)
    for i in range(1, deals + 1):
        path = OPEN_STAGES[: 1 + i % 4]
        kind = i % 6
        outcome, close = "open", (NOW + timedelta(days=30)).date()
        if kind in (2, 3, 5):
            outcome, close = "lost", (NOW - timedelta(days=(900 + i) if kind == 5 else i)).date()
        elif kind == 4:
            outcome, close = "won", (NOW - timedelta(days=i)).date()
        final = {"open": [], "lost": ["Closed Lost"], "won": ["Closed Won"]}[outcome]
        owner = NOBODY if i % 100 == 0 else (ALICE if i % 2 else DAVE)
        reason = reasons[i % 4] if outcome == "lost" else None
        roles = [(sf_id("003", i % 80), "Decision Maker", True)]
        if i % 3:
            roles.append((sf_id("003", (i + 5) % 80), "Evaluator", False))
        opportunity = org.opportunity(
            i,
            name=f"Opp {i}",
            stages=path + final,
            owner=owner,
            amount=500.0 + 13 * i,
            created=NOW - timedelta(days=1000),
            modified=NOW - timedelta(days=1),
            close_date=close,
            reason=reason,
            account=sf_id("001", i % 12),
            roles=roles,
        )
        expected.append(
            {
                "id": opportunity,
                "outcome": outcome,
                "stage": path[-1],
                "owner": OWNERS.get(owner),
                "reason": REASONS[reason],
                "amount": Decimal(500 + 13 * i),
                "absent": kind == 5,
                "skipped": kind != 5 and owner == NOBODY,
                "contacts": [r[0] for r in roles],
            }
        )
    return org, expected


class SalesforceDriver:
    """What the worker tests need of Salesforce: a synced org, a new lost opportunity, its message."""

    kind = CrmKind.SALESFORCE
    id_field = "salesforce_id"
    lost_at = "Needs Analysis"

    @staticmethod
    def external_id(deal_id: str) -> str:
        return sf_id("006", int(deal_id))

    def setup(self, fake):
        self.data, _ = build_org(deals=12)
        self.data.serve(fake)
        return connect(
            self.kind,
            fake,
            api_token="sf-token",
            webhook_secret=SALESFORCE_TOKEN,
            account_id="00D5e000000AbCdEAK",
            owner_map=OWNERS,
        )

    def new_lost_deal(self, deal_id: str, buyers: dict) -> None:
        roles = []
        for n, (email, (name, opted)) in enumerate(buyers.items()):
            first, last = name.split()
            contact = sf_id("003", 900 + n)
            self.data.add(
                "Contact",
                Id=contact,
                FirstName=first,
                LastName=last,
                Email=email,
                Title="",
                HasOptedOutOfEmail=opted,
                AccountId=sf_id("001", 1),
            )
            roles.append((contact, ["Economic Buyer", "Evaluator", "Influencer"][n], n == 0))
        self.data.opportunity(
            int(deal_id),
            name="Oak Logistics rollout",
            stages=["Qualification", "Needs Analysis", "Closed Lost"],
            owner=ALICE,
            amount=18000.0,
            created=NOW - timedelta(days=70),
            modified=NOW - timedelta(minutes=2),
            close_date=(NOW - timedelta(days=11)).date(),
            reason="Price too high",
            account=sf_id("001", 1),
            roles=list(reversed(roles)),
        )

    def webhook(self, deal_id: str) -> tuple[str, bytes, dict]:
        record = next(o for o in self.data.objects["Opportunity"] if o["Id"] == sf_id("006", int(deal_id)))
        fields = "".join(
            f"<sf:{k}>{v}</sf:{k}>" for k, v in record.items() if v is not None and k != "OwnerId"
        )
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5e000000AbCdEAK</OrganizationId><ActionId>04k5e000000XyZaAAC</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://oak.my.salesforce.com/services/Soap/c/60.0/00D5e000000AbCd</EnterpriseUrl>
   <PartnerUrl>https://oak.my.salesforce.com/services/Soap/u/60.0/00D5e000000AbCd</PartnerUrl>
   <Notification><Id>04l5e00000Q9{int(deal_id):06d}</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""
        return f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}", body.encode(), {}

    content_type = "text/xml"


@pytest.fixture
def salesforce(people, fake_crm):
    org, expected = build_org()
    org.serve(fake_crm)
    connection = connect(CrmKind.SALESFORCE, fake_crm, api_token="sf-token", owner_map=OWNERS)
    return org, expected, connection


def bring_in(client, people) -> CrmSyncRun:
    client.force_login(people["carol"])
    assert (
        client.post(reverse("crm:sync-start", args=["salesforce"]), {"window_months": 24}).status_code == 302
    )
    return CrmSyncRun.objects.get()


def test_first_sync_brings_the_org_and_the_dashboard_agrees(client, api_as, people, salesforce, fake_crm):
    _org, expected, _connection = salesforce
    run = bring_in(client, people)
    assert sync_run(run_id=run.pk) is None
    run.refresh_from_db()
    read = [e for e in expected if not e["absent"]]
    kept = [e for e in read if not e["skipped"]]
    assert (run.status, run.read_count, run.created_count, run.skipped_count) == (
        "done",
        len(read),
        len(kept),
        len(read) - len(kept),
    )
    assert run.pages == 2  # 375 opportunities in the window, 200 a page
    pipeline = Pipeline.objects.get(salesforce_id="Opportunity")
    assert [(s.name, s.outcome) for s in pipeline.stages.all()] == [
        *((name, "open") for name in OPEN_STAGES),
        ("Closed Won", "won"),
        ("Closed Lost", "lost"),
    ]
    deals = {d.salesforce_id: d for d in Deal.objects.select_related("stage", "owner", "account")}
    assert set(deals) == {e["id"] for e in kept}
    for e in kept:
        deal = deals[e["id"]]
        status = {"open": DealStatus.OPEN, "won": DealStatus.WON, "lost": DealStatus.LOST}[e["outcome"]]
        assert (deal.status, deal.stage.name, deal.owner.username, deal.amount) == (
            status,
            e["stage"],
            e["owner"],
            e["amount"],
        ), e
        if e["outcome"] == "lost":
            assert (deal.close_reason.code if deal.close_reason else None) == e["reason"], e
        links = DealContact.objects.filter(deal=deal).order_by("-is_primary", "id")
        assert [(link.contact.salesforce_id, link.is_primary) for link in links] == [
            (c, n == 0) for n, c in enumerate(e["contacts"])
        ]
    assert deals[expected[0]["id"]].account.domain == "acct1.example"
    assert ContactOptOut.objects.filter(email="pat6@ash.example").exists()
    assert Contact.objects.get(salesforce_id=sf_id("003", 6)).email == "pat6@ash.example"
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


def test_an_interrupted_first_sync_resumes_without_duplicates(settings, client, people, salesforce, fake_crm):
    _org, expected, _connection = salesforce
    run = bring_in(client, people)
    settings.CRM_SYNC_BATCH = 1  # each CRM page written on its own
    assert sync_run(run_id=run.pk, max_pages=1) == 0.0
    fake_crm.fail_reads(2, status=503)
    assert sync_run(run_id=run.pk) > 0 and sync_run(run_id=run.pk) > 0
    assert sync_run(run_id=run.pk) is None
    run.refresh_from_db()
    kept = [e for e in expected if not e["absent"] and not e["skipped"]]
    assert (run.status, run.pages, run.created_count) == ("done", 2, len(kept))
    assert Deal.objects.count() == len(kept) == Deal.objects.values("salesforce_id").distinct().count()


def test_a_stage_renamed_in_salesforce_is_renamed_here(client, people, salesforce, fake_crm):
    from crm.reconcile import crm_reconcile

    org, _expected, connection = salesforce
    sync_run(run_id=bring_in(client, people).pk)
    stage = next(s for s in org.objects["OpportunityStage"] if s["ApiName"] == "Needs Analysis")
    stage["MasterLabel"] = "Discovery"  # the label changes; the API name the deals carry stays
    for opportunity in org.objects["Opportunity"][:3]:
        opportunity["LastModifiedDate"] = sf_time(NOW)
    report = crm_reconcile(connection=connection)
    assert report["stages"]["renamed"] == ["Opportunities: Needs Analysis → Discovery"]
    renamed = Pipeline.objects.get(salesforce_id="Opportunity").stages.get(salesforce_id="Needs Analysis")
    assert renamed.name == "Discovery" and renamed.deals.exists()


def test_the_competitor_field_comes_with_lost_deals(client, people, salesforce, competitor):
    """The connection names the Opportunity field (API name) holding the competitor."""
    org, _expected, connection = salesforce
    connection.competitor_field = "Competitor__c"
    connection.save(update_fields=["competitor_field"])
    for record in org.objects["Opportunity"]:
        record["Competitor__c"] = competitor.name
    run = bring_in(client, people)
    assert sync_run(run_id=run.pk) is None
    closures = Closure.objects.filter(outcome=DealStatus.LOST)
    assert closures.count() > 10
    assert set(closures.values_list("competitor", flat=True)) == {competitor.pk}
