"""A manager reads the rep-vs-buyer figures in a real browser and drills into a cell."""

import random

import pytest

from surveys.tests.test_figures import _answered_deal


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_reads_the_matrix_and_drills_into_a_cell(browser_page, world, competitor):
    world.competitor = competitor
    rng = random.Random(5)
    for n in range(12):
        _answered_deal(world, rng, n)
    page = browser_page
    page.sign_in("bob")
    page.goto("/insights/")
    page.get_by_role("link", name="Rep vs buyer: agreement, gaps and quotes").click()
    assert page.get_by_role("heading", name="Buyer feedback: rep vs buyer").is_visible()
    page.screenshot_to("surveys-figures")
    cell = page.locator("#agreement-matrix a[data-count]").first
    count = int(cell.get_attribute("data-count"))
    cell.click()
    page.wait_for_url("**/deals/?*")
    assert page.locator("#drill-down").get_by_text("Buyer's category").is_visible()
    assert page.locator("table tbody tr").count() == count
    assert page.console_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_survey_works_without_javascript_on_a_phone(
    browser, live_server, world, lost_with_buyer, survey_for
):
    from surveys import services
    from surveys.models import SurveyResponse

    survey = survey_for(lost_with_buyer())
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 360, "height": 740}, java_script_enabled=False
    )
    page = context.new_page()
    try:
        page.goto(f"/surveys/answer/{services.survey_token(survey)}/")
        page.get_by_role("radio", name="Something else", exact=True).check()
        page.get_by_role("radio", name="Yes", exact=True).check()
        page.get_by_role("button", name="Send my answers").click()
        # The server refuses "something else" without words, keeps the choices and points at the field.
        assert page.get_by_role("alert").get_by_role("link", name="In your own words").is_visible()
        assert (
            page.get_by_role("radio", name="Something else", exact=True).is_checked()
            and page.get_by_role("radio", name="Yes", exact=True).is_checked()
        )
        page.get_by_label("If something else: in your own words").fill("Our parent company chose for us.")
        page.get_by_role("button", name="Send my answers").click()
        assert page.get_by_role("heading", name="Thank you for your answers").is_visible()
    finally:
        context.close()
    assert SurveyResponse.objects.get().main_reason_other == "Our parent company chose for us."
