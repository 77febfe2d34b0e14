"""Every kind of e-mail, delivered through a real SMTP server and opened as a mail client shows it:
the HTML part renders the rep's text once escaped, with no literal tags."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import CHROMIUM_FLAGS, OUTPUT_DIR  # noqa: F401 - the browser fixture's settings
from deals import services as deal_services
from followups import services
from followups.models import FollowUp, FollowUpKind, FollowUpState, NurtureSequence, NurtureStep, StepAction
from followups.tests.conftest import SMTP_PORT

# Admin-written step text with characters HTML cares about: it must read exactly like this.
BODY = 'Hi {{ contact.first_name }},\n\nIs 5 < 6 & "A&B" <b>still</b> on your list?\n\nAlice'


@pytest.fixture
def mail_settings(settings, smtp_inbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", SMTP_PORT
    settings.SITE_URL = "http://testserver"
    return smtp_inbox


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_each_kind_of_email_renders_in_a_mail_view(browser, world, lost_deal, mail_settings):
    inbox = mail_settings
    sequence = NurtureSequence.objects.create(name="Rendering")
    for position, action in enumerate((StepAction.OWNER_TASK, StepAction.CONTACT_EMAIL), start=1):
        NurtureStep.objects.create(
            sequence=sequence, position=position, days_after_close=position, action=action,
            subject="About {{ deal.account }}", body=BODY,
        )  # fmt: skip
    deal = lost_deal(contacts=[("Noor Birch", "noor@birch.example")])
    closure = deal_services.deal_mark_lost(
        deal=deal, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence,
        revisit_on=timezone.localdate() + timedelta(days=3),
    )  # fmt: skip
    # Claimed as the dispatcher would (a week on), then each delivered by the worker's service.
    claimed = services.followups_claim(now=timezone.now() + timedelta(days=7), enqueue=lambda ids: None)
    assert len(claimed) == 3  # owner task, contact email, reopen reminder
    for followup_id in claimed:
        assert services.followup_deliver(followup_id=followup_id).outcome == "sent"
    FollowUp.objects.filter(closure=closure, kind=FollowUpKind.OWNER_TASK).update(
        state=FollowUpState.PENDING, due_at=timezone.now() - timedelta(hours=1)
    )
    assert services.followup_digests_send() == 1
    kinds = {
        "contact email": inbox.to("noor@birch.example")[0],
        **{
            ("digest" if m["Subject"].startswith("Your follow-ups") else
             "reopen reminder" if m["Subject"].startswith("Time to revisit") else "owner task"): m
            for m in inbox.to("alice@closedlost.invalid")
        },
    }  # fmt: skip
    assert set(kinds) == {"contact email", "owner task", "reopen reminder", "digest"}

    context = browser.new_context(viewport={"width": 700, "height": 900})
    tab = context.new_page()
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    for kind, message in kinds.items():
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        tab.set_content(html)
        shown = tab.inner_text("body")
        for literal in ("<p>", "</p>", "&lt;", "&gt;", "&amp;", "<br>"):
            assert literal not in shown, (kind, literal, shown)
        assert "Birch Health" in shown, kind
        if kind in ("contact email", "owner task"):
            # The rep's text, escaped once: it reads as written, and makes no markup of its own.
            assert 'Is 5 < 6 & "A&B" <b>still</b> on your list?' in shown, shown
            assert tab.locator("b").count() == 0
            assert tab.locator("p").first.inner_text() == "Hi Noor,"
            assert 'Is 5 < 6 & "A&B" <b>still</b> on your list?' in text
        if kind == "contact email":
            assert tab.get_by_role("link", name="Unsubscribe from these emails").count() == 1
        tab.screenshot(path=os.path.join(OUTPUT_DIR, f"email-{kind.replace(' ', '-')}.png"), full_page=True)
    context.close()
