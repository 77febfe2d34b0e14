"""Buyers see only what is theirs: every buyer-facing template (a nurture step e-mailed to the
contact, the survey e-mail's subject and body) refuses, renders empty and never sends any field
of the deal, its closure, reason, owner or note; the team's own templates keep them."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from deals import services as deal_services
from deals.models import Closure, Deal
from followups import emails
from followups.buyer_templates import ALLOWED_LIST, ALLOWED_PLACEHOLDERS
from followups.models import FollowUp, FollowUpKind, NurtureStep, StepAction
from reasons.models import Reason
from surveys import emails as survey_emails
from surveys import services as survey_services
from surveys.models import SurveySettings
from teams.models import User

INTERNAL_NAME = "ACME Renewal – upsell 40 seats"
AMOUNT = "48213.77"
NOTE = "Internal: their CFO hates us, push again in Q3"


def _field_names(model) -> list[str]:
    names = {f.name for f in model._meta.get_fields()}
    names |= {f.attname for f in model._meta.concrete_fields}
    return sorted(names)


def internal_placeholders() -> list[str]:
    """Every field of the deal, its closure, reason and owner, and the note, as a placeholder
    (the owner's name and e-mail are the sender's, which buyers may see)."""
    found = [f"deal.{n}" for n in _field_names(Deal)]
    found += [f"closure.{n}" for n in _field_names(Closure)]
    found += [f"reason.{n}" for n in _field_names(Reason)]
    found += [f"owner.{n}" for n in _field_names(User) if f"owner.{n}" not in ALLOWED_PLACEHOLDERS]
    found += ["note", "deal", "closure", "reason", "owner", "contact", "contact.email", "account"]
    return found


BUYER_TEMPLATES = ["step.subject", "step.body", "survey.email_subject", "survey.email_body"]


def _template_owner(where: str, text: str):
    kind, field = where.split(".")
    if kind == "step":
        step = NurtureStep(
            days_after_close=5, action=StepAction.CONTACT_EMAIL, subject="Hello", body="Hi", position=9
        )
        setattr(step, field, text)
        return step
    config = SurveySettings.load()
    setattr(config, field, text)
    return config


@pytest.mark.parametrize("where", BUYER_TEMPLATES)
def test_saving_a_buyer_template_naming_any_internal_field_is_refused_with_the_allowed_list(
    world, sequence, where
):
    for placeholder in internal_placeholders():
        owner = _template_owner(where, f"Hi {{{{ contact.first_name }}}}, about {{{{ {placeholder} }}}}")
        if where.startswith("step"):
            owner.sequence = sequence
        with pytest.raises(ValidationError) as refused:
            owner.full_clean()
        message = " ".join(m for ms in refused.value.message_dict.values() for m in ms)
        assert f"cannot use {{{{ {placeholder} }}}}" in message, (where, placeholder, message)
        assert f"Allowed placeholders: {ALLOWED_LIST}." in message
    # Filters' arguments, conditions and tags reaching past the context are refused alike.
    for text in [
        "{{ contact.name|default:deal.amount }}",
        "{% if closure.note %}x{% endif %}",
        "{% include 'followups/email/reopen_reminder.txt' %}",
        "{% debug %}",
        "{% load surveys_tags %}",
    ]:
        owner = _template_owner(where, text)
        if where.startswith("step"):
            owner.sequence = sequence
        with pytest.raises(ValidationError):
            owner.full_clean()
    every_allowed = " ".join(f"{{{{ {p} }}}}" for p in ALLOWED_PLACEHOLDERS)
    owner = _template_owner(where, f"{{% if contact.first_name %}}Hi{{% endif %}} {every_allowed}"[:200])
    if where.startswith("step"):
        owner.sequence = sequence
    owner.full_clean()  # every allowed placeholder (and {% if %} on them) is fine


def test_the_teams_own_steps_keep_the_full_context(world, sequence):
    step = NurtureStep(
        sequence=sequence,
        position=9,
        days_after_close=5,
        action=StepAction.OWNER_TASK,
        subject="Call about {{ deal.name }} ({{ deal.amount }})",
        body="{{ owner.username }} {{ deal.account }}",
    )
    step.full_clean()


@pytest.fixture
def internal_deal(world, lost_deal, sequence, competitor):
    """A lost deal whose every internal value is recognisable, with its nurture e-mail queued."""
    deal = lost_deal(name=INTERNAL_NAME, amount=AMOUNT, contacts=[("Pat Lee", "pat@birch.example")])
    deal_services.deal_mark_lost(
        deal=deal,
        reason=world.reasons["competitor-cheaper"],
        competitor=competitor,
        actor=world.alice,
        note=NOTE,
        nurture_sequence=sequence,
    )
    return deal


def _secrets(deal) -> list[str]:
    closure = deal.closures.get()
    return [INTERNAL_NAME, AMOUNT, "48,213", NOTE, closure.reason.code, closure.reason.label,
            "Northwind", deal.stage.name, "alice_internal"]  # fmt: skip


def _whole(message) -> str:
    html = message.alternatives[0][0]
    return "\n".join([message.subject, message.body, html, *map(str, message.extra_headers.values())])


def test_a_stored_template_naming_internal_fields_renders_them_empty_and_is_reported(
    client, world, internal_deal, settings
):
    world.alice.username = "alice_internal"
    world.alice.save()
    placeholders = internal_placeholders()
    stored = "".join(f"[{{{{ {p} }}}}]" for p in placeholders)
    # As if saved before the check existed (or past it): straight into the table.
    step = NurtureStep.objects.get(sequence__name="Test nurture", position=2)
    NurtureStep.objects.filter(pk=step.pk).update(subject=f"News {stored}"[:200], body=f"Hi {stored} bye")
    followup = FollowUp.objects.get(deal=internal_deal, step=step, kind=FollowUpKind.CONTACT_EMAIL)
    message = emails.followup_message(FollowUp.objects.get(pk=followup.pk))
    assert f"Hi {'[]' * len(placeholders)} bye" in message.body  # every one of them empty
    whole = _whole(message)
    for secret in _secrets(internal_deal):
        assert secret not in whole, secret

    config = SurveySettings.load()
    SurveySettings.objects.filter(pk=config.pk).update(email_subject=f"Q {stored}"[:200], email_body=stored)
    (survey,) = survey_services.survey_request(deal=internal_deal, actor=world.alice)
    survey_message = survey_emails.survey_message(
        survey, url=survey_services.survey_url(survey), config=SurveySettings.load()
    )
    assert "[]" * len(placeholders) in survey_message.body
    whole = _whole(survey_message)
    for secret in _secrets(internal_deal):
        assert secret not in whole, secret

    # The admin is told which stored e-mails name what, on the pages where they are edited.
    world.carol.is_staff = world.carol.is_superuser = True
    world.carol.save()
    client.force_login(world.carol)
    page = client.get(reverse("admin:followups_nurturesequence_changelist")).content.decode()
    assert "goes out with these placeholders empty" in page and "{{ deal.amount }}" in page
    page = client.get(
        reverse("admin:surveys_surveysettings_change", args=[config.pk]), follow=True
    ).content.decode()
    assert "The stored survey e-mail goes out with these placeholders empty" in page
    assert "{{ closure.note }}" in page


@pytest.mark.browser
def test_each_buyer_email_reads_whole_in_a_browser_and_names_nothing_internal(
    browser, world, internal_deal, settings, smtp_inbox
):
    """The nurture e-mail and the survey e-mail, delivered through a real SMTP server: their HTML
    opened in the browser shows no tag, no escaped markup, and no internal name; the window's
    title is the subject."""
    import os
    from datetime import timedelta

    from django.utils import timezone

    from conftest import OUTPUT_DIR
    from followups import services
    from followups.models import FollowUpState
    from followups.tests.conftest import SMTP_PORT

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", SMTP_PORT
    settings.SITE_URL = "http://testserver"
    settings.ORG_NAME = "Birchwood Software"
    later = timezone.now() + timedelta(days=400)
    for followup in FollowUp.objects.filter(deal=internal_deal, kind=FollowUpKind.CONTACT_EMAIL):
        FollowUp.objects.filter(pk=followup.pk).update(state=FollowUpState.QUEUED, claimed_at=later)
        assert services.followup_deliver(followup_id=followup.pk, now=later).outcome == "sent"
    (survey,) = survey_services.survey_request(deal=internal_deal, actor=world.alice)
    assert survey_services.survey_deliver(survey_id=survey.pk).outcome == "sent"
    kinds = {
        "nurture": next(m for m in smtp_inbox.messages if m["Subject"].startswith("What changed at")),
        "survey": next(m for m in smtp_inbox.messages if m["Subject"] == "Two minutes on your decision?"),
    }
    secrets = _secrets(internal_deal)
    context = browser.new_context(viewport={"width": 800, "height": 700})
    page = context.new_page()
    try:
        for kind, message in kinds.items():
            headers = "\n".join(f"{k}: {v}" for k, v in message.items())
            text = message.get_body(("plain",)).get_content()
            html = message.get_body(("html",)).get_content()
            page.set_content(html)
            shown = page.inner_text("body")
            for whole in (headers, text, shown, page.title()):
                for secret in secrets:
                    assert secret not in whole, (kind, secret, whole)
            assert "<" not in shown and "&lt;" not in shown and "&amp;" not in shown, (kind, shown)
            assert page.title() == message["Subject"], kind
            assert "Hi Pat," in shown and "Birchwood Software" in shown, (kind, shown)
            assert page.locator("a[href*='/follow-ups/opt-out/']").count() == 1, kind
            assert "/follow-ups/opt-out/" in message["List-Unsubscribe"]
            if kind == "survey":
                links = page.locator("a[href*='/surveys/answer/']")
                assert links.count() == 2  # the link in the text (clickable) and the button
            os.makedirs(OUTPUT_DIR, exist_ok=True)
            page.screenshot(path=os.path.join(OUTPUT_DIR, f"buyer-email-{kind}.png"), full_page=True)
    finally:
        context.close()
