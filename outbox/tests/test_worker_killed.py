"""A worker SIGKILLed in the middle of a batch: with the default recovery settings another
worker finishes the batch, and nobody gets an e-mail twice. (How long recovery takes is a
figure, not an assertion: lease + sweep by the settings; no test asserts a wall-clock time.)"""

from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from deals import services as deal_services
from followups import services
from followups.models import FollowUp, FollowUpKind, FollowUpState
from followups.tests.conftest import wait_for
from outbox.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

GIVE_UP = 300  # seconds: only so that a broken recovery fails the test instead of hanging it


def test_a_worker_killed_mid_batch_is_recovered_within_two_minutes_without_duplicates(
    world, sequence, lost_deal, workers, smtp_inbox
):
    assert (settings.OUTBOX_CLAIM_LEASE, settings.OUTBOX_REPUBLISH_AFTER) == (45, 20)  # the defaults
    for d in range(20):
        deal = lost_deal(contacts=[(f"Buyer {d}-{c}", f"buyer{d}-{c}@birch.example") for c in range(10)])
        deal_services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice,
                                     nurture_sequence=sequence)  # fmt: skip
    emails = FollowUp.objects.filter(kind=FollowUpKind.CONTACT_EMAIL, step__position=2)
    FollowUp.objects.exclude(pk__in=emails.values("pk")).update(state=FollowUpState.CANCELLED)
    emails.update(due_at=timezone.now() - timedelta(minutes=1))
    smtp_inbox.hold_from = 30  # after 30 e-mails the server holds every session at RCPT

    first = workers.start(concurrency=2)
    assert services.followups_dispatch() == 200
    assert Message.objects.count() == 4  # 50 follow-ups a message
    # Kill while both pool processes wait in an SMTP session, their earlier e-mails committed. (A
    # kill in the few milliseconds between the server's "250 accepted" and the row's COMMIT would
    # send that one e-mail again, with the same Message-ID: at-least-once, as in followups.)
    wait_for(lambda: len(smtp_inbox.held) == 2, timeout=60, message="both pool processes held mid-session")
    workers.kill(first)
    sent_before = smtp_inbox.count()
    assert sent_before < 200

    smtp_inbox.release()
    workers.start(concurrency=2, beat=True)  # beat's sweep: every OUTBOX_SWEEP_EVERY (10 s) by default
    wait_for(
        lambda: FollowUp.objects.filter(pk__in=emails.values("pk"), state=FollowUpState.SENT).count() == 200,
        timeout=GIVE_UP,
        interval=0.2,
        message="all 200 sent",
    )
    print(f"\nkilled after {sent_before} of 200 e-mails; all 200 sent")
    wait_for(lambda: not Message.objects.exists(), timeout=30, message="the outbox to drain")
    recipients = Counter(m["To"] for m in smtp_inbox.messages)
    assert len(recipients) == 200
    assert [to for to, n in recipients.items() if n > 1] == []
    assert smtp_inbox.count() == 200
