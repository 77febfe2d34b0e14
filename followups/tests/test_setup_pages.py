"""The admins' nurture set-up pages: only admins reach them; a step is edited through the service
with a history row, previewed for a chosen lost deal exactly as its buyer would receive it, and
sent as a test to oneself; the next lost deal's buyer receives the new text."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deals import services as deal_services
from followups import services
from followups.buyer_templates import ALLOWED_LIST
from followups.models import FollowUp, FollowUpState, NurtureChange, NurtureStep
from followups.tests.conftest import wait_for
from outbox.models import Message as OutboxMessage

NEW_SUBJECT = "Any news at {{ account.name }}, {{ contact.first_name }}?"
NEW_BODY = "Hi {{ contact.first_name }},\n\nPrices < last year & more.\n\n{{ owner.first_name }}"


def _same(text: str) -> str:
    """The text as sent, line ends unified and the opt-out link's signature (signed each second) cut."""
    return re.sub(r"/follow-ups/opt-out/[^/]+/", "/follow-ups/opt-out/…/", text.replace("\r\n", "\n")).strip()


@pytest.fixture
def email_step(sequence):
    return NurtureStep.objects.get(sequence=sequence, position=2)


def _form(step, deal=None, **values):
    data = {
        "days_after_close": step.days_after_close,
        "action": step.action,
        "subject": NEW_SUBJECT,
        "body": NEW_BODY,
        "preview_deal": deal.pk if deal else "",
    }
    data.update(values)
    return data


def test_only_admins_reach_the_setup_pages(client, world, email_step):
    for user in (world.alice, world.bob, world.grace):
        client.force_login(user)
        for url in (reverse("followups:setup"), reverse("followups:setup-step", args=[email_step.pk])):
            response = client.get(url)
            assert response.status_code == 404 and b"Test nurture" not in response.content, (user, url)
        response = client.post(reverse("followups:setup-step", args=[email_step.pk]), _form(email_step))
        assert response.status_code == 404
    assert NurtureChange.objects.count() == 0
    assert NurtureStep.objects.get(pk=email_step.pk).subject.startswith("What changed")
    client.force_login(world.carol)
    page = client.get(reverse("followups:setup")).content.decode()
    assert "Test nurture" in page and "What changed at {{ account.name }}?" in page


def test_edit_preview_test_send_and_save_a_step(
    client, world, sequence, email_step, lost_deal, settings, smtp_inbox
):
    from followups.tests.conftest import SMTP_PORT

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", SMTP_PORT
    settings.SITE_URL = "http://testserver"
    world.carol.email = "carol@closedlost.invalid"
    world.carol.save()
    client.force_login(world.carol)
    url = reverse("followups:setup-step", args=[email_step.pk])
    lost = lost_deal(name="Internal codename Falcon", contacts=[("Pat Lee", "pat@birch.example")])
    deal_services.deal_mark_lost(deal=lost, reason=world.reasons["no-budget"], actor=world.alice)

    # A subject naming the deal is refused with the allowed placeholders; nothing changes.
    refused = client.post(url, _form(email_step, lost, subject="About {{ deal.name }}", do="save"))
    assert refused.status_code == 400
    assert f"Allowed placeholders: {ALLOWED_LIST}" in refused.content.decode().replace("&#x27;", "'")
    assert NurtureChange.objects.count() == 0

    # Preview for the chosen lost deal: what Pat would receive, rendered by the sending code.
    preview = client.post(url, _form(email_step, lost, do="preview"))
    assert preview.status_code == 200
    shown = preview.context["preview"]
    assert shown["subject"] == "Any news at Birch Health, Pat?"
    assert "Hi Pat,\n\nPrices < last year & more.\n\nAlice" in shown["text"]
    assert "Falcon" not in shown["text"] + shown["html"] + shown["subject"]
    assert smtp_inbox.count() == 0 and not FollowUp.objects.filter(state=FollowUpState.SENT).exists()

    # (The test send to oneself: test_a_test_send_goes_through_the_outbox_as_previewed.)

    # Save: through the service, with a history row; the next lost deal's buyer gets the new text.
    saved = client.post(url, _form(email_step, do="save"))
    assert saved.status_code == 302
    change = NurtureChange.objects.get()
    assert (change.actor, change.what, change.after["subject"]) == (world.carol, "step_changed", NEW_SUBJECT)
    assert change.before["subject"] == "What changed at {{ account.name }}?"
    nxt = lost_deal(name="Next one", contacts=[("Kim Poe", "kim@birch.example")])
    closure = deal_services.deal_mark_lost(
        deal=nxt, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    followup = FollowUp.objects.get(closure=closure, step=email_step)
    later = timezone.now() + timedelta(days=3)
    FollowUp.objects.filter(pk=followup.pk).update(state=FollowUpState.QUEUED, claimed_at=later)
    assert services.followup_deliver(followup_id=followup.pk, now=later).outcome == "sent"
    (received,) = smtp_inbox.to("kim@birch.example")
    assert received["Subject"] == "Any news at Birch Health, Kim?"
    assert "Hi Kim,\n\nPrices < last year & more." in received.get_body(("plain",)).get_content().replace(
        "\r\n", "\n"
    )


def test_a_test_send_goes_through_the_outbox_as_previewed(
    client, world, email_step, lost_deal, settings, workers, smtp_inbox
):
    """The real worker takes the test from the outbox and the real SMTP server receives exactly
    the previewed e-mail, addressed to the admin; the outbox row names no buyer."""
    settings.SITE_URL = "http://testserver"
    world.carol.email = "carol@closedlost.invalid"
    world.carol.save()
    client.force_login(world.carol)
    url = reverse("followups:setup-step", args=[email_step.pk])
    lost = lost_deal(name="Internal codename Falcon", contacts=[("Pat Lee", "pat@birch.example")])
    deal_services.deal_mark_lost(deal=lost, reason=world.reasons["no-budget"], actor=world.alice)
    shown = client.post(url, _form(email_step, lost, do="preview")).context["preview"]
    workers.start()
    page = client.post(url, _form(email_step, lost, do="test"), follow=True).content.decode()
    assert "A test is on its way to carol@closedlost.invalid, exactly as previewed." in page
    wait_for(lambda: smtp_inbox.to("carol@closedlost.invalid"), message="the test send")
    (test,) = smtp_inbox.to("carol@closedlost.invalid")
    assert test["To"] == "carol@closedlost.invalid" and test["Subject"] == shown["subject"]
    assert _same(test.get_body(("plain",)).get_content()) == _same(shown["text"])
    assert _same(test.get_body(("html",)).get_content()) == _same(shown["html"])
    assert not smtp_inbox.to("pat@birch.example")
    assert "Pat" not in str(list(OutboxMessage.objects.values_list("items", flat=True)))
    assert NurtureStep.objects.get(pk=email_step.pk).subject.startswith("What changed")  # not saved


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_setup_pages_have_no_axe_violations(browser, live_server, world, email_step, lost_deal):
    from tests.test_accessibility import AXE, TAGS

    lost = lost_deal(contacts=[("Pat Lee", "pat@birch.example")])
    deal_services.deal_mark_lost(deal=lost, reason=world.reasons["no-budget"], actor=world.alice)
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)  # to inject axe
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/deals/")
    found = {}
    page.goto(reverse("followups:setup"))
    page.add_script_tag(path=str(AXE))
    found["list"] = page.evaluate("t => axe.run(document, {runOnly: {type: 'tag', values: t}})", TAGS)
    page.goto(reverse("followups:setup-step", args=[email_step.pk]))
    page.get_by_label("Preview for the lost deal").select_option(str(lost.pk))
    page.get_by_role("button", name="Preview").click()
    assert page.locator(".preview-subject").inner_text() == "What changed at Birch Health?"
    assert "Has anything changed at Birch Health?" in page.locator(".preview-html").inner_text()
    page.add_script_tag(path=str(AXE))
    found["step"] = page.evaluate("t => axe.run(document, {runOnly: {type: 'tag', values: t}})", TAGS)
    page.screenshot(path="test-output/setup-step-preview.png", full_page=True)
    context.close()
    violations = {k: [v["id"] for v in r["violations"]] for k, r in found.items()}
    assert violations == {"list": [], "step": []}


def test_admins_choose_the_reasons_that_start_a_sequence(client, world, sequence):
    from followups.models import ReasonSequenceDefault

    url = reverse("followups:setup-reasons", args=[sequence.pk])
    client.force_login(world.bob)
    assert client.get(url).status_code == 404
    bad_timing, no_budget = world.reasons["bad-timing"], world.reasons["no-budget"]
    assert client.post(url, {"reasons": [bad_timing.pk]}).status_code == 404
    client.force_login(world.carol)
    assert client.get(url).status_code == 200
    assert client.post(url, {"reasons": [bad_timing.pk, no_budget.pk]}).status_code == 302
    assert set(ReasonSequenceDefault.objects.filter(sequence=sequence).values_list("reason", flat=True)) == {
        bad_timing.pk,
        no_budget.pk,
    }
    change = NurtureChange.objects.get(what="reasons_changed")
    assert change.actor == world.carol and change.after == {"reasons": ["bad-timing", "no-budget"]}
    # The next loss for that reason starts the sequence by default.
    deal = world.deal()
    closure = deal_services.deal_mark_lost(deal=deal, reason=bad_timing, actor=world.alice)
    assert closure.nurture.sequence == sequence
    assert client.post(url, {}).status_code == 302  # none: the defaults go
    assert not ReasonSequenceDefault.objects.filter(sequence=sequence).exists()
