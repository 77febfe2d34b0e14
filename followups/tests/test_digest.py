"""The daily digest: one e-mail per rep with what is overdue and due today, sent once a day."""

import smtplib
from datetime import timedelta

import pytest
from django.utils import timezone

from deals import services as deal_services
from followups import services
from followups.models import DigestSent, FollowUp, FollowUpKind
from followups.tests.conftest import SMTP_PORT


@pytest.fixture
def smtp_settings(settings, smtp_inbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", SMTP_PORT
    settings.SITE_URL = "http://testserver"
    return smtp_inbox


def test_each_rep_gets_one_digest_a_day_with_only_their_work(world, sequence, lost_deal, smtp_settings):
    inbox = smtp_settings
    for owner in ("alice", "dave"):
        closure = deal_services.deal_mark_lost(
            deal=lost_deal(owner=owner, contacts=[("Noor", f"noor-{owner}@birch.example")]),
            reason=world.reasons["no-budget"],
            actor=getattr(world, owner),
            nurture_sequence=sequence,
        )
        FollowUp.objects.filter(closure=closure, kind=FollowUpKind.OWNER_TASK).update(
            due_at=timezone.now() - timedelta(days=2)
        )
    erin_deal = lost_deal(owner="erin")
    deal_services.deal_mark_lost(
        deal=erin_deal, reason=world.reasons["no-budget"], actor=world.erin, nurture_sequence=sequence
    )  # fmt: skip  (nothing due: no digest)

    assert services.followup_digests_send() == 2
    assert services.followup_digests_send() == 0  # the second run of the day sends nothing
    assert inbox.count() == 2
    alice = inbox.to("alice@closedlost.invalid")[0]
    text = alice.get_body(("plain",)).get_content()
    assert alice["Subject"] == "Your follow-ups today: 1 to do"
    assert "Overdue (1):" in text and "Call Noor at Birch Health" in text
    assert "http://testserver/follow-ups/" in text
    assert "noor-dave" not in text and "Dave" not in text
    assert inbox.to("erin@closedlost.invalid") == []
    assert set(DigestSent.objects.values_list("user__username", flat=True)) == {"alice", "dave"}


def test_a_digest_that_fails_to_send_is_tried_again(world, sequence, lost_deal, smtp_settings):
    inbox = smtp_settings
    inbox.refuse = {"alice@closedlost.invalid"}
    for owner in ("alice", "erin"):
        closure = deal_services.deal_mark_lost(
            deal=lost_deal(owner=owner), reason=world.reasons["no-budget"], actor=getattr(world, owner),
            nurture_sequence=sequence,
        )  # fmt: skip
        FollowUp.objects.filter(closure=closure, kind=FollowUpKind.OWNER_TASK).update(due_at=timezone.now())
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        services.followup_digests_send()
    assert list(DigestSent.objects.values_list("user__username", flat=True)) == ["erin"]  # the others go out
    inbox.refuse = set()
    assert services.followup_digests_send() == 1  # the retry sends alice's only
    assert len(inbox.to("alice@closedlost.invalid")) == 1
    assert len(inbox.to("erin@closedlost.invalid")) == 1
