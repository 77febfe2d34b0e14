"""The deferred flush refreshes a transaction's dirty deals once per commit (the other firings
return at once), and again when deals are marked after a flush within the same transaction."""

from django.db import connection, transaction

from deals import services
from insights import rollup
from insights.models import DealFact


def test_marks_after_a_flush_are_flushed_again(world):
    first, second, third = world.deal(), world.deal(), world.deal()
    with transaction.atomic():
        services.deal_mark_lost(deal=first, reason=world.reasons["no-budget"], actor=world.alice)
        rollup.flush()  # the first firing flushes; the deferred ones left return at once
        assert DealFact.objects.filter(deal=first).exists()
        services.deal_mark_lost(deal=second, reason=world.reasons["no-budget"], actor=world.alice)
        try:
            with transaction.atomic():  # a mark undone with its savepoint leaves nothing to flush
                services.deal_mark_lost(deal=third, reason=world.reasons["no-budget"], actor=world.alice)
                raise RuntimeError
        except RuntimeError:
            pass
        rollup.flush()
        assert DealFact.objects.filter(deal=second).exists()
        assert not DealFact.objects.filter(deal=third).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM insights_dirtydeal")
        assert cursor.fetchone()[0] == 0
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}


def test_a_deferred_writer_refreshes_its_deals_once_at_its_end(world):
    """An import's chunks put their deals' refresh off; refresh_pending counts them all at once."""
    first, second = world.deal(), world.deal()
    with transaction.atomic():
        rollup.defer_refresh()
        services.deal_mark_lost(deal=first, reason=world.reasons["no-budget"], actor=world.alice)
        services.deal_mark_no_decision(deal=second, reason=world.reasons["status-quo"], actor=world.alice)
        rollup.flush()  # nothing is dirty: the deals wait in insights_pendingdeal
        assert not DealFact.objects.filter(deal__in=[first, second]).exists()
    assert rollup.pending_count() == 2
    assert rollup.refresh_pending() == 2
    assert set(DealFact.objects.values_list("deal_id", flat=True)) == {first.pk, second.pk}
    assert rollup.pending_count() == 0
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}


def test_the_compaction_refreshes_the_deals_a_dead_writer_left_waiting(world, settings):
    deal = world.deal()
    with transaction.atomic():
        rollup.defer_refresh()
        services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    settings.ROLLUP_PENDING_AFTER = 3600
    rollup.rollup_compact()  # a writer may still be running: its deals wait
    assert rollup.pending_count() == 1
    settings.ROLLUP_PENDING_AFTER = 0
    rollup.rollup_compact()
    assert rollup.pending_count() == 0 and DealFact.objects.filter(deal=deal).exists()
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}
