"""The findings added for lost value, rep against the rest of the team and rep-vs-buyer
disagreement, end to end: the deals arrive by the CSV import (lost value, win rates) or are closed
through the services and answered by the buyer on the survey page (disagreement); the planted
changes are found on the page, in the CSV and in the API with SciPy's p values, and a manager of
West sees nothing of East."""

import csv
import io
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import Client
from scipy import stats

from crm.tests.exports import HUBSPOT_COLUMNS
from crm.tests.test_import import run
from deals import services
from deals.factories import ContactFactory
from insights.findings import FIELDS
from surveys import services as survey_services

NOW = {"period": "custom", "from": "2026-10-01", "to": "2026-11-30"}  # compared with 1 Aug – 30 Sep
DAYS = 61  # both periods
API_FIELDS = [
    f for f in FIELDS if f not in {"label", "total", "compare_total", "test", "effect", "compare_deals_url"}
]


def _row(n: int, owner: str, *, won: bool, closed: str, amount: int) -> list[str]:
    row = {
        "Record ID": str(7_000_000 + n),
        "Deal Name": f"Deal {n}",
        "Deal Stage": "Closed Won" if won else "Closed Lost",
        "Pipeline": "New business",
        "Amount": f"{amount}.00",
        "Close Date": closed,
        "Create Date": "2026-06-01 09:00",
        "Deal owner": owner,
        "Closed Lost Reason": "" if won else "Price too high",
        "Associated Company": f"Company {n % 40}",
    }
    return [row[column] for column in HUBSPOT_COLUMNS]


ALICE, ERIN, DAVE = "alice@closedlost.invalid", "Erin", "dave"
# (owner, won, lost, amount of each lost deal) per period; won deals of 10,000.
THEN = [(ALICE, 15, 15, [5_000 + 100 * i for i in range(15)]), (ERIN, 15, 15, [5_000] * 15)]
NOW_DEALS = [(ALICE, 3, 25, [40_000 + 1_000 * (i % 7) for i in range(25)]), (ERIN, 20, 10, [5_000] * 10)]
WEST = [(DAVE, 12, 15, [8_000] * 15)]  # the same in both periods


def _export() -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HUBSPOT_COLUMNS)
    n = 0
    for day, groups in (("2026-08-14", THEN + WEST), ("2026-10-20", NOW_DEALS + WEST)):
        for owner, won, _lost, amounts in groups:
            for _ in range(won):
                writer.writerow(_row(n, owner, won=True, closed=day, amount=10_000))
                n += 1
            for amount in amounts:
                writer.writerow(_row(n, owner, won=False, closed=day, amount=amount))
                n += 1
    return out.getvalue()


@pytest.fixture
def imported(world):
    world.pipeline.win_reason_required = False  # exports carry no win reasons
    world.pipeline.save()
    job = run(world, _export())
    assert job.status == "done"
    return world


def _findings(client, user, **extra) -> dict:
    client.force_login(user)
    return client.get("/api/findings/", {**NOW, **extra}).json()


def _one(body, **match) -> dict:
    found = [f for f in body["findings"] if all(f[key] == value for key, value in match.items())]
    assert len(found) == 1, (match, [f["text"] for f in body["findings"]])
    return found[0]


def _csv_rows(client) -> list[dict]:
    response = client.get("/insights/findings.csv", NOW)
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# Whole months (the monthly rollup), and the same 61 days cut across months (the comparison from 11
# August to 10 October): the partial months at both ends come from the daily rollup.
@pytest.mark.parametrize("period", [{}, {"from": "2026-10-11", "to": "2026-12-10"}], ids=["months", "days"])
def test_lost_value_from_the_import_is_found_with_scipys_p(client, imported, period):
    world = imported
    body = _findings(client, world.bob, **period)
    finding = _one(body, dimension="team", key=world.east.pk, measure="lost_value")
    assert set(API_FIELDS) <= set(finding)
    now = [a for _o, _w, _l, amounts in NOW_DEALS for a in amounts]
    then = [a for _o, _w, _l, amounts in THEN for a in amounts]
    assert (finding["count"], finding["compare_count"]) == (len(now), len(then))
    assert (finding["value"], finding["compare_value"]) == (sum(now), sum(then))
    assert finding["change"] == sum(now) - sum(then) and finding["direction"] == "up"
    z = (sum(now) / DAYS - sum(then) / DAYS) / math.sqrt(sum(a * a for a in now + then) / DAYS / DAYS)
    assert finding["test"] == "value_z"
    assert finding["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert finding["q_value"] <= body["fdr"]
    assert finding["text"] == (
        f"Lost value in team East rose from {sum(then):,} USD to {sum(now):,} USD:"
        f" {len(then)} → {len(now)} lost deals"
    )
    assert f"team={world.east.pk}" in finding["deals_url"] and "status=lost" in finding["deals_url"]
    assert f"{len(now)} deals" in client.get(finding["deals_url"]).content.decode()
    if period:
        return
    # Alice's own lost value too; and the page and the CSV carry the same findings.
    alice = _one(body, dimension="rep", key=world.alice.pk, measure="lost_value")
    assert alice["count"] == 25
    page = client.get("/insights/findings/", NOW).content.decode()
    assert finding["text"] in page and alice["text"] in page
    rows = _csv_rows(client)
    assert list(rows[0]) == FIELDS and len(rows) == len(body["findings"])
    assert any(r["text"] == finding["text"] and r["measure"] == "lost_value" for r in rows)


def test_a_rep_below_the_rest_of_the_team_within_the_period(client, imported):
    world = imported
    body = _findings(client, world.bob)
    finding = _one(body, dimension="rep", key=world.alice.pk, measure="win_rate_vs_team")
    assert (finding["count"], finding["total"], finding["compare_count"], finding["compare_total"]) == (
        3,
        28,
        20,
        30,
    )
    assert finding["direction"] == "down"
    assert finding["p_value"] == pytest.approx(
        stats.chi2_contingency([[3, 25], [20, 10]], correction=False).pvalue
    )
    assert "win rate is 11%, lower than the 67% of the rest of East" in finding["text"]
    # Within the period: both links are this period's, the rep's and the team's.
    assert (
        "closed_from=2026-10-01" in finding["deals_url"]
        and "closed_from=2026-10-01" in finding["compare_deals_url"]
    )
    assert f"owner={world.alice.pk}" not in finding["compare_deals_url"]


def test_a_west_manager_sees_nothing_of_east(client, imported):
    world = imported
    body = _findings(client, world.grace)
    east = {world.alice.pk, world.erin.pk, world.east.pk}
    assert body["tested"] > 0
    assert not [f for f in body["findings"] if f["key"] in east or "East" in f["text"]]
    page = client.get("/insights/findings/", NOW).content.decode()
    assert "East" not in page and "Alice" not in page
    assert all("East" not in row["text"] for row in _csv_rows(client))
    admin = _findings(client, world.carol)
    assert _one(admin, dimension="team", key=world.east.pk, measure="lost_value")


# --- rep-vs-buyer disagreement: closes through the services, answers on the buyer's page -----

THEN_DAY, NOW_DAY = datetime(2026, 8, 14, 12, tzinfo=UTC), datetime(2026, 10, 20, 12, tzinfo=UTC)


def _surveyed_loss(world, owner: str, when, n: int, *, buyer_reason: str) -> None:
    deal = world.deal(owner=owner, created_at=datetime(2026, 6, 1, tzinfo=UTC), amount=1_000)
    contact = ContactFactory(account=world.account, name=f"Buyer {n}", email=f"buyer{n}@example.com")
    deal.contacts.add(contact)
    actor = getattr(world, owner)
    services.deal_mark_lost(
        deal=deal, reason=world.reasons["price-too-high"], actor=actor, closed_at=when, skip_nurture=True
    )
    (survey,) = survey_services.survey_request(deal=deal, actor=actor)
    buyer = Client(REMOTE_ADDR=f"192.0.2.{n % 200 + 1}")  # each buyer from an address of their own
    answer = buyer.post(
        f"/surveys/answer/{survey_services.survey_token(survey)}/",
        {
            "main_reason": str(world.reasons[buyer_reason].pk),
            "chose_instead": "none",
            "process_rating": "3",
            "may_contact_again": "yes",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:500]


@pytest.fixture
def surveyed(world):
    n = 0
    # East (Alice): buyers agreed (same category) with 18 of 20 closes before, with 6 of 20 now;
    # Erin's buyers agree throughout. West (Dave): the same in both periods.
    plan = [
        (THEN_DAY, "alice", 18, 2),
        (NOW_DAY, "alice", 6, 14),
        (THEN_DAY, "erin", 18, 2),
        (NOW_DAY, "erin", 18, 2),
        (THEN_DAY, "dave", 10, 2),
        (NOW_DAY, "dave", 10, 2),
    ]
    for when, owner, agree, disagree in plan:
        for index in range(agree + disagree):
            reason = "no-budget" if index < agree else "missing-feature"
            _surveyed_loss(world, owner, when, n, buyer_reason=reason)
            n += 1
    return world


def test_rep_vs_buyer_disagreement_is_found_and_scoped(client, surveyed):
    world = surveyed
    body = _findings(client, world.bob)
    rep = _one(body, dimension="rep", key=world.alice.pk, measure="buyer_disagreement")
    assert (rep["count"], rep["total"], rep["compare_count"], rep["compare_total"]) == (14, 20, 2, 20)
    assert rep["p_value"] == pytest.approx(
        stats.chi2_contingency([[14, 6], [2, 18]], correction=False).pvalue
    )
    assert rep["text"] == (
        f"Buyers naming another category than {world.alice.display_name}’s reason rose from 10% to 70%"
        " of surveyed closures: 2 of 20 → 14 of 20"
    )
    vs_team = _one(body, dimension="rep", key=world.alice.pk, measure="buyer_disagreement_vs_team")
    assert (vs_team["count"], vs_team["total"], vs_team["compare_count"], vs_team["compare_total"]) == (
        14,
        20,
        2,
        20,
    )
    whole = _one(body, dimension="all", measure="buyer_disagreement")
    assert (whole["count"], whole["total"], whole["compare_count"], whole["compare_total"]) == (16, 40, 4, 40)
    assert "buyer_category=any" in rep["deals_url"]
    assert "20 deals" in client.get(rep["deals_url"]).content.decode()
    page = client.get("/insights/findings/", NOW).content.decode()
    assert rep["text"] in page
    assert any(r["measure"] == "buyer_disagreement_vs_team" for r in _csv_rows(client))
    # West sees none of it; West's own rate did not change.
    west = _findings(client, world.grace)
    assert not [f for f in west["findings"] if f["measure"].startswith("buyer_disagreement")]
    assert world.alice.display_name not in client.get("/insights/findings/", NOW).content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_findings_page_with_lost_value_is_axe_clean(browser, live_server, imported):
    from tests.test_accessibility import AXE, TAGS

    context = browser.new_context(
        base_url=live_server.url, bypass_csp=True, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/deals/")
    page.goto("/insights/findings/?" + "&".join(f"{key}={value}" for key, value in NOW.items()))
    main = page.locator("main").inner_text()
    assert "Lost value in team East rose" in main and "rest of East" in main
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]] == []
    Path("test-output").mkdir(exist_ok=True)
    page.screenshot(path="test-output/insights-findings-lost-value.png", full_page=True)
    context.close()
