"""Merges racing on two real database connections cannot make a cycle or a two-step chain."""

import pytest

from reasons import services
from reasons.models import Reason, TaxonomyChange
from tests.concurrency import race


def _assert_one_step_deep():
    assert not Reason.objects.filter(merged_into__merged_into__isnull=False).exists()
    assert not Reason.objects.filter(merged_into__isnull=False, active=True).exists()


@pytest.mark.django_db(transaction=True)
def test_opposite_merges_at_once_make_exactly_one_merge(world):
    a, b = world.reasons["no-budget"], world.reasons["price-too-high"]
    results = race(
        [
            lambda: services.reason_merge(actor=world.carol, reason=a, into=b),
            lambda: services.reason_merge(actor=world.carol, reason=b, into=a),
        ]
    )
    assert sorted(kind for kind, _ in results) == ["error", "ok"]
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, services.TaxonomyError)
    assert "cycle" in error.message
    assert (
        Reason.objects.filter(code__in=["no-budget", "price-too-high"], merged_into__isnull=False).count()
        == 1
    )
    assert TaxonomyChange.objects.filter(action="merge").count() == 1
    _assert_one_step_deep()


@pytest.mark.django_db(transaction=True)
def test_merges_that_would_chain_stay_one_step_deep(world):
    a, b, c = (world.reasons[code] for code in ("value-not-proven", "price-too-high", "no-budget"))
    results = race(
        [
            lambda: services.reason_merge(actor=world.carol, reason=a, into=b),  # A -> B
            lambda: services.reason_merge(actor=world.carol, reason=c, into=a),  # C -> A
        ]
    )
    # Either C -> A lands first and A -> B flattens C onto B, or A -> B lands first and C -> A is
    # refused ("merge into B instead"). Never C -> A -> B.
    _assert_one_step_deep()
    a.refresh_from_db()
    assert a.merged_into_id == b.pk
    c.refresh_from_db()
    if all(kind == "ok" for kind, _ in results):
        assert c.merged_into_id == b.pk
    else:
        assert c.merged_into_id is None
        error = next(value for kind, value in results if kind == "error")
        assert "instead" in error.message
