"""Rule 3: reopening puts the deal back in its stage and keeps the closure in history."""

import pytest
from django.urls import reverse

from deals import services
from deals.models import Closure, DealEvent, DealStatus


def test_reopen_keeps_the_closure_and_a_new_close_works(world, competitor):
    deal = world.deal(stage=2)
    first = services.deal_mark_lost(deal=deal, reason=world.reasons["bad-timing"], actor=world.alice)
    services.deal_reopen(deal=deal, actor=world.alice)
    deal.refresh_from_db()
    first.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    assert deal.stage == world.stages[2]
    assert deal.close_reason is None and deal.closed_at is None
    assert first.reopened_at is not None and first.reopened_by == world.alice
    second = services.deal_mark_won(
        deal=deal, reason=world.reasons["win-beat-competitor"], actor=world.alice, competitor=competitor
    )
    assert list(Closure.objects.filter(deal=deal).order_by("id")) == [first, second]
    statuses = list(
        DealEvent.objects.filter(deal=deal, field="status")
        .order_by("id")
        .values_list("from_value", "to_value")
    )
    assert statuses == [("open", "lost"), ("lost", "open"), ("open", "won")]


def test_reopen_into_another_stage_records_the_stage_change(world):
    deal = world.deal(stage=3)
    services.deal_mark_no_decision(deal=deal, reason=world.reasons["status-quo"], actor=world.alice)
    services.deal_reopen(deal=deal, actor=world.bob, stage=world.stages[1])
    assert deal.stage == world.stages[1]
    stage_event = DealEvent.objects.get(deal=deal, field="stage")
    assert (stage_event.from_value, stage_event.to_value, stage_event.actor) == (
        "Proposal",
        "Discovery",
        world.bob,
    )


def test_reopen_refuses_open_deal_and_foreign_stage(world):
    from deals.factories import StageFactory

    deal = world.deal()
    with pytest.raises(services.DealNotClosed):
        services.deal_reopen(deal=deal, actor=world.alice)
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    with pytest.raises(services.DealError) as refused:
        services.deal_reopen(deal=deal, actor=world.alice, stage=StageFactory())
    assert refused.value.field == "stage"
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST


def test_reopen_page_and_history_show_both_closures(client, world):
    deal = world.deal(stage=2)
    services.deal_mark_lost(
        deal=deal, reason=world.reasons["other-loss"], actor=world.alice, note="Budget moved to a new project"
    )
    client.force_login(world.alice)
    page = client.get(reverse("deals:reopen", args=[deal.pk]))
    assert page.status_code == 200
    assert f'<option value="{world.stages[2].pk}" selected>' in page.content.decode()
    response = client.post(reverse("deals:reopen", args=[deal.pk]), {"stage": world.stages[2].pk})
    assert response.status_code == 302
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    html = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert html.count('class="closure ') == 2
    assert "Budget moved to a new project" in html
    assert "Reopened" in html
    assert "Status: lost → open" in html


def test_closing_a_closed_deal_by_url_says_so(client, world):
    deal = world.deal()
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.erin)
    client.force_login(world.bob)  # erin's manager
    response = client.post(
        reverse("deals:mark-won", args=[deal.pk]), {"reason": world.reasons["win-best-fit"].pk}, follow=True
    )
    assert "already closed" in response.content.decode()
    assert Closure.objects.filter(deal=deal).count() == 1


def test_a_refused_reopen_draws_the_page_again_with_the_closure(client, world):
    deal = world.deal(stage=2)
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    client.force_login(world.alice)
    response = client.post(reverse("deals:reopen", args=[deal.pk]), {"stage": "999999"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Select a valid choice" in page
    assert "Closed lost on" in page and world.reasons["no-budget"].label in page
    assert Closure.objects.get(deal=deal).reopened_at is None
