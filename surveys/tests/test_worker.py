"""The whole journey on real servers: the rep sends the survey from the deal page, a real Celery
worker e-mails it through a real SMTP server, the buyer answers in a real browser signed out."""

import re

import pytest

from followups.models import ContactOptOut
from followups.tests.conftest import wait_for
from surveys.models import Survey, SurveyResponse, SurveySource, SurveyState
from surveys.tests.conftest import AMOUNT, NOTE

pytestmark = [pytest.mark.django_db(transaction=True)]


def _link_path(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    url = re.search(r"http://testserver(/surveys/answer/\S+/)", text)
    assert url, text
    return url.group(1)


@pytest.mark.browser
def test_the_buyer_gets_the_email_answers_signed_out_and_cannot_answer_twice(
    browser, browser_page, live_server, world, lost_with_buyer, workers, smtp_inbox
):
    workers.start()
    deal = lost_with_buyer(reason="price-too-high")
    page = browser_page
    page.sign_in("alice")
    page.goto(f"/deals/{deal.pk}/")
    page.get_by_role("button", name="Send survey to the buyer").click()
    assert page.get_by_text("The survey is on its way to Noor Birch.").is_visible()

    wait_for(lambda: smtp_inbox.to("noor@birch.example"), message="the survey e-mail")
    wait_for(lambda: Survey.objects.filter(state=SurveyState.SENT).exists(), message="the survey marked sent")
    (message,) = smtp_inbox.to("noor@birch.example")
    whole = message.as_string() + message.get_body(preferencelist=("html",)).get_content()
    reason = world.reasons["price-too-high"]
    for secret in [AMOUNT, "48,213", NOTE, reason.code, reason.label, deal.name, "Alice", "alice@"]:
        assert secret not in whole, secret
    assert message["Subject"] == "Two minutes on your decision?"
    assert "/follow-ups/opt-out/" in message["List-Unsubscribe"]
    assert "Hi Noor," in message.get_body(preferencelist=("plain",)).get_content()
    path = _link_path(message)

    # The buyer: a fresh browser, never signed in, on a phone-sized screen.
    buyer_context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    buyer = buyer_context.new_page()
    try:
        buyer.goto(path)
        assert buyer.get_by_role("heading", name="A few questions about your decision").is_visible()
        html = buyer.content()
        for secret in [AMOUNT, NOTE, reason.code, reason.label, deal.name, "Alice"]:
            assert secret not in html, secret
        buyer.get_by_role(
            "button", name="Send my answers"
        ).click()  # nothing chosen: errors, kept on the page
        assert buyer.get_by_role("alert").is_visible()
        assert buyer.get_by_text("Choose the main reason").first.is_visible()
        buyer.get_by_label("It did not work with our other systems").first.check()
        buyer.get_by_label("Northwind CRM").check()
        buyer.get_by_label("5 – very well").check()
        buyer.get_by_label("Anything you would like to tell us? (optional)").fill(
            "The ERP connector was missing."
        )
        buyer.get_by_label("No, please do not e-mail me again").check()
        buyer.screenshot(path="test-output/survey-answer-mobile.png", full_page=True)
        buyer.get_by_role("button", name="Send my answers").click()
        assert buyer.get_by_role("heading", name="Thank you for your answers").is_visible()

        # A second submission: back to the form and send again.
        buyer.go_back()
        buyer.goto(path)
        assert buyer.get_by_role("heading", name="You have already answered").is_visible()
    finally:
        buyer_context.close()

    response = SurveyResponse.objects.get()
    assert (
        response.main_reason == world.reasons["integration-gap"]
        and response.competitor.name == "Northwind CRM"
    )
    assert response.process_rating == 5 and not response.may_contact_again
    assert ContactOptOut.objects.filter(email="noor@birch.example").exists()

    # The rep sees the buyer's answer beside their own on the deal page.
    page.goto(f"/deals/{deal.pk}/")
    panel = page.locator(".deal-survey")
    assert "The rep said" in panel.inner_text() and "Price too high" in panel.inner_text()
    assert "Integration or technical gap" in panel.inner_text() and "another category" in panel.inner_text()
    assert page.console_errors == []


def test_beat_hands_out_leftover_surveys_and_skips_opted_out_contacts(
    world, lost_with_buyer, workers, smtp_inbox, monkeypatch
):
    """Intent rows whose message never reached the broker (broker down at commit) are sent by
    beat's next tick; a contact who opted out meanwhile gets nothing."""
    monkeypatch.setenv("SURVEYS_DISPATCH_EVERY", "2")
    leftover = lost_with_buyer(email="left@birch.example", name="Lee Left")
    opted = lost_with_buyer(owner="erin", email="gone@birch.example", name="Gil Gone")
    for deal in (leftover, opted):
        Survey.objects.create(
            closure=deal.closures.get(), deal=deal, contact=deal.contacts.get(), source=SurveySource.REP
        )
    ContactOptOut.objects.create(email="gone@birch.example")
    workers.start(beat=True)

    wait_for(lambda: smtp_inbox.to("left@birch.example"), timeout=60, message="the leftover survey e-mail")
    wait_for(
        lambda: Survey.objects.filter(deal=opted, state=SurveyState.CANCELLED).exists(),
        timeout=60,
        message="the opted-out survey cancelled",
    )
    wait_for(lambda: Survey.objects.filter(deal=leftover, state=SurveyState.SENT).exists(), message="sent")
    assert smtp_inbox.to("gone@birch.example") == []
    assert len(smtp_inbox.to("left@birch.example")) == 1
    assert Survey.objects.get(deal=opted).cancelled_reason == "contact opted out"
