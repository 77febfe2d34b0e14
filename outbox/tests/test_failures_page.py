"""The outbox page in a real browser with items failed for good: the error shown, replay by
keyboard-reachable buttons, and axe-core clean."""

from pathlib import Path

import pytest

from outbox import services
from outbox.models import HandoffEvent, Message
from tests.test_accessibility import AXE, TAGS

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


BROKEN = "smtplib.SMTPRecipientsRefused: {'alice@closedlost.invalid': (550, b'Mailbox unavailable')}"


def test_an_admin_sees_and_discards_failed_hand_offs(browser, live_server, world):
    for deal_id in (101, 102):
        services.item_fail(
            kind="crm.reminder",
            item=deal_id,
            crashes=5,
            error=BROKEN,
        )
    services.handoff_enqueue(kind="followups.delivery", items=[1, 2, 3])
    # axe is injected as a script: this tab lets it past the site's CSP (as test_accessibility does)
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto("/login/")
    tab.get_by_label("Username").fill("carol")
    tab.get_by_label("Password").fill("a-long-test-password")
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/deals/")
    tab.goto("/outbox/")
    row = tab.locator('tr[data-kind="crm.reminder"]')
    assert "2 crashed" in row.inner_text() and "SMTPRecipientsRefused" in row.inner_text()
    assert (
        tab.locator('tr[data-kind="followups.delivery"] [data-field="waiting"]').inner_text().startswith("3")
    )
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    assert [v["id"] for v in result["violations"]] == []
    tab.screenshot(path=str(OUTPUT / "outbox-failures.png"), full_page=True)

    tab.get_by_role("button", name="Discard all 2 Needs-a-reason e-mails").click()
    tab.wait_for_url("**/outbox/")
    assert "2 hand-offs discarded" in tab.content()
    assert not Message.objects.filter(kind="crm.reminder").exists()
    assert HandoffEvent.objects.filter(action="discarded", actor=world.carol).count() == 2
    assert errors == []
    context.close()
