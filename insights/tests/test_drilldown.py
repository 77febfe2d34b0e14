"""Every number on the dashboard links to the deal list behind it, and the list shows that count."""

import re
from datetime import date

import pytest

from insights.selectors import Dashboard, dashboard_figures
from insights.tests import dataset

# links key -> the number it stands for, where the names differ
NUMBER_OF = {"top_reason": "top_reason_lost"}


def links_and_counts(figures: dict) -> list[tuple[str, str, int]]:
    """(where, url, count) for every link in every figure."""
    found = []

    def walk(where: str, node):
        if isinstance(node, dict):
            for key, url in (node.get("links") or {}).items():
                if url:
                    found.append((f"{where}.{key}", url, node[NUMBER_OF.get(key, key)]))
            if "link" in node and "lost" in node:
                found.append((f"{where}.point", node["link"], node["lost"]))
            for key, value in node.items():
                if key != "links":
                    walk(f"{where}.{key}", value)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(f"{where}[{index}]", item)

    walk("", figures)
    return found


def shown_count(client, url: str) -> int:
    page = client.get(url)
    assert page.status_code == 200, url
    return int(re.search(r'id="deal-count">(\d+) deal', page.content.decode()).group(1))


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_every_drill_down_lists_exactly_the_deals_counted(client, world, who):
    handles = dataset.build(world, deals=1200, seed=11)
    user = getattr(world, who)
    filters = dataset.period(date(2025, 7, 1), date(2026, 6, 30))
    if who == "carol":
        filters = dataset.period(date(2024, 1, 1), date(2026, 12, 31), pipeline=world.pipeline.pk)
    figures = dashboard_figures(Dashboard(user=user, filters=filters))
    client.force_login(user)
    checked = links_and_counts(figures)
    assert len(checked) > 100
    assert any(count > 0 for _where, _url, count in checked if "recovery" in _where)
    mismatches = [
        (where, url, count, shown)
        for where, url, count in checked
        if (shown := shown_count(client, url)) != count
    ]
    assert mismatches == []
    assert handles.renewals  # the other pipeline exists, so the pipeline filter matters for carol


def test_drill_down_shows_what_it_is_filtered_by(client, world):
    dataset.build(world, deals=300, seed=3)
    client.force_login(world.bob)
    figures = dashboard_figures(
        Dashboard(user=world.bob, filters=dataset.period(date(2024, 1, 1), date(2026, 12, 31)))
    )
    top = figures["loss-by-reason"]["rows"][0]
    html = client.get(top["links"]["lost"]).content.decode()
    assert f"Reason: {top['reason']}" in html
    assert f'id="deal-count">{top["lost"]} deal' in html
