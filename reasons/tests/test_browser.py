"""In a real browser: carol retires a reason and merges two; alice's close form no longer offers them."""

import pytest

from deals import services as deal_services
from reasons.models import Reason, TaxonomyChange


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_carol_retires_and_merges_then_alice_no_longer_sees_them(browser_page, world, competitor):
    page = browser_page
    old = world.deal(owner="alice", name="Aspen Retail: Renewal")
    deal_services.deal_mark_lost(
        deal=old,
        reason=world.reasons["competitor-cheaper"],
        competitor=competitor,
        actor=world.alice,
    )
    open_deal = world.deal(owner="alice", name="Birch Health: Expansion")

    page.sign_in("carol")
    page.get_by_role("button", name="Set-up").click()  # the admins' set-up menu
    page.get_by_role("link", name="Taxonomy").click()
    page.wait_for_url("**/taxonomy/")
    assert page.get_by_role("heading", name="Reason taxonomy").is_visible()

    # Retire "No budget" (the button says which reason, for screen readers too).
    page.get_by_role("button", name="Retire No budget").click()
    assert "“No budget” retired" in page.locator("[role=status]").inner_text()
    row = page.locator(f"#reason-{world.reasons['no-budget'].pk}")
    assert "Retired" in row.inner_text()
    assert row.get_by_role("button", name="Restore No budget").is_visible()

    # Reorder with the keyboard only.
    page.get_by_role("button", name="Move Price too high down").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "moved down" in page.locator("[role=status]").inner_text()

    # Merge "Competitor was cheaper" into "Competitor had a better fit".
    page.get_by_role("link", name="Merge Competitor was cheaper").click()
    page.get_by_label("Merge into").select_option(label="Competitor had a better fit")
    page.get_by_role("button", name="Merge").click()
    page.wait_for_url("**/taxonomy/?kind=loss*")
    assert "merged into “Competitor had a better fit”" in page.locator("[role=status]").inner_text()
    merged_row = page.locator(f"#reason-{world.reasons['competitor-cheaper'].pk}")
    assert (
        "Merged" in merged_row.inner_text() and "into Competitor had a better fit" in merged_row.inner_text()
    )
    assert merged_row.locator(".usage-count").inner_text() == "1"
    survivor_row = page.locator(f"#reason-{world.reasons['competitor-better-fit'].pk}")
    assert "+1 merged" in survivor_row.inner_text()  # figures count it under the survivor
    page.screenshot_to("taxonomy")
    page.get_by_role("link", name="History").first.click()
    assert "Merged" in page.locator("table.history-table").inner_text()
    page.screenshot_to("taxonomy-history")
    page.get_by_role("button", name="Sign out").click()

    page.sign_in("alice")
    page.goto(f"/deals/{open_deal.pk}/mark-lost/")
    offered = page.locator("#id_reason option").all_inner_texts()
    assert "Price too high" in offered
    assert "No budget" not in offered
    assert "Competitor was cheaper" not in offered
    assert "Competitor had a better fit" in offered
    # The old closure keeps what alice chose.
    page.goto(f"/deals/{old.pk}/")
    assert "Competitor was cheaper" in page.locator(".closure").inner_text()
    # The guide opens from the close form and explains the reasons that are left.
    page.goto(f"/deals/{open_deal.pk}/mark-lost/")
    with page.context.expect_page() as guide_tab:
        page.get_by_role("link", name="Read the reason guide").click()
    guide = guide_tab.value
    guide.wait_for_load_state()
    assert "No budget" not in guide.locator("#guide-loss").inner_text()
    assert "Example:" in guide.locator("#guide-loss").inner_text()
    guide.close()

    assert not Reason.objects.get(code="no-budget").active
    assert Reason.objects.get(code="competitor-cheaper").merged_into.code == "competitor-better-fit"
    assert TaxonomyChange.objects.filter(actor=world.carol).count() == 3  # retire, reorder, merge
    assert page.console_errors == []
