"""The admins' exchange rates page: 404 for everyone else; each change through the service with a
history row; bad input named by field, nothing saved."""

from decimal import Decimal

import pytest
from django.urls import reverse

from insights.models import ExchangeRate, ExchangeRateChange


def test_only_admins_set_rates_each_change_with_a_history_row(client, world):
    url = reverse("insights:rates")
    ExchangeRate.objects.filter(currency="CHF").delete()
    for user in (world.alice, world.bob, world.grace):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(url, {"currency": "CHF", "rate": "1.1"}).status_code == 404
    assert not ExchangeRate.objects.filter(currency="CHF").exists()

    client.force_login(world.carol)
    for data, message in [
        ({"currency": "C1F", "rate": "1.1"}, "three-letter ISO code"),
        ({"currency": "CHF", "rate": "0"}, "The rate must be more than 0."),
        ({"currency": "USD", "rate": "2"}, "the organisation&#x27;s own currency"),
    ]:
        refused = client.post(url, data)
        assert refused.status_code == 400 and message in refused.content.decode(), data
    assert not ExchangeRateChange.objects.exists()

    assert client.post(url, {"currency": "chf", "rate": "1.10"}).status_code == 302
    assert client.post(url, {"currency": "CHF", "rate": "1.15"}).status_code == 302
    assert ExchangeRate.objects.get(currency="CHF").rate == Decimal("1.15")
    changes = list(
        ExchangeRateChange.objects.order_by("id").values_list("currency", "before", "after", "actor")
    )
    assert changes == [
        ("CHF", None, Decimal("1.1"), world.carol.pk),
        ("CHF", Decimal("1.1"), Decimal("1.15"), world.carol.pk),
    ]
    page = client.get(url).content.decode()
    assert "CHF" in page and "1.15" in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_rates_page_has_no_axe_violations(browser, live_server, world):
    from tests.test_accessibility import AXE, TAGS

    context = browser.new_context(base_url=live_server.url, bypass_csp=True)  # to inject axe
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/deals/")
    page.goto(reverse("insights:rates"))
    page.get_by_label("Currency (ISO code)").fill("CHF")
    page.get_by_label("Worth in the organisation's currency").fill("-1")
    page.get_by_role("button", name="Save the rate").click()
    assert page.get_by_text("The rate must be more than 0.").first.is_visible()
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("t => axe.run(document, {runOnly: {type: 'tag', values: t}})", TAGS)
    page.screenshot(path="test-output/exchange-rates.png", full_page=True)
    context.close()
    assert [v["id"] for v in result["violations"]] == []
