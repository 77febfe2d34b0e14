"""The nightly repair goes through the deals in slices: a close of a deal outside the slice being
repaired does not wait for it, a close inside it waits for that slice only, and both end right."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.utils import OperationalError
from django.utils import timezone

from deals import services
from insights import rollup
from insights.models import DealFact, LossHistory
from insights.tests import dataset

pytestmark = pytest.mark.django_db(transaction=True)


def hold(sql: str, params: list) -> tuple[threading.Event, threading.Event, threading.Thread]:
    """Run `sql` in a transaction on another connection and keep it open until released."""
    started, release = threading.Event(), threading.Event()

    def run():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                started.set()
                release.wait(20)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(20)
    return release, started, thread


def close(world, deal):
    services.deal_mark_lost(
        deal=deal,
        reason=world.reasons["no-budget"],
        actor=world.alice,
        closed_at=timezone.now() - timedelta(days=2),
    )


def test_a_slice_holds_only_the_deals_it_repairs(world):
    wrong, right = world.deal(owner="alice", stage=2), world.deal(owner="alice", stage=2)
    close(world, wrong)
    close(world, right)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE insights_dealfact SET amount = amount + 1 WHERE deal_id = %s", [wrong.pk])
    later = world.deal(owner="alice", stage=2)  # outside the slice
    release, _started, thread = hold("SELECT insights_facts_rebuild_slice(%s, %s)", [0, right.pk])
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        close(world, later)  # would fail on the lock timeout if it waited for the slice
        services.deal_reopen(deal=right, actor=world.alice)  # in the slice, but not wrong: not held
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            services.deal_reopen(deal=wrong, actor=world.alice)  # the slice holds this one
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
        release.set()
        thread.join()
    services.deal_reopen(deal=wrong, actor=world.alice)
    assert rollup.rollup_drift()["facts"] == 0
    with connection.cursor() as cursor:  # the spoiled fact's difference, as rollup_rebuild ends
        cursor.execute("SELECT insights_rollup_repair()")
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}
    assert set(DealFact.objects.values_list("deal_id", "status")) == {
        (wrong.pk, "open"),
        (right.pk, "open"),
        (later.pk, "lost"),
    }


def test_the_rebuild_repairs_in_slices_and_writes_nothing_when_all_agree(world):
    dataset.build(world, deals=200, seed=11)
    history = list(LossHistory.objects.order_by("deal_id").values_list())
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM insights_losshistory WHERE deal_id % 7 = 0")
        cursor.execute("UPDATE insights_dealfact SET band = 'unknown' WHERE deal_id % 5 = 0")
        cursor.execute("DELETE FROM insights_rollup WHERE id % 3 = 0")
        cursor.execute("DELETE FROM insights_rollupday WHERE id % 4 = 0")
    assert rollup.rollup_drift()["facts"] > 0
    done = rollup.rollup_rebuild(slice_size=17)
    assert done["deals"] > 0 and done["rollup"] > 0
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}
    assert list(LossHistory.objects.order_by("deal_id").values_list()) == history
    assert rollup.rollup_rebuild(slice_size=50)["rollup"] == 0  # nothing left to repair
