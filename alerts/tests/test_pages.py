"""The admins' alert pages: rules made and changed through the form (with their history),
webhook addresses checked like a CRM's and kept encrypted, errors naming the field, 403 for
managers and reps, and the list's query count pinned."""

import pytest
from django.db import connection
from django.urls import reverse

from alerts.models import AlertRule, AlertRuleEvent
from reasons.models import Competitor

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/services/T000/B000/secret-part-XYZ"


@pytest.fixture
def loopback_hooks(settings):
    """The fake Slack/Teams of the tests listen on loopback: an allowed host, as the fake CRMs are."""
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


def _form(world, **overrides) -> dict:
    globex = Competitor.objects.get_or_create(name="Globex")[0]
    return {
        "name": "Globex in West",
        "kind": "finding",
        "subject": "competitor",
        "competitor": globex.pk,
        "period": "weekly",
        "team": world.west.pk,
        "recipients": [world.grace.pk, world.carol.pk],
        "webhook_kind": "slack",
        "webhook_url": HOOK,
        **overrides,
    }


def test_an_admin_sets_an_alert_and_it_is_kept_with_its_history(client, world, loopback_hooks):
    client.force_login(world.carol)
    response = client.post(reverse("alerts:create"), _form(world))
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert response["Location"] == reverse("alerts:detail", args=[rule.pk])
    assert (rule.kind, rule.team, rule.webhook_kind) == ("finding", world.west, "slack")
    assert set(rule.recipients.all()) == {world.grace, world.carol}
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_url FROM alerts_alertrule WHERE id = %s", [rule.pk])
        raw = cursor.fetchone()[0]
    assert "secret-part" not in raw and raw.startswith("gAAAA")  # encrypted like a CRM secret
    assert rule.webhook_url == HOOK

    page = client.get(reverse("alerts:detail", args=[rule.pk])).content.decode()
    assert "A significant finding about competitor Globex" in page and "West" in page
    assert "secret-part" not in page and "address set, hidden" in page
    assert "Grace" in page or "grace" in page
    listing = client.get(reverse("alerts:index")).content.decode()
    assert "Globex in West" in listing and "Slack" in listing

    # A change with the address left blank keeps it; the history says what changed, never the address.
    edit = client.get(reverse("alerts:edit", args=[rule.pk])).content.decode()
    assert "secret-part" not in edit and "An address is set" in edit
    changed = _form(world, name="Globex, West, monthly", period="monthly", webhook_url="")
    assert client.post(reverse("alerts:edit", args=[rule.pk]), changed).status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.period, rule.webhook_url) == ("Globex, West, monthly", "monthly", HOOK)
    event = AlertRuleEvent.objects.filter(rule=rule, action="changed").get()
    assert {c["field"] for c in event.changes} == {"name", "period"} and event.actor == world.carol

    assert client.post(reverse("alerts:active", args=[rule.pk]), {"active": "0"}).status_code == 302
    assert client.post(reverse("alerts:active", args=[rule.pk]), {"active": "0"}).status_code == 302
    rule.refresh_from_db()
    assert rule.active is False
    actions = list(AlertRuleEvent.objects.filter(rule=rule).values_list("action", flat=True))
    assert actions == ["paused", "changed", "created"]  # pausing twice: one event
    assert "Paused" in client.get(reverse("alerts:detail", args=[rule.pk])).content.decode()


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("http://8.8.8.8/hook", "webhook address must start with https://"),
        ("https://10.0.0.5/hook", "points at an internal address (10.0.0.5)"),
        ("https://127.0.0.1:9/hook", "ALERTS_WEBHOOK_ALLOWED_HOSTS"),  # loopback, not allowed here
        ("https://169.254.169.254/latest/meta-data", "internal address"),
        ("hooks.slack.com/services/x", "Enter the Slack webhook address in full"),
    ],
)
def test_a_bad_webhook_address_is_refused_naming_the_field(client, world, address, words):
    client.force_login(world.carol)
    response = client.post(reverse("alerts:create"), _form(world, webhook_url=address))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["webhook_url"]
    assert words in errors["webhook_url"][0]
    assert "Incoming-webhook address" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_recipients_must_see_the_scope_and_each_kind_names_its_missing_field(client, world, loopback_hooks):
    client.force_login(world.carol)
    url = reverse("alerts:create")
    cases = [
        (_form(world, recipients=[world.dave.pk]), "recipients", ""),  # a rep: not offered at all
        (_form(world, recipients=[world.bob.pk]), "recipients", "may not see the figures of team West"),
        (_form(world, team="", recipients=[world.grace.pk]), "recipients", "the whole organisation"),
        (_form(world, competitor=""), "competitor", "Choose the competitor"),
        (_form(world, kind="win_rate_drop", threshold=""), "threshold", "above 0"),
        (_form(world, kind="win_rate_drop", threshold="150"), "threshold", "at most 100"),
        (_form(world, kind="backlog", threshold="0"), "threshold", ""),
        (_form(world, recipients=[], webhook_kind="", webhook_url=""), "recipients", "at least one"),
        (_form(world, webhook_kind=""), "webhook_kind", "Slack"),
    ]
    for data, field, words in cases:
        response = client.post(url, data)
        assert response.status_code == 400, data
        errors = response.context["form"].errors
        assert field in errors, (field, errors)
        assert words in " ".join(errors[field])
    assert not AlertRule.objects.exists()
    backlog = _form(
        world, kind="backlog", subject="", competitor="", threshold="20", recipients=[world.grace.pk]
    )
    assert client.post(url, backlog).status_code == 302
    assert AlertRule.objects.get().watches == "More than 20 lost deals wait for a reason"


def test_managers_and_reps_get_403_on_every_alert_page(client, world, loopback_hooks):
    client.force_login(world.carol)
    client.post(reverse("alerts:create"), _form(world))
    rule = AlertRule.objects.get()
    pages = [
        ("get", reverse("alerts:index")),
        ("get", reverse("alerts:create")),
        ("get", reverse("alerts:detail", args=[rule.pk])),
        ("get", reverse("alerts:edit", args=[rule.pk])),
        ("post", reverse("alerts:create")),
        ("post", reverse("alerts:edit", args=[rule.pk])),
        ("post", reverse("alerts:active", args=[rule.pk])),
    ]
    for user in (world.grace, world.bob, world.alice, world.dave):
        client.force_login(user)
        for method, url in pages:
            response = getattr(client, method)(url, {"active": "0"} if method == "post" else None)
            assert response.status_code == 403, (user.username, url)
            assert "secret-part" not in response.content.decode()
        assert "/alerts/" not in client.get(reverse("deals:list")).content.decode()  # no nav link
    rule.refresh_from_db()
    assert rule.active and AlertRuleEvent.objects.count() == 1
    client.logout()
    assert client.get(reverse("alerts:index")).status_code == 302  # to the sign-in page


def test_the_list_page_reads_a_fixed_number_of_queries(
    client, world, loopback_hooks, django_assert_num_queries
):
    client.force_login(world.carol)

    def add(n):
        for i in range(n):
            kind = ("finding", "win_rate_drop", "backlog")[i % 3]
            extra = {} if kind == "finding" else {"subject": "", "competitor": "", "threshold": "10"}
            data = _form(world, name=f"Alert {AlertRule.objects.count()}", kind=kind, **extra)
            assert client.post(reverse("alerts:create"), data).status_code == 302

    add(2)
    client.get(reverse("alerts:index"))  # warm the session and the user
    with django_assert_num_queries(4):  # session, user, the rules, the recent firings
        assert client.get(reverse("alerts:index")).status_code == 200
    add(7)
    with django_assert_num_queries(4):
        page = client.get(reverse("alerts:index")).content.decode()
    assert page.count('id="rule-') == 9
