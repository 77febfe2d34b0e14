"""Admins edit the wording, texts and timing and preview both; every survey address refuses
another team's user; the dashboard shows the response rate."""

from django.urls import reverse
from django.utils import timezone

from surveys import services
from surveys.models import ReasonWording, SurveyResponse, SurveySettings


def test_admin_edits_wording_texts_and_timing_and_previews_both(client, world, lost_with_buyer, survey_for):
    world.carol.is_staff = world.carol.is_superuser = True
    world.carol.save()
    client.force_login(world.carol)
    for name in ("surveysettings", "reasonwording", "categorywording", "survey"):
        assert client.get(reverse(f"admin:surveys_{name}_changelist"), follow=True).status_code == 200, name
    # Read-only here: the settings and wording change on their own pages (with history).
    settings_form = {
        "intro": "Help us get better, {{ nothing }}.",
        "email_subject": "Your view, {{ contact.first_name }}?",
        "email_body": "Dear {{ contact.name }} at {{ account.name }}, tell us: {{ survey_url }}",
        "loss_days": "10",
        "no_decision_days": "",
    }
    change = reverse("admin:surveys_surveysettings_change", args=[SurveySettings.load().pk])
    assert client.post(change, settings_form).status_code == 403
    assert client.post(reverse("admin:surveys_reasonwording_add"), {"buyer_label": "x"}).status_code == 403
    assert SurveySettings.load().loss_days == 7
    assert client.post(reverse("surveys:setup"), settings_form).status_code == 302
    assert SurveySettings.load().loss_days == 10
    wording = {"buyer_label": "It did not connect to our tools", "sending": "never", "send_after_days": ""}
    url = reverse("surveys:wording-reason", args=[world.reasons["integration-gap"].pk])
    assert client.post(url, wording).status_code == 302
    category = world.reasons["integration-gap"].category
    url = reverse("surveys:wording-category", args=[category.pk])
    assert client.post(url, {"buyer_label": "The product itself"}).status_code == 302
    assert ReasonWording.objects.get().sending == "never"

    page = client.get(reverse("admin:surveys_preview_page")).content.decode()
    assert (
        "Help us get better" in page
        and "It did not connect to our tools" in page
        and "The product itself" in page
    )
    mail = client.get(reverse("admin:surveys_preview_email")).content.decode()
    assert "Dear Sam Example at Example Ltd, tell us:" in mail
    # The buyer's real page shows the new words too.
    survey = survey_for(lost_with_buyer())
    assert (
        "It did not connect to our tools"
        in client.get(reverse("surveys:answer", args=[services.survey_token(survey)])).content.decode()
    )
    # A rep may not reach the admin previews.
    client.force_login(world.alice)
    assert client.get(reverse("admin:surveys_preview_page")).status_code == 302


def test_another_teams_user_gets_404_or_403_on_every_survey_address(
    client, world, lost_with_buyer, survey_for, api_as
):
    deal = lost_with_buyer()
    survey = survey_for(deal)
    response = SurveyResponse.objects.create(
        survey=survey,
        main_reason=world.reasons["no-budget"],
        may_contact_again=True,
        answered_at=timezone.now(),
    )
    client.force_login(world.dave)
    assert client.post(reverse("surveys:send", args=[deal.pk])).status_code == 404
    assert client.get(reverse("deals:detail", args=[deal.pk])).status_code == 404
    assert api_as(world.dave).get(f"/api/survey-responses/{response.pk}/").status_code == 404
    assert api_as(world.grace).get(f"/api/survey-responses/{response.pk}/").status_code == 404
    assert api_as(world.bob).get(f"/api/survey-responses/{response.pk}/").status_code == 200
    assert api_as(None).get("/api/survey-figures/").status_code == 401
    for user in (world.dave, world.grace):
        body = api_as(user).get("/api/survey-figures/").json()["figures"]
        assert body["agreement-matrix"]["total"] == 0 and body["quotes"] == []
    assert client.get(reverse("surveys:export", args=["nonsense"])).status_code == 404
    client.logout()
    assert client.get(reverse("surveys:figures")).status_code == 302  # sign in first
    assert client.post(reverse("surveys:send", args=[deal.pk])).status_code == 302


def test_the_dashboard_shows_the_response_rate_and_links_to_the_figures(
    client, world, lost_with_buyer, survey_for
):
    answered = survey_for(lost_with_buyer())
    survey_for(lost_with_buyer(owner="erin", email="sam@birch.example"))
    SurveyResponse.objects.create(survey=answered, main_reason_other="Our board", may_contact_again=True)
    client.force_login(world.bob)
    page = client.get(reverse("insights:dashboard")).content.decode()
    assert 'id="feedback-rate">50%<' in page and "1 answered of 2 surveys sent" in page
    assert reverse("surveys:figures") in page
    client.force_login(world.grace)
    assert "0 answered of 0 surveys sent" in client.get(reverse("insights:dashboard")).content.decode()
