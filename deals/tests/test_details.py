"""Name and amount change through deal_update_details (the CSV import uses it): under the deal's
row lock, each amount change recorded once, in order, even when two arrive at once."""

from decimal import Decimal

import pytest

from deals import services
from deals.models import Deal, DealEvent
from tests.concurrency import race


@pytest.mark.django_db
def test_a_new_amount_is_recorded_and_unchanged_values_write_nothing(world):
    deal = world.deal(owner="alice")
    before = deal.amount
    services.deal_update_details(deal=deal, name="Renamed", amount=before + 10, actor=None, via_crm=True)
    assert (deal.name, deal.amount) == ("Renamed", before + 10)
    event = DealEvent.objects.get(deal=deal)
    assert (event.field, event.from_value, event.to_value) == ("amount", str(before), str(before + 10))
    assert event.actor_kind == DealEvent.ActorKind.CRM
    services.deal_update_details(deal=deal, name="Renamed", amount=before + 10, actor=None)
    assert DealEvent.objects.filter(deal=deal).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "words"), [("-5", "cannot be negative"), ("1e12", "must be under")])
def test_an_amount_out_of_range_is_refused_naming_the_field(world, amount, words):
    deal = world.deal(owner="alice")
    before = deal.amount
    with pytest.raises(services.DealError, match=words) as refused:
        services.deal_update_details(deal=deal, name=deal.name, amount=Decimal(amount), actor=None)
    assert refused.value.field == "amount"
    assert Deal.objects.get(pk=deal.pk).amount == before and not DealEvent.objects.filter(deal=deal).exists()


@pytest.mark.django_db(transaction=True)
def test_two_amount_changes_at_once_chain_their_events(world):
    deal = world.deal(owner="alice")
    start = deal.amount
    results = race(
        [
            lambda amount=amount: services.deal_update_details(
                deal=Deal.objects.get(pk=deal.pk), name=deal.name, amount=amount, actor=None
            )
            for amount in (Decimal("111.00"), Decimal("222.00"))
        ]
    )
    assert [status for status, _ in results] == ["ok", "ok"]
    first, second = DealEvent.objects.filter(deal=deal).order_by("pk")
    assert first.from_value == str(start)
    assert second.from_value == first.to_value  # the second waited for the first's row lock
    deal.refresh_from_db()
    assert str(deal.amount) == second.to_value
