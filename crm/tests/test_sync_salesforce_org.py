"""A Salesforce org's own shape comes with its deals: its Opportunity record types (through their
sales processes) are pipelines with the stages each process uses, and a multi-currency org's
CurrencyIsoCode is each deal's currency (a single-currency org's DefaultCurrencyIsoCode
otherwise). Everything starts from the loopback Salesforce's REST and SOQL answers and outbound
messages; the test makes no row but the connection and the admin's exchange rate (on its page)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.models import CrmKind, WebhookEvent
from crm.reconcile import crm_reconcile
from crm.sync.run import sync_run
from crm.tests.conftest import SALESFORCE_TOKEN, process_stored
from crm.tests.fake_salesforce import Org
from crm.tests.sync_world import NOW, connect, period_query
from crm.tests.test_sync_salesforce import ALICE, DAVE, OWNERS, SalesforceDriver, bring_in
from deals.models import Deal, DealStatus, Pipeline, Stage

pytestmark = pytest.mark.django_db

STAGES = [  # (label, probability, closed, won), in the org's picklist order
    ("Prospecting", 10, False, False),
    ("Qualification", 20, False, False),
    ("Needs Analysis", 40, False, False),
    ("Proposal/Price Quote", 75, False, False),
    ("Negotiation/Review", 90, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
]
NEW_BUSINESS = ["Closed Lost", "Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
                "Closed Won"]  # fmt: skip
RENEWAL = ["Qualification", "Negotiation/Review", "Closed Won", "Closed Lost"]
EUR_RATE = Decimal("1.0825")


def build_org(*, record_types: bool, currencies: tuple[str, ...] = (), default: str = "USD", deals: int = 36):
    """An org with STAGES; with record types, a New Business and a Renewal sales process. Returns
    the org, its record type ids and what each opportunity is (as the fake has it)."""
    org = Org(multi_currency=bool(currencies))
    org.objects["Organization"][0]["DefaultCurrencyIsoCode"] = default
    for order, (label, probability, closed, won) in enumerate(STAGES, start=1):
        org.stage(label, order, probability, closed=closed, won=won)
    types = {}
    if record_types:
        types = {
            "New Business": (org.sales_process(1, "New Business Process", "New Business", NEW_BUSINESS),
                             NEW_BUSINESS),
            "Renewal": (org.sales_process(2, "Renewal Process", "Renewal", RENEWAL), RENEWAL),
        }  # fmt: skip
    kinds = [*types.values(), (None, [label for label, *_ in STAGES])]
    expected = []
    for i in range(1, deals + 1):
        record_type, process = kinds[i % len(kinds)]
        opened = [s for s in process if s not in ("Closed Won", "Closed Lost")]
        path = opened[: 1 + i % len(opened)]
        outcome = ["open", "lost", "won", "lost"][i % 4]
        final = {"open": [], "lost": ["Closed Lost"], "won": ["Closed Won"]}[outcome]
        currency = currencies[i % len(currencies)] if currencies else None
        amount = Decimal(1000 + 37 * i)
        expected.append({
            "id": org.opportunity(
                i, name=f"Opp {i}", stages=path + final, owner=ALICE if i % 2 else DAVE, amount=float(amount),
                created=NOW - timedelta(days=200), modified=NOW - timedelta(days=2),
                close_date=(NOW + timedelta(days=30 if outcome == "open" else -i)).date(),
                reason="Price too high" if outcome == "lost" else None, record_type=record_type,
                currency=currency,
            ),
            "pipeline": record_type or "Opportunity", "stage": path[-1], "outcome": outcome,
            "amount": amount, "currency": currency or default,
        })  # fmt: skip
    return org, {name: rt for name, (rt, _) in types.items()}, expected


def _connect(fake_crm, org, **fields):
    org.serve(fake_crm)
    return connect(CrmKind.SALESFORCE, fake_crm, api_token="sf-token", owner_map=OWNERS, **fields)


def _stages(pipeline: Pipeline) -> list[tuple]:
    return [(s.name, s.win_probability, s.outcome) for s in pipeline.stages.filter(removed_at__isnull=True)]


def _stage_row(label: str) -> tuple:
    _label, probability, closed, won = next(s for s in STAGES if s[0] == label)
    return label, probability, ("won" if won else "lost") if closed else "open"


def test_record_types_are_pipelines_with_their_sales_process_stages_and_follow_the_org(
    client, people, fake_crm
):
    org, types, expected = build_org(record_types=True)
    connection = _connect(fake_crm, org)
    assert sync_run(run_id=bring_in(client, people).pk) is None

    pipelines = {p.salesforce_id: p for p in Pipeline.objects.all()}
    assert {key: p.name for key, p in pipelines.items()} == {
        "Opportunity": "Opportunities",  # opportunities without a record type: every stage
        types["New Business"]: "New Business",
        types["Renewal"]: "Renewal",
    }
    assert _stages(pipelines["Opportunity"]) == [_stage_row(label) for label, *_ in STAGES]
    # Each process's stages, in the org's order (not the order they were put in the process).
    in_order = [label for label, *_ in STAGES]
    for name, process in (("New Business", NEW_BUSINESS), ("Renewal", RENEWAL)):
        assert _stages(pipelines[types[name]]) == [_stage_row(s) for s in sorted(process, key=in_order.index)]
    deals = {d.salesforce_id: d for d in Deal.objects.select_related("pipeline", "stage")}
    assert len(deals) == len(expected)
    for e in expected:
        deal = deals[e["id"]]
        status = {"open": DealStatus.OPEN, "lost": DealStatus.LOST, "won": DealStatus.WON}[e["outcome"]]
        assert (deal.pipeline.salesforce_id, deal.stage.name, deal.status) == (
            e["pipeline"],
            e["stage"],
            status,
        ), e

    # In Salesforce: a Partner record type is added, a stage renamed, one taken out of Renewal.
    partner = org.sales_process(3, "Partner Process", "Partner", ["Prospecting", "Negotiation/Review",
                                                                   "Closed Won", "Closed Lost"])  # fmt: skip
    next(s for s in org.objects["OpportunityStage"] if s["ApiName"] == "Negotiation/Review")[
        "MasterLabel"
    ] = "Negotiation"
    renewal_process = next(r for r in org.objects["RecordType"] if r["Id"] == types["Renewal"])
    org.process_stages[renewal_process["BusinessProcessId"]].remove("Qualification")
    new = org.opportunity(
        500, name="Partner deal", stages=["Prospecting", "Negotiation/Review", "Closed Lost"], owner=ALICE,
        amount=9000.0, created=NOW - timedelta(days=20), modified=NOW, close_date=NOW.date(),
        reason="Price too high", record_type=partner,
    )  # fmt: skip
    report = crm_reconcile(connection=connection)

    assert report["stages"]["added"][0] == "Partner", report["stages"]
    assert "Renewal: Negotiation/Review → Negotiation" in report["stages"]["renamed"]
    assert "Opportunities: Negotiation/Review → Negotiation" in report["stages"]["renamed"]
    assert report["stages"]["removed"] == ["Renewal: Qualification"]
    assert _stages(Pipeline.objects.get(salesforce_id=partner)) == [
        ("Prospecting", 10, "open"), ("Negotiation", 90, "open"), ("Closed Won", 100, "won"),
        ("Closed Lost", 0, "lost"),
    ]  # fmt: skip
    removed = Stage.objects.get(pipeline__salesforce_id=types["Renewal"], salesforce_id="Qualification")
    assert removed.removed_at is not None and removed.deals.exists()  # its history stays
    arrived = Deal.objects.select_related("pipeline", "stage").get(salesforce_id=new)
    assert (arrived.pipeline.salesforce_id, arrived.stage.name, arrived.status) == (
        partner,
        "Negotiation",
        DealStatus.LOST,
    )


def test_an_org_without_record_types_asks_for_no_record_type_field(client, people, fake_crm):
    org, _types, expected = build_org(record_types=False, default="EUR", deals=8)
    _connect(fake_crm, org)
    assert sync_run(run_id=bring_in(client, people).pk) is None
    assert list(Pipeline.objects.values_list("salesforce_id", flat=True)) == ["Opportunity"]
    # A single-currency org: its default currency (asking for CurrencyIsoCode would fail the query).
    assert set(Deal.objects.values_list("currency", flat=True)) == {"EUR"}
    assert Deal.objects.count() == len(expected)
    queries = " ".join(r.path for r in fake_crm.requests if "FROM+Opportunity+" in r.path)
    assert "RecordTypeId" not in queries and "CurrencyIsoCode" not in queries


def test_deals_in_two_currencies_and_the_dashboard_converts_their_lost_value(
    client, api_as, people, fake_crm
):
    org, types, expected = build_org(record_types=True, currencies=("USD", "EUR"))
    _connect(fake_crm, org, webhook_secret=SALESFORCE_TOKEN, account_id="00D5e000000AbCdEAK")
    assert sync_run(run_id=bring_in(client, people).pk) is None
    # A new EUR opportunity, closed lost, comes by outbound message.
    new = org.opportunity(
        600, name="Euro renewal", stages=["Qualification", "Closed Lost"], owner=ALICE, amount=4321.0,
        created=NOW - timedelta(days=30), modified=NOW, close_date=(NOW - timedelta(days=1)).date(),
        reason="Price too high", record_type=types["Renewal"], currency="EUR",
    )  # fmt: skip
    expected.append({"id": new, "outcome": "lost", "amount": Decimal(4321), "currency": "EUR"})
    driver = SalesforceDriver()
    driver.data = org
    path, body, _headers = driver.webhook("600")
    assert b"<sf:CurrencyIsoCode>EUR</sf:CurrencyIsoCode>" in body
    assert client.post(path, body, content_type="text/xml").status_code == 200
    process_stored()
    assert WebhookEvent.objects.get().result.startswith("created from ")

    currencies = dict(Deal.objects.values_list("salesforce_id", "currency"))
    assert currencies == {e["id"]: e["currency"] for e in expected}
    assert set(currencies.values()) == {"USD", "EUR"}
    assert Deal.objects.get(salesforce_id=new).pipeline.salesforce_id == types["Renewal"]

    client.force_login(people["carol"])  # the admin's rate, on the rates page
    assert (
        client.post(reverse("insights:rates"), {"currency": "EUR", "rate": str(EUR_RATE)}).status_code == 302
    )
    want = sum(
        e["amount"] * (EUR_RATE if e["currency"] == "EUR" else 1) for e in expected if e["outcome"] == "lost"
    ).quantize(Decimal("0.01"))
    headline = api_as(people["carol"]).get("/api/figures/", period_query()).json()["figures"]["headline"]
    assert Decimal(str(headline["lost_value"])) == want
    assert headline["lost"] == sum(1 for e in expected if e["outcome"] == "lost")
