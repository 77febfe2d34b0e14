"""The buyer's pages pass the same bar as the rest: axe-core (WCAG 2.0/2.1/2.2 A and AA) finds no
violation on the survey, its errors, the thank-you page and the problem page, on a phone."""

import pytest
from django.urls import reverse

from surveys import services
from tests.test_accessibility import AXE, TAGS


def _violations(tab) -> list[str]:
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [f"{v['id']} {node['target']}" for v in result["violations"] for node in v["nodes"]]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_buyers_pages_have_no_axe_violations(browser, live_server, world, lost_with_buyer, survey_for):
    survey = survey_for(lost_with_buyer())
    url = reverse("surveys:answer", args=[services.survey_token(survey)])
    context = browser.new_context(
        base_url=live_server.url,
        bypass_csp=True,
        java_script_enabled=True,
        viewport={"width": 390, "height": 844},
    )
    tab = context.new_page()
    found = {}
    tab.goto(url)
    found["survey"] = _violations(tab)
    tab.get_by_role("button", name="Send").click()  # nothing chosen: the errors, linked to their fields
    found["errors"] = _violations(tab)
    tab.goto(url)
    tab.locator("input[name=main_reason]").first.check()
    tab.locator("input[name=process_rating][value='4']").check()
    tab.locator("input[name=may_contact_again][value='yes']").check()
    tab.get_by_role("button", name="Send").click()
    tab.wait_for_url("**/thanks/")
    found["thanks"] = _violations(tab)
    tab.goto(reverse("surveys:answer", args=["1:tampered"]))
    found["problem"] = _violations(tab)
    context.close()
    assert found == {"survey": [], "errors": [], "thanks": [], "problem": []}
