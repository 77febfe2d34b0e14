"""The admins' survey settings page: 404 for everyone else; changes through the service with a
history row; an e-mail naming anything but the buyer's placeholders is refused with the list."""

import pytest
from django.urls import reverse

from followups.buyer_templates import ALLOWED_LIST
from surveys.models import SurveySettings, SurveySettingsChange


def _form(**values):
    data = {
        "intro": "Help us get better.",
        "email_subject": "Your view, {{ contact.first_name }}?",
        "email_body": "Dear {{ contact.name }} at {{ account.name }}, tell us: {{ survey_url }}",
        "loss_days": "10",
        "no_decision_days": "",
    }
    data.update(values)
    return data


def test_only_admins_change_the_survey_settings_with_a_history_row(client, world):
    url = reverse("surveys:setup")
    for user in (world.alice, world.bob):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(url, _form()).status_code == 404
    assert SurveySettings.load().loss_days == 7 and not SurveySettingsChange.objects.exists()

    client.force_login(world.carol)
    refused = client.post(url, _form(email_body="Amount {{ deal.amount }} {{ survey_url }}"))
    assert refused.status_code == 400
    page = refused.content.decode().replace("&#x27;", "'")
    assert "An e-mail to a buyer cannot use {{ deal.amount }}" in page and ALLOWED_LIST in page
    assert not SurveySettingsChange.objects.exists()

    assert client.post(url, _form()).status_code == 302
    config = SurveySettings.load()
    assert config.loss_days == 10 and config.email_subject == "Your view, {{ contact.first_name }}?"
    change = SurveySettingsChange.objects.get()
    assert (change.actor, change.before["loss_days"], change.after["loss_days"]) == (world.carol, 7, 10)
    page = client.get(url).content.decode()
    assert "Your view, Sam?" in page and "Dear Sam Example at Example Ltd" in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_survey_settings_page_has_no_axe_violations(browser, live_server, world):
    from tests.test_accessibility import AXE, TAGS

    context = browser.new_context(base_url=live_server.url, bypass_csp=True)  # to inject axe
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/deals/")
    page.goto(reverse("surveys:setup"))
    page.get_by_label("E-mail text").fill("{{ deal.name }}")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_text("Allowed placeholders").first.is_visible()
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("t => axe.run(document, {runOnly: {type: 'tag', values: t}})", TAGS)
    page.screenshot(path="test-output/survey-setup.png", full_page=True)
    context.close()
    assert [v["id"] for v in result["violations"]] == []
