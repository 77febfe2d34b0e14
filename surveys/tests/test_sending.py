"""Who gets a survey and when: the rep's button, the automatic send, nurture links; never for won
deals or opted-out contacts."""

from datetime import timedelta

from django.urls import reverse

from deals import services as deal_services
from followups import emails as followup_emails
from followups.models import ContactOptOut, FollowUp, FollowUpKind, NurtureStep
from followups.services import contact_opt_out
from surveys import services
from surveys.models import ReasonWording, Survey, SurveySettings, SurveySource, SurveyState


def _dispatcher(capture):
    """surveys_dispatch with its after-commit publishing run and recorded."""
    published = []

    def dispatch(now):
        with capture(execute=True):
            return services.surveys_dispatch(now=now, publish=published.extend)

    return dispatch, published


def test_the_rep_sends_a_survey_from_the_deal_page(
    client, world, lost_with_buyer, django_capture_on_commit_callbacks
):
    deal = lost_with_buyer()
    client.force_login(world.alice)
    page = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert "Send survey to the buyer" in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("surveys:send", args=[deal.pk]), follow=True)
    assert "The survey is on its way to Noor Birch." in response.content.decode()
    survey = Survey.objects.get(deal=deal)
    assert (survey.state, survey.source, survey.requested_by) == (
        SurveyState.PENDING,
        SurveySource.REP,
        world.alice,
    )
    assert survey.queued_at is not None and len(callbacks) == 1  # published after commit
    # Once sent for this close, the button is gone and a second send is refused.
    assert (
        "Send survey to the buyer" not in client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    )
    again = client.post(reverse("surveys:send", args=[deal.pk]), follow=True)
    assert "This close already has a survey." in again.content.decode()
    assert Survey.objects.count() == 1


def test_won_open_and_opted_out_deals_get_no_survey(client, world, lost_with_buyer, lost_deal):
    client.force_login(world.alice)
    won = lost_deal(contacts=[("Ana Won", "ana@won.example")])
    deal_services.deal_mark_won(deal=won, reason=world.reasons["win-best-fit"], actor=world.alice)
    opened = lost_deal(contacts=[("Oli Open", "oli@open.example")])
    opted = lost_with_buyer(email="out@birch.example")
    contact_opt_out(email="OUT@birch.example")
    expected = {
        won.pk: "A won deal gets no loss survey.",
        opened.pk: "Only a lost or No Decision deal gets a survey.",
        opted.pk: "No contact of this deal can receive it",
    }
    for pk, message in expected.items():
        if pk != opted.pk:  # the button shows only for a lost or No Decision deal
            assert (
                "Send survey to the buyer"
                not in client.get(reverse("deals:detail", args=[pk])).content.decode()
            )
        response = client.post(reverse("surveys:send", args=[pk]), follow=True)
        assert message in response.content.decode()
    assert not Survey.objects.exists()


def test_another_teams_user_cannot_send_or_see(client, world, lost_with_buyer):
    deal = lost_with_buyer()
    for user in (world.dave, world.grace, world.erin):
        client.force_login(user)
        assert client.post(reverse("surveys:send", args=[deal.pk])).status_code == 404
    assert not Survey.objects.exists()
    client.force_login(world.bob)  # East's manager may
    assert client.post(reverse("surveys:send", args=[deal.pk])).status_code == 302
    assert Survey.objects.count() == 1


def test_automatic_surveys_follow_the_days_per_kind_and_reason(
    world, lost_with_buyer, django_capture_on_commit_callbacks
):
    dispatch, published = _dispatcher(django_capture_on_commit_callbacks)
    config = SurveySettings.load()
    assert (config.loss_days, config.no_decision_days) == (7, None)  # no decision: off by default
    lost = lost_with_buyer(reason="price-too-high")
    undecided = lost_with_buyer(owner="erin", reason="status-quo", email="sam@birch.example")
    never = lost_with_buyer(owner="dave", reason="no-budget", email="kim@birch.example")
    ReasonWording.objects.create(reason=world.reasons["no-budget"], sending=ReasonWording.Sending.NEVER)
    opted = lost_with_buyer(owner="dave", reason="missing-feature", email="opt@birch.example")
    ContactOptOut.objects.create(email="opt@birch.example")
    closed_at = lost.closed_at

    assert dispatch(closed_at + timedelta(days=6)) == 0
    assert dispatch(closed_at + timedelta(days=7, hours=1)) == 1
    survey = Survey.objects.get()
    assert (survey.deal, survey.source, survey.state) == (lost, SurveySource.AUTOMATIC, SurveyState.PENDING)
    assert published == [survey.pk]
    # Handed out: not again within the lease; again after it (a lost message).
    assert dispatch(closed_at + timedelta(days=7, hours=1, minutes=5)) == 0
    assert dispatch(closed_at + timedelta(days=7, hours=2)) == 1
    assert Survey.objects.count() == 1
    assert {undecided.pk, never.pk, opted.pk}.isdisjoint(Survey.objects.values_list("deal", flat=True))

    config.no_decision_days = 3
    config.save()
    dispatch(closed_at + timedelta(days=8))
    assert Survey.objects.filter(deal=undecided).exists()
    # Long-gone closes are not surveyed when sending is turned on later.
    config.no_decision_days = 1
    config.save()
    Survey.objects.filter(deal=undecided).delete()
    assert services.surveys_schedule_due(now=closed_at + timedelta(days=30)) == 0


def test_delivery_is_cancelled_for_a_won_or_opted_out_case(world, lost_with_buyer, smtp_inbox, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    deal = lost_with_buyer()
    (survey,) = services.survey_request(deal=deal, actor=world.alice)
    contact_opt_out(email="noor@birch.example")
    assert services.survey_deliver(survey_id=survey.pk).outcome == "cancelled"
    assert Survey.objects.get().cancelled_reason == "contact opted out"
    assert services.survey_deliver(survey_id=survey.pk).outcome == "skipped"

    other = lost_with_buyer(owner="erin", email="sam@birch.example")
    (survey,) = services.survey_request(deal=other, actor=world.erin)
    deal_services.deal_reopen(deal=other, actor=world.erin)
    deal_services.deal_mark_won(deal=other, reason=world.reasons["win-best-fit"], actor=world.erin)
    assert services.survey_deliver(survey_id=survey.pk).outcome == "cancelled"
    assert mail.outbox == []


def test_a_nurture_email_can_carry_the_survey_link(client, world, lost_deal, sequence):
    step = NurtureStep.objects.get(sequence=sequence, position=2)
    step.body = "Tell us why: {{ survey_url }}"
    step.save()
    deal = lost_deal()
    deal_services.deal_mark_lost(
        deal=deal, reason=world.reasons["missing-feature"], actor=world.alice, nurture_sequence=sequence
    )
    followup = FollowUp.objects.filter(deal=deal, kind=FollowUpKind.CONTACT_EMAIL, step=step).get()
    message = followup_emails.followup_message(followup)
    survey = Survey.objects.get(deal=deal)
    assert survey.source == SurveySource.NURTURE and survey.state == SurveyState.SENT
    assert f"Tell us why: {services.survey_url(survey)}" in message.body
    path = message.body.split("Tell us why: ")[1].split()[0].split("//", 1)[1]
    assert client.get(path[path.index("/") :]).status_code == 200  # signed out
    # The same close's later e-mails reuse the survey; the rep's list does not make one.
    followup_emails.followup_message(followup)
    assert Survey.objects.count() == 1


def test_two_sends_at_once_make_one_survey(world, lost_with_buyer, transactional_db):
    from tests.concurrency import race

    deal = lost_with_buyer()
    results = race(
        [
            lambda: services.survey_request(deal=deal, actor=world.alice),
            lambda: services.survey_request(deal=deal, actor=world.bob),
        ]
    )
    assert sorted(kind for kind, _value in results) == ["error", "ok"]
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, services.SurveyError) and error.message == "This close already has a survey."
    assert Survey.objects.filter(deal=deal).count() == 1
