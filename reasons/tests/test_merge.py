"""Merge A into B: figures roll up to B, the closures keep what the rep chose, and undo restores them.

Cycles, merges across kinds and merges into itself are refused by the service with a clear
message, and by the database where it can hold the rule.
"""

import pytest
from django.db import IntegrityError, connection, transaction

from deals import services as deal_services
from deals.models import Closure
from reasons import services
from reasons.models import Competitor, Reason, TaxonomyChange
from reasons.selectors import closure_counts_by_competitor, closure_counts_by_reason


def _lose(world, code, n, **extra):
    for _ in range(n):
        deal_services.deal_mark_lost(
            deal=world.deal(), reason=world.reasons[code], actor=world.alice, **extra
        )


@pytest.fixture
def closed(world):
    _lose(world, "price-too-high", 3)
    _lose(world, "no-budget", 2)
    _lose(world, "value-not-proven", 1)
    return world


def test_merge_rolls_figures_up_and_undo_restores_them(closed):
    world = closed
    price, budget, value = (world.reasons[c] for c in ("price-too-high", "no-budget", "value-not-proven"))
    assert closure_counts_by_reason() == {price.pk: 3, budget.pk: 2, value.pk: 1}

    services.reason_merge(actor=world.carol, reason=budget, into=price)

    budget.refresh_from_db()
    assert (budget.active, budget.merged_into_id) == (False, price.pk)
    assert closure_counts_by_reason() == {price.pk: 5, value.pk: 1}
    # The closures keep what the rep actually chose.
    assert Closure.objects.filter(reason=budget).count() == 2
    # Scoped counts (what a dashboard passes) roll up the same way.
    assert closure_counts_by_reason(closures=Closure.objects.filter(deal__owner=world.alice)) == {
        price.pk: 5,
        value.pk: 1,
    }

    services.reason_unmerge(actor=world.carol, reason=budget)

    budget.refresh_from_db()
    assert (budget.active, budget.merged_into_id) == (True, None)
    assert closure_counts_by_reason() == {price.pk: 3, budget.pk: 2, value.pk: 1}


def test_merge_flattens_chains_and_undo_recomputes(closed):
    world = closed
    price, budget, value = (world.reasons[c] for c in ("price-too-high", "no-budget", "value-not-proven"))
    services.reason_merge(actor=world.carol, reason=budget, into=value)  # budget -> value
    services.reason_merge(actor=world.carol, reason=value, into=price)  # value -> price, budget flattened

    budget.refresh_from_db()
    assert budget.merged_into_id == price.pk  # one step deep, never budget -> value -> price
    assert closure_counts_by_reason() == {price.pk: 6}

    services.reason_unmerge(actor=world.carol, reason=value)
    budget.refresh_from_db()
    value.refresh_from_db()
    assert value.merged_into_id is None and value.active
    assert budget.merged_into_id == value.pk  # budget follows value back
    assert closure_counts_by_reason() == {price.pk: 3, value.pk: 3}


def test_merge_keeps_a_retired_reason_retired_on_undo(closed):
    world = closed
    budget, price = world.reasons["no-budget"], world.reasons["price-too-high"]
    services.reason_retire(actor=world.carol, reason=budget)
    services.reason_merge(actor=world.carol, reason=budget, into=price)
    services.reason_unmerge(actor=world.carol, reason=budget)
    budget.refresh_from_db()
    assert (budget.active, budget.merged_into_id) == (False, None)


@pytest.mark.parametrize(
    ("source", "target", "words"),
    [
        ("no-budget", "no-budget", "cannot be merged into itself"),
        ("no-budget", "win-best-value", "merge only reasons of the same kind"),
        ("status-quo", "price-too-high", "merge only reasons of the same kind"),
    ],
)
def test_merge_refuses_itself_and_other_kinds(world, source, target, words):
    with pytest.raises(services.TaxonomyError, match=words) as refused:
        services.reason_merge(actor=world.carol, reason=world.reasons[source], into=world.reasons[target])
    assert refused.value.field == "into"
    assert not Reason.objects.filter(merged_into__isnull=False).exists()
    assert not TaxonomyChange.objects.exists()


def test_merge_refuses_a_cycle_and_merged_or_retired_targets(world):
    price, budget, value = (world.reasons[c] for c in ("price-too-high", "no-budget", "value-not-proven"))
    services.reason_merge(actor=world.carol, reason=budget, into=price)
    with pytest.raises(services.TaxonomyError, match="would make a cycle"):
        services.reason_merge(actor=world.carol, reason=price, into=budget)
    with pytest.raises(services.TaxonomyError, match="already merged into “Price too high”"):
        services.reason_merge(actor=world.carol, reason=budget, into=value)
    with pytest.raises(services.TaxonomyError, match="merge into “Price too high” instead"):
        services.reason_merge(actor=world.carol, reason=value, into=budget)
    services.reason_retire(actor=world.carol, reason=value)
    with pytest.raises(services.TaxonomyError, match="is retired; merge into an active one"):
        services.reason_merge(actor=world.carol, reason=world.reasons["missing-feature"], into=value)
    price.refresh_from_db()
    assert price.merged_into_id is None and price.active
    assert TaxonomyChange.objects.filter(action=TaxonomyChange.Action.MERGE).count() == 1


def _db_refuses(sql, params):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_database_refuses_self_cross_kind_and_chained_merges(world):
    price, budget, value = (world.reasons[c] for c in ("price-too-high", "no-budget", "value-not-proven"))
    sql = "UPDATE reasons_reason SET merged_into_id = %s, active = false WHERE id = %s"
    _db_refuses(sql, [price.pk, price.pk])  # into itself
    _db_refuses(sql, [world.reasons["win-best-fit"].pk, price.pk])  # across kinds
    _db_refuses(
        "UPDATE reasons_reason SET merged_into_id = %s WHERE id = %s", [price.pk, budget.pk]
    )  # still active
    services.reason_merge(actor=world.carol, reason=budget, into=price)
    _db_refuses(sql, [budget.pk, value.pk])  # into a merged reason: two steps deep
    _db_refuses(sql, [value.pk, price.pk])  # a survivor with merged reasons cannot merge itself


def test_competitor_merge_rolls_up_and_undo_restores(world):
    northwind = Competitor.objects.get(name="Northwind CRM")
    globex = Competitor.objects.get(name="Globex Sales Cloud")
    _lose(world, "competitor-cheaper", 2, competitor=northwind)
    _lose(world, "competitor-cheaper", 1, competitor=globex)

    services.competitor_merge(actor=world.carol, competitor=globex, into=northwind)
    assert closure_counts_by_competitor() == {northwind.pk: 3}
    with pytest.raises(services.TaxonomyError, match="would make a cycle"):
        services.competitor_merge(actor=world.carol, competitor=northwind, into=globex)

    services.competitor_unmerge(actor=world.carol, competitor=globex)
    assert closure_counts_by_competitor() == {northwind.pk: 2, globex.pk: 1}
    globex.refresh_from_db()
    assert globex.active and globex.merged_into_id is None
