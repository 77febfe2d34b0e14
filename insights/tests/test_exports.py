"""The page, the CSV and the API show the same numbers: they come from the same selectors."""

import csv
import io
from datetime import date

from insights.comparison import Comparison, comparison_dates, figures_compared
from insights.exports import jsonable
from insights.selectors import FIGURES, Dashboard
from insights.tests import dataset

QUERY = {"period": "custom", "from": "2025-01-01", "to": "2026-06-30", "pipeline": None}


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_and_api_carry_the_selectors_numbers(client, world):
    dataset.build(world, deals=900, seed=13)
    query = {**QUERY, "pipeline": world.pipeline.pk}
    filters = dataset.period(date(2025, 1, 1), date(2026, 6, 30), pipeline=world.pipeline.pk)
    previous = Comparison("previous", *comparison_dates("previous", filters.date_from, filters.date_to))
    figures = figures_compared(Dashboard(user=world.bob, filters=filters), previous)
    client.force_login(world.bob)

    api = client.get("/api/figures/", query).json()
    assert api["period"] == {"from": "2025-01-01", "to": "2026-06-30"}
    assert api["compare"] == {"mode": "previous", "from": "2023-07-05", "to": "2024-12-31"}
    assert api["figures"] == jsonable(figures)
    for name in FIGURES:
        assert client.get(f"/api/figures/{name}/", query).json()["data"] == jsonable(figures[name])

    reasons = read_csv(client.get("/insights/export/loss-by-reason.csv", query))
    assert [(int(r["reason_id"]), int(r["lost"]), r["value"]) for r in reasons] == [
        (r["reason_id"], r["lost"], f"{r['value']:.2f}") for r in figures["loss-by-reason"]["rows"]
    ]
    headline = {r["figure"]: r["value"] for r in read_csv(client.get("/insights/export/headline.csv", query))}
    assert int(headline["won"]) == figures["headline"]["won"]
    assert headline["win_rate"] == f"{figures['headline']['win_rate']:.4f}"
    trend = read_csv(client.get("/insights/export/reason-trend.csv", query))
    assert sum(int(r["lost"]) for r in trend) == sum(s["total"] for s in figures["reason-trend"]["series"])

    deals = read_csv(client.get("/insights/export/deals.csv", query))
    assert len(deals) == figures["headline"]["closed"]
    assert sum(1 for d in deals if d["status"] == "lost") == figures["headline"]["lost"]
    lost_value = sum(float(d["amount_org_currency"] or 0) for d in deals if d["status"] == "lost")
    assert abs(lost_value - float(figures["headline"]["lost_value"])) < 0.01 * len(deals)

    page = client.get("/insights/", query).content.decode()
    top = figures["loss-by-reason"]["rows"][0]
    assert (
        f'<a href="{top["links"]["lost"].replace("&", "&amp;")}" class="reason-link">{top["reason"]}</a>'
        in page
    )
    assert f'id="stat-win-rate">{figures["headline"]["win_rate"] * 100:.1f}%<' in page
