"""Delivery through a real Celery worker on Redis to a real SMTP server (aiosmtpd).

Time moves forward by giving the dispatcher a later "now" (the due dates stay in the
database); the worker sends whatever was claimed.
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deals import services as deal_services
from followups import services
from followups.models import FollowUp, FollowUpKind, FollowUpState
from followups.tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _settled(ids) -> bool:
    return not FollowUp.objects.filter(pk__in=ids, state=FollowUpState.QUEUED).exists()


def test_lost_deal_sends_its_sequence_to_the_right_people_as_time_passes(
    world, sequence, lost_deal, workers, smtp_inbox
):
    workers.start()
    deal = lost_deal(contacts=[("Noor Birch", "noor@birch.example"), ("Sam Birch", "sam@birch.example")])
    closure = deal_services.deal_mark_lost(
        deal=deal,
        reason=world.reasons["price-too-high"],
        actor=world.alice,
        revisit_on=(timezone.now() + timedelta(days=30)).date(),
        nurture_sequence=sequence,
    )
    assert FollowUp.objects.filter(closure=closure).count() == 1 + 2 * 2 + 1  # task, 2 emails x 2, reminder

    # Nothing is due yet.
    assert services.followups_dispatch() == 0

    # Day 1.5: the owner's task.
    claimed = services.followups_dispatch(now=closure.closed_at + timedelta(days=1, hours=12))
    assert claimed == 1
    wait_for(lambda: smtp_inbox.count() == 1, message="the owner's task email")
    task_mail = smtp_inbox.to("alice@closedlost.invalid")[0]
    assert task_mail["Subject"] == "Call Noor at Birch Health"
    assert f"http://testserver/deals/{deal.pk}/reopen/" in task_mail.get_body(("plain",)).get_content()

    # Day 3: the first contact email, to each contact, with a working opt-out link.
    assert services.followups_dispatch(now=closure.closed_at + timedelta(days=3)) == 2
    wait_for(lambda: smtp_inbox.count() == 3, message="two contact emails")
    noor = smtp_inbox.to("noor@birch.example")
    assert len(noor) == 1 and len(smtp_inbox.to("sam@birch.example")) == 1
    mail = noor[0]
    assert mail["Subject"] == "What changed at Birch Health?"
    assert mail["Reply-To"] == "alice@closedlost.invalid"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Hi Noor," in text and "Has anything changed at Birch Health?" in text
    assert deal.name not in text and deal.name not in html  # the buyer never reads our name for it
    opt_out_url = re.search(r"http://testserver(/follow-ups/opt-out/\S+/)", text).group(1)
    assert opt_out_url in html and opt_out_url in mail["List-Unsubscribe"]

    # Noor opts out, signed out, from the link.
    page = Client().get(opt_out_url)
    assert page.status_code == 200 and "noor@birch.example" in page.content.decode()
    assert Client().post(opt_out_url).status_code == 200

    # Day 6: the last email goes to Sam only; the opt-out is honoured for every later step.
    assert services.followups_dispatch(now=closure.closed_at + timedelta(days=6)) == 1
    wait_for(lambda: smtp_inbox.count() == 4, message="the day-5 email to Sam")
    assert len(smtp_inbox.to("sam@birch.example")) == 2
    assert len(smtp_inbox.to("noor@birch.example")) == 1
    cancelled = FollowUp.objects.get(closure=closure, contact__email="noor@birch.example", step__position=3)
    assert (cancelled.state, cancelled.cancelled_reason) == (FollowUpState.CANCELLED, "contact opted out")

    # Day 31: the reopen reminder, with its one-click link.
    assert services.followups_dispatch(now=closure.closed_at + timedelta(days=31)) == 1
    wait_for(lambda: smtp_inbox.count() == 5, message="the reopen reminder")
    reminder = smtp_inbox.to("alice@closedlost.invalid")[-1]
    assert reminder["Subject"] == f"Time to revisit {deal.name}"
    assert f"http://testserver/deals/{deal.pk}/reopen/" in reminder.get_body(("plain",)).get_content()
    # The SMTP server may hold the reminder a moment before the worker records it as sent.
    final = ["cancelled", "sent", "sent", "sent", "sent", "sent"]
    states = lambda: sorted(FollowUp.objects.filter(closure=closure).values_list("state", flat=True))  # noqa: E731
    wait_for(lambda: states() == final, message="every follow-up recorded as sent or cancelled")


def test_a_redelivered_message_sends_one_email(world, sequence, lost_deal, workers, smtp_inbox):
    workers.start(concurrency=4)
    deals = [lost_deal(contacts=[(f"Buyer {n}", f"buyer{n}@birch.example")]) for n in range(5)]
    for deal in deals:
        deal_services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice,
                                     nurture_sequence=sequence)  # fmt: skip
    later = timezone.now() + timedelta(days=3)
    handed_out = []

    def enqueue_twice(ids):  # every message delivered twice, at once
        handed_out.extend(ids)
        services._enqueue(ids + ids)

    assert services.followups_dispatch(now=later, enqueue=enqueue_twice) == 10  # 5 tasks + 5 emails
    wait_for(lambda: _settled(handed_out) and smtp_inbox.count() >= 10, message="all sent")
    wait_for(lambda: "outbox.run" in workers.logs() and workers.logs().count("succeeded") >= 20,
             message="both copies of every message handled")  # fmt: skip
    assert smtp_inbox.count() == 10
    for n in range(5):
        assert len(smtp_inbox.to(f"buyer{n}@birch.example")) == 1
    assert set(FollowUp.objects.filter(pk__in=handed_out).values_list("state", flat=True)) == {"sent"}
    assert set(FollowUp.objects.filter(pk__in=handed_out).values_list("attempts", flat=True)) == {1}


def test_killing_the_worker_mid_batch_loses_and_duplicates_nothing(
    world, sequence, lost_deal, workers, smtp_inbox, settings
):
    smtp_inbox.hold_from = 3  # after 3 e-mails the server holds every session at RCPT
    worker = workers.start(concurrency=2)
    for n in range(12):
        deal = lost_deal(contacts=[(f"Buyer {n}", f"buyer{n}@birch.example")])
        deal_services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice,
                                     nurture_sequence=sequence, skip_nurture=False)  # fmt: skip
    FollowUp.objects.exclude(kind=FollowUpKind.CONTACT_EMAIL).update(
        state=FollowUpState.CANCELLED, cancelled_reason="not in this test"
    )
    now = timezone.now() + timedelta(days=3)
    assert services.followups_dispatch(now=now) == 12
    # Kill while both pool processes are in the middle of an SMTP session, their earlier e-mails
    # committed. (Between the server's "250 accepted" and the row's COMMIT lie a few milliseconds
    # in which a kill would send that one e-mail again: at-least-once, with the same Message-ID
    # for receivers to drop the copy. Holding at RCPT keeps the kill out of that window.)
    wait_for(lambda: len(smtp_inbox.held) == 2, timeout=60, message="both pool processes held mid-session")
    workers.kill(worker)
    sent_before = smtp_inbox.count()
    assert sent_before < 12
    assert FollowUp.objects.filter(state=FollowUpState.QUEUED).exists()  # handed out, never finished

    # A new worker takes the messages still waiting in Redis; those the killed worker had
    # taken are stranded (unacknowledged) with their rows `queued`.
    smtp_inbox.release()
    workers.start(concurrency=2)
    # Idle twice running: a message taken off the queue shows as reserved a moment later.
    name = workers.names[-1]
    wait_for(lambda: workers.idle(name) and workers.idle(name), timeout=60, message="the new worker is idle")
    stranded = FollowUp.objects.filter(state=FollowUpState.QUEUED).count()
    assert stranded >= 1
    # The next beat tick after the claim lease hands exactly those out again.
    assert services.followups_dispatch(now=now) == 0  # still within the lease: nothing taken twice
    later = now + timedelta(seconds=settings.FOLLOWUPS_CLAIM_LEASE + 1)
    assert services.followups_dispatch(now=later) == stranded
    wait_for(lambda: FollowUp.objects.filter(state=FollowUpState.SENT).count() == 12, message="all 12 sent")
    assert smtp_inbox.count() == 12
    for n in range(12):
        assert len(smtp_inbox.to(f"buyer{n}@birch.example")) == 1, f"buyer{n}"


def test_smtp_refusal_fails_the_row_after_retries_and_the_rest_goes_out(
    world, sequence, lost_deal, workers, smtp_inbox
):
    smtp_inbox.refuse = {"bounce@birch.example"}
    workers.start(concurrency=2)
    addresses = ["ok1@birch.example", "bounce@birch.example", "ok2@birch.example", "ok3@birch.example"]
    for address in addresses:
        deal = lost_deal(contacts=[("Buyer", address)])
        deal_services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice,
                                     nurture_sequence=sequence)  # fmt: skip
    emails = FollowUp.objects.filter(kind=FollowUpKind.CONTACT_EMAIL, step__position=2)
    FollowUp.objects.exclude(pk__in=emails.values("pk")).update(state=FollowUpState.CANCELLED)
    assert services.followups_dispatch(now=timezone.now() + timedelta(days=3)) == 4

    bounced = emails.get(contact__email="bounce@birch.example")
    # 3 tries with a 1 s, then 2 s backoff.
    wait_for(lambda: FollowUp.objects.get(pk=bounced.pk).state == FollowUpState.FAILED, timeout=90,
             message="the refused email to fail")  # fmt: skip
    bounced.refresh_from_db()
    assert bounced.attempts == 3
    assert "SMTPRecipientsRefused" in bounced.last_error and "550" in bounced.last_error
    assert sorted(emails.filter(state=FollowUpState.SENT).values_list("contact__email", flat=True)) == [
        "ok1@birch.example",
        "ok2@birch.example",
        "ok3@birch.example",
    ]
    assert smtp_inbox.count() == 3
    assert smtp_inbox.to("bounce@birch.example") == []


def test_the_worker_cancels_instead_of_sending_when_the_deal_was_reopened_meanwhile(
    world, sequence, lost_deal, workers, smtp_inbox
):
    workers.start()
    deal = lost_deal()
    deal_services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice,
                                 nurture_sequence=sequence)  # fmt: skip
    ids = services.followups_claim(now=timezone.now() + timedelta(days=3), enqueue=lambda ids: None)
    assert len(ids) == 2
    deal_services.deal_reopen(deal=deal, actor=world.alice)
    services._enqueue(ids)  # the messages arrive after the reopen
    wait_for(lambda: workers.logs().count("succeeded") >= 2, message="both messages handled")
    assert smtp_inbox.count() == 0
    assert set(FollowUp.objects.filter(deal=deal).values_list("state", flat=True)) == {"cancelled"}


def test_beat_dispatches_due_follow_ups_on_its_own(world, sequence, lost_deal, workers, smtp_inbox):
    deal = lost_deal()
    closure = deal_services.deal_mark_lost(
        deal=deal, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    FollowUp.objects.filter(closure=closure).update(due_at=timezone.now() - timedelta(minutes=1))
    workers.start(beat=True)  # ticks every 3 s here (FOLLOWUPS_DISPATCH_EVERY), every 60 s by default
    wait_for(lambda: smtp_inbox.count() == 3, timeout=90, message="beat to dispatch the 3 due follow-ups")
    assert "followups.dispatch_due" in workers.logs()
    # The message reaches the SMTP server before the worker's transaction marks it sent.
    wait_for(
        lambda: set(FollowUp.objects.filter(closure=closure).values_list("state", flat=True)) == {"sent"},
        message="the 3 follow-ups marked sent",
    )
