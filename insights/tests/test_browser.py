"""bob opens the dashboard, changes the period, clicks the top loss reason and lands on its deals."""

import re

import pytest

from insights.tests import dataset


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_drills_from_the_top_loss_reason_to_its_deals(browser_page, world):
    dataset.build(world, deals=600, seed=21)
    page = browser_page
    page.sign_in("bob")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url("**/insights/")
    assert page.locator("#chart-reasons").is_visible()

    page.get_by_label("Period", exact=True).select_option(label="This year")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/insights/?period=this-year*")
    assert "This year" in page.locator("#period-shown").inner_text()
    page.screenshot_to("insights-dashboard")

    top = page.locator("#table-reasons tbody tr").first
    reason = top.locator("a.reason-link").inner_text()
    count = int(top.locator("td").nth(1).locator("a").inner_text())
    assert count > 0
    top.locator("a.reason-link").click()
    page.wait_for_url("**/deals/?*")
    assert page.locator("#deal-count").inner_text() == f"{count} deal{'s' if count != 1 else ''}"
    assert f"Reason: {reason}" in page.locator("#drill-down").inner_text()
    assert re.search(r"status=lost", page.url)
    page.screenshot_to("insights-drill-down")
    assert page.console_errors == []
