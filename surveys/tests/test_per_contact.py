"""A survey link per contact: every buyer contact asked gets a link of their own, each answer
counts once per contact, and an e-mail whose survey or opt-out link would be empty is not sent
but reported."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deals import services as deal_services
from followups import services as followup_services
from followups.models import FollowUp, FollowUpKind, FollowUpState, NurtureStep
from followups.tests.conftest import wait_for
from surveys import selectors
from surveys.models import Survey, SurveyResponse, SurveySource, SurveyState

BUYERS = [
    ("Pat Lee", "pat@birch.example"),
    ("Sam Roe", "sam@birch.example"),
    ("Kim Poe", "kim@birch.example"),
]
NO_ADDRESS = ("Noa Nil", "")


def _answer(world, reason: str) -> dict:
    return {
        "main_reason": str(world.reasons[reason].pk),
        "chose_instead": "none",
        "process_rating": "4",
        "comment": "",
        "may_contact_again": "yes",
    }


def _link_path(text: str) -> str:
    url = re.search(r"http://testserver(/surveys/answer/\S+/)", text)
    assert url, text
    return url.group(1)


def _filters():
    today = timezone.localdate()
    return selectors.FeedbackFilters(date_from=today - timedelta(days=1), date_to=today)


@pytest.mark.django_db(transaction=True)
def test_three_contacts_get_three_links_and_three_answers_count(
    client, world, lost_deal, workers, smtp_inbox
):
    workers.start()
    deal = lost_deal(contacts=[*BUYERS, NO_ADDRESS])
    deal_services.deal_mark_lost(deal=deal, reason=world.reasons["price-too-high"], actor=world.alice)
    client.force_login(world.alice)
    page = client.post(reverse("surveys:send", args=[deal.pk]), follow=True).content.decode()
    assert "The survey is on its way to Pat Lee, Sam Roe and Kim Poe." in page
    assert "Not sent to Noa Nil: no e-mail address." in page

    # The real worker e-mails each one through the real SMTP server.
    wait_for(lambda: all(smtp_inbox.to(address) for _name, address in BUYERS), message="three e-mails")
    wait_for(lambda: Survey.objects.filter(state=SurveyState.SENT).count() == 3, message="three sent")
    links = {}
    for name, address in BUYERS:
        (message,) = smtp_inbox.to(address)
        text = message.get_body(("plain",)).get_content()
        assert f"Hi {name.split()[0]}," in text
        links[address] = _link_path(text)
    assert len(set(links.values())) == 3  # a link of their own each
    assert smtp_inbox.count() == 3  # nobody else, nothing twice
    skipped = Survey.objects.get(deal=deal, contact__name="Noa Nil")
    assert (skipped.state, skipped.last_error) == (SurveyState.FAILED, "not sent: no e-mail address")

    # Each buyer answers on their own link, signed out; a second answer on the same link is refused.
    client.logout()
    answers = {"pat@birch.example": "price-too-high", "sam@birch.example": "integration-gap"}
    answers["kim@birch.example"] = "competitor-cheaper"
    for address, path in links.items():
        assert client.get(path).status_code == 200
        response = client.post(path, _answer(world, answers[address]))
        assert response.status_code == 302, response.content.decode()[:800]
        assert client.post(path, _answer(world, "no-budget")).status_code == 409
    responses = SurveyResponse.objects.filter(survey__deal=deal).select_related(
        "survey__contact", "main_reason"
    )
    assert {r.survey.contact.email: r.main_reason.code for r in responses} == answers

    # Counted once per contact in the figures, and the deal listed once behind them.
    assert selectors.response_rate(user=world.bob, filters=_filters()) == {
        "sent": 3,
        "answered": 3,
        "rate": 1.0,
    }
    matrix = selectors.agreement_matrix(user=world.bob, filters=_filters())
    assert (matrix["total"], matrix["agreed"]) == (3, 1)
    client.force_login(world.bob)
    listed = client.get(reverse("deals:list"), {"buyer_category": "any", "status": "lost"}).content.decode()
    assert listed.count(f'href="/deals/{deal.pk}/"') == 1
    detail = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert "not sent: no e-mail address" in detail
    assert "Send survey to the buyer" not in detail  # every contact with an address has theirs


def test_a_nurture_link_per_contact_and_none_empty(client, world, lost_deal, sequence, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "http://testserver"
    from django.core import mail

    step = NurtureStep.objects.get(sequence=sequence, position=2)
    NurtureStep.objects.filter(pk=step.pk).update(
        body="Hi {{ contact.first_name }}, tell us why: {{ survey_url }}"
    )
    deal = lost_deal(contacts=BUYERS[:2])
    deal_services.deal_mark_lost(
        deal=deal, reason=world.reasons["missing-feature"], actor=world.alice, nurture_sequence=sequence
    )
    later = timezone.now() + timedelta(days=3)
    rows = FollowUp.objects.filter(deal=deal, step=step).order_by("-pk")  # delivery order must not matter
    for followup in rows:
        FollowUp.objects.filter(pk=followup.pk).update(state=FollowUpState.QUEUED, claimed_at=later)
        assert followup_services.followup_deliver(followup_id=followup.pk, now=later).outcome == "sent"
    paths = {m.to[0]: _link_path(m.body) for m in mail.outbox}
    assert set(paths) == {"pat@birch.example", "sam@birch.example"} and len(set(paths.values())) == 2
    surveys = Survey.objects.filter(deal=deal)
    assert {s.contact.email for s in surveys} == set(paths) and {s.source for s in surveys} == {
        SurveySource.NURTURE
    }
    assert all(client.get(path).status_code == 200 for path in paths.values())

    # A close the CRM made without a standard reason gets no survey: the e-mail naming the link
    # would carry an empty one, so it is not sent and the row says why.
    crm_deal = lost_deal(contacts=[("Lou Crm", "lou@birch.example")])
    closure = deal_services.deal_mark_lost_from_crm(deal=crm_deal, crm_reason_text="budget")
    followup_services.followups_schedule_for_closure(closure=closure, sequence=sequence)
    failing = FollowUp.objects.get(deal=crm_deal, step=step, kind=FollowUpKind.CONTACT_EMAIL)
    FollowUp.objects.filter(pk=failing.pk).update(state=FollowUpState.QUEUED, claimed_at=later)
    sent_before = len(mail.outbox)
    assert followup_services.followup_deliver(followup_id=failing.pk, now=later).outcome == "failed"
    failing.refresh_from_db()
    assert failing.state == FollowUpState.FAILED and "{{ survey_url }} would be empty" in failing.last_error
    assert len(mail.outbox) == sent_before
    # The opt-out link cannot be empty either: a contact without an address is never written to.
    failing.contact.email = ""
    failing.contact.save()
    FollowUp.objects.filter(pk=failing.pk).update(state=FollowUpState.QUEUED, attempts=0)
    NurtureStep.objects.filter(pk=step.pk).update(body="Hi {{ contact.first_name }}")
    assert followup_services.followup_deliver(followup_id=failing.pk, now=later).outcome == "failed"
    failing.refresh_from_db()
    assert failing.last_error == "Not sent: The contact has no e-mail address."
    assert len(mail.outbox) == sent_before
