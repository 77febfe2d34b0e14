"""The rep's journey in a real browser: mark lost with "Other", fix the note error, reopen."""

import pytest
from playwright.sync_api import expect

from deals.models import Closure, DealStatus


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_alice_marks_a_deal_lost_with_other_and_reopens_it(browser_page, world):
    page = browser_page
    deal = world.deal(owner="alice", name="Juniper Labs: Platform rollout", stage=2)
    page.sign_in("alice")
    page.get_by_role("link", name="Juniper Labs: Platform rollout").click()
    page.get_by_role("link", name="Mark lost").click()

    reason = page.get_by_label("Reason", exact=True)
    competitor_group = page.locator("#competitor-group")
    # The competitor is shown only when the reason asks for it; the help text follows the reason.
    reason.select_option(label="Competitor was cheaper")
    # (expect() waits for the page's script, which a busy machine may run a moment later)
    expect(competitor_group).to_be_visible()
    expect(page.locator("#reason-help")).to_contain_text("won mainly on price")
    reason.select_option(label="Other (explain in the note)")
    expect(competitor_group).to_be_hidden()
    expect(page.locator("label[for='id_note']")).to_contain_text("required for this reason")

    # Save with the keyboard, without the note: the page names the note field.
    page.get_by_role("button", name="Mark lost").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    note_error = page.locator("#div_id_note .invalid-feedback")
    assert "needs a note of at least 3 words" in note_error.inner_text()
    kept = page.get_by_label("Reason", exact=True).input_value()
    assert kept == str(world.reasons["other-loss"].pk)  # what was chosen is kept
    page.screenshot_to("close-form")

    page.get_by_label("Note").fill("Their board cancelled every new software purchase")
    page.get_by_role("button", name="Mark lost").click()
    page.wait_for_url(f"**/deals/{deal.pk}/")
    assert "marked lost" in page.locator("[role=status]").inner_text()
    history = page.locator("table.history").inner_text()
    assert "Status: open → lost" in history
    assert "Their board cancelled every new software purchase" in page.locator(".closure").inner_text()

    page.get_by_role("link", name="Reopen").click()
    page.get_by_role("button", name="Reopen deal").click()
    page.wait_for_url(f"**/deals/{deal.pk}/")
    assert "is open again" in page.locator("[role=status]").inner_text()
    assert "Status: lost → open" in page.locator("table.history").inner_text()
    page.screenshot_to("deal-reopened")

    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    closure = Closure.objects.get(deal=deal)
    assert closure.reason.code == "other-loss" and closure.reopened_at is not None
    assert page.console_errors == []  # no CSP violations or script errors
