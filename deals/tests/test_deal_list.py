"""The deal list: filters, search, sorting, keyset pagination and a fixed query count."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deals import services
from deals.selectors import DealFilters, deal_list


def _names(html: str) -> list[str]:
    return re.findall(r'class="fw-semibold">([^<]+)</a>', html)


def _walk(user, filters, page_size, *, backwards=False):
    """Every deal reached by following next (or, from the last page, previous) links."""
    seen = []
    page = deal_list(user=user, filters=filters, cursor="last" if backwards else "", page_size=page_size)
    while True:
        seen.extend(page.deals if not backwards else reversed(page.deals))
        cursor = page.prev_cursor if backwards else page.next_cursor
        if not cursor:
            return seen
        page = deal_list(user=user, filters=filters, cursor=cursor, page_size=page_size)


@pytest.mark.parametrize("sort", ["newest", "oldest", "amount_desc", "amount_asc", "name"])
def test_keyset_pages_reach_every_deal_once_in_order_both_ways(world, sort):
    now = timezone.now()
    deals = [
        # Repeated amounts and timestamps make the id tie-breaker matter.
        world.deal(
            name=f"Deal {i:02d}", amount=Decimal(1000 * (i % 4)), created_at=now - timedelta(days=i // 3)
        )
        for i in range(23)
    ]
    filters = DealFilters(sort=sort)
    forward = _walk(world.carol, filters, page_size=5)
    backward = _walk(world.carol, filters, page_size=5, backwards=True)
    assert [d.pk for d in forward] == [d.pk for d in reversed(backward)]
    assert sorted(d.pk for d in forward) == sorted(d.pk for d in deals)
    key = {
        "newest": lambda d: (-d.created_at.timestamp(), -d.pk),
        "oldest": lambda d: (d.created_at.timestamp(), d.pk),
        "amount_desc": lambda d: (-d.amount, -d.pk),
        "amount_asc": lambda d: (d.amount, d.pk),
        "name": lambda d: (d.name, d.pk),
    }[sort]
    assert [d.pk for d in forward] == [d.pk for d in sorted(deals, key=key)]


def test_filters_and_search(client, world, competitor):
    now = timezone.now()
    lost = world.deal(owner="alice", name="Cobalt rollout", stage=2)
    won = world.deal(owner="erin", name="Granite pilot", stage=4)
    world.deal(owner="alice", name="Harbor expansion", stage=1)
    services.deal_mark_lost(deal=lost, reason=world.reasons["no-budget"], actor=world.alice, closed_at=now)
    services.deal_mark_won(
        deal=won, reason=world.reasons["win-best-fit"], actor=world.erin, closed_at=now - timedelta(days=40)
    )
    client.force_login(world.bob)
    url = reverse("deals:list")
    cases = [
        ({"status": "lost"}, ["Cobalt rollout"]),
        ({"status": "open"}, ["Harbor expansion"]),
        ({"owner": world.erin.pk}, ["Granite pilot"]),
        ({"stage": world.stages[4].pk}, ["Granite pilot"]),
        (
            {"pipeline": world.pipeline.pk, "sort": "name"},
            ["Cobalt rollout", "Granite pilot", "Harbor expansion"],
        ),
        ({"q": "granite"}, ["Granite pilot"]),
        ({"q": "birch health", "sort": "name"}, ["Cobalt rollout", "Granite pilot", "Harbor expansion"]),
        ({"closed_from": (now - timedelta(days=7)).date().isoformat()}, ["Cobalt rollout"]),
        ({"closed_to": (now - timedelta(days=7)).date().isoformat()}, ["Granite pilot"]),
    ]
    for params, expected in cases:
        html = client.get(url, params).content.decode()
        assert sorted(_names(html)) == sorted(expected), params


def test_bad_filter_values_are_named_not_500(client, world):
    world.deal(name="Still listed")
    client.force_login(world.alice)
    response = client.get(
        reverse("deals:list"),
        {"closed_from": "2026-02-30", "owner": "abc", "cursor": "!!not-a-cursor", "sort": "sideways"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter a valid date." in html
    assert "Still listed" in html
    response = client.get(reverse("deals:list"), {"closed_from": "2026-05-01", "closed_to": "2026-04-01"})
    assert "must be on or after" in response.content.decode()


@pytest.mark.parametrize("count", [5, 50])
def test_deal_list_query_count_is_fixed(client, world, settings, count):
    settings.DEAL_LIST_PAGE_SIZE = 50
    for index in range(count):
        deal = world.deal(owner="alice" if index % 2 else "erin")
        if index % 3 == 0:
            services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    client.force_login(world.bob)
    client.get(reverse("deals:list"))  # warm the session
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("deals:list"), {"status": "", "sort": "amount_desc"})
    assert len(_names(response.content.decode())) == count
    # session, user, managed teams, filter options (pipelines, stages, owners), count, page
    assert len(queries) == 8, [q["sql"] for q in queries]


def test_a_retired_stage_is_not_offered_but_its_deals_and_links_keep_it(client, world):
    """A stage retired on the pipeline pages (or removed in the CRM) leaves the filter's choices;
    a deal in it still shows it, and a link that filters by it still works."""
    kept = world.deal(owner="alice", name="Cobalt rollout", stage=2)
    retired = world.stages[2]
    client.force_login(world.carol)
    response = client.post(reverse("pipelines:stage-retire", args=[retired.pk]))
    assert response.status_code == 302
    retired.refresh_from_db()
    assert retired.removed_at is not None
    url = reverse("deals:list")
    html = client.get(url).content.decode()
    assert f'<option value="{retired.pk}"' not in html
    assert f'<option value="{world.stages[1].pk}"' in html
    assert "Cobalt rollout" in html
    filtered = client.get(url, {"stage": retired.pk}).content.decode()
    assert _names(filtered) == ["Cobalt rollout"]
    assert f"{retired.name} (removed)" in filtered
    page = client.get(reverse("deals:detail", args=[kept.pk])).content.decode()
    assert retired.name in page
