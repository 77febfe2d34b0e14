"""Disqualified: a loss for a disqualifying reason leaves the win rate's denominator (unless the
setting counts it) and appears in its own count, on the page, CSV and API, on both paths (summary
and live), including after the flag arrives by a taxonomy file import."""

import csv
import io
import json
from datetime import date

import pytest
from django.utils import timezone

from deals import services
from insights.selectors import Dashboard, figure_by_rep, figure_headline
from insights.tests import dataset
from reasons import services as taxonomy
from reasons.changes import ReasonData
from reasons.models import Reason, ReasonKind
from reasons.transfer import parse_taxonomy_file, taxonomy_export_json

QUERY = {"period": "last-30-days"}


@pytest.fixture
def closed(world):
    price = world.reasons["price-too-high"]
    bad_fit = Reason.objects.filter(
        kind=ReasonKind.LOSS, requires_competitor=False, requires_note=False
    ).exclude(pk=price.pk)[0]
    win = Reason.objects.filter(kind=ReasonKind.WIN, active=True)[0]
    for _ in range(3):
        deal = world.deal(owner="alice")
        services.deal_mark_won(deal=deal, reason=win, actor=deal.owner)
    for reason in (price, price, bad_fit):
        deal = world.deal(owner="alice")
        services.deal_mark_lost(deal=deal, reason=reason, actor=deal.owner, skip_nurture=True)
    return bad_fit


def flag_by_import(reason: Reason, carol) -> None:
    """The admin's taxonomy file, exported, edited and imported again with the flag set."""
    exported = json.loads(taxonomy_export_json())
    for row in exported["reasons"]:
        if row["code"] == reason.code:
            assert row["is_disqualifying"] is False
            row["is_disqualifying"] = True
    content = json.dumps(exported).encode()
    taxonomy.taxonomy_import(actor=carol, parsed=parse_taxonomy_file(filename="t.json", content=content))


def today_filters():
    today = timezone.localdate()
    return dataset.period(date(today.year - 1, today.month, 1), today)


@pytest.mark.parametrize("source", [None, "live"], ids=["summary", "live"])
def test_a_disqualified_loss_leaves_the_win_rate_and_is_counted_apart(world, closed, source, settings):
    before = figure_headline(Dashboard(user=world.bob, filters=today_filters(), source=source))
    assert (before["won"], before["lost"], before["disqualified"]) == (3, 3, 0)
    assert before["win_rate"] == pytest.approx(3 / 6)

    flag_by_import(closed, world.carol)  # the deal already lost for it becomes disqualified
    assert Reason.objects.get(pk=closed.pk).is_disqualifying

    head = figure_headline(Dashboard(user=world.bob, filters=today_filters(), source=source))
    assert (head["won"], head["lost"], head["disqualified"], head["closed"]) == (3, 2, 1, 6)
    assert head["win_rate"] == pytest.approx(3 / 5)
    assert head["inclusive_win_rate"] == pytest.approx(3 / 5)
    rep = figure_by_rep(Dashboard(user=world.bob, filters=today_filters(), source=source))["rows"][0]
    assert (rep["lost"], rep["disqualified"], rep["win_rate"]) == (2, 1, pytest.approx(3 / 5))

    settings.WIN_RATE_INCLUDES_DISQUALIFIED = True
    head = figure_headline(Dashboard(user=world.bob, filters=today_filters(), source=source))
    assert head["disqualified"] == 1 and head["win_rate"] == pytest.approx(3 / 6)


def test_page_csv_api_and_deal_list_show_the_disqualified_count(client, world, closed):
    flag_by_import(closed, world.carol)
    client.force_login(world.bob)
    api = client.get("/api/figures/headline/", QUERY).json()["data"]
    assert (api["lost"], api["disqualified"], api["win_rate"]) == (2, 1, pytest.approx(3 / 5))
    response = client.get("/insights/export/headline.csv", QUERY)
    rows = {
        r["figure"]: r["value"]
        for r in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    }
    assert rows["disqualified"] == "1" and rows["lost"] == "2"
    page = client.get("/insights/", QUERY).content.decode()
    assert "1 disqualified" in page
    assert "1 deal" in client.get(api["links"]["disqualified"]).content.decode()
    assert "2 deals" in client.get(api["links"]["lost"]).content.decode()


def test_only_a_loss_reason_can_be_disqualifying(world):
    win = Reason.objects.filter(kind=ReasonKind.WIN)[0]
    data = ReasonData(category=win.category, code=win.code, label=win.label, is_disqualifying=True)
    with pytest.raises(taxonomy.TaxonomyError) as error:
        taxonomy.reason_update(actor=world.carol, reason=win, data=data)
    assert error.value.field == "is_disqualifying"


def test_after_a_crm_import_a_text_mapped_to_a_disqualifying_reason_counts_disqualified(world, settings):
    from crm.mapping import unmapped_reason_classify
    from crm.models import UnmappedReason
    from crm.tests.exports import hubspot_export
    from crm.tests.test_import import run
    from deals.models import Deal

    world.pipeline.win_reason_required = False  # exports carry no win reasons
    world.pipeline.save()
    run(world, hubspot_export(300, bad_rows={}))
    went_dark = Reason.objects.filter(kind=ReasonKind.LOSS, requires_competitor=False, requires_note=False)[0]
    taxonomy.reason_update(
        actor=world.carol,
        reason=went_dark,
        data=ReasonData(
            category=went_dark.category, code=went_dark.code, label=went_dark.label, is_disqualifying=True
        ),
    )
    unmapped = UnmappedReason.objects.get(example="Went dark on us")
    unmapped_reason_classify(unmapped=unmapped, reason=went_dark, actor=world.carol)
    lost = Deal.objects.filter(status="lost")
    expected = (
        lost.filter(crm_lost_reason__text="Went dark on us").count()
        + lost.filter(close_reason=went_dark, crm_lost_reason__isnull=True).count()
    )
    assert expected > 0
    filters = dataset.period(date(2026, 1, 1), date(2026, 12, 31))
    for source in (None, "live"):
        head = figure_headline(Dashboard(user=world.carol, filters=filters, source=source))
        assert head["disqualified"] == expected, source
        assert head["lost"] == lost.count() - expected


def test_the_admins_setting_on_the_page_changes_the_dashboards_win_rate(client, world, closed, settings):
    from insights.models import InsightsSettingsChange

    settings.WIN_RATE_INCLUDES_DISQUALIFIED = False  # the environment's default
    flag_by_import(closed, world.carol)
    client.force_login(world.bob)
    assert client.get("/insights/settings/").status_code == 404  # admins only
    assert client.get("/api/figures/headline/", QUERY).json()["data"]["win_rate"] == pytest.approx(3 / 5)
    page = client.get("/insights/", QUERY).content.decode()
    assert "60.0%" in page

    client.force_login(world.carol)
    response = client.post("/insights/settings/", {"disqualified": "include"}, follow=True)
    assert "The figure settings are saved." in response.content.decode()
    change = InsightsSettingsChange.objects.get()
    assert (change.actor, change.before, change.after) == (
        world.carol,
        {"win_rate_includes_disqualified": None},
        {"win_rate_includes_disqualified": True},
    )
    client.force_login(world.bob)
    assert client.get("/api/figures/headline/", QUERY).json()["data"]["win_rate"] == pytest.approx(3 / 6)
    page = client.get("/insights/", QUERY).content.decode()
    assert "50.0%" in page

    client.force_login(world.carol)
    bad = client.post("/insights/settings/", {"disqualified": "sometimes"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    client.post("/insights/settings/", {"disqualified": "default"})
    assert InsightsSettingsChange.objects.count() == 2
