"""The set-up pages added for issue 24, in the browser as an admin: axe-core 0 violations on each,
and a screenshot of each in test-output/ to look at."""

import pytest
from django.urls import reverse

from crm.models import CrmKind
from crm.services import connection_create, connection_update
from followups.models import NurtureSequence, NurtureStep, StepAction


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_new_set_up_pages_have_no_axe_violations(browser, live_server, world):
    from tests.test_accessibility import AXE, TAGS

    sequence = NurtureSequence.objects.create(name="Screenshot nurture")
    step = NurtureStep.objects.create(
        sequence=sequence, position=1, days_after_close=3, action=StepAction.CONTACT_EMAIL,
        subject="Hi {{ contact.first_name }}", body="Any news at {{ account.name }}?",
    )  # fmt: skip
    reason = world.reasons["no-budget"]
    # A connection whose owner map was changed: its page shows the history table.
    connection_create(kind=CrmKind.HUBSPOT, account_id="62515", api_token="hs-token-1234")
    connection_update(kind=CrmKind.HUBSPOT, actor=world.carol, owner_map={"311": "erin"})
    pages = {
        "teams": reverse("people:teams"),
        "team": reverse("people:team", args=[world.east.pk]),
        "sequence-new": reverse("followups:setup-sequence-new"),
        "sequence": reverse("followups:setup-sequence", args=[sequence.pk]),
        "sequence-remove": reverse("followups:setup-sequence-remove", args=[sequence.pk]),
        "step-new": reverse("followups:setup-step-new", args=[sequence.pk]),
        "step-remove": reverse("followups:setup-step-remove", args=[step.pk]),
        "setup": reverse("followups:setup"),
        "wording": reverse("surveys:wording"),
        "wording-reason": reverse("surveys:wording-reason", args=[reason.pk]),
        "wording-category": reverse("surveys:wording-category", args=[reason.category.pk]),
        "signin-settings": "/signin/settings/",
        "crm-connection": reverse("crm:connection", args=["hubspot"]),
    }
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    tab = context.new_page()
    tab.goto("/login/")
    tab.get_by_label("Username").fill("carol")
    tab.get_by_label("Password").fill("a-long-test-password")
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/deals/")
    found = {}
    for name, url in pages.items():
        response = tab.goto(url)
        assert response.status == 200, (name, url)
        if name == "crm-connection":
            assert "owner id 311" in tab.content()  # the history row
        tab.add_script_tag(path=str(AXE))
        result = tab.evaluate("t => axe.run(document, {runOnly: {type: 'tag', values: t}})", TAGS)
        found[name] = [v["id"] for v in result["violations"]]
        tab.screenshot(path=f"test-output/setup24-{name}.png", full_page=True)
    # The admins' set-up menu, open.
    tab.goto(reverse("deals:list"))
    tab.get_by_role("button", name="Set-up").click()
    assert tab.get_by_role("link", name="Exchange rates").is_visible()
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("t => axe.run(document, {runOnly: {type: 'tag', values: t}})", TAGS)
    found["setup-menu"] = [v["id"] for v in result["violations"]]
    # A refused form too: a taken team name.
    tab.goto(reverse("people:teams"))
    tab.get_by_label("Team name").fill("west")
    tab.get_by_role("button", name="Make the team").click()
    assert "There is already a team named West." in tab.content()
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("t => axe.run(document, {runOnly: {type: 'tag', values: t}})", TAGS)
    found["teams-refused"] = [v["id"] for v in result["violations"]]
    tab.screenshot(path="test-output/setup24-teams-refused.png", full_page=True)
    context.close()
    assert found == {name: [] for name in found}
