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
