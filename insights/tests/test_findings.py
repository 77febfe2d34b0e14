"""Findings end to end: deals closed through the services in two periods, a planted shift found
(page, dashboard panel, CSV, API), p values as SciPy gives them, and a manager of another team
seeing nothing of it."""

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scipy import stats

from deals import services
from insights.findings import FIELDS
from reasons.models import Competitor, Reason, ReasonKind

NOW = {"period": "custom", "from": "2026-10-01", "to": "2026-11-30"}  # compared with 1 Aug – 30 Sep
THEN_DAY, NOW_DAY = datetime(2026, 8, 14, 12, tzinfo=UTC), datetime(2026, 10, 20, 12, tzinfo=UTC)


def close(world, owner, *, outcome, when, reason, competitor=None):
    deal = world.deal(owner=owner, created_at=datetime(2026, 6, 1, tzinfo=UTC))
    if outcome == "won":
        services.deal_mark_won(deal=deal, reason=reason, actor=deal.owner, closed_at=when)
    else:
        services.deal_mark_lost(
            deal=deal,
            reason=reason,
            actor=deal.owner,
            competitor=competitor,
            closed_at=when,
            skip_nurture=True,
        )


@pytest.fixture
def planted(world):
    globex = Competitor.objects.create(name="Globex")
    price = world.reasons["price-too-high"]
    lost_to = Reason.objects.filter(kind=ReasonKind.LOSS, requires_competitor=True).first() or price
    win = Reason.objects.filter(kind=ReasonKind.WIN, active=True).first()
    # East: losses to Globex go from 4 of 40 to 26 of 40; the rest stays as it was.
    for when, to_globex, other in ((THEN_DAY, 4, 36), (NOW_DAY, 26, 14)):
        for index in range(to_globex):
            close(
                world,
                ("alice", "erin")[index % 2],
                outcome="lost",
                when=when,
                reason=lost_to,
                competitor=globex,
            )
        for index in range(other):
            close(world, ("alice", "erin")[index % 2], outcome="lost", when=when, reason=price)
        for index in range(20):
            close(world, ("alice", "erin")[index % 2], outcome="won", when=when, reason=win)
    # West: nothing changes.
    for when in (THEN_DAY, NOW_DAY):
        for _ in range(15):
            close(world, "dave", outcome="lost", when=when, reason=price)
        for _ in range(12):
            close(world, "dave", outcome="won", when=when, reason=win)
    return globex


def test_a_planted_shift_is_found_on_every_surface(client, world, planted):
    client.force_login(world.bob)
    body = client.get("/api/findings/", NOW).json()
    assert body["compare"] == {"mode": "previous", "from": "2026-08-01", "to": "2026-09-30"}
    found = [f for f in body["findings"] if f["dimension"] == "competitor" and f["measure"] == "loss_share"]
    assert len(found) == 1
    finding = found[0]
    assert set(FIELDS) <= set(finding)
    assert finding["key"] == planted.pk and finding["direction"] == "up"
    assert (finding["count"], finding["total"], finding["compare_count"], finding["compare_total"]) == (
        26,
        40,
        4,
        40,
    )
    assert finding["text"] == "Losses to Globex rose from 10% to 65% of losses: 4 → 26 deals"
    expected_p = stats.chi2_contingency([[26, 14], [4, 36]], correction=False).pvalue
    assert finding["test"] == "chi2" and finding["p_value"] == pytest.approx(expected_p, rel=1e-12)
    assert finding["q_value"] <= body["fdr"]
    # Both periods' deals, drilled down on the deal list.
    assert (
        "closed_from=2026-10-01" in finding["deals_url"]
        and f"competitor={planted.pk}" in finding["deals_url"]
    )
    assert "closed_from=2026-08-01" in finding["compare_deals_url"]
    assert "26 deals" in client.get(finding["deals_url"]).content.decode()
    assert "4 deals" in client.get(finding["compare_deals_url"]).content.decode()

    page = client.get("/insights/findings/", NOW).content.decode()
    assert finding["text"] in page
    dashboard = client.get("/insights/", NOW).content.decode()
    assert "What changed" in dashboard and finding["text"] in dashboard
    response = client.get("/insights/findings.csv", NOW)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0]) == FIELDS
    assert len(rows) == len(body["findings"])
    assert any(r["text"] == finding["text"] and r["count"] == "26" for r in rows)


def test_a_manager_of_another_team_sees_nothing_of_it(client, world, planted):
    client.force_login(world.grace)
    body = client.get("/api/findings/", NOW).json()
    assert body["findings"] == []
    east_people = {world.alice.pk, world.erin.pk, world.bob.pk}
    page = client.get("/insights/findings/", NOW).content.decode()
    assert "Nothing changed significantly" in page
    assert "Globex" not in page and "East" not in page
    assert body["tested"] > 0
    dashboard = client.get("/insights/", NOW).content.decode()
    assert "Nothing changed significantly" in dashboard
    # The admin sees the East shift, the West manager never any East cell.
    client.force_login(world.carol)
    admin = client.get("/api/findings/", NOW).json()
    assert any(f["dimension"] == "competitor" for f in admin["findings"])
    assert not east_people & {f["key"] for f in body["findings"] if f["dimension"] == "rep"}


def test_findings_refuse_bad_filters_naming_the_field(client, world):
    client.force_login(world.bob)
    answer = client.get("/api/findings/", {"compare": "custom", "compare_to": "2026-01-01"})
    assert answer.status_code == 400 and "compare_from" in answer.json()["errors"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_findings_page_and_panel_are_axe_clean(browser, live_server, world, planted):
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
    query = "&".join(f"{key}={value}" for key, value in NOW.items())
    for path, shot in ((f"/insights/findings/?{query}", "insights-findings"), (f"/insights/?{query}", None)):
        page.goto(path)
        assert "Losses to Globex rose from 10% to 65%" in page.locator("main").inner_text()
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
        assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]] == []
        if shot:
            Path("test-output").mkdir(exist_ok=True)
            page.screenshot(path=f"test-output/{shot}.png", full_page=True)
    context.close()
