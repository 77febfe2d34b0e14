"""The admin's pipeline pages in a real browser: make a pipeline with stages, keyboard only where
it matters, and axe-core finds nothing on any of the pages."""

from pathlib import Path

import pytest
from django.urls import reverse

from deals.models import Pipeline, Stage

AXE = Path(__file__).resolve().parents[2] / "tests" / "vendor" / "axe.min.js"
AXE_SOURCE = "() => {" + AXE.read_text() + "\n}" if AXE.exists() else ""
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _axe_violations(page) -> list[str]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        # Through the DevTools protocol: the page's CSP (rightly) refuses an injected script tag.
        page.evaluate(AXE_SOURCE)
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [f"{page.url} {v['id']} {node['target']}" for v in result["violations"] for node in v["nodes"]]


def admin_makes_pipeline(page, *, name: str, stages: list[tuple[str, int, bool]]) -> list[str]:
    """carol (signed in) makes pipeline `name` with `stages` (name, probability, means lost) on the
    pages; returns axe-core's findings on each page she passed."""
    found = []
    page.get_by_role("button", name="Set-up").click()  # the admins' set-up menu
    page.get_by_role("link", name="Pipelines").click()
    page.wait_for_url("**/pipelines/")
    found += _axe_violations(page)
    page.get_by_role("link", name="New pipeline").click()
    found += _axe_violations(page)
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/stages/new/")
    for stage_name, probability, lost in stages:
        page.get_by_label("Name").fill(stage_name)
        page.get_by_label("Win probability (%)").fill(str(probability))
        if lost:
            page.get_by_label("The deal is lost").check()
        page.get_by_role("button", name="Save and add another").click()
        page.wait_for_load_state()
        assert f"Stage “{stage_name}” added" in page.locator("[role=status]").inner_text()
    found += _axe_violations(page)
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url("**/pipelines/**")
    return found


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_makes_a_pipeline_with_stages_on_the_pages(browser_page, world):
    page = browser_page
    page.sign_in("carol")
    stages = [("Scoping", 20, False), ("Business case", 50, False), ("Closed lost", 0, True)]
    found = admin_makes_pipeline(page, name="Expansion", stages=stages)
    pipeline = Pipeline.objects.get(name="Expansion")
    assert list(pipeline.stages.order_by("order").values_list("name", "win_probability", "outcome")) == [
        ("Scoping", 20, "open"), ("Business case", 50, "open"), ("Closed lost", 0, "lost")
    ]  # fmt: skip

    # Reorder with the keyboard: focus "Move Business case up" and press Enter.
    page.get_by_role("button", name="Move Business case up").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "moved up" in page.locator("[role=status]").inner_text()
    assert list(pipeline.stages.order_by("order").values_list("name", flat=True))[:2] == [
        "Business case",
        "Scoping",
    ]
    page.screenshot_to("pipelines")
    found += _axe_violations(page)

    # A stage with no deal can be deleted; the edit form and the history have no findings either.
    scoping = Stage.objects.get(pipeline=pipeline, name="Scoping")
    page.goto(reverse("pipelines:stage-edit", kwargs={"pk": scoping.pk}))
    page.get_by_label("Win probability (%)").fill("101")
    page.get_by_role("button", name="Save").click()
    found += _axe_violations(page)  # the form with its error
    page.goto(reverse("pipelines:history"))
    found += _axe_violations(page)
    page.screenshot_to("pipeline-history")
    assert found == []
    assert page.console_errors == []
