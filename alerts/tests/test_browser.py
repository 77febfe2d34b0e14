"""An admin sets an alert in a real browser (chromium via Playwright); screenshots of the form
and of the rule's page go to test-output/ for a look."""

import pytest

from alerts.models import AlertRule, AlertRuleEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_sets_a_backlog_alert_in_the_browser(browser_page, world, settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    tab = browser_page
    tab.sign_in("carol")
    tab.get_by_role("link", name="Alerts").click()
    tab.get_by_role("link", name="New alert").first.click()
    tab.get_by_label("Name").fill("West backlog")
    tab.get_by_label("The “needs a reason” backlog is over N deals").check()
    tab.get_by_label("N", exact=True).fill("20")
    tab.get_by_label("Scope").select_option(label="West")
    tab.get_by_label("Grace (Sales manager)").check()
    tab.get_by_label("Webhook", exact=True).select_option(label="Slack")
    tab.get_by_label("Incoming-webhook address").fill("http://10.1.2.3/hook")
    tab.get_by_role("button", name="Save alert").click()
    assert "webhook address must start with https://" in tab.content()
    tab.screenshot_to("alerts-form-error")
    tab.get_by_label("Incoming-webhook address").fill("http://127.0.0.1:9/services/T/B/x")
    tab.get_by_role("button", name="Save alert").click()
    tab.wait_for_url("**/alerts/*/")
    assert "More than 20 lost deals wait for a reason" in tab.content()
    tab.screenshot_to("alerts-rule")
    rule = AlertRule.objects.get()
    assert rule.team == world.west and AlertRuleEvent.objects.filter(rule=rule, action="created").exists()
    tab.goto("/alerts/")
    tab.screenshot_to("alerts-list")
    assert tab.console_errors == []
