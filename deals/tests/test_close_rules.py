"""Rules 1 and 2: a close needs an active reason of the right kind, and what the reason asks for.

Each refusal is checked through the service, through the page, and (where the database
can hold the rule) against the database itself.
"""

import re
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from deals import services
from deals.models import Closure, Deal, DealEvent, DealStatus
from tests.dates import days_ahead


def _assert_untouched(deal):
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    assert not Closure.objects.filter(deal=deal).exists()
    assert not DealEvent.objects.filter(deal=deal).exists()


@pytest.mark.parametrize(
    ("reason_code", "extra", "field", "words"),
    [
        (None, {}, "reason", "every close needs a standard reason"),
        ("win-best-fit", {}, "reason", "is a win reason; choose a loss reason"),
        ("competitor-cheaper", {}, "competitor", "needs the competitor"),
        ("other-loss", {}, "note", "needs a note of at least 3 words"),
        ("other-loss", {"note": "too short"}, "note", "needs a note of at least 3 words"),
    ],
)
def test_service_refuses_bad_loss(world, reason_code, extra, field, words):
    deal = world.deal()
    reason = world.reasons[reason_code] if reason_code else None
    with pytest.raises(services.DealError) as refused:
        services.deal_mark_lost(deal=deal, reason=reason, actor=world.alice, **extra)
    assert refused.value.field == field
    assert words in refused.value.message
    _assert_untouched(deal)


def test_service_refuses_retired_reason(world):
    deal = world.deal()
    retired = world.reasons["price-too-high"]
    retired.active = False
    retired.save()
    with pytest.raises(services.DealError) as refused:
        services.deal_mark_lost(deal=deal, reason=retired, actor=world.alice)
    assert refused.value.field == "reason"
    assert "has been retired" in refused.value.message
    _assert_untouched(deal)


def test_service_closes_with_everything_recorded(world, competitor):
    deal = world.deal(stage=3)
    closure = services.deal_mark_lost(
        deal=deal,
        reason=world.reasons["competitor-cheaper"],
        actor=world.alice,
        competitor=competitor,
        note="They chose the cheaper plan",
        secondary_reasons=[world.reasons["missing-feature"]],
    )
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST
    assert deal.stage == world.stages[3]  # keeps the stage it was lost at
    assert deal.close_reason == world.reasons["competitor-cheaper"]
    assert closure.stage_at_close == world.stages[3]
    assert closure.amount_at_close == deal.amount
    assert list(closure.secondary_reasons.all()) == [world.reasons["missing-feature"]]
    event = DealEvent.objects.get(deal=deal)
    assert (event.field, event.from_value, event.to_value, event.actor) == (
        "status",
        "open",
        "lost",
        world.alice,
    )


def test_won_and_no_decision_need_their_own_kinds(world):
    deal = world.deal()
    with pytest.raises(services.DealError, match="is a loss reason; choose a win reason"):
        services.deal_mark_won(deal=deal, reason=world.reasons["price-too-high"], actor=world.alice)
    with pytest.raises(services.DealError, match="choose a no decision reason"):
        services.deal_mark_no_decision(deal=deal, reason=world.reasons["win-best-fit"], actor=world.alice)
    with pytest.raises(services.DealError, match="every close needs a standard reason"):
        services.deal_mark_won(deal=deal, reason=None, actor=world.alice)
    _assert_untouched(deal)
    services.deal_mark_no_decision(deal=deal, reason=world.reasons["status-quo"], actor=world.alice)
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.NO_DECISION


def test_won_without_reason_where_pipeline_does_not_ask(world):
    world.pipeline.win_reason_required = False
    world.pipeline.save()
    deal = world.deal()
    closure = services.deal_mark_won(deal=deal, reason=None, actor=world.alice)
    assert closure.reason is None
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.WON


def test_secondary_reasons_must_be_other_active_reasons_of_the_kind(world):
    deal = world.deal()
    reason = world.reasons["price-too-high"]
    for secondaries, words in [
        ([reason], "cannot also be a secondary"),
        ([world.reasons["win-best-fit"]], "not an"),
    ]:
        with pytest.raises(services.DealError, match=words) as refused:
            services.deal_mark_lost(
                deal=deal, reason=reason, actor=world.alice, secondary_reasons=secondaries
            )
        assert refused.value.field == "secondary_reasons"
    _assert_untouched(deal)


# --- the same rules through the page ------------------------------------------------------


@pytest.mark.parametrize(
    ("post", "field", "words"),
    [
        ({}, "reason", "every close needs a standard reason"),
        ({"reason": "WIN"}, "reason", "is a win reason"),
        ({"reason": "RETIRED"}, "reason", "has been retired"),
        ({"reason": "competitor-cheaper"}, "competitor", "needs the competitor"),
        ({"reason": "other-loss", "note": "meh"}, "note", "needs a note of at least 3 words"),
        ({"reason": "999999"}, "reason", "That reason does not exist"),
    ],
)
def test_page_refuses_bad_loss_and_keeps_what_was_typed(client, world, post, field, words):
    deal = world.deal()
    retired = world.reasons["no-budget"]
    retired.active = False
    retired.save()
    data = {"note": "meh", "revisit_on": days_ahead(90), **post}
    codes = {"WIN": world.reasons["win-best-fit"].pk, "RETIRED": retired.pk}
    if data.get("reason") and not data["reason"].isdigit():
        data["reason"] = codes.get(data["reason"]) or world.reasons[data["reason"]].pk
    client.force_login(world.alice)
    response = client.post(reverse("deals:mark-lost", args=[deal.pk]), data)
    assert response.status_code == 400
    form = response.context["form"]
    assert words in " ".join(form.errors[field])
    html = response.content.decode()
    assert words.split("{")[0] in html.replace("&#x27;", "'")
    assert f'value="{days_ahead(90)}"' in html  # what was typed is still there
    assert re.search(r">\s*meh</textarea>", html)
    _assert_untouched(deal)


def test_page_marks_lost_and_redirects(client, world, competitor):
    deal = world.deal()
    client.force_login(world.alice)
    response = client.post(
        reverse("deals:mark-lost", args=[deal.pk]),
        {
            "reason": world.reasons["competitor-better-fit"].pk,
            "competitor": competitor.pk,
            "note": "",
            "secondary_reasons": [world.reasons["integration-gap"].pk],
            "revisit_on": days_ahead(210),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("deals:detail", args=[deal.pk])
    closure = Closure.objects.get(deal=deal)
    assert closure.competitor == competitor
    assert str(closure.revisit_on) == days_ahead(210)
    page = client.get(response["Location"]).content.decode()
    assert "Competitor had a better fit" in page
    assert "Northwind CRM" in page


def test_form_offers_only_active_reasons_of_the_kind_grouped_by_category(client, world):
    deal = world.deal()
    retired = world.reasons["no-budget"]
    retired.active = False
    retired.save()
    client.force_login(world.alice)
    html = client.get(reverse("deals:mark-lost", args=[deal.pk])).content.decode()
    assert '<optgroup label="Price / Value">' in html
    assert "Price too high" in html
    assert "No budget" not in html  # retired
    assert "Best product fit" not in html  # a win reason
    assert 'data-requires-note="true"' in html
    won = client.get(reverse("deals:mark-won", args=[deal.pk])).content.decode()
    assert "Best product fit" in won and "Price too high" not in won
    assert 'name="revisit_on"' not in won


def test_revisit_defaults_from_the_reason(world):
    deal = world.deal()
    closure = services.deal_mark_lost(deal=deal, reason=world.reasons["bad-timing"], actor=world.alice)
    assert closure.revisit_on is None  # the page pre-fills it; the service stores what it is given


# --- the database holds rule 1 even for code that skips the service ----------------------


def _raw_update_fails(deal, **fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(**fields)


def test_database_refuses_closed_without_reason(world):
    deal = world.deal()
    now = timezone.now()
    _raw_update_fails(deal, status=DealStatus.LOST, closed_at=now)
    _raw_update_fails(deal, status=DealStatus.NO_DECISION, closed_at=now)
    _raw_update_fails(deal, status=DealStatus.LOST, closed_at=None, close_reason=world.reasons["no-budget"],
                      close_reason_kind="loss")  # fmt: skip


def test_database_refuses_reason_of_the_wrong_kind(world):
    deal = world.deal()
    now = timezone.now()
    win = world.reasons["win-best-fit"]
    # The kind column says "win" for a lost deal: the check constraint refuses it.
    _raw_update_fails(deal, status=DealStatus.LOST, closed_at=now, close_reason=win, close_reason_kind="win")
    # The kind column lies about a win reason: the composite foreign key refuses it.
    _raw_update_fails(deal, status=DealStatus.LOST, closed_at=now, close_reason=win, close_reason_kind="loss")
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_database_refuses_a_second_standing_closure(world):
    deal = world.deal()
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Closure.objects.create(
            deal=deal,
            outcome="lost",
            reason=world.reasons["no-budget"],
            reason_kind="loss",
            stage_at_close=deal.stage,
            amount_at_close=deal.amount,
            currency="USD",
        )
    assert Closure.objects.filter(deal=deal).count() == 1


def test_database_refuses_a_stage_from_another_pipeline(world):
    from deals.factories import StageFactory

    other = StageFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=world.deal().pk).update(stage=other)


def test_history_is_append_only_in_the_database(world):
    deal = world.deal()
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        DealEvent.objects.filter(deal=deal).update(to_value="won")
    with pytest.raises(IntegrityError), transaction.atomic():
        DealEvent.objects.filter(deal=deal).delete()
    with pytest.raises(ValueError, match="append-only"):
        DealEvent.objects.get(deal=deal).save()
    assert DealEvent.objects.get(deal=deal).to_value == "lost"


def test_used_reason_cannot_be_deleted(world):
    from django.db.models import ProtectedError

    deal = world.deal()
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    with pytest.raises(ProtectedError):
        world.reasons["no-budget"].delete()


@pytest.mark.parametrize(
    "days,words", [(-1, "is in the past"), (-400, "is in the past"), (2 * 365 + 1, "within two years")]
)
def test_a_revisit_date_in_the_past_or_years_ahead_is_refused_naming_the_field(
    client, world, api_as, days, words
):
    day = timezone.localdate() + timedelta(days=days)
    deal = world.deal()
    with pytest.raises(services.DealError, match=words) as refused:
        services.deal_mark_lost(
            deal=deal, reason=world.reasons["no-budget"], actor=world.alice, revisit_on=day
        )
    assert refused.value.field == "revisit_on"

    client.force_login(world.alice)
    page = client.post(
        reverse("deals:mark-lost", args=[deal.pk]),
        {"reason": world.reasons["no-budget"].pk, "revisit_on": day.isoformat()},
    )
    assert page.status_code == 400
    assert words in page.context["form"].errors["revisit_on"][0]

    answer = api_as(world.alice).post(
        f"/api/deals/{deal.pk}/mark-lost/",
        {"reason": world.reasons["no-budget"].pk, "revisit_on": day.isoformat()},
        format="json",
    )
    assert answer.status_code == 400 and words in answer.json()["revisit_on"][0]
    deal.refresh_from_db()
    assert deal.status == "open"


def test_today_and_two_years_on_are_fine_and_a_backdated_close_counts_from_its_own_day(world):
    today = timezone.localdate()
    for day in (today, today + timedelta(days=2 * 365)):
        closure = services.deal_mark_lost(
            deal=world.deal(), reason=world.reasons["no-budget"], actor=world.alice, revisit_on=day
        )
        assert closure.revisit_on == day
    a_year_ago = timezone.now() - timedelta(days=365)
    closure = services.deal_mark_lost(
        deal=world.deal(),
        reason=world.reasons["no-budget"],
        actor=world.alice,
        closed_at=a_year_ago,
        revisit_on=(a_year_ago + timedelta(days=90)).date(),
    )  # fmt: skip  (an import's history: revisit three months after that close)
    assert closure.revisit_on < today


def test_a_huge_note_or_reason_list_is_refused_before_any_lookup(
    client, world, api_as, django_assert_max_num_queries
):
    deal = world.deal()
    huge_note = "word " * 20_000  # 100,000 characters
    with pytest.raises(services.DealError, match="under 5,000 characters") as refused:
        services.deal_mark_lost(
            deal=deal, reason=world.reasons["no-budget"], actor=world.alice, note=huge_note
        )
    assert refused.value.field == "note"

    client.force_login(world.alice)
    page = client.post(reverse("deals:mark-lost", args=[deal.pk]), {"reason": world.reasons["no-budget"].pk,
                                                                     "note": huge_note})  # fmt: skip
    assert page.status_code == 400 and "note" in page.context["form"].errors
    data = {
        "reason": world.reasons["price-too-high"].pk,
        "secondary_reasons": [world.reasons["no-budget"].pk] * 50,
    }
    page = client.post(reverse("deals:mark-lost", args=[deal.pk]), data)
    assert page.status_code == 400 and "at most 10" in page.context["form"].errors["secondary_reasons"][0]
    many = [world.reasons["no-budget"].pk] * 5000  # a form that big is refused by Django itself (400)

    api = api_as(world.alice)
    api.get("/api/deals/")  # the token's first use is recorded once a minute: not what is counted
    with django_assert_max_num_queries(8):  # auth, the deal; none per listed id
        answer = api.post(
            f"/api/deals/{deal.pk}/mark-lost/",
            {"reason": world.reasons["price-too-high"].pk, "secondary_reasons": many},
            format="json",
        )
    assert answer.status_code == 400 and "secondary_reasons" in answer.json()
    answer = api.post(
        f"/api/deals/{deal.pk}/mark-lost/",
        {"reason": world.reasons["no-budget"].pk, "note": huge_note},
        format="json",
    )
    assert answer.status_code == 400 and "note" in answer.json()
    deal.refresh_from_db()
    assert deal.status == "open"


def test_a_no_decision_reason_given_later_makes_the_same_close_no_decision(world, competitor):
    """A CRM said "lost" without a reason; the reason given later is a no-decision one: the deal is
    No Decision on its one closure (no reopen in its history), the change recorded once."""
    from insights.rollup import rollup_drift

    deal = world.deal()
    closure = services.deal_mark_lost_from_crm(deal=deal, crm_reason_text="went quiet", competitor=competitor)
    given = services.deal_give_reason(deal=deal, reason=world.reasons["status-quo"], actor=world.bob)

    deal.refresh_from_db()
    assert (deal.status, deal.needs_reason, deal.close_reason.code) == (
        DealStatus.NO_DECISION,
        False,
        "status-quo",
    )
    assert given.pk == closure.pk
    assert list(Closure.objects.filter(deal=deal).values_list("outcome", "reopened_at", "competitor")) == [
        (DealStatus.NO_DECISION, None, competitor.pk)
    ]
    statuses = DealEvent.objects.filter(deal=deal, field=DealEvent.Field.STATUS).order_by("pk")
    assert [(e.from_value, e.to_value) for e in statuses] == [
        (DealStatus.OPEN, DealStatus.LOST),
        (DealStatus.LOST, DealStatus.NO_DECISION),
    ]
    assert rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}
    with pytest.raises(services.DealError, match="not waiting for a reason"):
        services.deal_give_reason(deal=deal, reason=world.reasons["no-budget"], actor=world.bob)
