"""Rule 4: two people closing the same deal at once, on two real database connections."""

import threading

import pytest
from django.db import connection, connections

from deals import services
from deals.models import Closure, DealEvent, DealStatus
from tests.concurrency import race


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_closes_make_exactly_one_closure(world, competitor):
    deal = world.deal(owner="alice")
    lost, no_decision = world.reasons["no-budget"], world.reasons["status-quo"]
    results = race(
        [
            lambda: services.deal_mark_lost(deal=deal, reason=lost, actor=world.alice),
            lambda: services.deal_mark_no_decision(deal=deal, reason=no_decision, actor=world.bob),
        ]
    )
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"]
    error = next(value for kind, value in results if kind == "error")
    winner = next(value for kind, value in results if kind == "ok")
    assert isinstance(error, services.DealAlreadyClosed)
    who = winner.actor.display_name
    assert f"already closed ({winner.get_outcome_display().lower()}) by {who} at " in error.message
    assert Closure.objects.filter(deal=deal).count() == 1
    assert DealEvent.objects.filter(deal=deal).count() == 1
    deal.refresh_from_db()
    assert deal.status in {DealStatus.LOST, DealStatus.NO_DECISION}


@pytest.mark.django_db(transaction=True)
def test_second_close_waits_for_the_first_transaction(world):
    """A close that holds the row lock makes the other caller wait, then refuse."""
    from django.db import transaction

    deal = world.deal(owner="alice")
    reason = world.reasons["no-budget"]
    first_has_lock, release = threading.Event(), threading.Event()
    outcome = {}

    def slow_first():
        try:
            with transaction.atomic():
                services.deal_mark_lost(deal=deal, reason=reason, actor=world.alice)
                first_has_lock.set()
                release.wait(timeout=10)  # still inside the transaction: the row stays locked
        finally:
            connections.close_all()

    def second():
        try:
            first_has_lock.wait(timeout=10)
            services.deal_mark_lost(deal=deal, reason=reason, actor=world.bob)
            outcome["second"] = "closed"
        except services.DealAlreadyClosed as exc:
            outcome["second"] = exc.message
        finally:
            connections.close_all()

    threads = [threading.Thread(target=slow_first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_has_lock.wait(timeout=10)
    # The second caller is now blocked on the row lock; it must not have decided yet.
    threads[1].join(timeout=0.5)
    assert "second" not in outcome
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert outcome["second"].startswith("This deal was already closed (lost) by")
    assert Closure.objects.filter(deal=deal).count() == 1
    assert connection.vendor == "postgresql"
