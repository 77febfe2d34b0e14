"""Every kind of e-mail, delivered through a real SMTP server, read as a mail client shows it."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import OUTPUT_DIR
from crm.tasks import remind_needs_reason
from deals import services as deal_services
from followups import services
from followups.models import FollowUp, FollowUpKind, FollowUpState, NurtureStep
from followups.tests.conftest import SMTP_PORT

# What a rep types: markup-looking text must reach the buyer as text, once.
BODY = 'Hi {{ contact.first_name }},\n\nPrices < last year & "Pro" <b>tier</b>.\n\n{{ owner.first_name }}'


@pytest.fixture
def smtp_settings(settings, smtp_inbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", SMTP_PORT
    settings.SITE_URL = "http://testserver"
    return smtp_inbox


def _deliver_every_kind(world, sequence, lost_deal):
    NurtureStep.objects.filter(sequence=sequence).update(body=BODY)
    closure = deal_services.deal_mark_lost(
        deal=lost_deal(name="Birch <Renewal> & Co"),
        reason=world.reasons["no-budget"],
        actor=world.alice,
        nurture_sequence=sequence,
        revisit_on=timezone.localdate() + timedelta(days=1),
    )
    later = timezone.now() + timedelta(days=400)
    for followup in FollowUp.objects.filter(closure=closure).order_by("due_at"):
        FollowUp.objects.filter(pk=followup.pk).update(state=FollowUpState.QUEUED, claimed_at=later)
        assert services.followup_deliver(followup_id=followup.pk, now=later).outcome == "sent"
    FollowUp.objects.filter(closure=closure, kind=FollowUpKind.OWNER_TASK).update(
        state=FollowUpState.PENDING, due_at=timezone.now() - timedelta(days=1)
    )
    assert services.followup_digests_send() == 1
    crm_closed = lost_deal(name="Pine <Expansion> & Co")
    deal_services.deal_mark_lost_from_crm(deal=crm_closed, crm_reason_text="<b>budget</b>")
    assert remind_needs_reason(crm_closed.pk) is True


@pytest.mark.browser
def test_each_kind_of_email_shows_the_reps_text_once_escaped(
    browser, world, sequence, lost_deal, smtp_settings
):
    inbox = smtp_settings
    _deliver_every_kind(world, sequence, lost_deal)
    subjects = {m["Subject"].strip(): m for m in inbox.messages}
    kinds = {
        "owner-task": next(m for s, m in subjects.items() if s.startswith("Call ")),
        "contact-email": next(m for s, m in subjects.items() if s.startswith("What changed")),
        "reopen-reminder": next(m for s, m in subjects.items() if s.startswith("Time to revisit")),
        "digest": next(m for s, m in subjects.items() if s.startswith("Your follow-ups today")),
        "needs-reason": next(m for s, m in subjects.items() if s.startswith("Give a reason")),
    }
    context = browser.new_context(viewport={"width": 800, "height": 600})
    page = context.new_page()
    try:
        for kind, message in kinds.items():
            page.set_content(message.get_body(("html",)).get_content())
            shown = page.inner_text("body")
            assert "&lt;" not in shown and "&amp;" not in shown and "<p>" not in shown, (kind, shown)
            if kind in ("owner-task", "contact-email"):
                assert 'Prices < last year & "Pro" <b>tier</b>.' in shown, (kind, shown)
                assert page.locator("body b").count() == 0  # the rep's tag is text, not bold
            elif kind == "needs-reason":
                assert "“Pine <Expansion> & Co”" in shown, shown
            else:
                assert "Birch <Renewal> & Co" in shown, (kind, shown)
            os.makedirs(OUTPUT_DIR, exist_ok=True)
            page.screenshot(path=os.path.join(OUTPUT_DIR, f"email-{kind}.png"), full_page=True)
    finally:
        context.close()
