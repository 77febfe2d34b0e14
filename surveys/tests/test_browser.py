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
